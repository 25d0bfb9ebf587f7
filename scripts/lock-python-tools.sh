#!/usr/bin/env bash
# Compiles each scripts/tools/<name>.in into <name>.txt: every package, the
# transitive ones too, pinned with its hashes, for all the Python versions
# and platforms the tools run on (a laptop, GitHub's runners). Run it after
# changing a pin in a .in file, and commit both files.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/lock-python-tools.sh [NAME...]

Recompiles scripts/tools/NAME.in into NAME.txt (default: every .in file)
with `uv pip compile --universal --generate-hashes`. uv itself comes from a
throw-away venv, at the version pinned below.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac

UV_VERSION=0.13.9
# The oldest Python the tools must run on; --universal adds markers for the rest.
PYTHON_FLOOR=3.11

tools_dir="$REPO_ROOT/scripts/tools"
names=("$@")
if ((${#names[@]} == 0)); then
  for input in "$tools_dir"/*.in; do names+=("$(basename "$input" .in)"); done
fi

venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
require_tool python3 "Install Python 3."
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"

cd "$tools_dir"
for name in "${names[@]}"; do
  [[ -f "$name.in" ]] || die "no scripts/tools/$name.in"
  log "locking $name.in -> $name.txt"
  # Relative paths, so the command in the file's header is the same anywhere.
  "$venv/bin/uv" pip compile --quiet --universal --generate-hashes \
    --python-version "$PYTHON_FLOOR" --output-file "$name.txt" "$name.in"
done
