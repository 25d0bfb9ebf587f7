#!/usr/bin/env bash
# reliability stage: proves the service's side of zero-downtime deploys and
# its hardening with figures, against the release binary that ships: a
# shutdown under load, a soak at saturation, and hostile input over raw
# sockets (tests/reliability/), then the API contract against its OpenAPI
# document (scripts/api-contract.sh). The tests are ignored ("reliability: …")
# so the normal test run stays fast; this script is how they run, locally and
# in CI: cargo-nextest with --run-ignored only.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/reliability.sh [--quick] [--debug] [--soak SECONDS] [TEST_FILTER]

Builds the release binary and the reliability suite (tests/reliability/),
runs every case one at a time (they measure time and memory), and prints a
table: case | expected outcome | observed outcome with figures. Then the API
contract test (scripts/api-contract.sh) against the same build.

  --quick          soak for 20 s instead of 60 s (what the local pipeline runs)
  --debug          test the debug build instead of the release build: reuses
                   what the test stage compiled (the local pipeline uses it,
                   since a cold release test build costs minutes); the
                   assertions are the same, the throughput figures lower
  --soak SECONDS   soak length, 15 to 3600 seconds
  TEST_FILTER      only the tests whose name contains it (e.g. shutdown, soak);
                   skips the API contract test

Output: target/reliability/output.txt (everything) and
target/reliability/results.md (the table, also appended to the GitHub job
summary when GITHUB_STEP_SUMMARY is set). All traffic goes to 127.0.0.1.
docs/reliability.md describes each case and records a run.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

soak=60 filter=() profile=(--release) profile_name=release
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --quick) soak=20 ;;
    --debug) profile=() profile_name=debug ;;
    --soak)
      if ! [[ "${2:-}" =~ ^[0-9]+$ ]] || (($2 < 15 || $2 > 3600)); then
        die "--soak needs a whole number of seconds from 15 to 3600, got '${2:-}'"
      fi
      soak="$2"
      shift
      ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *)
      ((${#filter[@]} == 0)) || die "give at most one TEST_FILTER (got '${filter[0]}' and '$1')"
      filter=("$1")
      ;;
  esac
  shift
done

require_nextest
[[ "$(uname -s)" == Linux ]] || die "the reliability suite reads /proc and sends signals with kill: run it on Linux (or in CI)"
cd "$REPO_ROOT"
out_dir="$REPO_ROOT/target/reliability"
mkdir -p "$out_dir"
output="$out_dir/output.txt"
results="$out_dir/results.md"

# Built first and timed separately, so a compile error reads as one and the
# test run below is not slowed by a build (cargo builds the binary the tests
# spawn, CARGO_BIN_EXE_payload, in the same profile).
log "building the $profile_name binary and the suite (a cold release build takes minutes: fat LTO)"
start=$SECONDS
cargo nextest run "${profile[@]}" --locked --test reliability --no-run
log "built in $((SECONDS - start)) s"

log "running the suite (soak: ${soak} s); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$SECONDS
rc=0
# --no-capture runs the tests one at a time and passes their RESULT lines through.
RELIABILITY_SOAK_SECONDS="$soak" cargo nextest run "${profile[@]}" --locked --test reliability \
  --run-ignored only --no-capture "${filter[@]}" 2>&1 | tee "$output" || rc=$?
elapsed=$((SECONDS - start))

# Each test prints `RESULT<TAB>case<TAB>expected<TAB>observed`, anywhere on
# a line (whatever the runner prints may come first).
{
  printf '| case | expected | observed |\n|---|---|---|\n'
  awk -F'\t' '{
    at = index($0, "RESULT\t")
    if (at == 0) next
    n = split(substr($0, at), f, "\t")
    if (n >= 4) printf "| %s | %s | %s |\n", f[2], f[3], f[4]
  }' "$output"
} >"$results"

printf '\n' >&2
cat "$results"
printf '\n%s\n' "$(grep -a 'Summary \[' "$output" | sed 's/^ *//' || true)"
{
  printf '## Reliability (%s build, soak %s s)\n\n' "$profile_name" "$soak"
  cat "$results"
} | step_summary

contract_rc=0
if ((${#filter[@]} == 0)); then
  # The binary the suite ran: cargo built it with the suite (CARGO_BIN_EXE_payload).
  "$REPO_ROOT/scripts/api-contract.sh" --binary "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$profile_name/$(crate_name)" ||
    contract_rc=$?
else
  log "TEST_FILTER given: the API contract test is not run (scripts/api-contract.sh runs it alone)"
fi

((rc == 0)) || die "the reliability suite failed after ${elapsed} s (exit code $rc); the failing test's output is above and in $output"
((contract_rc == 0)) || die "the API contract test failed; its output is above"
log "reliability: all cases passed in ${elapsed} s; table in $results"
