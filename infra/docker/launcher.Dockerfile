# Dataflow flex template launcher for one realdpo pipeline. The launcher
# base runs FLEX_TEMPLATE_GO_BINARY with the template's parameters as
# --flags and no subcommand; REALDPO_SUBCOMMAND supplies it.
#
#   docker build -f infra/docker/launcher.Dockerfile --build-arg SUBCOMMAND=curate \
#     -t REGION-docker.pkg.dev/PROJECT/realdpo/launcher-curate:TAG .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o /out/realdpo ./pipelines/realdpo

FROM gcr.io/dataflow-templates-base/go-template-launcher-base
ARG SUBCOMMAND=curate
COPY --from=build /out/realdpo /template/realdpo
ENV FLEX_TEMPLATE_GO_BINARY=/template/realdpo \
    REALDPO_SUBCOMMAND=${SUBCOMMAND}
