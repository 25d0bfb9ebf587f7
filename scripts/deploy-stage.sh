#!/usr/bin/env bash
# deploy stage of scripts/ci.sh: deploys the image to kind and runs the
# rolling-update test, or reports the stage SKIPPED (exit 3) on a machine
# that cannot start a kind cluster. Run directly, `cargo xtask deploy-kind`
# and `cargo xtask rollout-test` fail fast instead: there a missing tool is
# an error.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/deploy-stage.sh

When `kind` and a Docker engine are present: builds the parent commit's image
(payload:previous, as the build (previous) job does), deploys it with
`cargo xtask deploy-kind`, then rolls to this commit's image ($IMAGE, default
payload:local, from the image stage) under load with `cargo xtask
rollout-test`, then deploys a broken revision that deploy-kind must roll back
under the same load (`rollout-test --expect-rollback`).
Otherwise prints `SKIPPED: <reason>` and exits 3, which scripts/ci.sh reports
as SKIPPED (never as passed). GitHub CI runs the same commands in its deploy
job, on a runner where kind works.
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

no_arguments "$@"

if ! command -v kind >/dev/null 2>&1; then
  echo "SKIPPED: kind is not installed (the deploy job runs it in GitHub CI)"
  exit 3
fi
if ! docker_engine_up; then
  echo "SKIPPED: no Docker engine answers, and kind runs its nodes as containers"
  exit 3
fi
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"
prepare_rollout_images deploy
cd "$REPO_ROOT"
cargo xtask deploy-kind payload:previous
cargo xtask rollout-test "$image"
build_broken_image "$image" payload:broken
cargo xtask rollout-test --expect-rollback payload:broken
