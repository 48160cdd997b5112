# syntax=docker/dockerfile:1
# ls-presign container: build with the pinned lock file, run as a non-root user on a slim base.

# The latest stable Rust: the workspace needs 1.91 or later (OpenDAL 0.59).
FROM rust:1-bookworm AS builder
WORKDIR /src
# Dependencies first, so source edits do not rebuild them: placeholder sources for both workspace
# members (cargo reads every member's manifest).
COPY Cargo.toml Cargo.lock ./
COPY crates/oss-emulator/Cargo.toml ./crates/oss-emulator/
# Cargo.toml names the benches; cargo wants their files present even to build the binary (not so
# the bench tools' examples in scripts/bench/: their paths are given, and read only to build them).
COPY benches ./benches
RUN mkdir src crates/oss-emulator/src && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/oss-emulator/src/lib.rs \
    && cargo build --release --locked --bin ls-presign \
    && rm -rf src crates/oss-emulator/src
COPY src ./src
COPY crates ./crates
COPY assets ./assets
COPY docs/openapi.json ./docs/openapi.json
# Touch so cargo sees the real sources as newer than the placeholder build. The release profile
# strips the binary (Cargo.toml).
RUN touch src/main.rs src/lib.rs crates/oss-emulator/src/lib.rs \
    && cargo build --release --locked --bin ls-presign

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin lspresign \
    && mkdir -p /var/lib/ls-presign && chown 10001:10001 /var/lib/ls-presign
COPY --from=builder /src/target/release/ls-presign /usr/local/bin/ls-presign
USER 10001
# LS_PRESIGN_STATE_DIR: what `import` knows of each project between runs (a cache).
ENV HOST=0.0.0.0 PORT=9090 RUST_LOG=info LS_PRESIGN_STATE_DIR=/var/lib/ls-presign
EXPOSE 9090
STOPSIGNAL SIGTERM
# HTTPS when the service serves TLS itself (its certificate names the public host, hence -k).
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD scheme=http; [ -z "$LS_PRESIGN_TLS_CERT_FILE" ] || scheme=https; \
        curl -fsSk "$scheme://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["ls-presign"]
CMD ["serve"]
