#!/usr/bin/env bash
# Installs the exact tool versions the pipeline stages use, from the pins in
# scripts/tools/. Idempotent: a tool already at its pinned version is skipped,
# so a warm run takes seconds. `.ci/run` calls it before scripts/ci.sh.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install-tools.sh [--no-apt] [--no-cargo] [--no-python]

Installs the pinned tools of the local pipeline:
  Debian packages   scripts/tools/apt-packages.txt   (apt-get; needs root)
  Python tools      scripts/tools/requirements.txt   (venv in $TOOLS_HOME/venv)
  checkov           scripts/tools/checkov-requirements.txt (own venv)
  API contract test scripts/tools/api-test-requirements.txt (own venv)
  cargo tools       scripts/tools/cargo-tools.txt    (cargo install --locked)

TOOLS_HOME defaults to ~/.cache/payload-ci (override: PAYLOAD_TOOLS_HOME).
Every step skips what is already installed at the pinned version.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
TOOLS_DIR="$REPO_ROOT/scripts/tools"

do_apt=1 do_cargo=1 do_python=1
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --no-apt) do_apt=0 ;;
    --no-cargo) do_cargo=0 ;;
    --no-python) do_python=0 ;;
    *) usage >&2; die "unknown argument '$arg'" ;;
  esac
done

# Lines of a pin file without comments or blanks.
pins() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }

install_apt() {
  local missing=()
  local pkg
  while read -r pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done < <(pins "$TOOLS_DIR/apt-packages.txt")
  if ((${#missing[@]} == 0)); then
    log "apt: all packages present"
    return
  fi
  command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "apt: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# install_venv DIR REQUIREMENTS: a venv whose packages match the pin file.
# The pin file's hash is stored in the venv, so an unchanged pin list is a no-op.
install_venv() {
  local dir="$1" req="$2" stamp
  stamp="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -f "$dir/.pins" && "$(cat "$dir/.pins")" == "$stamp" ]]; then
    log "python: $(basename "$dir") venv up to date"
    return
  fi
  require_tool python3 "Install Python 3 (Debian: apt-get install python3 python3-venv)."
  log "python: installing $(basename "$req") into $dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  printf '%s\n' "$stamp" >"$dir/.pins"
}

install_cargo_tools() {
  require_tool cargo "Install Rust with rustup (rustup.rs)."
  local name version scope
  while read -r name version scope; do
    # `ci-only`: only a GitHub workflow uses it (installed there prebuilt);
    # no local stage does, and compiling it would cost a cold run minutes.
    if [[ "$scope" == ci-only ]]; then
      log "cargo: $name $version skipped (ci-only; by hand: cargo install --locked $name --version $version)"
      continue
    fi
    # Installed by cargo install, or already on PATH some other way (a
    # prebuilt binary, e.g. from the machine image or taiki-e/install-action).
    if cargo install --list | grep -q "^$name v$version:" ||
      cargo "${name#cargo-}" --version 2>/dev/null | head -n1 | grep -q "^$name $version\( \|\$\)"; then
      log "cargo: $name $version present"
      continue
    fi
    log "cargo: installing $name $version (compiles from source; takes minutes)"
    # These are tools, not shipped code: skip their release profiles' LTO and
    # single codegen unit, which make a cold install several times slower
    # for a speed-up nobody notices in a linter.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install --locked --quiet "$name" --version "$version"
  done < <(pins "$TOOLS_DIR/cargo-tools.txt")
}

((do_apt)) && install_apt
if ((do_python)); then
  mkdir -p "$TOOLS_HOME"
  install_venv "$TOOLS_HOME/venv" "$TOOLS_DIR/requirements.txt"
  install_venv "$TOOLS_HOME/checkov" "$TOOLS_DIR/checkov-requirements.txt"
  install_venv "$TOOLS_HOME/api-test" "$TOOLS_DIR/api-test-requirements.txt"
fi
# cargo-fuzz (scripts/fuzz.sh) needs a nightly toolchain for its sanitizer flags.
install_nightly() {
  command -v rustup >/dev/null 2>&1 || return 0
  if rustup toolchain list | grep -q '^nightly'; then
    log "rustup: nightly toolchain present"
    return
  fi
  log "rustup: installing the nightly toolchain (minimal profile) for fuzzing"
  rustup toolchain install nightly --profile minimal ||
    warn "could not install nightly: the fuzz stage will fail until it is installed"
}

((do_cargo)) && install_cargo_tools && install_nightly
log "tools ready"
