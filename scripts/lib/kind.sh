# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# The kind cluster that scripts/deploy-kind.sh creates and
# scripts/rollout-test.sh tests against: one definition for both. Source it
# after common.sh.

# The Deployment, Service and namespace are named after the crate (scripts/rename.sh
# renames both together).
APP="$(crate_name)"
CLUSTER="${KIND_CLUSTER_NAME:-$APP}"
CONTEXT="kind-$CLUSTER"
NAMESPACE="$APP"
# The Service's NodePort, published on the host by kind-config.yaml. Not
# `kubectl port-forward`: it tunnels to one pod and breaks when that pod goes.
SERVICE_URL="http://127.0.0.1:30080"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-180s}"
# deploy-kind.sh's exit status when a deploy failed and was rolled back (the
# cluster serves the previous revision again); rollout-test.sh
# --expect-rollback tells it from any other failure.
ROLLED_BACK=4
