# realdpo: the two commands a new user needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/realdpo
GOFLAGS   ?=
TESTFLAGS ?= -timeout 45m
BENCHFLAGS ?= -run '^$$' -bench . -benchtime 1x -timeout 60m
# sudo only when not already root (CI and the dev machines run as root).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test bench demo deps vet fmt-check clean fuzz

all: build

## deps: install ffmpeg/ffprobe from Debian when missing.
deps:
	@if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then \
		echo "installing ffmpeg (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg >/dev/null; \
	fi
	@ffmpeg -hide_banner -version | head -1

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./pipelines/realdpo

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	@# Data engineers launch jobs from macOS too: the launcher must build there.
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...

test: deps fmt-check vet
	$(GO) test $(GOFLAGS) $(TESTFLAGS) ./...

bench: deps
	$(GO) test $(GOFLAGS) $(BENCHFLAGS) ./...

## demo: the main job end to end on footage the project generates itself.
demo: deps build
	./$(BIN) demo --workdir=out/demo

clean:
	rm -rf bin out

## pretrain-base: reproduce model/base/tiny.safetensors, the built-in base model:
## SFT of the tiny preset on synthetic footage from seed 9001 (kept apart from
## the demo's seeds), deliberately short (a few minutes of CPU).
.PHONY: pretrain-base
pretrain-base: deps build
	./$(BIN) pretrain --dataset=out/pretrain-synth --synth_count=32 --synth_seed=9001 \
		--preset=tiny --steps=300 --batch=2 --lr=0.001 --seed=1 --eval_every=100 \
		--output=model/base/tiny.safetensors --samples_png=out/pretrain-samples.png

## fuzz: each fuzz target for FUZZTIME (default 20s): the shard reader, ffprobe
## JSON parsing, sidecar parsing. Seed corpora run in `make test` as ordinary tests.
FUZZTIME ?= 20s
FUZZ_TARGETS := transforms/shards:FuzzReader transforms/shards:FuzzCheckName \
	transforms/media:FuzzParseProbeJSON transforms/stage:FuzzApplySidecars
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "== $$pkg $$fn"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s -parallel 1; \
	done
