#!/usr/bin/env bash
# scan stage: what the image and the deployment configuration contain, seen
# the way an attacker or auditor would see them. Trivy finds insecure
# Dockerfile/Kubernetes settings and committed secrets; the SBOM records what
# shipped; cargo audit bin checks the crates compiled into the binary that is
# actually in the image (not just Cargo.lock) against the advisory database.
set -euo pipefail

IMAGE="${IMAGE:-payload:local}"
TRIVY_DB_TIMEOUT="${TRIVY_DB_TIMEOUT:-120}"

usage() {
  cat <<EOF
Usage: scripts/scan.sh [--platform amd64|arm64|all] [PART...]

Parts (default: config secrets sbom binary):
  config   trivy config on the repository (Dockerfile, k8s/) and on each
           rendered k8s overlay; fails on HIGH or CRITICAL findings
  secrets  trivy secret scan of every file git would commit
  sbom     CycloneDX SBOM of each platform's image
           -> target/sbom/payload-image-<arch>.cdx.json
  binary   cargo audit bin on each image's /payload (built with cargo-auditable)
  vuln     trivy vulnerability scan of each image, failing on HIGH/CRITICAL
           (scripts/ci.sh runs it as the image-vuln stage). It needs Trivy's
           online database: when that cannot be downloaded within
           TRIVY_DB_TIMEOUT=${TRIVY_DB_TIMEOUT}s the part is SKIPPED (exit 3), except
           on GitHub Actions, where the database must be reachable.

The images scanned are IMAGE's tag + -amd64 and + -arm64 (IMAGE defaults to
payload:local), as scripts/build-image.sh tags them; --platform (default:
PLATFORM, else all) picks one. Without a Docker engine, sbom and binary are
skipped and the stage reports SKIPPED after the other parts ran.
ADVISORY_DB=<git checkout or bundle> makes 'binary' use that advisory
database snapshot instead of fetching it (see scripts/supply-chain.sh).
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"
parts=() platform="${PLATFORM:-all}"
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --platform | --platform=*)
      platform="$(option_value "$@")" || exit 1
      [[ "$1" == *=* ]] || shift
      ;;
    config | secrets | sbom | binary | vuln) parts+=("$1") ;;
    *) usage >&2; die "unknown part '$1'" ;;
  esac
  shift
