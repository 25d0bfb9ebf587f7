#!/usr/bin/env bash
# Copies the binary out of each platform's image of a multi-arch image into
# the layout scripts/build-binary.sh writes (OUT_DIR/<arch>/<name>), for
# scripts/release-assets.sh. A release ships the bytes CI tested inside the
# image, never a second build.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/extract-binaries.sh IMAGE OUT_DIR

IMAGE is a reference to the multi-arch image (by digest in a release:
registry/owner/repo@sha256:...). Writes OUT_DIR/<arch>/<name> for every
architecture that ships (amd64, arm64), and checks that each is an ELF
executable for its CPU.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"
expect_arguments 2 "IMAGE and OUT_DIR" "$@"
image="$1" out="$2"
require_tool docker "Install Docker."
require_tool file "Install file (Debian: apt-get install file)."
name="$(crate_name)"

for arch in "${SHIP_ARCHS[@]}"; do
  cpu="$(ship_triple "$arch")" cpu="${cpu%%-*}"
  mkdir -p "$out/$arch"
  dest="$out/$arch/$name"
  container="$(docker create --platform "linux/$arch" "$image")"
  docker cp "$container:/$name" "$dest"
  docker rm "$container" >/dev/null
  description="$(file --brief "$dest")"
  case "$cpu:$description" in
    x86_64:*"x86-64"* | aarch64:*"aarch64"*) ;;
    *) die "$dest from $image (linux/$arch) is not a $cpu executable: $description" ;;
  esac
  log "$dest: $description"
done
