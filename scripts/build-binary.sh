#!/usr/bin/env bash
# Builds the binary that ships: static musl, with mimalloc, the release
# profile and its dependency list embedded by cargo-auditable (scanners read it
# out of the binary), cross-compiled by cargo-zigbuild for linux/amd64 and
# linux/arm64, and copied to dist/linux/<arch>/payload where the Dockerfile's
# prebuilt stage picks it up. The workflows call this script too, and the
# Dockerfile's builder stage reads the same scripts/lib/ship.sh, so a
# laptop, CI and `docker build .` cannot drift apart.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/build-binary.sh [--arch amd64|arm64|all] [--target TRIPLE] [--glibc]

Builds `cargo auditable zigbuild` with the arguments of scripts/lib/ship.sh
(--release --locked --bin payload) for the musl target of each architecture,
checks that the result is static, is built for that CPU and carries its
dependency list, and copies it to dist/linux/<arch>/payload. Prints one line
per binary: `static binary: <path> (<bytes> bytes, <size>, <triple>)`.

  --arch ARCH     amd64, arm64 or all (both); default: this machine's
  --target TRIPLE x86_64-unknown-linux-musl or aarch64-unknown-linux-musl
                  (the same as --arch amd64 / arm64)
  --glibc         fallback for a machine without Zig: a static glibc binary
                  for this machine's architecture (plain cargo,
                  +crt-static, the system allocator). It is NOT what ships:
                  the script says so, and the images are always built from
                  the musl binaries.

Needs: rustup targets x86_64-unknown-linux-musl / aarch64-unknown-linux-musl,
cargo-auditable, and cargo-zigbuild with Zig (scripts/install-tools.sh
installs all of them; Zig and cargo-zigbuild go to $TOOLS_HOME/zig).

Environment: GIT_SHA and BUILD_TIMESTAMP are baked into the binary (/version);
they default to HEAD and HEAD's commit time, so rebuilding one commit gives the
same binary.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"

