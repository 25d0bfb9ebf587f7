#!/usr/bin/env bash
# Runs the black-box container tests (tests/container.rs, testcontainers)
# against the image of each platform that ships: linux/amd64 and linux/arm64
# (the one that is not this machine's runs emulated by QEMU, with longer
# timeouts that the tests announce). Here a missing Docker engine or image is
# a failure, not a skip: this stage is what proves the images the pipeline
# ships work. A failure on either platform fails the stage.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/container-test.sh [--platform amd64|arm64|all] [--from-archive FILE]
                                 [-- NEXTEST_ARGS...]
       scripts/container-test.sh --archive FILE

Runs the container suite's ignored tests,
`cargo nextest run --test container --run-ignored only`, against each
platform's image (build them first with scripts/build-image.sh): IMAGE's tag
+ -amd64 and + -arm64
(default payload:local-amd64, payload:local-arm64). Every platform runs even
after one fails; the stage fails when any did. Fails when no Docker engine
answers or an image is missing. An image for another CPU than this machine's
needs QEMU's binfmt_misc handler (scripts/install-tools.sh --only emulation).

  --platform P         amd64, arm64 or all (default: all; PLATFORM sets the default)
  --archive FILE       only compile the suite into a cargo-nextest archive (no
                       Docker needed): the CI test job hands it to container-test
  --from-archive FILE  run the suite from such an archive, without compiling
                       (needs cargo-nextest, not Rust)

Environment:
  IMAGE             base tag (default payload:local)
  EXPECTED_GIT_SHA  commit the images must report in /version (default: HEAD,
                    so a stale image from an older build fails)
Arguments after `--` go to cargo-nextest, e.g. `-- --no-capture`.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"

platform="${PLATFORM:-all}" test_args=() archive="" from_archive=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --platform | --platform=*)
      platform="$(option_value "$@")" || exit 1
      [[ "$1" == *=* ]] || shift
      ;;
    --archive | --from-archive)
      (($# >= 2)) || die "$1 needs a file name"
      if [[ "$1" == --archive ]]; then archive="$2"; else from_archive="$2"; fi
      shift
      ;;
    --) shift; test_args=("$@"); break ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
ship_platform_archs "$platform"

if [[ -n "$archive" ]]; then
  require_nextest
  [[ "$archive" == *.tar.zst ]] || die "--archive: name the file *.tar.zst (nextest's archive format)"
  cd "$REPO_ROOT"
  cargo nextest archive --locked --test container --archive-file "$archive"
  log "container suite archived in $archive"
  exit 0
fi
if [[ -n "$from_archive" ]]; then
  [[ -f "$from_archive" ]] || die "--from-archive: no archive at $from_archive (make one with --archive)"
  require_tool cargo-nextest "Install cargo-nextest (scripts/install-tools.sh --only cargo)."
else
  require_nextest
fi
require_tool docker "Install Docker (Debian: apt-get install docker.io; elsewhere: https://docs.docker.com/engine/install/)."
docker_engine_up ||
  die "no Docker engine answers ('docker info' failed). Start one (Linux: sudo systemctl start docker, or run dockerd) and retry."

IMAGE="${IMAGE:-payload:local}"
host="$(host_arch 2>/dev/null || true)"
for arch in "${archs[@]}"; do
  image="$(arch_image "$IMAGE" "$arch")"
  docker image inspect "$image" >/dev/null 2>&1 ||
    die "image $image not found. Build it with scripts/build-image.sh (or set IMAGE)."
  problem="$(image_revision_problem "$image")"
  [[ -z "$problem" ]] || die "$problem"
  # On Linux another CPU's image runs only through a binfmt_misc handler.
  if [[ "$(uname -s)" == Linux && "$arch" == arm64 && "$host" != arm64 &&
    "$(head -n1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null)" != enabled ]]; then
    die "$image is linux/arm64 and this $host machine has no enabled qemu-aarch64 binfmt handler: run scripts/install-tools.sh --only emulation"
  fi
done
export EXPECTED_GIT_SHA="${EXPECTED_GIT_SHA:-$(git_sha)}"

cd "$REPO_ROOT"
# The tests that need Docker and the image are the ignored ones.
if [[ -n "$from_archive" ]]; then
  # `cargo-nextest nextest` is what `cargo nextest` runs: no cargo, no Rust.
  runner=(cargo-nextest nextest run --archive-file "$from_archive" --workspace-remap "$REPO_ROOT")
else
  # Compile once; each platform then only runs the test binary.
  cargo nextest run --locked --test container --no-run
  runner=(cargo nextest run --locked --test container)
fi
runner+=(--run-ignored only --no-fail-fast)
for arch in "${archs[@]}"; do
  image="$(arch_image "$IMAGE" "$arch")"
  note=""
  [[ "$arch" != "$host" ]] && note=", emulated: timeouts longer"
  check "container tests, linux/$arch ($image$note)" \
    env PAYLOAD_IMAGE="$image" "${runner[@]}" "${test_args[@]}"
done
finish_checks container-test
