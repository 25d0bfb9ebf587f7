#!/usr/bin/env bash
# Builds the musl binaries that ship and checks them: `cargo xtask
# build-binary` (xtask/src/build_binary.rs) does it, once the toolchain that
# builds it is there. `--help` says how.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_rust_toolchain
cd "$REPO_ROOT"
exec cargo xtask build-binary "$@"
