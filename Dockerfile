# nodewatch in one container. The binary is built by `make build`, the same command and
# flags as on a workstation (static, CGO off, trimmed, version stamped); a test in
# cmd/nodewatch checks that this file keeps doing so.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION=${VERSION}

# distroless/static: no shell, no package manager, CA certificates and tzdata included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/nodewatch /usr/local/bin/nodewatch
# Probes and the status page must be reachable from outside the container.
ENV NODEWATCH_HTTP_LISTEN=0.0.0.0:8080
# The database lives on the volume: ./nodewatch.db relative to /data.
WORKDIR /data
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/nodewatch", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/nodewatch"]
CMD ["run"]
