#!/usr/bin/env bash
# supply-chain stage: what we ship is only as trustworthy as what we depend on.
# cargo-deny enforces the policy in deny.toml (known vulnerabilities, yanked or
# unmaintained crates, licences we may not ship, duplicate or wildcard
# dependencies, crates from anywhere but crates.io). cargo-audit is a second,
# independent reading of the same advisory database, and the tool most
# people recognise in a report.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/supply-chain.sh

Runs, from the repository root:
  cargo deny --locked check advisories bans licenses sources   (policy: deny.toml)
  cargo audit                                                    (advisories in Cargo.lock)

Online (default) both tools fetch the RustSec advisory database from GitHub;
where it cannot be fetched (and not on GitHub Actions) the advisory checks are
SKIPPED with the reason, and bans, licenses and sources still run.
Offline: ADVISORY_DB=<git checkout or git bundle of rustsec/advisory-db>
(relative paths are taken from the repository root) is cloned under
target/advisory-dbs/ and both tools read that copy without fetching; the
snapshot's date and age are printed, with a warning past 90 days.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
no_arguments "$@"
cd "$REPO_ROOT"
require_tool cargo "Install Rust with rustup (https://rustup.rs)."
require_tool cargo-deny "Run scripts/install-tools.sh (or: cargo install --locked cargo-deny)."
require_tool cargo-audit "Run scripts/install-tools.sh (or: cargo install --locked cargo-audit)."
[[ -f deny.toml ]] || die "deny.toml is missing at the repository root; cargo-deny needs its policy."

deny=(cargo deny --locked)
db="$(advisory_db_checkout)"
if [[ -n "$db" ]]; then
  # --offline also stops `cargo metadata` from downloading crates, so fetch
  # them first (a no-op when they are already downloaded).
  cargo fetch --locked --quiet
  # cargo-deny reads the database location only from its config file, so use
  # deny.toml with one line added: db-path pointing at the offline copy.
  grep -q '^\[advisories\]' deny.toml || die "deny.toml has no [advisories] table to add db-path to"
  sed "s|^\[advisories\]\$|[advisories]\ndb-path = \"$ADVISORY_DBS\"|" deny.toml >"$ADVISORY_DBS/deny.toml"
  deny+=(--offline --config "$ADVISORY_DBS/deny.toml")
fi

unreachable="$(advisory_db_unreachable)"
if [[ -z "$unreachable" ]]; then
  check cargo-deny "${deny[@]}" check advisories bans licenses sources
  cargo_audit_command "$db"
  check cargo-audit "${CARGO_AUDIT[@]}"
else
  warn "$unreachable"
  check cargo-deny "${deny[@]}" check bans licenses sources
fi
finish_checks supply-chain
[[ -z "$unreachable" ]] || skip_stage "$unreachable; bans, licenses and sources passed"
