#!/usr/bin/env bash
# Refreshes .github/action-contracts.json, the lock the pipeline contract suite
# checks the workflows against when there is no metadata folder (a clone of
# the template). Run it after changing an action's pinned SHA or the tools a
# workflow installs. It needs git and access to github.com (it cannot run on
# a machine without GitHub access, which is where the lock helps most).
#
# For every `uses: owner/repo[/path]@<sha>` in .github/workflows it fetches
# that commit (blobs on demand) and copies its action.yml / action.yaml files,
# and install-action's manifests/*.json, into a temporary folder laid out as
# <owner>/<repo>@<sha>/<path>/action.yml; then the suite regenerates the lock
# from that folder (ACTION_METADATA_DIR, UPDATE_ACTION_CONTRACTS=1).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/refresh-action-contracts.sh

Downloads the metadata (action.yml, install-action manifests) of every action
the workflows pin, at its pinned SHA, and rewrites .github/action-contracts.json
from it. Needs git and access to github.com.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
no_arguments "$@"
require_tool git "Install git."
cd "$REPO_ROOT"

metadata="$(mktemp -d)"
trap 'rm -rf "$metadata"' EXIT

# owner/repo@sha of every pinned action (a sub-action's files come with its
# repository's).
mapfile -t pins < <(
  sed -nE 's/^[[:space:]-]*uses:[[:space:]]*["'\'']?([^./"'\''[:space:]][^/@[:space:]]*\/[^/@[:space:]]+)[^@[:space:]]*@([0-9a-f]{40}).*/\1@\2/p' \
    .github/workflows/*.yml .github/workflows/*.yaml 2>/dev/null | sort -u
)
((${#pins[@]} > 0)) || die "no 'uses: owner/repo@<sha>' in .github/workflows"

for pin in "${pins[@]}"; do
  repository="${pin%@*}"
  sha="${pin#*@}"
  log "$pin"
  clone="$metadata/.git-$sha"
  git init --quiet "$clone"
  git -C "$clone" fetch --quiet --depth 1 --filter=blob:none \
    "https://github.com/$repository.git" "$sha" ||
    die "cannot fetch $sha of github.com/$repository: is the SHA right and GitHub reachable?"
  while IFS= read -r file; do
    mkdir -p "$(dirname "$metadata/$pin/$file")"
    git -C "$clone" show "FETCH_HEAD:$file" >"$metadata/$pin/$file"
  done < <(git -C "$clone" ls-tree -r --name-only FETCH_HEAD |
    grep -E '(^|/)action\.ya?ml$|^manifests/[^/]+\.json$')
  rm -rf "$clone"
done

log "regenerating .github/action-contracts.json"
ACTION_METADATA_DIR="$metadata" UPDATE_ACTION_CONTRACTS=1 \
  cargo test --locked --test pipeline_contract -- the_committed_lock_matches_the_action_metadata
