# syntax=docker/dockerfile:1
#
# The service as a container image: the one binary on a distroless base, run as a non-root
# user. Build with BuildKit (the default of current Docker):
#   docker build -t cloudsigma-auth .

# The toolchain CI builds and tests with (rustc 1.95). build.rs compiles the protos in Rust
# (protox), so no protoc is installed.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The crate registry and target/ live in BuildKit caches, so a rebuild after a source change
# compiles only this workspace. target/ is a cache, not a layer, hence the copy out of it.
# --locked: the image is built from exactly the dependency versions that CI tested.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin cloudsigma-auth \
    && install -D -m 0755 target/release/cloudsigma-auth /out/usr/local/bin/cloudsigma-auth \
    && install -d /out/home/nonroot/data

# glibc and libgcc, no shell, no package manager; user nonroot (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/cloudsigma-auth /usr/local/bin/cloudsigma-auth
# Without DATABASE_URL the service keeps an SQLite file in ./data/; the directory exists and
# belongs to the user, so a volume mounted there is writable too.
COPY --from=build --chown=65532:65532 /out/home/nonroot/data /home/nonroot/data
WORKDIR /home/nonroot
USER 65532:65532
# The default listener (127.0.0.1) would be unreachable from outside the container.
ENV CLOUDSIGMA_LISTEN=0.0.0.0:8080
EXPOSE 8080
# Asks grpc.health.v1.Health on the --listen address: exit 0 when SERVING, 1 otherwise
# (exec form: the base has no shell).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/cloudsigma-auth", "health"]
ENTRYPOINT ["/usr/local/bin/cloudsigma-auth"]
CMD ["serve"]
