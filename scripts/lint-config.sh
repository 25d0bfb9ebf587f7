#!/usr/bin/env bash
# config-lint stage: everything that is not Rust but still breaks a release
# when it is wrong: workflows, shell scripts, the Dockerfile, YAML and the
# Kubernetes manifests. All checks are static, so they run in seconds and
# catch a broken workflow before GitHub has to run it. Every check runs even
# after one fails; the stage fails at the end, naming the failed checks.
set -euo pipefail

# Kubernetes versions the rendered manifests must be valid for: the oldest and
# newest minor this template supports. Newest = the newest schema the pinned
# kubernetes-validate ships; oldest = four minors back, roughly what managed
# services still run in extended support. Override with K8S_VERSIONS.
K8S_VERSIONS="${K8S_VERSIONS:-1.33.0 1.37.0}"

usage() {
  cat <<EOF
Usage: scripts/lint-config.sh

Checks, from the repository root (each prints its name and command):
  actionlint     .github/workflows (shellcheck runs on every run: block)
  zizmor         security audit of workflows and dependabot.yml (--offline)
  shellcheck     every *.sh file and .ci/run
  hadolint       the Dockerfile
  yamllint       every YAML file, --strict, config .yamllint.yaml
  kustomize      renders each k8s/overlays/* into target/k8s-rendered/
  kubernetes-validate  each rendered overlay, --strict, for Kubernetes
                 ${K8S_VERSIONS} (K8S_VERSIONS overrides)
  checkov        security policy of the rendered manifests (:latest images,
                 root containers, missing limits...; reasons for exceptions
                 are annotations in k8s/)
The workflow and Kubernetes checks are skipped, with a note, only while
.github/workflows or k8s/overlays does not exist.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
no_arguments "$@"
cd "$REPO_ROOT"
for tool in actionlint zizmor shellcheck hadolint yamllint kubernetes-validate checkov; do
  require_tool "$tool" "Run scripts/install-tools.sh (pinned in scripts/tools/)."
done
require_tool kubectl "Install kubectl (it includes kustomize): https://kubernetes.io/docs/tasks/tools/"

# Files git would commit (tracked, or new and not ignored) matching patterns;
# outside a git checkout, every file that matches.
repo_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # A tracked file deleted in the working tree is listed but not there.
    git ls-files -co --exclude-standard -- "$@" | while read -r f; do [[ -f "$f" ]] && echo "$f"; done
  else
    local p
    for p in "$@"; do find . -path ./target -prune -o -path "./$p" -type f -print; done | sed 's|^\./||'
  fi
}

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
overlays=(k8s/overlays/*/kustomization.yaml k8s/overlays/*/kustomization.yml)
shopt -u nullglob

if ((${#workflows[@]} > 0)); then
  # actionlint only runs shellcheck on run: blocks when it finds it on PATH;
  # naming it makes a missing shellcheck an error instead of a silent skip.
  check actionlint actionlint -shellcheck "$(command -v shellcheck)"
  # The repository root: zizmor collects workflows, composite actions and
  # dependabot.yml, honouring .gitignore. --offline: no GitHub API calls;
  # --strict-collection: a file it cannot parse is an error, not skipped.
  check zizmor zizmor --offline --strict-collection --no-progress .
else
  log "actionlint, zizmor: skipped: no workflow in .github/workflows yet"
fi

mapfile -t shell_files < <(repo_files '*.sh' .ci/run)
# -x follows `source` lines (scripts/lib/common.sh) so its functions are known.
check shellcheck shellcheck -x "${shell_files[@]}"

mapfile -t dockerfiles < <(repo_files Dockerfile '*/Dockerfile' '*.Dockerfile' 'Dockerfile.*')
if ((${#dockerfiles[@]} == 0)); then
  warn "no Dockerfile found: the template ships one at the repository root"
  FAILED_CHECKS+=(hadolint)
else
  check hadolint hadolint --no-color "${dockerfiles[@]}"
fi

check yamllint yamllint --strict --config-file .yamllint.yaml .

if ((${#overlays[@]} == 0)); then
  log "kustomize, kubernetes-validate, checkov: skipped: k8s/overlays does not exist yet"
else
  render_dir="$REPO_ROOT/target/k8s-rendered"
  rm -rf "$render_dir"
  mkdir -p "$render_dir"
  rendered=()
  for kustomization in "${overlays[@]}"; do
    overlay="$(dirname "$kustomization")"
    out="$render_dir/$(basename "$overlay").yaml"
    check "kustomize $overlay" kubectl kustomize "$overlay" --output "$out"
    [[ -s "$out" ]] && rendered+=("$out")
  done
  for out in "${rendered[@]}"; do
    for version in $K8S_VERSIONS; do
      check "kubernetes-validate ${out#"$REPO_ROOT"/} @ $version" \
        kubernetes-validate --strict --quiet --kubernetes-version "$version" "$out"
    done
  done
  if ((${#rendered[@]} > 0)); then
    checkov_args=()
    for out in "${rendered[@]}"; do checkov_args+=(--file "$out"); done
    # --skip-download: no policy download or platform login, the pinned
    # checkov's built-in policies only.
    check checkov checkov --skip-download --quiet --compact --framework kubernetes "${checkov_args[@]}"
  fi
fi

finish_checks config-lint
