#!/usr/bin/env bash
# rust-lint stage: formatting and clippy. Runs first because it is the
# cheapest way to fail a pull request, and both checks run even when the
# first fails so one push shows every problem.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/lint-rust.sh

Runs, from the repository root:
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
Lint levels live in Cargo.toml ([workspace.lints]: the service and xtask/
share them); -D warnings turns every warning (rustc and clippy) into an error. Fails if either check fails.
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
no_arguments "$@"
cd "$REPO_ROOT"
require_tool cargo "Install Rust with rustup (https://rustup.rs)."
cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: rustup component add clippy"

check rustfmt cargo fmt --all --check
# --workspace lints xtask/ too; --all-targets lints tests, benches and
# examples; --locked fails when Cargo.lock is out of date instead of silently
# rewriting it.
check clippy cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
finish_checks rust-lint
