#!/usr/bin/env bash
# Publishes the GitHub release of a tag so that nothing can change under a
# downloader: the release is created as a draft, every asset is uploaded,
# downloaded again and checked against SHA256SUMS, and only then published.
# With immutable releases, GitHub locks the assets at that moment, so an
# upload after publication would fail; a release that is already published
# is never changed.
set -euo pipefail

usage() {
  cat <<'EOF_USAGE'
Usage: scripts/publish-release.sh TAG DIR [--bundle FILE]

DIR is the asset set of scripts/release-assets.sh: SHA256SUMS, the files it
lists, and notes.md (the release's text).

  1. a published release of TAG: refuse, change nothing
     a draft of TAG (a re-run): take it over; otherwise create the draft
  2. upload SHA256SUMS, the assets and their bundles, replacing the draft's
     copies and deleting draft assets that are no longer part of the set
  3. download the draft's assets again: the same files, byte for byte, and
     `sha256sum -c SHA256SUMS` passes
  4. publish (a pre-release when TAG has a '-', e.g. v1.0.0-rc.1)

  --bundle FILE  the Sigstore bundle of the assets' provenance attestation,
                 uploaded as <asset>.sigstore.json beside each asset

Needs gh with GH_TOKEN (contents: write), and GH_REPO=owner/repo or a
checkout whose remote gh can resolve.
EOF_USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

args=() bundle=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --bundle)
      (($# >= 2)) || die "--bundle needs a file"
      bundle="$2"
      shift
      ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) args+=("$1") ;;
  esac
  shift
done
expect_arguments 2 "the tag and the asset directory" "${args[@]}"
tag="${args[0]}" dir="${args[1]}"
require_tool gh "The GitHub CLI is on every GitHub-hosted runner."
for file in SHA256SUMS notes.md; do
  [[ -f "$dir/$file" ]] || die "$dir/$file is missing: package the release with scripts/release-assets.sh first"
done
[[ -z "$bundle" || -f "$bundle" ]] || die "--bundle $bundle does not exist"

mapfile -t assets < <(sed -n 's/^[0-9a-f]\{64\}  //p' "$dir/SHA256SUMS")
((${#assets[@]} > 0)) || die "$dir/SHA256SUMS lists no asset: package the release again"
files=(SHA256SUMS "${assets[@]}")
if [[ -n "$bundle" ]]; then
  for asset in "${assets[@]}"; do
    cp "$bundle" "$dir/$asset.sigstore.json"
    files+=("$asset.sigstore.json")
  done
fi

if ! state="$(gh release view "$tag" --json isDraft --jq .isDraft 2>&1)"; then
  [[ "$state" == *"not found"* ]] || die "cannot read the release of $tag: $state"
  state=none
fi
case "$state" in
  false)
    die "the release $tag is already published, and a published release's assets are never replaced" \
      "(GitHub refuses it with immutable releases). Ship the change as a new version; if $tag itself is" \
      "wrong, delete its release and tag on GitHub, then push the tag again."
    ;;
  true)
    log "$tag has a draft release (an earlier run): completing it"
    gh release edit "$tag" --notes-file "$dir/notes.md"
    ;;
  none)
    prerelease=()
    [[ "$tag" != *-* ]] || prerelease=(--prerelease)
    gh release create "$tag" --draft --verify-tag --title "$tag" --notes-file "$dir/notes.md" "${prerelease[@]}"
    ;;
  *) die "unexpected answer from gh about the release of $tag: $state" ;;
esac

(cd "$dir" && gh release upload "$tag" --clobber -- "${files[@]}")
mapfile -t uploaded < <(gh release view "$tag" --json assets --jq '.assets[].name')
for name in "${uploaded[@]}"; do
  [[ " ${files[*]} " == *" $name "* ]] && continue
  log "deleting $name from the draft: not part of this asset set"
  gh release delete-asset "$tag" "$name" --yes
done

check="$(mktemp -d)"
trap 'rm -rf "$check"' EXIT
gh release download "$tag" --dir "$check"
[[ "$(find "$check" -maxdepth 1 -type f -printf '%f\n' | sort)" == "$(printf '%s\n' "${files[@]}" | sort)" ]] ||
  die "the draft of $tag holds $(find "$check" -maxdepth 1 -type f -printf '%f ')instead of ${files[*]}; re-run the job"
for name in "${files[@]}"; do
  cmp --silent "$dir/$name" "$check/$name" ||
    die "$name as uploaded to the draft of $tag differs from the verified one; re-run the job"
done
(cd "$check" && sha256sum --strict --check SHA256SUMS)
log "the draft's ${#files[@]} files are the verified ones"

gh release edit "$tag" --draft=false
log "published $tag"
printf '### Release %s\n\n%s files, verified after upload, then published.\n' "$tag" "${#files[@]}" | step_summary
