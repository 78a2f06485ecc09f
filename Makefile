# realdpo: the two commands a new user needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/realdpo
GOFLAGS   ?=
# Test binaries link without DWARF (-w: a third of a Beam test binary's link;
# Beam finds functions through the ELF symbol table, which stays), and go test
# skips its vet subset since `make vet` has just run every analyzer.
TESTFLAGS ?= -timeout 45m -vet=off -ldflags=-w
BENCHFLAGS ?= -run '^$$' -bench . -benchtime 1x -timeout 60m
# The model's matrix products run on OpenBLAS (cgo; Debian's libopenblas-dev,
# which make deps installs). `make TAGS= ...` builds the pure-Go fallback.
TAGS      ?= openblas
GOTAGS    := $(if $(TAGS),-tags $(TAGS))
# OpenBLAS picks its kernels by CPU model number and falls back to generic SSE3
# ones on a virtual CPU that hides it (the dev machines): slower, and rounding
# differently from row to row of one product. Name the kernels from the CPU's
# flags unless the caller did; the binary warns when it runs on the fallback.
ifeq ($(origin OPENBLAS_CORETYPE),undefined)
OPENBLAS_CORETYPE := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo SkylakeX || { grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo Haswell; })
endif
ifneq ($(OPENBLAS_CORETYPE),)
export OPENBLAS_CORETYPE
endif
# sudo only when not already root (CI and the dev machines run as root).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test bench demo experiment deps vet fmt-check clean fuzz

all: build

## deps: install ffmpeg/ffprobe and (with TAGS=openblas) OpenBLAS from Debian when missing.
deps:
	@pkgs=""; \
	if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then pkgs="ffmpeg"; fi; \
	case " $(TAGS) " in *" openblas "*) \
		if ! echo 'int main(void){return 0;}' | cc -x c - -lopenblas -o /dev/null >/dev/null 2>&1; then pkgs="$$pkgs libopenblas-dev"; fi;; \
	esac; \
	if [ -n "$$pkgs" ]; then \
		echo "installing$$pkgs (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$pkgs >/dev/null; \
	fi
	@ffmpeg -hide_banner -version | head -1

## build: the release binary, stripped of its symbol table and DWARF (a
## third of its size; Beam stages it to every Dataflow job). Workers find
## functions only through registration then, and realdpo registers all of
## them (transforms/dofn). BenchmarkColdBuild in pipelines/realdpo times a
## cold build with these flags.
build: deps
	$(GO) build $(GOFLAGS) $(GOTAGS) -ldflags='-s -w' -o $(BIN) ./pipelines/realdpo

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: deps
	$(GO) vet $(GOTAGS) ./...
	@# Data engineers launch jobs from macOS too: the launcher must build there.
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...

test: deps fmt-check vet
	$(GO) test $(GOFLAGS) $(GOTAGS) $(TESTFLAGS) ./...
	@# The pure-Go BLAS fallback (macOS launcher, cgo-free builds) computes the same model.
	$(if $(TAGS),$(GO) test $(GOFLAGS) $(TESTFLAGS) ./model/...)

bench: deps
	$(GO) test $(GOFLAGS) $(GOTAGS) $(BENCHFLAGS) ./...

## demo: the main job end to end on footage the project generates itself.
demo: deps build
	./$(BIN) demo --workdir=out/demo

## experiment: the full test of the method (issue 17) under out/experiment:
## training footage (32 files, seed 2026) and held-out footage (68 clean files of
## seeds 2031 and 2032, never used to choose a setting: at least 48 clips) curated,
## then `realdpo experiment` at its defaults (3 seeds, 1000 steps, 2 samples a
## clip). EXPERIMENT_FLAGS adds or overrides flags, e.g.
## EXPERIMENT_FLAGS='--regenerate_every=50 --init=model/base/small.safetensors'.
## A rerun skips every finished stage.
EXP ?= out/experiment
EXPERIMENT_FLAGS ?=
experiment: deps build
	./$(BIN) synth --output=$(EXP)/footage --count=32 --seed=2026 --sizes=640x360,854x480 --max_seconds=10
	./$(BIN) curate --input=$(EXP)/footage --output=$(EXP)/dataset --profile=demo
	for s in 2031 2032; do ./$(BIN) synth --output=$(EXP)/heldout_footage/$$s --count=34 --seed=$$s \
		--sizes=640x360 --max_seconds=8 --defect_share=0 || exit 1; done
	./$(BIN) curate --input=$(EXP)/heldout_footage --output=$(EXP)/heldout --profile=demo
	./$(BIN) experiment --dataset=$(EXP)/dataset --heldout=$(EXP)/heldout --output=$(EXP)/run $(EXPERIMENT_FLAGS)

clean:
	rm -rf bin out

## pretrain-base: reproduce model/base/tiny.safetensors, the built-in base model:
## the previous base (commit 216b460: the first base of 83750c7 continued by 6000 SFT
## steps at lr 5e-4, seed 3, on the same footage; that stage is `make pretrain-base`
## at 216b460) continued by 4000 SFT steps at lr 2e-4 on 96 synthetic videos with
## close framing (seed 9001, kept apart from the demo's and the experiment's seeds):
## about 40 minutes of one core beside other work, plus 5-10 minutes to render the
## footage. Deterministic: the same weights on any machine with the same BLAS. Needs
## the git history for the starting checkpoint.
BASE_PARENT := 216b460
.PHONY: pretrain-base
pretrain-base: deps build
	mkdir -p out
	git show $(BASE_PARENT):model/base/tiny.safetensors > out/base-parent.safetensors
	./$(BIN) pretrain --dataset=out/pretrain-synth-9001 --synth_count=96 --synth_seed=9001 \
		--preset=tiny --init=out/base-parent.safetensors --steps=4000 --batch=4 --lr=0.0002 \
		--seed=4 --eval_every=500 --output=model/base/tiny.safetensors \
		--samples_png=model/base/samples.png

## fuzz: each fuzz target for FUZZTIME (default 20s): the shard reader, ffprobe
## JSON parsing, sidecar parsing, the manifest reader refresh (and negatives,
## pairs, eval) reads earlier records with. Seed corpora run in `make test` as
## ordinary tests.
FUZZTIME ?= 20s
FUZZ_TARGETS := transforms/shards:FuzzReader transforms/shards:FuzzCheckName \
	transforms/media:FuzzParseProbeJSON transforms/stage:FuzzApplySidecars \
	transforms/dataset:FuzzParseManifest
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "== $$pkg $$fn"; \
		$(GO) test $(GOTAGS) ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s -parallel 1; \
	done
