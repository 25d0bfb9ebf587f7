#!/usr/bin/env bash
# rollout test: proves that a new build rolls out with zero failed requests.
# While wrk sends steady traffic through the Service, the Deployment rolls to
# an image built from another git SHA; every non-2xx answer and every
# transport error (refused, reset or timed-out connection) fails the stage.
# This is what the readiness probe, the shutdown delay, maxUnavailable 0 and
# the grace period in k8s/ exist for, tested together on a real cluster.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/rollout-test.sh [--expect-rollback] NEW_IMAGE

Needs the Deployment from scripts/deploy-kind.sh running. NEW_IMAGE is a local
image built from a different git SHA than the running one, e.g.:
  GIT_SHA=$(git rev-parse HEAD~1) IMAGE=payload:previous scripts/build-image.sh
  scripts/deploy-kind.sh payload:previous
  scripts/build-image.sh                      # payload:local, from HEAD
  scripts/rollout-test.sh payload:local

Steps: load NEW_IMAGE into the kind nodes; start wrk against the Service
(NodePort on 127.0.0.1:30080, POST /api/v1/slugify); after a warm-up,
`kubectl set image`; wait for the rollout and for the old pods to be gone;
stop the load. Then assert zero non-2xx answers, zero transport errors and
that /version reports NEW_IMAGE's git SHA. Prints the counts and the rollout
duration, and appends them to $GITHUB_STEP_SUMMARY when that is set.

  --expect-rollback  NEW_IMAGE is broken (it never turns ready): deploy it
                     with scripts/deploy-kind.sh, which must roll it back
                     (exit 4); assert that the old pods served throughout,
                     with zero failed requests, and still report the old SHA

Environment:
  KIND_CLUSTER_NAME   cluster name (default payload)
  LOAD_CONNECTIONS    concurrent keep-alive connections (default 8)
  LOAD_PAUSE_MS       pause between two requests on one connection (default
                      10), so the load is steady (<= 800 req/s by default)
                      instead of saturating the runner's CPUs
  ROLLOUT_TIMEOUT     how long the rollout may take (default 180s)

Needs docker, kind, kubectl, wrk (Debian/Ubuntu: apt-get install wrk), curl, jq.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# shellcheck source=scripts/lib/kind.sh
source "$REPO_ROOT/scripts/lib/kind.sh"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
PAUSE_MS="${LOAD_PAUSE_MS:-10}"
WARM_UP_SECONDS=3
# Load keeps running this long after the last old pod is gone, to catch
# errors that show only once traffic has fully moved.
COOL_DOWN_SECONDS=3

new_image="" expect_rollback=false
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --expect-rollback) expect_rollback=true ;;
    -*) usage >&2; die "unknown option '$arg'" ;;
    *)
      [[ -z "$new_image" ]] || die "one image only; got '$new_image' and '$arg'"
      new_image="$arg"
      ;;
  esac
done
[[ -n "$new_image" ]] || { usage >&2; die "give the image to roll to, e.g. scripts/rollout-test.sh payload:local"; }
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ && "$PAUSE_MS" =~ ^[0-9]+$ ]] ||
  die "LOAD_CONNECTIONS must be a positive whole number and LOAD_PAUSE_MS a whole number (got '$CONNECTIONS', '$PAUSE_MS')"

require_tool kind "Install kind v0.33: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (in CI: helm/kind-action)."
require_tool kubectl "Install kubectl: https://kubernetes.io/docs/tasks/tools/"
require_tool docker "Install Docker: https://docs.docker.com/engine/install/ (Debian: apt-get install docker.io)."
require_tool wrk "Install wrk (Debian/Ubuntu: apt-get install wrk)."
require_tool curl "Install curl (Debian/Ubuntu: apt-get install curl)."
require_tool jq "Install jq (Debian/Ubuntu: apt-get install jq)."

k() { kubectl --context "$CONTEXT" -n "$NAMESPACE" "$@"; }
now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