done
ship_platform_archs "$platform"
((${#parts[@]} > 0)) || parts=(config secrets sbom binary)
wants() { [[ " ${parts[*]} " == *" $1 "* ]]; }

cd "$REPO_ROOT"
require_tool trivy "Run scripts/install-tools.sh (pinned in scripts/tools/requirements.txt)."
WORK="$REPO_ROOT/target/scan"
mkdir -p "$WORK"
# No version or check-bundle downloads: the built-in checks of the pinned
# Trivy, so a run is reproducible and works without GitHub's registry.
trivy_flags=(--skip-check-update --skip-version-check --disable-telemetry --quiet)
skipped=() vuln_db=0

if wants config; then
  check "trivy config (repository)" trivy config "${trivy_flags[@]}" \
    --severity HIGH,CRITICAL --exit-code 1 --skip-dirs target --skip-dirs dist .
  # Overlays are scanned as rendered: a kustomize patch alone is half a
  # manifest, and what the cluster receives is the render.
  shopt -s nullglob
  overlays=(k8s/overlays/*/kustomization.yaml k8s/overlays/*/kustomization.yml)
  shopt -u nullglob
  if ((${#overlays[@]} > 0)); then
    require_tool kubectl "Install kubectl (it includes kustomize): https://kubernetes.io/docs/tasks/tools/"
    rm -rf "$WORK/k8s-rendered" && mkdir -p "$WORK/k8s-rendered"
    for kustomization in "${overlays[@]}"; do
      overlay="$(dirname "$kustomization")"
      check "kustomize $overlay" kubectl kustomize "$overlay" --output "$WORK/k8s-rendered/$(basename "$overlay").yaml"
    done
    check "trivy config (rendered overlays)" trivy config "${trivy_flags[@]}" \
      --severity HIGH,CRITICAL --exit-code 1 "$WORK/k8s-rendered"
  else
    log "trivy config (rendered overlays): skipped: k8s/overlays does not exist yet"
  fi
fi

if wants secrets; then
  # Scan exactly what a push would publish: tracked files plus new files that
  # are not ignored. Ignored files (a local .env, target/) never leave the
  # machine, and scanning target/ would take minutes.
  tree="$WORK/secret-tree"
  rm -rf "$tree" && mkdir -p "$tree"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -z |
      while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done |
      tar --null -T - -cf - | tar -xf - -C "$tree"
  else
    tar --exclude=./target --exclude=./dist -cf - . | tar -xf - -C "$tree"
  fi
  check "trivy secret" trivy fs "${trivy_flags[@]}" --scanners secret --exit-code 1 "$tree"
fi

# Trivy's vulnerability database is an OCI artifact on a container registry.
# Where none is reachable, say so instead of reporting a scan that never ran.
# Checked before the image is exported, so an unreachable database costs
# nothing more.
if wants vuln; then
  if db_error="$(timeout "$TRIVY_DB_TIMEOUT" trivy image "${trivy_flags[@]}" --download-db-only 2>&1)"; then
    vuln_db=1
  else
    vuln_db=0
    # A one-line reason from Trivy's innermost cause, e.g.
    # `* Get "https://mirror.gcr.io/v2/": dial tcp: lookup ...: no such host`.
    cause="$(sed -n 's/^[[:space:]]*\* //p' <<<"$db_error" | head -n1)"
    host="$(grep -o 'https://[^/"]*' <<<"$cause" | head -n1)"
    if [[ -n "$cause" && -n "$host" ]]; then
      cause="${host#https://}: ${cause##*: }"
    elif [[ -z "$cause" ]]; then
      cause="$(grep -m1 -o 'FATAL.*' <<<"$db_error" || echo "no answer within ${TRIVY_DB_TIMEOUT}s")"
    fi
    reason="Trivy's vulnerability database is unreachable (${cause:0:100})"
    if [[ "${GITHUB_ACTIONS:-}" == true ]]; then
      # On GitHub the registry is reachable: a failure there is real.
      printf '%s\n' "$db_error" >&2
      warn "$reason"
      FAILED_CHECKS+=("trivy vulnerability database")
    else
      skipped+=("$reason")
    fi
  fi
fi

# One export per image serves every part; Trivy then reads the tar instead of
# needing a particular Docker API.
declare -A image_tar=()
scanned=()
if wants sbom || wants binary || { wants vuln && ((vuln_db)); }; then
  if ! docker_engine_up; then
    skipped+=("no Docker engine answers, so the images were not scanned (start Docker, then scripts/build-image.sh)")
  else
    for arch in "${archs[@]}"; do
      image="$(arch_image "$IMAGE" "$arch")"
      if ! docker image inspect "$image" >/dev/null 2>&1; then
        warn "image $image not found: build it with scripts/build-image.sh (or scripts/ci.sh --only image scan)"
        FAILED_CHECKS+=("image $image")
        continue
      fi
      problem="$(image_revision_problem "$image")"
      if [[ -n "$problem" ]]; then
        warn "$problem"
        FAILED_CHECKS+=("revision of $image")
        continue
      fi
      check "docker save $image" docker save --output "$WORK/image-$arch.tar" "$image"
      if [[ -s "$WORK/image-$arch.tar" ]]; then
        image_tar[$arch]="$WORK/image-$arch.tar"
        scanned+=("$arch")
      fi
    done
  fi
fi

if wants sbom && ((${#scanned[@]} > 0)); then
  require_tool jq "Install jq (Debian: apt-get install jq)."
  for arch in "${scanned[@]}"; do
    sbom="$REPO_ROOT/target/sbom/payload-image-$arch.cdx.json"
    mkdir -p "$(dirname "$sbom")"
    # SBOM generation is offline: Trivy reads the cargo-auditable dependency
    # list embedded in the binary; no vulnerability database is involved.
    check "sbom (CycloneDX), linux/$arch" trivy image "${trivy_flags[@]}" --input "${image_tar[$arch]}" \
      --format cyclonedx --output "$sbom"
    [[ -s "$sbom" ]] || continue
    crates="$(jq '[.components[]? | select(.purl // "" | startswith("pkg:cargo/"))] | length' "$sbom")"
    if ((crates > 1)); then
      log "SBOM linux/$arch: $crates crates listed in ${sbom#"$REPO_ROOT"/}"
    else
      warn "the linux/$arch SBOM lists $crates crates: the binary carries no cargo-auditable dependency list (build it with cargo auditable, as scripts/build-binary.sh does)"
      FAILED_CHECKS+=("sbom content, linux/$arch")
    fi
  done
fi

if wants binary && ((${#scanned[@]} > 0)); then
  require_tool cargo-audit "Run scripts/install-tools.sh (or: cargo install --locked cargo-audit)."
  db="$(advisory_db_checkout)"
  cargo_audit_command "$db"
  unreachable="$(advisory_db_unreachable)"
  # Audited only against a database: none reachable means nothing to audit.
  audited=("${scanned[@]}")
  if [[ -n "$unreachable" ]]; then
    skipped+=("cargo audit bin: $unreachable")
    audited=()
  fi
  for arch in "${audited[@]}"; do
    image="$(arch_image "$IMAGE" "$arch")"
    binary="$WORK/payload-$arch"
    # A stopped container is the portable way to copy a file out of a scratch
    # image (it has no shell to cat with); creating one runs nothing, so no
    # emulation is involved.
    rm -f "$binary"
    cid="$(docker create --platform "linux/$arch" "$image")"
    docker cp "$cid:/payload" "$binary" >/dev/null || warn "could not copy /payload out of $image"
    docker rm "$cid" >/dev/null
    if [[ -f "$binary" ]]; then
      check "cargo audit bin, linux/$arch" "${CARGO_AUDIT[@]}" bin "$binary"
    else
      FAILED_CHECKS+=("cargo audit bin, linux/$arch")
    fi
  done
fi

if wants vuln && ((vuln_db)); then
  for arch in "${scanned[@]}"; do
    check "trivy image (vulnerabilities), linux/$arch" trivy image "${trivy_flags[@]}" --skip-db-update \
      --input "${image_tar[$arch]}" --scanners vuln --severity HIGH,CRITICAL --exit-code 1
  done
fi

if ((${#FAILED_CHECKS[@]} == 0 && ${#skipped[@]} > 0)); then
  log "scan: every part that ran passed"
  skip_stage "${skipped[*]}"
fi
finish_checks scan
