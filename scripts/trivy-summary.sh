#!/usr/bin/env bash
# Turns a Trivy JSON report into SARIF (for code scanning) and a table of
# findings by severity on the job's summary page (or stdout).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/trivy-summary.sh REPORT.json OUT.sarif

Writes OUT.sarif with `trivy convert`, and the findings per severity (all, and
those with a fixed version) to $GITHUB_STEP_SUMMARY when set, else stdout.
USAGE
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
expect_arguments 2 "REPORT.json and OUT.sarif" "$@"
report="$1" sarif="$2"
[[ -f "$report" ]] || die "no Trivy report at $report"
require_tool trivy
require_tool jq "Install jq."

trivy convert --format sarif --output "$sarif" "$report"
{
  echo "### Trivy: \`$(jq -r '.ArtifactName // "image"' "$report")\`"
  echo
  echo "| severity | findings | with a fix |"
  echo "|---|---:|---:|"
  jq -r '[.Results[]?.Vulnerabilities[]?] as $v
    | ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"][] as $s
    | [$v[] | select(.Severity == $s)] as $hits
    | "| \($s) | \($hits | length) | \([$hits[] | select((.FixedVersion // "") != "")] | length) |"' \
    "$report"
} >>"${GITHUB_STEP_SUMMARY:-/dev/stdout}"
