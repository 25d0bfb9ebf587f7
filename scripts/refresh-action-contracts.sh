#!/usr/bin/env bash
# Refreshes .github/action-contracts.json, the lock the pipeline contract suite
# checks the workflows against when there is no metadata folder (a clone of
# the template). Run it after changing an action's pinned SHA or the tools a
# workflow installs. It needs git and access to github.com (it cannot run on
# a machine without GitHub access, which is where the lock helps most).
#
# For every `uses: owner/repo[/path]@<sha> # <tag>` in .github/workflows it
# checks with `git ls-remote --tags` that <tag> points at <sha> (an annotated
# tag through its peeled `^{}` line), fetches that commit (blobs on demand)
# and copies its action.yml / action.yaml files, and install-action's
# manifests/*.json, into a temporary folder laid out as
# <owner>/<repo>@<sha>/<path>/action.yml, beside a pins file in the format of
# action-pins.md; then the suite regenerates the lock from them
# (ACTION_METADATA_DIR, ACTION_PINS, UPDATE_ACTION_CONTRACTS=1).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/refresh-action-contracts.sh

Checks that the tag in each pinned action's comment points at its SHA, downloads
the metadata (action.yml, install-action manifests) of every action the
workflows pin, at its pinned SHA, and rewrites .github/action-contracts.json
from the tags and the metadata. Needs git and access to github.com.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
no_arguments "$@"
require_tool git "Install git."
cd "$REPO_ROOT"

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
((${#workflows[@]} > 0)) || die "no workflow in .github/workflows"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
metadata="$work/actions"
pins_file="$work/action-pins.md"

# "<file>:<line> <owner/repo>@<sha> <tag>" for every `uses:` pinned by SHA;
# <tag> is the first word of its comment (empty without one). A sub-action's
# files and tags are its repository's.
mapfile -t uses < <(
  grep -HnE '^[[:space:]-]*uses:' "${workflows[@]}" |
    sed -nE 's/^([^:]+:[0-9]+):[[:space:]-]*uses:[[:space:]]*["'\'']?([^./"'\''[:space:]][^/@[:space:]]*\/[^/@[:space:]]+)[^@[:space:]]*@([0-9a-f]{40})["'\'']?[[:space:]]*(#[[:space:]]*([^[:space:]]*))?.*/\1 \2@\3 \5/p'
)
((${#uses[@]} > 0)) || die "no 'uses: owner/repo@<sha>' in .github/workflows"

declare -A tag_of=() where_of=()
for entry in "${uses[@]}"; do
  read -r where pin tag <<<"$entry"
  [[ -n "$tag" ]] ||
    die "$where: \`$pin\` has no tag comment: write \`# <tag>\` after it, naming the release tag of that SHA"
  [[ "${tag_of[$pin]:-$tag}" == "$tag" ]] ||
    die "$where: \`$pin\` is commented \`# $tag\` but \`# ${tag_of[$pin]}\` at ${where_of[$pin]}: give one SHA one tag"
  tag_of[$pin]="$tag"
  where_of[$pin]="$where"
done

# The tags of github.com/$1 that point at commit $2: a lightweight tag by its
# own line, an annotated one by its peeled `^{}` line.
tags_at() {
  local listing
  listing="$(git ls-remote --tags "https://github.com/$1.git")" ||
    die "cannot list the tags of github.com/$1: is GitHub reachable?"
  awk -v sha="$2" '$1 == sha { sub(/^refs\/tags\//, "", $2); sub(/\^\{\}$/, "", $2); print $2 }' \
    <<<"$listing" | sort -u
}

# verify_tag PIN: the comment's tag of PIN (owner/repo@sha) points at its SHA.
verify_tag() {
  local pin="$1" repository="${1%@*}" sha="${1#*@}" tag="${tag_of[$1]}" tags
  tags="$(tags_at "$repository" "$sha")"
  [[ -n "$tags" ]] || tags=none
  grep -qxF -- "$tag" <<<"$tags" ||
    die "${where_of[$pin]}: \`$pin # $tag\`: tag $tag of github.com/$repository does not point at $sha (tags that do: ${tags//$'\n'/ }); write one of those in the comment, or pin the commit $tag points at (git ls-remote --tags https://github.com/$repository.git $tag)"
}

# fetch_metadata PIN: PIN's action.yml files and manifests into $metadata/PIN.
fetch_metadata() {
  local pin="$1" repository="${1%@*}" sha="${1#*@}" clone file
  clone="$work/.git-$sha"
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
}

printf '| action | tag | 40-hex commit SHA |\n|---|---|---|\n' >"$pins_file"
for pin in "${!tag_of[@]}"; do
  log "$pin # ${tag_of[$pin]}"
  verify_tag "$pin"
  fetch_metadata "$pin"
  printf "| %s | %s | \`%s\` |\n" "${pin%@*}" "${tag_of[$pin]}" "${pin#*@}" >>"$pins_file"
done

log "regenerating .github/action-contracts.json"
ACTION_METADATA_DIR="$metadata" ACTION_PINS="$pins_file" UPDATE_ACTION_CONTRACTS=1 \
  cargo test --locked --test pipeline_contract -- the_committed_lock_matches_the_action_metadata
