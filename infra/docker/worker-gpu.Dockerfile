# realdpo worker image with CUDA, for the negatives stage on GPU nodes.
#
# Be clear about what runs where: realdpo's built-in model is Gorgonia on
# the CPU. This image gives it the CUDA runtime, but the Gorgonia model
# still computes on the CPU unless a CUDA backend is added to model/ (not
# built today). The route to GPU generation is the HTTP generator: run the
# generation service on GPUs (in this image or any other) and point
# `realdpo negatives` at it with its http generator flags; this image is
# then just a worker with the NVIDIA runtime for co-located services.
#
# Build from the repository root:
#   docker build -f infra/docker/worker-gpu.Dockerfile -t REGION-docker.pkg.dev/PROJECT/realdpo/worker-gpu:TAG .

ARG BEAM_VERSION=2.77.0
ARG GO_VERSION=1.26
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04

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

FROM apache/beam_go_sdk:${BEAM_VERSION} AS beam

FROM ${CUDA_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/realdpo --create-home realdpo
COPY --from=beam /opt/apache/beam /opt/apache/beam
COPY --from=build /out/realdpo /usr/local/bin/realdpo
ENV TMPDIR=/var/lib/realdpo/tmp \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video
RUN mkdir -p /var/lib/realdpo/tmp && chown -R realdpo /var/lib/realdpo
USER realdpo
ENTRYPOINT ["/opt/apache/beam/boot"]
