#!/usr/bin/env bash
# rollout test: proves that a new build rolls out with zero failed requests.
# While `cargo xtask under-load` sends steady traffic through the Service,
# scripts/deploy-kind.sh rolls the Deployment to an image built from another
# git SHA; every non-2xx answer and every transport error (refused, reset or
# timed-out connection) fails the stage. This is what the readiness probe,
# the shutdown delay, maxUnavailable 0 and the grace period in k8s/ exist
# for, tested together on a real cluster.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/rollout-test.sh [--expect-rollback] NEW_IMAGE

Needs the Deployment from scripts/deploy-kind.sh running. NEW_IMAGE is a local
image built from a different git SHA than the running one, e.g.:
  GIT_SHA=$(git rev-parse HEAD~1) IMAGE=payload:previous scripts/build-image.sh
  scripts/deploy-kind.sh payload:previous
  scripts/build-image.sh                      # payload:local, from HEAD
  scripts/rollout-test.sh payload:local

Runs `scripts/deploy-kind.sh NEW_IMAGE` under `cargo xtask under-load` (steady
POST /api/v1/slugify through the Service's NodePort on 127.0.0.1:30080, from
a warm-up before the deploy until a cool-down after the old pods are gone),
which fails on any failed request. Then asserts that /version reports the
expected git SHA on every pod. The counts and the rollout's duration are
printed and appended to $GITHUB_STEP_SUMMARY when that is set.

  --expect-rollback  NEW_IMAGE is broken (it never turns ready):
                     deploy-kind.sh must roll it back (exit 4); assert that
                     the old pods served throughout, with zero failed
                     requests, and still report the old SHA

Environment:
  KIND_CLUSTER_NAME   cluster name (default payload)
  LOAD_CONNECTIONS    concurrent keep-alive connections (default 8)
  LOAD_PAUSE_MS       pause between two requests on one connection (default
                      10), so the load is steady instead of saturating the
                      runner's CPUs
  ROLLOUT_TIMEOUT     how long the rollout may take (default 180s)

Needs cargo, docker, kind, kubectl, curl and jq.
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/kind.sh
source "$REPO_ROOT/scripts/lib/kind.sh"

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
for tool in cargo kubectl docker curl jq; do require_tool "$tool" "Install $tool (see the tools in --help)."; done
k() { kubectl --context "$CONTEXT" -n "$NAMESPACE" "$@"; }

k rollout status "deployment/$APP" --timeout=60s >/dev/null ||
  die "deployment/$APP in namespace $NAMESPACE of context $CONTEXT is missing or not available; deploy the first image with scripts/deploy-kind.sh"
old_image="$(k get "deployment/$APP" -o jsonpath="{.spec.template.spec.containers[?(@.name==\"$APP\")].image}")"
new_sha="$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$new_image")" ||
  die "image '$new_image' is not in the local Docker engine; build it with scripts/build-image.sh"
[[ "$new_sha" != "${old_image##*:}" ]] ||
  die "$new_image ($new_sha) is what already runs; roll to an image built from another git SHA (see --help)"
old_pods=()
mapfile -t old_pods < <(k get pods -l "app.kubernetes.io/name=$APP" -o name)

under_load=(cargo xtask under-load --addr "${SERVICE_URL#http://}" --connections "${LOAD_CONNECTIONS:-8}" --pause-ms "${LOAD_PAUSE_MS:-10}")
if [[ "$expect_rollback" == true ]]; then
  expected_sha="${old_image##*:}"
  "${under_load[@]}" --expect-exit "$ROLLED_BACK" --title "Broken revision rolled back under load: $old_image stays" \
    -- "$REPO_ROOT/scripts/deploy-kind.sh" "$new_image"
  remaining="$(k get "${old_pods[@]}" --ignore-not-found -o name | wc -l)"
  ((remaining == ${#old_pods[@]})) ||
    die "only $remaining of the ${#old_pods[@]} old pods still run: the old ReplicaSet did not serve throughout"
else
  expected_sha="$new_sha"
  "${under_load[@]}" --title "Rolling update under load: $old_image -> $new_sha" \
    -- "$REPO_ROOT/scripts/deploy-kind.sh" "$new_image"
fi

# Every pod answers with the expected build: ask several times, each request
# may land on another pod.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  sha="$(curl -fsS --max-time 2 "$SERVICE_URL/version" | jq -r '.git_sha // empty')" || sha="(no answer)"
  [[ -n "$sha" && ("$expected_sha" == "$sha"* || "$sha" == "$expected_sha"*) ]] ||
    die "/version answered git_sha '$sha', expected $expected_sha"
done
printf '/version reports %s on every answer\n' "$expected_sha" | tee >(step_summary)
log "rollout test passed"
