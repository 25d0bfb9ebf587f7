#!/usr/bin/env bash
# Installs the exact tool versions the pipeline stages use, from the pins in
# scripts/tools/: `cargo xtask install-tools` (xtask/src/install/) does it, once
# the toolchain that builds it is there. `--help` lists the parts.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
[[ " $* " == *" --check "* ]] || ensure_rust_toolchain
cd "$REPO_ROOT"
exec cargo xtask install-tools "$@"
