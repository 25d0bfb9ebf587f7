#!/usr/bin/env bash
# Runs the black-box container tests (tests/container.rs, testcontainers)
# against the image. Here a missing Docker engine or image is a failure, not
# a skip: this stage is what proves the image the pipeline ships works.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/container-test.sh [-- CARGO_TEST_ARGS...]

Runs `cargo test --test container` against the image ${IMAGE:-payload:local}
(build it first with scripts/build-image.sh). Fails when no Docker engine
answers or the image is missing.

Environment:
  IMAGE             image under test (default payload:local)
  EXPECTED_GIT_SHA  commit the image must report in /version (default: HEAD,
                    so a stale image from an older build fails)
Arguments after `--` go to the test binary, e.g. `-- --nocapture`.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

test_args=()
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --) shift; test_args=("$@"); break ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

require_tool cargo "Install Rust with rustup (https://rustup.rs)."
require_tool docker "Install Docker (Debian: apt-get install docker.io; elsewhere: https://docs.docker.com/engine/install/)."
docker_engine_up ||
  die "no Docker engine answers ('docker info' failed). Start one (Linux: sudo systemctl start docker, or run dockerd) and retry."

export PAYLOAD_IMAGE="${IMAGE:-payload:local}"
docker image inspect "$PAYLOAD_IMAGE" >/dev/null 2>&1 ||
  die "image $PAYLOAD_IMAGE not found. Build it with scripts/build-image.sh (or set IMAGE)."
export EXPECTED_GIT_SHA="${EXPECTED_GIT_SHA:-$(git_sha)}"
# Turns every "skipped: no engine/no image" in the tests into a failure.
export PAYLOAD_CONTAINER_TESTS=required

cd "$REPO_ROOT"
log "testing $PAYLOAD_IMAGE (expecting git $EXPECTED_GIT_SHA)"
cargo test --locked --test container -- "${test_args[@]}"
