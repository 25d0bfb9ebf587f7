#!/usr/bin/env bash
# Builds the static binary, then the image through the Dockerfile's prebuilt
# path: this is how CI builds the image, and it needs no base image from a
# registry (the final stage is FROM scratch), so it also works offline.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/build-image.sh

Builds the binary with scripts/build-binary.sh, packages it with
`--build-arg BINARY_SOURCE=prebuilt --target runtime`, and prints the image
size and ID.

Environment:
  IMAGE       tag to build (default payload:local)
  PLATFORM    linux/amd64 (default) or linux/arm64. A platform other than the
              host's is cross-compiled to musl with cargo-zigbuild.
  GIT_SHA     revision baked into the binary and the OCI labels (default HEAD)
  BUILD_DATE  org.opencontainers.image.created and the binary's build time
              (default: HEAD's commit time, so one commit gives one image)
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$arg'" ;;
  esac
done

IMAGE="${IMAGE:-payload:local}"
PLATFORM="${PLATFORM:-linux/amd64}"

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
  die "no BuildKit-capable docker client found: install the buildx plugin (Debian: apt-get install docker-buildx; elsewhere: https://docs.docker.com/build/install-buildx/)"
docker_cli="${build_cmd[0]}"
[[ "$docker_cli" == env ]] && docker_cli="${build_cmd[2]}"

case "$PLATFORM" in
  linux/amd64) arch=x86_64 ;;
  linux/arm64) arch=aarch64 ;;
  *) die "PLATFORM '$PLATFORM' is not supported: use linux/amd64 or linux/arm64" ;;
esac
host="$(rustc -vV | sed -n 's/^host: //p')"
if [[ "$host" == "$arch"-*-linux-* ]]; then
  target="$host"
else
  target="$arch-unknown-linux-musl"
fi

GIT_SHA="$(git_sha)"
if [[ -z "${BUILD_DATE:-}" ]]; then
  BUILD_DATE="$(TZ=UTC0 git -C "$REPO_ROOT" log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null ||
    date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
export GIT_SHA BUILD_TIMESTAMP="$BUILD_DATE"
version="$(crate_version)"
source_url="$(sed -n 's/^repository = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)"

"$REPO_ROOT/scripts/build-binary.sh" --target "$target"

log "building $IMAGE for $PLATFORM with: ${build_cmd[*]}"
cd "$REPO_ROOT"
"${build_cmd[@]}" \
  --platform "$PLATFORM" \
  --build-arg BINARY_SOURCE=prebuilt \
  --build-arg GIT_SHA="$GIT_SHA" \
  --build-arg VERSION="$version" \
  --build-arg BUILD_DATE="$BUILD_DATE" \
  --build-arg SOURCE_URL="${source_url:-unknown}" \
  --target runtime \
  --tag "$IMAGE" \
  .

size="$("$docker_cli" image inspect --format '{{.Size}}' "$IMAGE")"
id="$("$docker_cli" image inspect --format '{{.Id}}' "$IMAGE")"
revision="$("$docker_cli" image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$IMAGE")"
[[ "$revision" == "$GIT_SHA" ]] ||
  die "$IMAGE carries revision label '$revision', expected '$GIT_SHA'"
printf 'image:    %s (%s, revision %s)\n' "$IMAGE" "$PLATFORM" "$revision"
printf 'size:     %s bytes (%s MB)\n' "$size" "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1000000 }')"
# Locally the image ID is the digest of its config; a registry digest
# (repo@sha256:...) exists only once the image is pushed.
printf 'image ID: %s\n' "$id"
