# shellcheck shell=bash disable=SC2034 # the variables are for the files that source this
# What ships, written once: the architectures, their Rust targets, the cargo
# arguments of the build and the image tag of each platform.
#
# How the binary is built: scripts/build-binary.sh and
# the Dockerfile's builder stage both source this file, so a laptop, CI and
# `docker build .` compile with the same arguments by construction. The rest
# of the recipe lives in Cargo.toml: the release profile (fat LTO, one codegen
# unit, strip) and the allocator (mimalloc, a dependency for musl targets).
# Both callers run the build through `cargo auditable` (the dependency list
# embedded for scanners) and cargo-zigbuild (Zig as C cross toolchain and
# linker), after ship_build_env.

# Arguments of `cargo auditable zigbuild` and of `cargo chef cook --zigbuild`.
SHIP_CARGO_ARGS=(--release --locked --bin payload)

# C flags of the musl builds (mimalloc is the only C code). mimalloc asks the
# kernel for transparent huge pages on its arenas, so the few KiB it touches
# at start-up take whole 2 MiB pages: 10.9 MB idle RSS instead of 3.3 MB
# (docs/performance.md). This makes "no huge pages" its default for the
# process; MIMALLOC_ALLOW_THP=1 in the environment turns them back on.
SHIP_CFLAGS="-DMI_DEFAULT_ALLOW_THP=0"

# ship_build_env: exports SHIP_CFLAGS for every target that ships, in the
# per-target variable the cc crate reads (CFLAGS_<triple with _>), so host
# builds (build scripts, the tests) are left alone.
ship_build_env() {
  local arch triple
  for arch in "${SHIP_ARCHS[@]}"; do
    triple="$(ship_triple "$arch")"
    export "CFLAGS_${triple//-/_}=$SHIP_CFLAGS"
  done
}

# ship_triple ARCH: the Rust target of the binary in the linux/ARCH image.
# musl links statically by default, which a scratch image (no libc) needs.
ship_triple() {
  case "$1" in
    amd64) printf 'x86_64-unknown-linux-musl\n' ;;
    arm64) printf 'aarch64-unknown-linux-musl\n' ;;
    *)
      printf "unsupported architecture '%s': the image is built for linux/amd64 and linux/arm64\n" "$1" >&2
      return 1
      ;;
  esac
}

# SHIP_ARCHS: every architecture an image is built for.
SHIP_ARCHS=(amd64 arm64)

# ship_platform_archs PLATFORM: set `archs` to the architectures a --platform
# value names: all (SHIP_ARCHS), amd64, arm64, or linux/<arch>. For the
# scripts, after common.sh (it dies with a hint on any other value).
ship_platform_archs() {
  case "${1#linux/}" in
    all) archs=("${SHIP_ARCHS[@]}") ;;
    *)
      ship_triple "${1#linux/}" >/dev/null || die "--platform: use amd64, arm64 or all"
      archs=("${1#linux/}")
      ;;
  esac
}

# arch_image IMAGE ARCH: the tag of ARCH's image, IMAGE's tag with -ARCH
# appended: payload:local -> payload:local-arm64. Each platform is a separate
# local image (a local engine keeps one platform per tag).
arch_image() {
  local name="$1" tag=latest
  if [[ "$1" == *:* && "${1##*:}" != */* ]]; then
    name="${1%:*}" tag="${1##*:}"
  fi
  printf '%s:%s-%s\n' "$name" "$tag" "$2"
}

# host_arch: this machine's architecture in Docker's words (amd64, arm64).
host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) printf 'amd64\n' ;;
    aarch64 | arm64) printf 'arm64\n' ;;
    *)
      printf "this machine's CPU '%s' has no image: pass the architecture explicitly\n" "$(uname -m)" >&2
      return 1
      ;;
  esac
}

# build_broken_image FROM TAG: the bad release the rollback tests deploy:
# FROM with a setting the service refuses at start (it exits at once, so it
# never turns ready), labelled with a revision of its own so that
# cargo xtask deploy-kind tags it apart from FROM.
BROKEN_REVISION=0000000000000000000000000000000000000bad
build_broken_image() {
  printf 'FROM %s\nENV SHUTDOWN_DELAY_SECONDS=soon\n' "$1" |
    docker build --quiet --label "org.opencontainers.image.revision=$BROKEN_REVISION" --tag "$2" - >/dev/null
}

# prepare_rollout_images STAGE: the two images a deploy stage rolls between.
# Sets `image` to this commit's ($IMAGE, default payload:local, which the
# image stage built) and builds payload:previous from the parent commit, so
# /version differs between them. Only the host's platform: it runs here.
prepare_rollout_images() {
  image="${IMAGE:-payload:local}"
  docker image inspect "$image" >/dev/null 2>&1 ||
    die "image $image not found: build it first (scripts/ci.sh --only image $1)"
  local problem
  problem="$(image_revision_problem "$image")"
  [[ -z "$problem" ]] || die "$problem"
  GIT_SHA="$(parent_sha)" IMAGE=payload:previous "$REPO_ROOT/scripts/build-image.sh" --platform "$(host_arch)"
}
