#!/usr/bin/env bash
# The ci-passed job of ci.yml: the one status check a repository requires.
# It needs every gating job and fails unless each of them succeeded, so the
# branch ruleset names one check that never changes when jobs are added,
# renamed or split. GitHub counts a skipped required check as passed, and a
# job whose dependency failed is skipped: hence a job with `if: always()`
# that reads every result itself.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: NEEDS='<toJSON(needs)>' scripts/required-check.sh

Reads the results of the jobs ci-passed needs (NEEDS, the JSON of the
`needs` context: {"job": {"result": "success", ...}, ...}) and exits 1 naming
every job that did not succeed. A job listed in MAY_SKIP below may also be
skipped (it does not run on every event, by design).
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
no_arguments "$@"
require_tool jq "Install jq (Debian: apt-get install jq)."

# Jobs that are skipped on some events by design, each with its reason. Every
# other needed job must succeed on every event. (None yet: a gate with an
# `if:` goes here; the pipeline contract suite checks the two agree.)
MAY_SKIP=()

[[ -n "${NEEDS:-}" ]] || die "NEEDS is empty: pass the results in the job's env (NEEDS: \${{ toJSON(needs) }})"
results="$(jq -r 'to_entries[] | "\(.key)\t\(.value.result)"' <<<"$NEEDS" 2>/dev/null)" ||
  die "NEEDS is not the JSON of the needs context (an object of {\"result\": ...}); got: ${NEEDS:0:200}"
[[ -n "$results" ]] || die "NEEDS names no job: list every gating job in ci-passed's needs"

bad=()
while IFS=$'\t' read -r job result; do
  if [[ "$result" == success ]] ||
    [[ "$result" == skipped && " ${MAY_SKIP[*]} " == *" $job "* ]]; then
    printf '%-22s %s\n' "$job" "$result"
  else
    printf '%-22s %s  <- must succeed\n' "$job" "$result"
    bad+=("$job ($result)")
  fi
done <<<"$results"

if ((${#bad[@]} > 0)); then
  list="$(printf '%s, ' "${bad[@]}")"
  die "${#bad[@]} gating job(s) did not succeed: ${list%, }; open them in this run for the cause"
fi
log "every gating job succeeded"
