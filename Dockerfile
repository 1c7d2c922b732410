# syntax=docker/dockerfile:1
#
# pbi-pusher: a static binary on distroless, running as the nonroot user (65532).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t pbi-pusher .
#   docker run -v pbi-pusher-spool:/var/lib/pbi-pusher -v $PWD/config.yaml:/etc/pbi-pusher/config.yaml:ro pbi-pusher
# The working directory is the spool volume, so the default spool.path (./pbi-pusher.db) is
# /var/lib/pbi-pusher/pbi-pusher.db. Set admin.listen to 0.0.0.0:9464 for probes (and then
# admin.token_file: the mutating admin endpoints need a bearer token off loopback).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/pbi-pusher ./cmd/pbi-pusher
# The spool directory, owned by nonroot so that a fresh volume inherits writable permissions.
RUN mkdir -p /out/var/lib/pbi-pusher /out/etc/pbi-pusher

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pbi-pusher /pbi-pusher
COPY --from=build --chown=65532:65532 /out/var/lib/pbi-pusher /var/lib/pbi-pusher
COPY --from=build /out/etc/pbi-pusher /etc/pbi-pusher
USER 65532:65532
WORKDIR /var/lib/pbi-pusher
VOLUME ["/var/lib/pbi-pusher"]
# 9464: admin (/metrics, /healthz, /readyz, /status); 8089: HTTP ingest source.
EXPOSE 9464 8089
ENTRYPOINT ["/pbi-pusher"]
CMD ["run", "-config", "/etc/pbi-pusher/config.yaml"]
