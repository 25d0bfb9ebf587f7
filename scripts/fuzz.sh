#!/usr/bin/env bash
# fuzz stage: bounded cargo-fuzz runs of the slug rules and the request-body
# validation. The runner is `cargo xtask fuzz` (xtask/src/fuzz.rs); --help
# says what it needs and does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo xtask fuzz "$@"
