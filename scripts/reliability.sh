#!/usr/bin/env bash
# reliability stage: the real binary through a shutdown under load, a soak,
# its limits and hostile input (tests/reliability/), then the API contract.
# The runner is `cargo xtask reliability` (xtask/src/reliability.rs); this
# script only says where the pinned tools are (--help says the rest).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
exec cargo xtask reliability "$@"
