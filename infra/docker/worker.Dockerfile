# realdpo worker image for the Beam Go SDK: Debian's ffmpeg/ffprobe (the
# versions the tests run against) plus Beam's Go boot loader.
#
# How Beam Go workers start: the runner starts this container with
# /opt/apache/beam/boot as its entrypoint; boot fetches the staged worker
# binary (the realdpo binary that launched the job: the Go SDK stages the
# launching binary itself when it is linux/amd64, or the binary named by
# --worker_binary) and execs it with --worker=true and the control
# endpoints. realdpo recognises that invocation and serves as the SDK
# harness. The image also carries realdpo at /usr/local/bin, so the same
# image can launch jobs (flex templates, CronJobs).
#
# Build from the repository root:
#   docker build -f infra/docker/worker.Dockerfile -t REGION-docker.pkg.dev/PROJECT/realdpo/worker:TAG .

ARG BEAM_VERSION=2.77.0
ARG GO_VERSION=1.26

# 1. Build realdpo (static, so it runs on any glibc).
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . .
# cgo with OpenBLAS: the model's matrix products (make build does the same).
RUN CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -trimpath -tags openblas -o /out/realdpo ./pipelines/realdpo

# 2. Beam's Go SDK image, for its boot loader.
FROM apache/beam_go_sdk:${BEAM_VERSION} AS beam

# 3. The runtime: ffmpeg 5.1 from Debian bookworm, boot, realdpo.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/realdpo --create-home realdpo
COPY --from=beam /opt/apache/beam /opt/apache/beam
COPY --from=build /out/realdpo /usr/local/bin/realdpo
# Temp copies of sources and clips go here; mount a large disk on workers.
ENV TMPDIR=/var/lib/realdpo/tmp
RUN mkdir -p /var/lib/realdpo/tmp && chown -R realdpo /var/lib/realdpo
USER realdpo
ENTRYPOINT ["/opt/apache/beam/boot"]
