#!/usr/bin/env bash
# deploy stage: runs the image on a real Kubernetes cluster (kind: nodes are
# Docker containers) with the manifests users will copy to production, so a
# manifest the API server, Pod Security admission or the kubelet would refuse
# fails here, not in someone's cluster. scripts/rollout-test.sh builds on it.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/deploy-kind.sh [IMAGE]
       scripts/deploy-kind.sh --load-only IMAGE
       scripts/deploy-kind.sh --delete

Deploys IMAGE (default $IMAGE, else payload:local; build it with
scripts/build-image.sh) to the kind cluster, creating the cluster first if
it does not exist:
  1. kind create cluster --config k8s/overlays/kind/kind-config.yaml
  2. tag the image by its git SHA (label org.opencontainers.image.revision)
     and load it into the nodes (docker save + kind load image-archive)
  3. kubectl apply the k8s/overlays/kind overlay with that tag
  4. wait for the rollout, then smoke-test /readyz and /version through the
     Service (NodePort published on 127.0.0.1:30080), then wait (60 s at
     most) until the pods it replaced have finished their shutdown
  5. if 4 fails (never ready, crash loop, smoke test): print the failing
     pods' events and logs, `kubectl rollout undo`, wait until the previous
     revision is fully available again, and exit 4 (exit 1 when there is no
     previous revision, or the rollback fails too)

  --load-only IMAGE  only step 2, on an existing cluster; prints the image
                     reference to deploy (scripts/rollout-test.sh uses it)
  --delete           delete the cluster
  -h, --help         this help

Environment:
  KIND_CLUSTER_NAME  cluster name (default payload)
  ROLLOUT_TIMEOUT    how long to wait for the rollout (default 180s)

Needs docker (with a running engine), kind v0.33 (the node image in
kind-config.yaml is built for it), kubectl, curl and jq.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# shellcheck source=scripts/lib/kind.sh
source "$REPO_ROOT/scripts/lib/kind.sh"
KIND_CONFIG="$REPO_ROOT/k8s/overlays/kind/kind-config.yaml"
OVERLAY="$REPO_ROOT/k8s/overlays/kind"
# The kind release the pinned node image was built for.
KIND_RELEASE=v0.33

mode=deploy
image=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --delete) mode=delete ;;
    --load-only) mode=load ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *)
      [[ -z "$image" ]] || die "one image only; got '$image' and '$1'"
      image="$1"
      ;;
  esac
  shift
done

require_tools() {
  require_tool kind "Install kind $KIND_RELEASE: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (in CI: helm/kind-action)."
  if [[ "$mode" != delete ]]; then
    require_tool kubectl "Install kubectl: https://kubernetes.io/docs/tasks/tools/"
    require_tool curl "Install curl (Debian/Ubuntu: apt-get install curl)."
    require_tool jq "Install jq (Debian/Ubuntu: apt-get install jq)."
  fi
  require_tool docker "Install Docker: https://docs.docker.com/engine/install/ (Debian: apt-get install docker.io)."
  docker_engine_up ||
    die "no Docker engine answers ('docker info' failed); kind runs its nodes as containers. Start Docker and retry."
  local version
  version="$(kind version 2>/dev/null | awk '{print $2}')"
  [[ "$version" == "$KIND_RELEASE".* ]] ||
    warn "kind $version found; the node image in k8s/overlays/kind/kind-config.yaml is built for kind $KIND_RELEASE (kind's release notes say to use a node image built for the same release)"
}

cluster_exists() {
  kind get clusters 2>/dev/null | grep -qx "$CLUSTER"
}

ensure_cluster() {
  if cluster_exists; then
    log "kind cluster '$CLUSTER' exists"
    # A cluster made under another KUBECONFIG has no context in this one.
    kubectl config get-contexts "$CONTEXT" >/dev/null 2>&1 ||
      kind export kubeconfig --name "$CLUSTER"
  else
    # kind-config.yaml publishes the Service on a fixed host port: a process
    # already listening there would make the cluster fail half-created.
    if (exec 3<>"/dev/tcp/127.0.0.1/${SERVICE_URL##*:}") 2>/dev/null; then
      die "port ${SERVICE_URL##*:} on 127.0.0.1 is in use, and the kind cluster publishes its Service there (hostPort in ${KIND_CONFIG#"$REPO_ROOT"/}): stop what listens on it (ss -ltnp 'sport = :${SERVICE_URL##*:}'), or change the hostPort there and SERVICE_URL in scripts/lib/kind.sh together"
    fi
    log "creating kind cluster '$CLUSTER' from ${KIND_CONFIG#"$REPO_ROOT"/}"
    kind create cluster --name "$CLUSTER" --config "$KIND_CONFIG" --wait 120s
  fi
}

