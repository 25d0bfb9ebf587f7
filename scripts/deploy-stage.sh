#!/usr/bin/env bash
# deploy stage of scripts/ci.sh: deploys the image to kind and runs the
# rolling-update test, or reports the stage SKIPPED (exit 3) on a machine
# that cannot start a kind cluster. Run directly, deploy-kind.sh and
# rollout-test.sh fail fast instead: there a missing tool is an error.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/deploy-stage.sh

When `kind` and a Docker engine are present: builds the parent commit's image
(payload:previous, as the build (previous) job does), deploys it with
scripts/deploy-kind.sh, then rolls to this commit's image ($IMAGE, default
payload:local, from the image stage) under load with scripts/rollout-test.sh,
then deploys a broken revision that deploy-kind.sh must roll back under the
same load (rollout-test.sh --expect-rollback).
Otherwise prints `SKIPPED: <reason>` and exits 3, which scripts/ci.sh reports
as SKIPPED (never as passed). GitHub CI runs the two scripts in its deploy
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
require_tool cargo "Install Rust with rustup: the rollout test's load is cargo xtask under-load."
prepare_rollout_images deploy
"$REPO_ROOT/scripts/deploy-kind.sh" payload:previous
"$REPO_ROOT/scripts/rollout-test.sh" "$image"
build_broken_image "$image" payload:broken
"$REPO_ROOT/scripts/rollout-test.sh" --expect-rollback payload:broken
