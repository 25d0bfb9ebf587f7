#!/usr/bin/env bash
# deploy stage of scripts/ci.sh: deploys the image to kind and runs the
# rolling-update test, or reports the stage SKIPPED (exit 3) on a machine
# that cannot start a kind cluster. Run directly, deploy-kind.sh and
# rollout-test.sh fail fast instead: there a missing tool is an error.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/deploy-stage.sh

Runs scripts/deploy-kind.sh, then scripts/rollout-test.sh, when `kind` and a
Docker engine are present. Otherwise prints `SKIPPED: <reason>` and exits 3,
which scripts/ci.sh reports as SKIPPED (never as passed). GitHub CI runs the
two scripts in its deploy job, on a runner where kind works.
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
"$REPO_ROOT/scripts/deploy-kind.sh"
"$REPO_ROOT/scripts/rollout-test.sh"
