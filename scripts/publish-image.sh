#!/usr/bin/env bash
# Publishes the image archives that CI tested, unchanged: loads each, pushes it
# under its per-platform tag (<sha>-amd64, <sha>-arm64), then joins them into
# one multi-arch index tagged <sha> and sha-<short>. Run only after every gate
# passed (the publish job); needs a `docker login` to the registry.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/publish-image.sh IMAGE SHA ARCHIVE...

IMAGE     repository to push to, e.g. ghcr.io/owner/repo (lower case)
SHA       the full commit SHA the archives were built from
ARCHIVE   `docker save`-format archives whose images are tagged IMAGE:SHA-<arch>

Prints the index digest, and writes `digest=<digest>` to $GITHUB_OUTPUT and a
summary to $GITHUB_STEP_SUMMARY when they are set.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
(($# >= 3)) || { usage >&2; die "expected IMAGE, SHA and at least one ARCHIVE"; }
image="$1" sha="$2"
shift 2
[[ "$image" == "${image,,}" ]] || die "IMAGE must be lower case (registries refuse upper case): $image"
[[ "$sha" =~ ^[0-9a-f]{40}$ ]] || die "SHA must be a full 40-hex commit SHA, not '$sha'"
require_tool docker "Install Docker."

pushed=()
for archive in "$@"; do
  [[ -f "$archive" ]] || die "no image archive at $archive"
  loaded="$(docker load --input "$archive" | sed -n 's/^Loaded image: //p')"
  [[ "$loaded" == "$image:$sha-"* && "$loaded" != *$'\n'* ]] ||
    die "$archive holds '$loaded', expected one image tagged $image:$sha-<arch>: it is not this commit's build"
  log "pushing $loaded"
  docker push --quiet "$loaded"
  pushed+=("$loaded")
done

log "tagging the multi-arch index $image:$sha and $image:sha-${sha:0:7}"
docker buildx imagetools create --tag "$image:$sha" --tag "$image:sha-${sha:0:7}" "${pushed[@]}"
digest="$(docker buildx imagetools inspect "$image:$sha" --format '{{json .Manifest}}' | jq -r '.digest')"
[[ "$digest" == sha256:* ]] || die "could not read the digest of $image:$sha (got '$digest')"
printf '%s@%s\n' "$image" "$digest"

[[ -n "${GITHUB_OUTPUT:-}" ]] && printf 'digest=%s\n' "$digest" >>"$GITHUB_OUTPUT"
{
  echo "### Published"
  echo "\`$image@$digest\` as \`$image:$sha\` and \`$image:sha-${sha:0:7}\`, from:"
  for ref in "${pushed[@]}"; do echo "- \`$ref\`"; done
} | step_summary