# load_image IMAGE: loads IMAGE into the nodes under a tag per git SHA and
# prints that reference. The tag makes every build a new pod template (so
# applying it rolls the Deployment) and names the source of what runs.
load_image() {
  local source="$1" revision repo ref platform archive
  docker image inspect "$source" >/dev/null 2>&1 ||
    die "image '$source' is not in the local Docker engine; build it with scripts/build-image.sh (IMAGE=$source)"
  revision="$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$source")"
  [[ "$revision" =~ ^[0-9a-f]{7,40}$ ]] ||
    die "image '$source' has no git SHA in its org.opencontainers.image.revision label (found '${revision}'); build it with scripts/build-image.sh inside a git checkout, or set GIT_SHA"
  repo="${source%@*}"
  [[ "${repo##*/}" == *:* ]] && repo="${repo%:*}"
  ref="$repo:$revision"
  docker tag "$source" "$ref"

  case "$(docker info --format '{{.Architecture}}')" in
    x86_64 | amd64) platform=linux/amd64 ;;
    aarch64 | arm64) platform=linux/arm64 ;;
    *) die "kind node images exist for amd64 and arm64 only; this Docker runs on $(docker info --format '{{.Architecture}}')" ;;
  esac
  archive="$(mktemp "${TMPDIR:-/tmp}/$APP-image.XXXXXX.tar")"
  # With Docker's containerd image store an image can hold several platforms,
  # and `kind load docker-image` of such an image fails ("content digest ...
  # not found", kind issue #3795). Saving only the nodes' platform and loading
  # the archive is the documented way around it. The classic store holds one
  # platform per image (and older CLIs there have no --platform).
  local save=(docker save --output "$archive")
  if docker info --format '{{json .DriverStatus}}' | grep -q 'io.containerd.snapshotter'; then
    docker save --help 2>/dev/null | grep -q -- '--platform' ||
      die "Docker uses the containerd image store but this docker CLI cannot 'save --platform'; upgrade Docker to 28 or later"
    save+=(--platform "$platform")
  fi
  log "loading $ref ($platform) into the nodes of '$CLUSTER'"
  if ! { "${save[@]}" "$ref" && kind load image-archive "$archive" --name "$CLUSTER" >&2; }; then
    rm -f "$archive"
    die "could not load $ref into kind cluster '$CLUSTER' (see above)"
  fi
  rm -f "$archive"
  printf '%s\n' "$ref"
}

# diagnose: what a failed rollout needs to be understood, on stderr.
diagnose() {
  {
    printf '\n--- deployment, pods and recent events in namespace %s ---\n' "$NAMESPACE"
    kubectl --context "$CONTEXT" -n "$NAMESPACE" get deployment,replicaset,pods -o wide || true
    kubectl --context "$CONTEXT" -n "$NAMESPACE" describe pods || true
    kubectl --context "$CONTEXT" -n "$NAMESPACE" get events --sort-by=.lastTimestamp | tail -n 30 || true
    printf '\n--- logs (last 20 lines per pod) ---\n'
    kubectl --context "$CONTEXT" -n "$NAMESPACE" logs -l "app.kubernetes.io/name=$APP" \
      --all-containers --prefix --tail=20 || true
  } >&2
}