work="$(mktemp -d "${TMPDIR:-/tmp}/$APP-rollout.XXXXXX")"
wrk_pid=""
cleanup() {
  [[ -n "$wrk_pid" ]] && kill "$wrk_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- preconditions -----------------------------------------------------------
k get "deployment/$APP" >/dev/null 2>&1 ||
  die "deployment/$APP not found in namespace $NAMESPACE of context $CONTEXT; deploy the first image with scripts/deploy-kind.sh"
k rollout status "deployment/$APP" --timeout=60s >/dev/null ||
  die "deployment/$APP is not available; fix the current deployment first (scripts/deploy-kind.sh shows diagnostics)"
old_image="$(k get "deployment/$APP" -o jsonpath="{.spec.template.spec.containers[?(@.name==\"$APP\")].image}")"

new_ref="$("$REPO_ROOT/scripts/deploy-kind.sh" --load-only "$new_image")"
new_sha="${new_ref##*:}"
[[ "$new_ref" != "$old_image" ]] ||
  die "$new_image ($new_ref) is what already runs; roll to an image built from another git SHA (see --help)"
old_pods=()
mapfile -t old_pods < <(k get pods -l "app.kubernetes.io/name=$APP" -o name)
curl -fsS --max-time 2 "$SERVICE_URL/readyz" >/dev/null ||
  die "$SERVICE_URL/readyz does not answer 200; is the cluster from k8s/overlays/kind/kind-config.yaml (port 30080 mapped)?"

# --- load ----------------------------------------------------------------------
# wrk's own summary counts only >= 400 as bad and lumps the rest; this script
# counts every answer outside 2xx, per thread, and prints one parsable line.
cat >"$work/load.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/api/v1/slugify"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "Rolling update without a dropped request"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  pause_ms = tonumber(args[1])
  non2xx = 0
end

function delay()
  return pause_ms
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p99_ms=%.1f seconds=%.1f\n",
    summary.requests, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(99) / 1000, summary.duration / 1e6))
end
LUA

log "steady load: $CONNECTIONS connections, ${PAUSE_MS} ms between requests, POST $SERVICE_URL/api/v1/slugify"
# A long -d: the load is stopped with SIGINT (wrk then prints its results)
# once the rollout is over, whatever it took.
wrk --threads 1 --connections "$CONNECTIONS" --duration 900s --timeout 5s \
  --script "$work/load.lua" "$SERVICE_URL" -- "$PAUSE_MS" >"$work/wrk.out" 2>&1 &
wrk_pid=$!
sleep "$WARM_UP_SECONDS"
kill -0 "$wrk_pid" 2>/dev/null || die "wrk stopped before the rollout began: $(cat "$work/wrk.out")"

# --- rollout -------------------------------------------------------------------
start="$(now_ms)"
rollout_ok=true
if [[ "$expect_rollback" == true ]]; then
  log "deploying the broken $new_ref with scripts/deploy-kind.sh: it must roll back"
  rc=0
  "$REPO_ROOT/scripts/deploy-kind.sh" "$new_image" || rc=$?
  [[ "$rc" == "$ROLLED_BACK" ]] || rollout_ok=false
  rollout_seconds="$(seconds_since "$start")"
  drained_seconds="$rollout_seconds"
  expected_sha="${old_image##*:}"
else
  log "rolling deployment/$APP: $old_image -> $new_ref"
  k set image "deployment/$APP" "$APP=$new_ref" >/dev/null
  if ! k rollout status "deployment/$APP" --timeout="$ROLLOUT_TIMEOUT"; then
    rollout_ok=false
    k get deployment,replicaset,pods -o wide >&2 || true
    k get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 20 >&2 || true
  fi
  rollout_seconds="$(seconds_since "$start")"
  # `rollout status` returns when the new pods are available; the old ones may
  # still be in their shutdown delay, serving. Their end is part of the test.
  if ((${#old_pods[@]} > 0)); then
    k wait --for=delete "${old_pods[@]}" --timeout=60s >/dev/null 2>&1 || true
  fi
  drained_seconds="$(seconds_since "$start")"
  expected_sha="$new_sha"
fi
sleep "$COOL_DOWN_SECONDS"

kill -0 "$wrk_pid" 2>/dev/null || die "wrk stopped during the rollout: $(cat "$work/wrk.out")"
kill -INT "$wrk_pid"
wait "$wrk_pid" || die "wrk failed: $(cat "$work/wrk.out")"
wrk_pid=""

# --- verdict -------------------------------------------------------------------
result="$(grep '^RESULT ' "$work/wrk.out")" || die "wrk printed no RESULT line: $(cat "$work/wrk.out")"
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$result"; }
requests="$(field requests)" non2xx="$(field non2xx)" p99="$(field p99_ms)" load_seconds="$(field seconds)"
connect="$(field connect)" read="$(field read)" write="$(field write)" timeout="$(field timeout)"
transport=$((connect + read + write + timeout))
rate="$(awk -v r="$requests" -v s="$load_seconds" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')"

# Every pod now answers with the new build: ask several times, each request
# may land on another pod.
versions_ok=true
for _ in 1 2 3 4 5 6 7 8 9 10; do
  sha="$(curl -fsS --max-time 2 "$SERVICE_URL/version" | jq -r '.git_sha // empty')" || sha="(no answer)"
  [[ -n "$sha" && ("$expected_sha" == "$sha"* || "$sha" == "$expected_sha"*) ]] || {
    versions_ok=false
    warn "/version answered git_sha '$sha', expected $expected_sha"
  }
done
remaining=0
if ((${#old_pods[@]} > 0)); then
  remaining="$(k get "${old_pods[@]}" --ignore-not-found -o name 2>/dev/null | wc -l)"
fi

printf '\n%-34s %s\n' "rolled" "$old_image -> $new_ref"
printf '%-34s %s s (old pods gone after %s s)\n' "rollout duration" "$rollout_seconds" "$drained_seconds"
printf '%-34s %s in %s s (~%s req/s), p99 %s ms\n' "requests" "$requests" "$load_seconds" "$rate" "$p99"
printf '%-34s %s\n' "non-2xx answers" "$non2xx"
printf '%-34s %s (connect %s, read %s, write %s, timeout %s)\n' "transport errors" "$transport" "$connect" "$read" "$write" "$timeout"
printf '%-34s %s\n' "/version reports $expected_sha" "$versions_ok"

step_summary <<EOF
### $([[ "$expect_rollback" == true ]] && echo "Broken revision rolled back under load" || echo "Rolling update under load")

| | |
|---|---|
| rolled | \`$old_image\` → \`$new_ref\` |
| rollout duration | $rollout_seconds s (old pods gone after $drained_seconds s) |
| requests | $requests in $load_seconds s (~$rate req/s), p99 $p99 ms |
| non-2xx answers | $non2xx |
| transport errors | $transport (connect $connect, read $read, write $write, timeout $timeout) |
| /version reports $expected_sha | $versions_ok |
EOF

failures=()
if [[ "$expect_rollback" == true ]]; then
  [[ "$rollout_ok" == true ]] || failures+=("scripts/deploy-kind.sh exited $rc, not $ROLLED_BACK (failed and rolled back)")
  ((remaining == ${#old_pods[@]})) ||
    failures+=("only $remaining of the ${#old_pods[@]} old pods still run: the old ReplicaSet did not serve throughout")
else
  [[ "$rollout_ok" == true ]] || failures+=("the rollout did not complete within $ROLLOUT_TIMEOUT")
  ((remaining == 0)) || failures+=("$remaining old pod(s) still exist 60 s after the rollout")
fi
((requests > 0)) || failures+=("no request completed: the load never reached the service")
((non2xx == 0)) || failures+=("$non2xx request(s) got a non-2xx answer")
((transport == 0)) || failures+=("$transport request(s) failed in transport (connection refused, reset or timed out)")
[[ "$versions_ok" == true ]] || failures+=("/version does not report $expected_sha everywhere")
if ((${#failures[@]} > 0)); then
  printf 'error: rollout test FAILED:\n' >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
log "rollout test passed: $requests requests, 0 failed, rollout $rollout_seconds s"
