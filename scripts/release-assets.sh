#!/usr/bin/env bash
# The asset set a tag publishes, built and verified before any tag exists:
# the `release` stage here, and the release workflow's `assets` job on every
# run (a dry run on pull requests, the real one on a tag). The packaging and
# the checks are xtask/src/release/; this script hands them the binaries
# and their SBOMs.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/release-assets.sh [--build] [--plant-faults] [--out DIR]

Makes the CycloneDX SBOM of the crate for each musl target (cargo cyclonedx),
then gives them and the binaries dist/linux/<arch>/<name> (every architecture
that ships) to `cargo xtask release-assets`, which packages the asset set into
DIR (default target/dist) and verifies it; its --help lists the assets and
the checks.

  --build         build the binaries first (scripts/build-binary.sh --arch all)
  --plant-faults  then plant a fault per check; fail unless each is refused
  --out DIR       where the asset set goes
  -h, --help      this help

The assets are dated SOURCE_DATE_EPOCH (default: the HEAD commit's time), so
packaging one commit twice gives the same bytes.

Needs cargo-cyclonedx, binaries built by cargo-auditable
(scripts/install-tools.sh), and for the aarch64 binary on an x86 machine
QEMU's binfmt handler (scripts/install-tools.sh --only emulation; it runs sudo).
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/ship.sh
source "$REPO_ROOT/scripts/lib/ship.sh"

build=0 xtask_args=()
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --build) build=1 ;;
    --plant-faults) xtask_args+=(--plant-faults) ;;
    --out)
      (($# >= 2)) || die "--out needs a directory"
      xtask_args+=(--out "$2")
      shift
      ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
command -v cargo-cyclonedx >/dev/null 2>&1 ||
  die "cargo-cyclonedx is not installed. Run scripts/install-tools.sh --only cargo (or: cargo install --locked cargo-cyclonedx)."

cd "$REPO_ROOT"
((build == 0)) || scripts/build-binary.sh --arch all

# The assets' time stamps (archive entries, SBOMs): the commit's time, so one
# commit packages to the same bytes.
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null)" ||
    die "no git history to date the assets by: set SOURCE_DATE_EPOCH (seconds since 1970)"
fi
export SOURCE_DATE_EPOCH

# One SBOM per target: the crates compiled in differ (cpufeatures is x86
# only). Runtime and build dependencies, no dev-dependencies. cargo-cyclonedx
# writes a file per workspace member, next to its Cargo.toml; only the
# service's is the release's.
name="$(crate_name)"
mkdir -p target/release-sbom
for arch in "${SHIP_ARCHS[@]}"; do
  triple="$(ship_triple "$arch")"
  cargo cyclonedx --manifest-path Cargo.toml --format json --spec-version 1.5 \
    --target "$triple" --override-filename release-sbom --quiet
  mv release-sbom.json "target/release-sbom/$triple.cdx.json"
  xtask_args+=(--binary "$triple=dist/linux/$arch/$name" --sbom "$triple=target/release-sbom/$triple.cdx.json")
done
find . -path ./target -prune -o -name release-sbom.json -type f -exec rm -f {} +

cargo xtask release-assets "${xtask_args[@]}"
