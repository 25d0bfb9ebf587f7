#!/usr/bin/env bash
# Prints `tools=NAME@VERSION,...` for the named cargo tools, with the versions
# pinned in scripts/tools/cargo-tools.txt: the line a workflow step appends to
# $GITHUB_OUTPUT to give taiki-e/install-action exactly the tools its job runs.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/tool-pins.sh TOOL...

Prints one line, `tools=TOOL@VERSION,TOOL@VERSION`, with each TOOL's version
from scripts/tools/cargo-tools.txt, e.g.
  scripts/tool-pins.sh cargo-deny cargo-audit >>"$GITHUB_OUTPUT"
Fails naming any TOOL that the file does not pin.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") usage >&2; die "name at least one tool" ;;
esac

pins_file="$REPO_ROOT/scripts/tools/cargo-tools.txt"
list=""
for tool in "$@"; do
  version="$(sed -e 's/#.*//' "$pins_file" | awk -v t="$tool" '$1 == t { print $2; exit }')"
  [[ -n "$version" ]] ||
    die "'$tool' is not pinned in scripts/tools/cargo-tools.txt: add a line '$tool <version>' there"
  list+="${list:+,}$tool@$version"
done
printf 'tools=%s\n' "$list"
