# The payload image: one static binary in an empty (scratch) image.
#
# Two ways in, one file; BINARY_SOURCE picks the stage the binary comes from:
#   builder  (default) self-contained: `docker build .` compiles from source,
#            cross-compiling on the build machine for every target platform
#            (no QEMU), with the dependency tree cached in its own layer.
#   prebuilt packages dist/<os>/<arch>/payload built outside Docker by
#            scripts/build-binary.sh. CI builds once with its Rust cache and
#            packages both architectures; it also builds where no base image
#            can be pulled, since scratch needs none.
# BuildKit builds only the stages the target needs, so the prebuilt path never
# touches the Rust image. The legacy builder cannot build this file (it builds
# every stage and knows no $BUILDPLATFORM): use BuildKit (docker buildx, or
# DOCKER_BUILDKIT=1 with a CLI older than 23); scripts/build-image.sh does.
#
# No `# syntax=` line: it would make BuildKit pull a frontend image first.

ARG RUST_VERSION=1.95.0
ARG BINARY_SOURCE=builder

# ---------------------------------------------------------------- self-contained path
# Runs on the build machine's own platform; the target architecture only
# changes the --target triple, never the emulated CPU.
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
# Same pin as scripts/tools/cargo-tools.txt, which the prebuilt path uses.
ARG CARGO_AUDITABLE_VERSION=0.7.5
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# What ships (targets, cargo arguments) and the hash-pinned Zig and
# cargo-zigbuild wheels: the same files scripts/build-binary.sh and
# scripts/install-tools.sh read, so this path builds what CI builds.
COPY scripts/lib/ship.sh scripts/tools/zig-requirements.txt /opt/ship/
# Zig is the C toolchain and linker for every target (mimalloc has C code),
# so one image cross-compiles to musl for amd64 and arm64. PyPI ships Zig and
# cargo-zigbuild as wheels, which saves compiling cargo-zigbuild here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/zig \
    && /opt/zig/bin/pip install --no-cache-dir --require-hashes --only-binary :all: \
        -r /opt/ship/zig-requirements.txt \
    && cargo install --locked "cargo-chef@${CARGO_CHEF_VERSION}" "cargo-auditable@${CARGO_AUDITABLE_VERSION}" \
    && rm -rf "$CARGO_HOME/registry" \
    && source /opt/ship/ship.sh \
    && for arch in "${SHIP_ARCHS[@]}"; do rustup target add "$(ship_triple "$arch")"; done
ENV PATH="/opt/zig/bin:${PATH}"
WORKDIR /src

# The recipe lists the dependency tree only; it changes when Cargo.toml or
# Cargo.lock change, not when a source file does.
FROM chef AS planner
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
# A workspace member (the repository's tooling, never built here) must be
# present for cargo to load the workspace.
COPY xtask/ xtask/
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG TARGETARCH
# chef's SHELL already; repeated for hadolint, which checks each stage on its
# own and forgets the SHELL at every ARG (hence the ignore further down).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# musl targets link statically by default; mimalloc replaces musl's slow
# allocator (Cargo.toml selects it for target_env = "musl"). The target and
# the cargo arguments come from scripts/lib/ship.sh, as for build-binary.sh.
RUN source /opt/ship/ship.sh && ship_triple "$TARGETARCH" >/target-triple
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: this layer is reused until the recipe changes.
RUN source /opt/ship/ship.sh && ship_build_env \
    && cargo chef cook --zigbuild "${SHIP_CARGO_ARGS[@]}" --target "$(cat /target-triple)" \
        --recipe-path recipe.json
# The sources by name, not `COPY . .`: the context also holds dist/ for the
# prebuilt path, and a new binary there must not invalidate this layer. A
# target Cargo.toml declares outside src/ needs its own COPY here and above,
# as does a workspace member (xtask/: cargo loads it, --bin builds only ours).
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
COPY xtask/ xtask/
# Declared after the dependency layer so a new commit does not rebuild it.
ARG GIT_SHA=unknown
ARG BUILD_DATE=
# cargo auditable embeds the dependency list in the binary, so scanners
# (trivy, cargo audit bin, syft) see every crate in the final image.
# hadolint ignore=SC3054
RUN source /opt/ship/ship.sh && ship_build_env \
    && triple="$(cat /target-triple)" \
    && export GIT_SHA BUILD_TIMESTAMP="$BUILD_DATE" \
    && cargo auditable zigbuild "${SHIP_CARGO_ARGS[@]}" --target "$triple" \
    && cp "target/$triple/release/payload" /payload

# ---------------------------------------------------------------- prebuilt path
FROM scratch AS prebuilt
ARG TARGETPLATFORM
COPY dist/${TARGETPLATFORM}/payload /payload

# ---------------------------------------------------------------- runtime
FROM ${BINARY_SOURCE} AS binary

FROM scratch AS runtime
ARG GIT_SHA=unknown
ARG VERSION=unknown
ARG BUILD_DATE=unknown
ARG SOURCE_URL=unknown
LABEL org.opencontainers.image.title="payload" \
      org.opencontainers.image.description="A production-shaped axum service" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=binary /payload /payload
# Numeric uid:gid: there is no /etc/passwd to look a name up in, and a number
# lets Kubernetes' runAsNonRoot verify the user without one.
USER 65532:65532
EXPOSE 8080
# No shell or curl in the image: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s --retries=3 \
    CMD ["/payload", "healthcheck"]
ENTRYPOINT ["/payload"]
