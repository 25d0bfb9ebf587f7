#!/usr/bin/env bash
# Prints the release notes of one version: its section of CHANGELOG.md, without
# the heading. The release workflow publishes them as the GitHub release's body,
# so what users read on the release page is what the changelog says.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/release-notes.sh [--changelog PATH] VERSION

Prints the section of CHANGELOG.md (keep-a-changelog form) for VERSION, e.g.

  ## [1.2.3] - 2026-01-31      <- heading (not printed)
  ### Fixed                    <- printed, up to the next "## " heading
  - ...

VERSION may carry a leading "v" (a tag name). Fails when the changelog has no
section for VERSION or the section is empty.

Options:
  --changelog PATH  read PATH instead of CHANGELOG.md at the repository root
  -h, --help        this help
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

changelog="$REPO_ROOT/CHANGELOG.md"
version=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --changelog)
      (($# >= 2)) || die "--changelog needs a path"
      changelog="$2"
      shift
      ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *)
      [[ -z "$version" ]] || die "give one version (got '$version' and '$1')"
      version="${1#v}"
      ;;
  esac
  shift
done
[[ -n "$version" ]] || { usage >&2; die "give the version, e.g. scripts/release-notes.sh 1.2.3"; }
[[ -f "$changelog" ]] || die "$changelog not found; release notes come from the changelog's section for $version"

# The section runs from its "## [VERSION]" heading to the next "## " heading.
# Link definitions ("[1.2.3]: https://...") close a keep-a-changelog file and
# are not notes.
status=0
notes="$(awk -v version="$version" '
  /^## / {
    if (found) exit
    v = $2
    gsub(/[][]/, "", v)
    if (v == version) found = 1
    next
  }
  /^\[[^]]*\]: / { next }
  found { print }
  END { exit !found }
' "$changelog" | sed -e '/./,$!d')" || status=$?

((status == 0)) || die "$changelog has no section for $version; add a '## [$version] - YYYY-MM-DD' heading with the changes"
[[ -n "$notes" ]] || die "the $version section of $changelog is empty; list the changes before releasing"
printf '%s\n' "$notes"
