#!/usr/bin/env bash
# The README's test command: every pipeline stage this machine can run, in
# the order the GitHub workflows run them, then a summary table. The stage
# list and the runner are `cargo xtask ci` (xtask/src/ci/); this script makes
# sure the repository's toolchain is there to build it (`--help` says more).
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ " $* " == *" --no-install "* ]] || ensure_rust_toolchain
cd "$REPO_ROOT"
exec cargo xtask ci "$@"
