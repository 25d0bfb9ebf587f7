#!/usr/bin/env bash
# The shortest proof that an image works on a platform: it starts the way the
# deployment runs it (read-only root, no capabilities, uid 65532), answers
# /readyz, and reports the expected commit and CPU in /version. The arm64-smoke
# job runs it on a native arm64 runner; on an x86 machine with QEMU's binfmt
# handler it runs the arm64 image emulated.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/smoke-image.sh IMAGE ARCH

ARCH is what /version's `target` must start with: x86_64 or aarch64.

Environment:
  EXPECTED_GIT_SHA  commit /version must report (default: HEAD)
  READY_TIMEOUT     seconds to wait for /readyz (default 30; emulation is slow)
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
(($# == 2)) || { usage >&2; die "expected IMAGE and ARCH, got $# argument(s)"; }
image="$1" arch="$2"
case "$arch" in
  x86_64 | aarch64) ;;
  *) die "ARCH must be x86_64 or aarch64, not '$arch'" ;;
esac
require_tool docker "Install Docker."
require_tool curl "Install curl."
require_tool jq "Install jq."
expected_sha="${EXPECTED_GIT_SHA:-$(git_sha)}"
timeout="${READY_TIMEOUT:-30}"
[[ "$timeout" =~ ^[0-9]+$ ]] || die "READY_TIMEOUT must be a whole number of seconds, not '$timeout'"

platform="linux/${arch/x86_64/amd64}"
platform="${platform/aarch64/arm64}"
container="$(docker run --detach --platform "$platform" --read-only --cap-drop ALL \
  --security-opt no-new-privileges --user 65532:65532 --publish 127.0.0.1::8080 "$image")"
trap 'docker rm --force "$container" >/dev/null 2>&1 || true' EXIT
port="$(docker port "$container" 8080/tcp | head -n1 | sed 's/.*://')"
base="http://127.0.0.1:$port"

log "waiting up to ${timeout}s for $image ($platform) to be ready on $base"
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
[[ "$target" == "$arch"-* ]] ||
  die "/version reports target $target, expected an $arch build: the image holds the wrong binary"
log "smoke test passed: $image is ready, $target, commit ${sha:0:12}"
