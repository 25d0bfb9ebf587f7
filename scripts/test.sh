#!/usr/bin/env bash
# test stage: unit, HTTP and doc tests. cargo-nextest runs each test in its own
# process (one hung or crashing test cannot hide the others) and in parallel;
# CI uses it too, so a failure reproduces with the same runner. Doctests are a
# separate `cargo test --doc` run because nextest does not run them.
#
# The heavy suites (Docker, the pinned tools, minutes of load) are ignored
# tests, `#[ignore = "<stage>: <why>"]`: nextest counts them as skipped, and
# the scripts/ci.sh stage named in the reason runs them with --run-ignored only.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/test.sh [-- EXTRA NEXTEST ARGS]

Runs every test that is not ignored, then the doctests:
  cargo nextest run --workspace --locked --no-fail-fast --status-level skip
  cargo test --workspace --doc --locked
Each skipped (ignored) test is listed by name; `cargo test` also prints the
reason. Arguments after `--` go to nextest.
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
nextest_passthrough "$@"
cd "$REPO_ROOT"
require_nextest

# --status-level skip: each skipped (ignored) test is listed by name.
check unit+http cargo nextest run --workspace --locked --no-fail-fast --status-level skip "${NEXTEST_EXTRA[@]}"
check doctests cargo test --workspace --doc --locked
log "skipped tests are the ignored heavy suites: each #[ignore = \"<stage>: <why>\"] names the scripts/ci.sh stage that runs it (\`cargo test\` prints the reasons)"
finish_checks test
