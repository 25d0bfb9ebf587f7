#!/usr/bin/env bash
# test stage: unit, HTTP and doc tests. cargo-nextest runs each test in its own
# process (one hung or crashing test cannot hide the others) and in parallel;
# CI uses it too, so a failure reproduces with the same runner. Doctests are a
# separate `cargo test --doc` run because nextest does not run them.
set -euo pipefail

# Test binaries that need a Docker engine, the pinned tools or minutes of run
# time have stages of their own in scripts/ci.sh (tests/<name>.rs).
HEAVY_TESTS=(container gates reliability)

usage() {
  cat <<'EOF'
Usage: scripts/test.sh [-- EXTRA NEXTEST ARGS]

Runs every test except the heavy suites with stages of their own
(tests/container.rs, tests/gates.rs, tests/reliability*.rs):
  cargo nextest run --workspace --locked --no-fail-fast -E 'not binary(...)'
  cargo test --doc --workspace --locked
(--workspace: xtask/'s unit tests too.)
Without cargo-nextest it falls back to `cargo test` and says so
(install: cargo install --locked cargo-nextest).
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
extra=()
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --) shift; extra=("$@") ;;
  "") ;;
  *) usage >&2; die "unknown argument '$1'" ;;
esac
cd "$REPO_ROOT"
require_tool cargo "Install Rust with rustup (https://rustup.rs)."

# Integration test binaries present in tests/, split into heavy and the rest.
heavy=() light=()
for f in tests/*.rs tests/*/main.rs; do
  [[ -e "$f" ]] || continue
  name="${f#tests/}"
  name="${name%.rs}"
  name="${name%/main}"
  is_heavy=0
  for h in "${HEAVY_TESTS[@]}"; do
    [[ "$name" == "$h" || "$name" == "$h"[_-]* ]] && is_heavy=1
  done
  if ((is_heavy)); then heavy+=("$name"); else light+=("$name"); fi
done

if cargo nextest --version >/dev/null 2>&1; then
  filter=()
  if ((${#heavy[@]} > 0)); then
    # nextest rejects a filter naming a binary that does not exist, so the
    # filter lists only the heavy binaries actually present.
    expr="$(printf ' | binary(=%s)' "${heavy[@]}")"
    filter=(-E "not (${expr# | })")
  fi
  check unit+http cargo nextest run --workspace --locked --no-fail-fast "${filter[@]}" "${extra[@]}"
else
  warn "cargo-nextest is not installed; falling back to cargo test (install: cargo install --locked cargo-nextest)"
  targets=(--lib --bins)
  for t in "${light[@]}"; do targets+=(--test "$t"); done
  check unit+http cargo test --workspace --locked --no-fail-fast "${targets[@]}" "${extra[@]}"
fi
check doctests cargo test --doc --workspace --locked
finish_checks test
