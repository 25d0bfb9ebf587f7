#!/usr/bin/env bash
# Copies the binary out of each platform's image of a multi-arch image, named
# for a release: <name>-<version>-<target triple>. A release ships the bytes CI
# tested inside the image, never a second build.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/extract-binaries.sh IMAGE VERSION OUT_DIR

IMAGE is a reference to a linux/amd64 + linux/arm64 image (by digest in a
release: registry/owner/repo@sha256:...). Writes OUT_DIR/<name>-VERSION-
x86_64-unknown-linux-musl and ...-aarch64-unknown-linux-musl, and checks that
each is an ELF executable for its CPU.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
expect_arguments 3 "IMAGE, VERSION and OUT_DIR" "$@"
image="$1" version="$2" out="$3"
require_tool docker "Install Docker."
require_tool file "Install file (Debian: apt-get install file)."
name="$(crate_name)"
mkdir -p "$out"

for pair in amd64:x86_64 arm64:aarch64; do
  arch="${pair%%:*}" cpu="${pair#*:}"
  dest="$out/$name-$version-$cpu-unknown-linux-musl"
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
