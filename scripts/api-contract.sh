#!/usr/bin/env bash
# Part of the reliability stage: the service does what its OpenAPI document
# says. openapi-spec-validator checks the document against OpenAPI 3.1; then
# schemathesis, knowing nothing but /openapi.json, sends schema-valid and
# schema-violating requests to the running binary and checks every answer
# against the document (status listed, content type, body schema, valid input
# accepted, invalid input refused). A rule the handler enforces but the
# document does not state fails here.
set -euo pipefail

# Bounded and reproducible: a fixed number of test cases per operation and a
# fixed seed, so a failure found once is found again (no example database
# either: a run does not depend on the ones before it).
MAX_EXAMPLES=500
SEED=20260601

usage() {
  cat <<EOF
Usage: scripts/api-contract.sh [--debug | --binary PATH]

Builds the release binary (--debug: the debug build; --binary: use PATH, as
scripts/reliability.sh does with the binary it built), starts it on a free
loopback port, validates its /openapi.json as OpenAPI 3.1, and runs
schemathesis against it: every phase but stateful (examples, coverage,
fuzzing), positive and negative data, every check, at most $MAX_EXAMPLES
test cases per operation, seed $SEED.

Prints schemathesis's report, then per operation: test cases by kind
(positive: the document allows them; negative: it forbids them) and how many
times each check ran and failed.

Output: target/api-contract/ (the document, the server log, JUnit and NDJSON
reports).
Needs the api-test venv of scripts/install-tools.sh.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

profile=(--release) profile_dir=release binary=""
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --debug) profile=() profile_dir=debug ;;
  --binary)
    binary="${2:-}"
    [[ -x "$binary" ]] || die "--binary needs the path of an executable, got '$binary'"
    ;;
  "") ;;
  *) usage >&2; die "unknown argument '$1' (see --help)" ;;
esac

venv="$TOOLS_HOME/api-test/bin"
[[ -x "$venv/schemathesis" && -x "$venv/openapi-spec-validator" ]] ||
  die "schemathesis and openapi-spec-validator are not installed in $TOOLS_HOME/api-test. Run scripts/install-tools.sh."
require_tool cargo "Install Rust with rustup (https://rustup.rs)."
require_tool curl "Install curl (Debian: apt-get install curl)."
require_tool jq "Install jq (Debian: apt-get install jq)."
cd "$REPO_ROOT"
out_dir="$REPO_ROOT/target/api-contract"
mkdir -p "$out_dir"

if [[ -z "$binary" ]]; then
  log "building the $profile_dir binary"
  cargo build "${profile[@]}" --locked --bin "$(crate_name)"
  binary="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$profile_dir/$(crate_name)"
fi

# Port 0: the kernel picks a free port; the "listening" log line names it.
server_log="$out_dir/server.log"
PORT=0 LOG_FORMAT=json RUST_LOG=info SHUTDOWN_DELAY_SECONDS=0 "$binary" >"$server_log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
port=""
for _ in $(seq 100); do
  port="$(sed -n 's/.*"addr":"[^"]*:\([0-9]*\)".*"listening".*/\1/p' "$server_log" | head -n1)"
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || die "the service exited at start-up; its log: $(cat "$server_log")"
  sleep 0.1
done
[[ -n "$port" ]] || die "the service did not log its listening address within 10 s; its log is in $server_log"
base="http://127.0.0.1:$port"
curl --fail --silent --show-error --output "$out_dir/openapi.json" "$base/openapi.json" ||
  die "GET $base/openapi.json failed; the server log is in $server_log"

log "validating the document as OpenAPI 3.1 (openapi-spec-validator $("$venv/pip" show openapi-spec-validator | sed -n 's/^Version: //p'))"
"$venv/openapi-spec-validator" --schema 3.1 --validation-errors all "$out_dir/openapi.json" ||
  die "/openapi.json is not a valid OpenAPI 3.1 document (target/api-contract/openapi.json); fix the utoipa annotations that produce the parts named above"

log "$("$venv/schemathesis" --version) against $base: at most $MAX_EXAMPLES cases per operation, seed $SEED"
start=$SECONDS
rc=0
# Stateful testing needs OpenAPI links, which a stateless API has none of.
# --request-timeout is a hang guard, far above any answer of this service.
# Run from $out_dir: schemathesis and Hypothesis keep caches of past runs in
# the working directory, removed first so that only the seed decides the cases.
rm -rf "$out_dir/.schemathesis" "$out_dir/.hypothesis"
(cd "$out_dir" && exec "$venv/schemathesis" run "$base/openapi.json" \
  --checks all --mode all --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none --workers 1 \
  --request-timeout 10 --no-color \
  --report junit,ndjson --report-junit-path "$out_dir/junit.xml" \
  --report-ndjson-path "$out_dir/events.ndjson") || rc=$?
elapsed=$((SECONDS - start))

# What was checked, from schemathesis's event log: per operation the test
# cases by kind and the check results by outcome, then the checks' names.
events="$out_dir/events.ndjson"
scenarios='select(.ScenarioFinished) | .ScenarioFinished.recorder | select(.cases)'
log "what schemathesis checked (count  operation  what  outcome):"
jq -r "$scenarios"' | .label as $op
  | (.cases[] | "\($op)  test cases  \(.value.meta.generation.mode)"),
    (.checks[][] | "\($op)  checks  \(.status)")' "$events" | sort | uniq -c
log "checks: $(jq -r "$scenarios"' | .checks[][] | .name' "$events" | sort -u | paste -sd' ')"
((rc == 0)) || die "the service breaks its OpenAPI document (schemathesis exit code $rc after ${elapsed} s). Each failure above names the check, the request (as a curl command) and the answer: either make the handler follow the document, or state the rule in the document (utoipa schema attributes) and update the snapshot"
log "api contract: the document is valid OpenAPI 3.1 and the service conforms to it (${elapsed} s)"
