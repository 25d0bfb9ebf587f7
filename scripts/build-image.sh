#!/usr/bin/env bash
# Builds the musl binaries, then one image per platform through the
# Dockerfile's prebuilt path: this is how CI builds the images, and it needs
# no base image from a registry (the final stage is FROM scratch), so it also
# works offline. The arm64 image is only packaged here (a COPY), never built
# under emulation.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/build-image.sh [--platform amd64|arm64|all]

Builds the musl binaries with scripts/build-binary.sh, then one image per
platform with `--build-arg BINARY_SOURCE=prebuilt --target runtime`, and
prints each image's tag, size and ID:
  linux/amd64  IMAGE's tag + -amd64 (default payload:local-amd64)
  linux/arm64  IMAGE's tag + -arm64 (default payload:local-arm64)
The image of this machine's platform is also tagged ${IMAGE} (default
payload:local), the image the other local scripts run by default.

  --platform P   amd64, arm64 or all (default: all; linux/amd64 and
                 linux/arm64 are accepted too)

Environment:
  IMAGE       base tag (default payload:local)
  PLATFORM    default of --platform
  GIT_SHA     revision baked into the binary and the OCI labels (default HEAD)
  BUILD_DATE  org.opencontainers.image.created and the binary's build time
              (default: HEAD's commit time, so one commit gives one image)
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"

platform="${PLATFORM:-all}"
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --platform | --platform=*)
      platform="$(option_value "$@")" || exit 1
      [[ "$1" == *=* ]] || shift
      ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
ship_platform_archs "$platform"

IMAGE="${IMAGE:-payload:local}"

require_tool rustc "Install Rust with rustup (https://rustup.rs)."
require_tool docker "Install Docker (Debian: apt-get install docker.io; elsewhere: https://docs.docker.com/engine/install/)."
docker_engine_up ||
  die "no Docker engine answers ('docker info' failed). Start one (Linux: sudo systemctl start docker, or run dockerd) and retry."

# The prebuilt path only works with BuildKit, which builds just the stages the
# target needs; the legacy builder would build every stage and try to pull the
# Rust image. Docker CLIs from 23.0 on reach BuildKit only through the buildx
# plugin (DOCKER_BUILDKIT=1 without it is an error); older CLIs have BuildKit
# built in. So: any docker on PATH with buildx, else one older than 23.
build_cmd=()
while read -r cli; do
  if "$cli" buildx version >/dev/null 2>&1; then
    build_cmd=("$cli" buildx build --load)
    break
  fi
  major="$("$cli" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)"
  if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 23)); then
    build_cmd=(env DOCKER_BUILDKIT=1 "$cli" build)
    break
  fi
done < <(type -ap docker)
((${#build_cmd[@]} > 0)) ||
  die "no BuildKit-capable docker client found: install Docker's buildx plugin (Docker CE: apt-get install docker-buildx-plugin; Debian 13 and later: apt-get install docker-buildx; elsewhere: https://docs.docker.com/build/install-buildx/), or use a Docker client older than 23 (Debian 12's docker.io)"
docker_cli="${build_cmd[0]}"
[[ "$docker_cli" == env ]] && docker_cli="${build_cmd[2]}"

GIT_SHA="$(git_sha)"
if [[ -z "${BUILD_DATE:-}" ]]; then
  BUILD_DATE="$(TZ=UTC0 git -C "$REPO_ROOT" log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null ||
    date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
export GIT_SHA BUILD_TIMESTAMP="$BUILD_DATE"
version="$(crate_version)"
source_url="$(sed -n 's/^repository = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)"

if ((${#archs[@]} > 1)); then
  "$REPO_ROOT/scripts/build-binary.sh" --arch all
else
  "$REPO_ROOT/scripts/build-binary.sh" --arch "${archs[0]}"
fi

cd "$REPO_ROOT"
host="$(host_arch 2>/dev/null || true)"
for arch in "${archs[@]}"; do
  image="$(arch_image "$IMAGE" "$arch")"
  log "building $image for linux/$arch with: ${build_cmd[*]}"
  "${build_cmd[@]}" \
    --platform "linux/$arch" \
    --build-arg BINARY_SOURCE=prebuilt \
    --build-arg GIT_SHA="$GIT_SHA" \
    --build-arg VERSION="$version" \
    --build-arg BUILD_DATE="$BUILD_DATE" \
    --build-arg SOURCE_URL="${source_url:-unknown}" \
    --target runtime \
    --tag "$image" \
    .

  inspect() { "$docker_cli" image inspect --format "$1" "$image"; }
  problem="$(image_revision_problem "$image")"
  [[ -z "$problem" ]] || die "$problem"
  revision="$GIT_SHA"
  built_for="$(inspect '{{.Os}}/{{.Architecture}}')"
  [[ "$built_for" == "linux/$arch" ]] || die "$image is $built_for, expected linux/$arch"
  size="$(inspect '{{.Size}}')"
  printf 'image:    %s (%s, revision %s)\n' "$image" "$built_for" "$revision"
  printf 'size:     %s bytes (%s MB)\n' "$size" "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1000000 }')"
  # Locally the image ID is the digest of its config; a registry digest
  # (repo@sha256:...) exists only once the image is pushed.
  printf 'image ID: %s\n' "$(inspect '{{.Id}}')"
  if [[ "$arch" == "$host" ]]; then
    "$docker_cli" tag "$image" "$IMAGE"
    printf "tagged:   %s (this machine's platform)\n" "$IMAGE"
  fi
done
