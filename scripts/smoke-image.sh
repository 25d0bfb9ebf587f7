#!/usr/bin/env bash
# The shortest proof that a platform's image works: it starts the way the
# deployment runs it (read-only root, no capabilities, uid 65532), answers
# /readyz, and reports the expected commit and target in /version. The
# arm64-smoke job runs it on a native arm64 runner; the local pipeline runs
# it on the arm64 image under QEMU.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/smoke-image.sh [--platform amd64|arm64]

Runs IMAGE's tag + -<platform> (default payload:local-<this machine's
platform>), as scripts/build-image.sh tags it, and checks that /version
reports the musl target of that platform (scripts/lib/ship.sh).

Environment:
  IMAGE             base tag (default payload:local)
  EXPECTED_GIT_SHA  commit /version must report (default: HEAD)
  READY_TIMEOUT     seconds to wait for /readyz (default 30; emulation is slow)
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"

arch=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --platform | --platform=*)
      arch="$(option_value "$@")" || exit 1
      arch="${arch#linux/}"
      [[ "$1" == *=* ]] || shift
      ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
arch="${arch:-$(host_arch)}"
triple="$(ship_triple "$arch")" || die "--platform: use amd64 or arm64"
image="$(arch_image "${IMAGE:-payload:local}" "$arch")"
require_tool docker "Install Docker."
require_tool curl "Install curl."
require_tool jq "Install jq."
docker image inspect "$image" >/dev/null 2>&1 ||
  die "image $image not found. Build it with scripts/build-image.sh (or set IMAGE)."
expected_sha="${EXPECTED_GIT_SHA:-$(git_sha)}"
timeout="${READY_TIMEOUT:-30}"
[[ "$timeout" =~ ^[0-9]+$ ]] || die "READY_TIMEOUT must be a whole number of seconds, not '$timeout'"

container="$(docker run --detach --platform "linux/$arch" --read-only --cap-drop ALL \
  --security-opt no-new-privileges --user 65532:65532 --publish 127.0.0.1::8080 "$image")"
trap 'docker rm --force "$container" >/dev/null 2>&1 || true' EXIT
port="$(docker port "$container" 8080/tcp | head -n1 | sed 's/.*://')"
base="http://127.0.0.1:$port"

log "waiting up to ${timeout}s for $image (linux/$arch) to be ready on $base"
ready=false
for _ in $(seq 1 "$((timeout * 4))"); do
  if curl -fsS --max-time 2 "$base/readyz" >/dev/null 2>&1; then
    ready=true
    break
  fi
  sleep 0.25
done
if [[ "$ready" != true ]]; then
  docker logs "$container" >&2 || true
  die "$image did not answer /readyz within ${timeout}s (its log is above)"
fi

version="$(curl -fsS --max-time 5 "$base/version")"
printf '%s\n' "$version"
sha="$(jq -r '.git_sha' <<<"$version")"
target="$(jq -r '.target' <<<"$version")"
[[ "$sha" == "$expected_sha" ]] ||
  die "/version reports git_sha $sha, expected $expected_sha: the image is from another build"
[[ "$target" == "$triple" ]] ||
  die "/version reports target $target, expected $triple: the image holds the wrong binary"
log "smoke test passed: $image is ready, $target, commit ${sha:0:12}"
