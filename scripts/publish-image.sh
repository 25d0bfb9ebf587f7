#!/usr/bin/env bash
# Publishes the image archives that CI tested, unchanged: loads each, pushes it
# under its per-platform tag (<sha>-amd64, <sha>-arm64), then joins them into
# one multi-arch index tagged <sha> and sha-<short>, annotated with the images'
# OCI labels. Run only after every gate passed (the publish job); needs a
# `docker login` to the registry.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/publish-image.sh IMAGE SHA ARCHIVE...

IMAGE     repository to push to, e.g. ghcr.io/owner/repo (lower case)
SHA       the full commit SHA the archives were built from
ARCHIVE   `docker save`-format archives whose images are tagged IMAGE:SHA-<arch>

The index gets the images' org.opencontainers.image.* labels (source,
revision, version, licenses, ...) as annotations, where registries and
`docker buildx imagetools inspect --raw` show them for the multi-arch image.

Prints the index digest, and writes `image=IMAGE`, `digest=<index digest>` and
`platform-digests={"<arch>": "<platform image digest>", ...}` to $GITHUB_OUTPUT and a summary to
$GITHUB_STEP_SUMMARY when they are set.
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

pushed=() by_digest=() platform_digests='{}'
for archive in "$@"; do
  [[ -f "$archive" ]] || die "no image archive at $archive"
  loaded="$(docker load --input "$archive" | sed -n 's/^Loaded image: //p')"
  [[ "$loaded" == "$image:$sha-"* && "$loaded" != *$'\n'* ]] ||
    die "$archive holds '$loaded', expected one image tagged $image:$sha-<arch>: it is not this commit's build"
  log "pushing $loaded"
  # The last line of `docker push` is "<tag>: digest: sha256:... size: N":
  # the digest the platform's SBOM attestation names.
  pushed_digest="$(docker push "$loaded" | sed -n 's/^.*: digest: \(sha256:[0-9a-f]\{64\}\) size: .*$/\1/p')"
  [[ "$pushed_digest" == sha256:* ]] || die "docker push $loaded printed no digest"
  pushed+=("$loaded")
  by_digest+=("$image@$pushed_digest")
  platform_digests="$(jq -cn --argjson digests "$platform_digests" --arg arch "${loaded##*-}" \
    --arg digest "$pushed_digest" '$digests + {($arch): $digest}')"
done

annotations=()
while IFS= read -r label; do
  annotations+=(--annotation "index:$label")
done < <(docker image inspect --format '{{json .Config.Labels}}' "${pushed[0]}" |
  jq -r 'to_entries[] | select(.key | startswith("org.opencontainers.image.")) | "\(.key)=\(.value)"')
for key in source revision version licenses; do
  [[ " ${annotations[*]} " == *" index:org.opencontainers.image.$key="* ]] ||
    die "${pushed[0]} has no org.opencontainers.image.$key label: build it with the Dockerfile's runtime stage, which sets it"
done

log "tagging the multi-arch index $image:$sha and $image:sha-${sha:0:7}"
docker buildx imagetools create "${annotations[@]}" --tag "$image:$sha" --tag "$image:sha-${sha:0:7}" "${by_digest[@]}"
digest="$(docker buildx imagetools inspect "$image:$sha" --format '{{json .Manifest}}' | jq -r '.digest')"
[[ "$digest" == sha256:* ]] || die "could not read the digest of $image:$sha (got '$digest')"
printf '%s@%s\n' "$image" "$digest"

[[ -n "${GITHUB_OUTPUT:-}" ]] && printf '%s\n' "image=$image" "digest=$digest" "platform-digests=$platform_digests" >>"$GITHUB_OUTPUT"
{
  echo "### Published"
  echo "\`$image@$digest\` as \`$image:$sha\` and \`$image:sha-${sha:0:7}\`, from:"
  for i in "${!pushed[@]}"; do echo "- \`${pushed[i]}\` (\`${by_digest[i]#*@}\`)"; done
} | step_summary