archs=() glibc=0
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --arch | --target)
      (($# >= 2)) || die "$1 needs a value (see --help)"
      set -- "$1=$2" "${@:3}"
      continue
      ;;
    --arch=all) archs=("${SHIP_ARCHS[@]}") ;;
    --arch=*)
      ship_triple "${1#--arch=}" >/dev/null || die "use --arch amd64, arm64 or all"
      archs=("${1#--arch=}")
      ;;
    --target=*)
      target="${1#--target=}" archs=()
      for a in "${SHIP_ARCHS[@]}"; do
        [[ "$(ship_triple "$a")" == "$target" ]] && archs=("$a")
      done
      ((${#archs[@]} == 1)) ||
        die "unsupported target '$target': the images ship x86_64-unknown-linux-musl and aarch64-unknown-linux-musl (or use --glibc for the documented glibc fallback)"
      ;;
    --glibc) glibc=1 ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
((${#archs[@]} > 0)) || archs=("$(host_arch)") || die "pass --arch amd64 or --arch arm64"

require_tool cargo "Install Rust with rustup (https://rustup.rs)."
require_tool readelf "Install binutils (Debian: apt-get install binutils)."
command -v cargo-auditable >/dev/null 2>&1 ||
  die "cargo-auditable is not installed. Run scripts/install-tools.sh (or: cargo install --locked cargo-auditable)."

GIT_SHA="$(git_sha)"
if [[ -z "${BUILD_TIMESTAMP:-}" ]]; then
  BUILD_TIMESTAMP="$(TZ=UTC0 git -C "$REPO_ROOT" log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || true)"
fi
export GIT_SHA BUILD_TIMESTAMP
cd "$REPO_ROOT"

if ((glibc)); then
  arch="$(host_arch)" || die "--glibc builds for this machine only, and it has no image"
  [[ "${archs[*]}" == "$arch" ]] || die "--glibc builds for this machine only ($arch): it cannot cross-compile"
  target="$(rustc -vV | sed -n 's/^host: //p')"
  [[ "$target" == *-linux-gnu ]] || die "--glibc needs a glibc Linux host; this one is $target"
  warn "--glibc: building the glibc fallback, not the musl binary that ships (no mimalloc, glibc's allocator and memcpy); install Zig with scripts/install-tools.sh to build what ships"
  # glibc linked statically. The service resolves no host names (it binds
  # 0.0.0.0 and its health check dials 127.0.0.1), so glibc's NSS limits on
  # static binaries do not apply.
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
  builds=("$arch:$target:build")
else
  # Zig and cargo-zigbuild from install-tools' venv, unless they are on PATH
  # already (the workflows install them their own way).
  [[ -x "$TOOLS_HOME/zig/bin/cargo-zigbuild" ]] && PATH="$TOOLS_HOME/zig/bin:$PATH"
  command -v cargo-zigbuild >/dev/null 2>&1 ||
    die "cargo-zigbuild is not installed: run scripts/install-tools.sh (pins in scripts/tools/zig-requirements.txt), or build the documented glibc fallback with --glibc"
  ship_build_env
  builds=()
  for arch in "${archs[@]}"; do builds+=("$arch:$(ship_triple "$arch"):zigbuild"); done
fi

if command -v rustup >/dev/null 2>&1; then
  installed_targets="$(rustup target list --installed)"
  for build in "${builds[@]}"; do
    IFS=: read -r _ target _ <<<"$build"
    grep -qx "$target" <<<"$installed_targets" ||
      die "the Rust standard library for $target is not installed. Run scripts/install-tools.sh (or: rustup target add $target)"
  done
fi

# One cargo run for every target: cargo compiles them side by side, so the
# two single-threaded fat-LTO links of a rebuild overlap instead of queueing.
# cargo auditable wraps any cargo subcommand: `zigbuild` for what ships,
# `build` for the glibc fallback.
target_args=()
for build in "${builds[@]}"; do
  IFS=: read -r _ target subcommand <<<"$build"
  target_args+=(--target "$target")
done
log "cargo auditable $subcommand ${SHIP_CARGO_ARGS[*]} ${target_args[*]} (git $GIT_SHA)"
start=$SECONDS
cargo auditable "$subcommand" "${SHIP_CARGO_ARGS[@]}" "${target_args[@]}"
log "built ${#builds[@]} target(s) in $((SECONDS - start)) s"
for build in "${builds[@]}"; do
  IFS=: read -r arch target _ <<<"$build"
  binary="target/$target/release/$(crate_name)"
  [[ -x "$binary" ]] || die "cargo finished but $binary is missing"

  # A dynamically linked binary names its loader in a PT_INTERP header; in a
  # scratch image that loader does not exist and the container dies at exec.
  program_headers="$(readelf --program-headers --wide "$binary")"
  if grep -q 'INTERP' <<<"$program_headers"; then
    die "$binary is dynamically linked ($(grep -o 'interpreter: [^]]*' <<<"$program_headers")); it cannot run in a scratch image"
  fi
  machine="$(readelf --file-header "$binary" | sed -n 's/^ *Machine: *//p')"
  case "$arch:$machine" in
    amd64:*X86-64* | arm64:AArch64) ;;
    *) die "$binary is built for '$machine', not for $arch" ;;
  esac
  # cargo-auditable stores the dependency list in the .dep-v0 section.
  section_headers="$(readelf --section-headers --wide "$binary")"
  grep -q '\.dep-v0' <<<"$section_headers" ||
    die "$binary has no .dep-v0 section: the dependency list was not embedded (was it built through cargo auditable?)"

  dest="dist/linux/$arch/payload"
  mkdir -p "$(dirname "$dest")"
  # Copy then rename: replacing the file in place fails ("text file busy")
  # while a process runs the previous binary. An explicit mode: a copy's mode
  # comes from the umask, and under 027 the image's uid 65532 could not run it.
  install -m 0755 "$binary" "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
  size=$(stat -c %s "$dest")
  log "static binary: $dest ($size bytes, $(numfmt --to=iec --suffix=B "$size"), $target)"
done
