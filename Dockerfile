# One image recipe for both services; APP picks which. Build context is the repository root (the
# Cargo workspace):
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg APP=api-app -t api-app .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg APP=demo-app -t demo-app .
# Every RUN happens on the build platform and cross-compiles to a static musl binary, so a
# multi-arch build needs no QEMU. The runtime is distroless static: no shell, UID 65532.
# No `# syntax=` line: BuildKit's built-in Dockerfile frontend builds it, pinned with BuildKit itself
# (release.yml's driver-opts), so no frontend image floats.

# api-app or demo-app; there is deliberately no default.
ARG APP

# cargo-chef and the musl targets, on the machine that runs the build.
FROM --platform=$BUILDPLATFORM rust:1.95.0-slim-trixie@sha256:e14e87345b4d5964ddcc3491d27ee046a0f23820f340c3c1e24da6880141f7c0 AS chef
# ring (rustls' cryptography, for TLS to PostgreSQL) has C and assembly: clang compiles them for
# either target from any build platform, llvm-ar archives them, rust-lld still links.
ENV CARGO_TERM_COLOR=never \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    CC_x86_64_unknown_linux_musl=clang \
    CC_aarch64_unknown_linux_musl=clang \
    AR_x86_64_unknown_linux_musl=llvm-ar \
    AR_aarch64_unknown_linux_musl=llvm-ar
# The base image is pinned by digest, so these come from that Debian release's archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang llvm \
    && rm -rf /var/lib/apt/lists/*
# cargo-auditable embeds the crate list (from Cargo.lock) in the binary: a static binary otherwise
# carries no dependency data, and the release's SBOM (BuildKit's syft scanner reads the embedded
# list) would name no Rust crate.
RUN cargo install --locked cargo-chef@0.1.78 cargo-auditable@0.7.7 \
    && rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
WORKDIR /src

# The dependency recipe changes only when a manifest or the lockfile does.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG APP
ARG TARGETARCH
RUN case "$APP" in \
      api-app|demo-app) ;; \
      *) echo "set --build-arg APP=api-app or APP=demo-app (got '$APP')" >&2; exit 1 ;; \
    esac
# Dependencies first: this layer is what the registry/GHA cache carries between builds.
COPY --from=planner /src/recipe.json recipe.json
RUN case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-musl ;; \
      arm64) triple=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH: $TARGETARCH" >&2; exit 1 ;; \
    esac \
    && echo "$triple" > /rust-target \
    && cargo chef cook --release --locked --target "$triple" --package "$APP" --recipe-path recipe.json
COPY . .
# Read by the app through option_env!; never a secret (build args land in the provenance).
ARG GIT_SHA=unknown
ARG BUILD_TIME=unknown
RUN triple="$(cat /rust-target)" \
    && GIT_SHA="$GIT_SHA" BUILD_TIME="$BUILD_TIME" \
       cargo auditable build --release --locked --target "$triple" --package "$APP" \
    && install -D -m 0555 "target/$triple/release/$APP" /out/app

FROM gcr.io/distroless/static-debian13:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6
ARG APP
ARG GIT_SHA=unknown
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="${APP}" \
      org.opencontainers.image.description="${APP} of the gitops-platform" \
      org.opencontainers.image.source="https://github.com/gitops-platform/gitops-platform" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/app /app
USER 65532:65532
# No EXPOSE: the port is the app's PORT setting (8080 api-app, 8081 demo-app), and the manifests
# name it; a second copy here could only drift.
ENTRYPOINT ["/app"]
