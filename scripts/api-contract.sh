#!/usr/bin/env bash
# The API contract test: the service's /openapi.json is valid OpenAPI 3.1 and
# schemathesis finds the service answering as it says. The runner is
# `cargo xtask api-contract` (xtask/src/api_contract.rs); this script only
# says where the pinned tools are (--help says the rest).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
exec cargo xtask api-contract "$@"
