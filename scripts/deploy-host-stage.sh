#!/usr/bin/env bash
# deploy-host stage: scripts/deploy-host.sh's blue-green switch, canary and
# rollback under load, here, through Debian's nginx running the nginx.conf
# the Compose file gives the nginx image (no image can be pulled on a machine
# without a registry). The scenarios and their verdicts are in
# xtask/src/deploy_host/stage.rs; this script provides the two images.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/deploy-host-stage.sh

Builds the parent commit's image (payload:previous, as the deploy stage
does) and a broken one (payload:broken, a setting it refuses at start),
then runs `cargo xtask deploy-host-stage payload:previous $IMAGE
payload:broken` ($IMAGE: default payload:local, from the image stage); its
--help lists the scenarios. Without a Docker engine prints `SKIPPED: <reason>` and exits 3,
which scripts/ci.sh reports as SKIPPED (never as passed).
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

no_arguments "$@"

if ! docker_engine_up; then
  echo "SKIPPED: no Docker engine answers, and the colours run as containers"
  exit 3
fi
require_tool nginx "Install nginx, the stage's reverse proxy: scripts/install-tools.sh --only apt (it runs sudo)"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"
prepare_rollout_images deploy-host
build_broken_image "$image" payload:broken
cd "$REPO_ROOT"
cargo xtask deploy-host-stage payload:previous "$image" payload:broken