# apply REF: applies the kind overlay with the image set to REF, through a
# throw-away kustomization, so the repository's files never change.
apply() {
  local ref="$1" dir
  mkdir -p "$REPO_ROOT/target"
  dir="$(mktemp -d "$REPO_ROOT/target/kind-deploy.XXXXXX")"
  # kustomize accepts only relative paths to other kustomizations.
  cat >"$dir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../k8s/overlays/kind
images:
  - name: $APP
    newName: ${ref%:*}
    newTag: ${ref##*:}
EOF
  log "applying ${OVERLAY#"$REPO_ROOT"/} with image $ref"
  if ! kubectl --context "$CONTEXT" apply -k "$dir"; then
    rm -rf "$dir"
    die "kubectl apply of the kind overlay failed (see above); check it with 'kubectl kustomize k8s/overlays/kind'"
  fi
  rm -rf "$dir"
}

wait_for_rollout() {
  log "waiting up to $ROLLOUT_TIMEOUT for deployment/$APP"
  kubectl --context "$CONTEXT" -n "$NAMESPACE" rollout status "deployment/$APP" --timeout="$ROLLOUT_TIMEOUT" ||
    roll_back "deployment/$APP did not become available within $ROLLOUT_TIMEOUT (its progressDeadlineSeconds or the timeout passed)"
}

# roll_back REASON: undoes a revision that failed after it was applied, and
# exits: ROLLED_BACK once the previous revision is fully available again, 1
# when there is none or it does not come back. maxUnavailable 0 kept the old
# pods serving while the new ones failed, so the undo only retires those.
roll_back() {
  local reason="$1" revision
  diagnose
  revision="$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get "deployment/$APP" \
    -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null || true)"
  if ! [[ "$revision" =~ ^[0-9]+$ ]] || ((revision < 2)); then
    die "$reason. This is the Deployment's first revision, so there is nothing to roll back to: fix the cause shown above and deploy again"
  fi
  log "rolling back deployment/$APP from revision $revision: $reason"
  kubectl --context "$CONTEXT" -n "$NAMESPACE" rollout undo "deployment/$APP" ||
    die "$reason, and 'kubectl rollout undo deployment/$APP' failed (see above): roll back by hand (kubectl -n $NAMESPACE rollout history deployment/$APP)"
  if ! kubectl --context "$CONTEXT" -n "$NAMESPACE" rollout status "deployment/$APP" --timeout="$ROLLOUT_TIMEOUT"; then
    diagnose
    die "$reason, and the previous revision did not become available again within $ROLLOUT_TIMEOUT: the cluster needs a person (kubectl -n $NAMESPACE rollout history deployment/$APP)"
  fi
  printf 'error: %s. Rolled back: the previous revision serves again (the failed revision'"'"'s pods and events are above).\n' "$reason" >&2
  exit "$ROLLED_BACK"
}

# smoke_test REVISION: /readyz and /version answer through the Service, and
# /version reports the deployed SHA. Retried: kube-proxy may lag a second
# behind the rollout and still route a request to a pod on its way out.
smoke_test() {
  local revision="$1" version="" sha=""
  for _ in $(seq 1 30); do
    if curl -fsS --max-time 2 "$SERVICE_URL/readyz" >/dev/null 2>&1 &&
      version="$(curl -fsS --max-time 2 "$SERVICE_URL/version" 2>/dev/null)"; then
      sha="$(jq -r '.git_sha // empty' <<<"$version" 2>/dev/null || true)"
      [[ -n "$sha" && ("$revision" == "$sha"* || "$sha" == "$revision"*) ]] && break
    fi
    sleep 1
  done
  [[ -n "$version" ]] ||
    roll_back "$SERVICE_URL/readyz did not answer 200 within 30 s. Is port 30080 mapped? A cluster created without k8s/overlays/kind/kind-config.yaml is not: run scripts/deploy-kind.sh --delete, then deploy again"
  [[ -n "$sha" && ("$revision" == "$sha"* || "$sha" == "$revision"*) ]] ||
    roll_back "/version still reports git_sha '$sha' after 30 s, expected the deployed $revision: $version"
  log "smoke test passed: /readyz 200, /version git_sha $sha"
}

require_tools
case "$mode" in
  delete)
    log "deleting kind cluster '$CLUSTER'"
    kind delete cluster --name "$CLUSTER"
    ;;
  load)
    [[ -n "$image" ]] || die "--load-only needs the image to load, e.g. --load-only payload:local"
    cluster_exists || die "kind cluster '$CLUSTER' does not exist; create it and deploy first with scripts/deploy-kind.sh"
    load_image "$image"
    ;;
  deploy)
    image="${image:-${IMAGE:-$APP:local}}"
    ensure_cluster
    ref="$(load_image "$image")"
    apply "$ref"
    wait_for_rollout
    smoke_test "${ref##*:}"
    # `rollout status` returns when the new pods are available and the old
    # ones are terminating, maybe still in their shutdown delay, serving.
    # Their end is part of the deploy (and of what the rollout test counts).
    replaced=()
    mapfile -t replaced < <(kubectl --context "$CONTEXT" -n "$NAMESPACE" get pods -l "app.kubernetes.io/name=$APP" \
      -o go-template='{{range .items}}{{if .metadata.deletionTimestamp}}pod/{{.metadata.name}}{{"\n"}}{{end}}{{end}}')
    if ((${#replaced[@]} > 0)) &&
      ! kubectl --context "$CONTEXT" -n "$NAMESPACE" wait --for=delete "${replaced[@]}" --timeout=60s >/dev/null 2>&1 &&
      [[ -n "$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get "${replaced[@]}" --ignore-not-found -o name)" ]]; then
      die "the replaced pods ${replaced[*]} still exist 60 s after the rollout (kubectl -n $NAMESPACE get pods)"
    fi
    log "$ref runs in kind cluster '$CLUSTER' (context $CONTEXT, namespace $NAMESPACE): $SERVICE_URL"
    ;;
esac
