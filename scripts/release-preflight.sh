#!/usr/bin/env bash
# Refuses to release a commit that CI has not vouched for: the commit must be
# on main, and CI's run for the push of that commit to main must have
# succeeded (that run is what published the image the release promotes).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/release-preflight.sh SHA

Fails unless SHA is an ancestor of origin/main (fetch main first) and, where
GITHUB_REPOSITORY is set, a successful run of the CI workflow exists for a
push of SHA (asked with `gh api`; needs GH_TOKEN with `actions: read`).
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
expect_arguments 1 "one commit SHA" "$@"
sha="$1"
[[ "$sha" =~ ^[0-9a-f]{40}$ ]] || die "expected a full 40-hex commit SHA, not '$sha'"

git -C "$REPO_ROOT" rev-parse --verify --quiet origin/main >/dev/null ||
  die "origin/main is not fetched: check out with the full history (fetch-depth: 0)"
git -C "$REPO_ROOT" merge-base --is-ancestor "$sha" origin/main ||
  die "commit $sha is not on main. Release only merged commits: merge the change, then tag the merge on main."
log "commit ${sha:0:12} is on main"

if [[ -z "${GITHUB_REPOSITORY:-}" ]]; then
  warn "GITHUB_REPOSITORY is not set: not checking CI's result (only GitHub knows it)"
  exit 0
fi
require_tool gh "The GitHub CLI is on every GitHub-hosted runner."
runs="$(gh api "repos/$GITHUB_REPOSITORY/actions/workflows/ci.yml/runs?head_sha=$sha&event=push&status=success" --jq '.total_count')"
((runs > 0)) ||
  die "CI has no successful run for the push of $sha to main. Wait for it to finish (or re-run it until it passes), then re-run this release."
log "CI passed for ${sha:0:12} on main ($runs successful run(s))"
