#!/usr/bin/env bash
# The README's test command: every pipeline stage this machine can run, in
# the order the GitHub workflows run them, then a summary table. The stage
# list and the runner are `cargo xtask ci` (xtask/src/ci/); this script makes
# sure the repository's toolchain is there to build it (`--help` says more).
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_tool rustup "Install Rust with rustup (https://rustup.rs): the runner is cargo xtask ci."
tools="$REPO_ROOT/scripts/install-tools.sh"
if [[ " $* " != *" --no-install "* ]] && ! "$tools" --check --only rust 2>/dev/null; then
  "$tools" --only rust </dev/null
fi
cd "$REPO_ROOT"
exec cargo xtask ci "$@"
