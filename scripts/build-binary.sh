#!/usr/bin/env bash
# Builds the release binary the image ships: static (the image is FROM scratch,
# with no libc to load), with its dependency list embedded by cargo-auditable
# (scanners read it out of the binary), and copied to dist/linux/<arch>/payload
# where the Dockerfile's prebuilt stage picks it up.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/build-binary.sh [--target TRIPLE]

Builds `cargo auditable build --release --locked` for TRIPLE (default: the host,
x86_64-unknown-linux-gnu on a usual Linux machine), checks that the result is
statically linked and carries its dependency list, and copies it to
dist/linux/<amd64|arm64>/payload.

  host *-linux-gnu triple    plain cargo with -C target-feature=+crt-static
  any other triple           cargo-zigbuild (Zig as the cross C toolchain and
                             linker), e.g. x86_64-unknown-linux-musl or
                             aarch64-unknown-linux-musl; needs `rustup target add`

Environment: GIT_SHA and BUILD_TIMESTAMP are baked into the binary (/version);
they default to HEAD and HEAD's commit time, so rebuilding one commit gives the
same binary.
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

host_triple() { rustc -vV | sed -n 's/^host: //p'; }

target=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --target)
      (($# >= 2)) || die "--target needs a triple, e.g. --target aarch64-unknown-linux-musl"
      target="$2"
      shift
      ;;
    --target=*) target="${1#--target=}" ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
  shift
done

require_tool cargo "Install Rust with rustup (https://rustup.rs)."
require_tool readelf "Install binutils (Debian: apt-get install binutils)."
command -v cargo-auditable >/dev/null 2>&1 ||
  die "cargo-auditable is not installed. Run scripts/install-tools.sh (or: cargo install --locked cargo-auditable)."

host="$(host_triple)"
target="${target:-$host}"

case "$target" in
  x86_64-*-linux-*) arch=amd64 ;;
  aarch64-*-linux-*) arch=arm64 ;;
  *) die "unsupported target '$target': the image is built for linux/amd64 and linux/arm64 (x86_64-* or aarch64-* Linux triples)" ;;
esac

if command -v rustup >/dev/null 2>&1; then
  installed_targets="$(rustup target list --installed)"
  grep -qx "$target" <<<"$installed_targets" ||
    die "the Rust standard library for $target is not installed. Run: rustup target add $target"
fi

# cargo auditable wraps any cargo subcommand: `build`, or `zigbuild` when Zig
# has to provide the C cross toolchain and linker.
if [[ "$target" == "$host" && "$target" == *-linux-gnu ]]; then
  # glibc linked statically. The service resolves no host names (it binds
  # 0.0.0.0 and its health check dials 127.0.0.1), so glibc's NSS limits on
  # static binaries do not apply.
  subcommand=build
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
else
  command -v cargo-zigbuild >/dev/null 2>&1 ||
    die "cross-compiling to $target needs cargo-zigbuild and Zig: pip install cargo-zigbuild ziglang (see the Dockerfile's chef stage for the pinned versions)"
  subcommand=zigbuild
fi

GIT_SHA="$(git_sha)"
if [[ -z "${BUILD_TIMESTAMP:-}" ]]; then
  BUILD_TIMESTAMP="$(TZ=UTC0 git -C "$REPO_ROOT" log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || true)"
fi
export GIT_SHA BUILD_TIMESTAMP

cd "$REPO_ROOT"
log "cargo auditable $subcommand --release --locked --target $target (git $GIT_SHA)"
cargo auditable "$subcommand" --release --locked --target "$target" --bin payload

binary="target/$target/release/payload"
[[ -x "$binary" ]] || die "cargo finished but $binary is missing"

# A dynamically linked binary names its loader in a PT_INTERP header; in a
# scratch image that loader does not exist and the container dies at exec.
program_headers="$(readelf --program-headers --wide "$binary")"
if grep -q 'INTERP' <<<"$program_headers"; then
  die "$binary is dynamically linked ($(grep -o 'interpreter: [^]]*' <<<"$program_headers")); it cannot run in a scratch image"
fi
# cargo-auditable stores the dependency list in the .dep-v0 section.
section_headers="$(readelf --section-headers --wide "$binary")"
grep -q '\.dep-v0' <<<"$section_headers" ||
  die "$binary has no .dep-v0 section: the dependency list was not embedded (was it built through cargo auditable?)"

dest="dist/linux/$arch/payload"
mkdir -p "$(dirname "$dest")"
# Copy then rename: replacing the file in place fails ("text file busy")
# while a process runs the previous binary.
cp "$binary" "$dest.tmp"
mv -f "$dest.tmp" "$dest"
size=$(stat -c %s "$dest")
log "static binary: $dest ($size bytes, $(numfmt --to=iec --suffix=B "$size"), $target)"
