#!/usr/bin/env bash
# The README's test command: runs every pipeline stage this machine can run, in
# the order the GitHub workflows run them, and ends with a summary table.
#
# Why one runner: the workflows call the same stage scripts, so a green run
# here means the pull request's checks see the same code, config and tool
# versions. A stage that cannot run here (no Docker engine, no kind, no access
# to Trivy's vulnerability database) exits 3 after printing `SKIPPED: <reason>`
# and shows up as SKIPPED, never as PASSED.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# One line per stage: name | command (run by bash from the repository root; no "|" in it) |
# what it checks | the scripts/install-tools.sh parts it needs. Adding a stage is adding a
# line here.
STAGES=(
  "rust-lint|scripts/lint-rust.sh|cargo fmt --check and clippy on all targets with warnings denied|rust"
  "config-lint|scripts/lint-config.sh|actionlint, zizmor, shellcheck, hadolint, yamllint, kustomize + kubernetes-validate|apt python repacks"
  "test|scripts/test.sh|unit, HTTP and doc tests (cargo-nextest)|apt rust cargo repacks"
  "image|scripts/build-image.sh|musl binaries and scratch images for linux/amd64 and linux/arm64 (\$IMAGE-amd64, -arm64)|apt rust cargo cross"
  "container-test|scripts/container-test.sh|testcontainers suite against the amd64 and the arm64 image (arm64 under QEMU)|apt rust cargo emulation"
  "arm64-smoke|scripts/smoke-image.sh --platform arm64|the arm64 image read-only as uid 65532: /readyz, and /version names this commit and aarch64 (the arm64-smoke job, here under QEMU)|apt emulation"
  "monitoring|cargo xtask monitoring --plant-faults|promtool tests of every alert; every dashboard and alert expression returns series from a real Prometheus (Debian's) scraping the service under load; a renamed metric must be caught|apt rust cargo"
  "supply-chain|scripts/supply-chain.sh|cargo-deny advisories/bans/licenses/sources and cargo-audit|rust cargo"
  "scan|scripts/scan.sh|Trivy config and secret scans; SBOM and cargo audit bin per platform's image|apt cargo repacks"
  "release|scripts/release-assets.sh --build --plant-faults|the asset set a tag publishes (archives, SBOMs, SHA256SUMS, notes) in target/dist, verified as a downloader would (arm64 under QEMU); planted faults must be refused|apt rust cargo cross emulation"
  "image-vuln|scripts/scan.sh vuln|Trivy vulnerability scan of the image (needs Trivy's online database)|apt repacks"
  "deploy|scripts/deploy-stage.sh|deploy to kind and check a rolling update drops no request|apt cross repacks"
  "deploy-host|scripts/deploy-host-stage.sh|blue-green, canary and rollback behind nginx (Debian's) under load: 0 failed requests; planted faults must lose some|apt rust cargo cross"
  "gates|scripts/gates.sh|plants one violation per gate in a copy of the repo; each gate must fail|apt rust cargo python repacks api-test"
  "rename-test|cargo nextest run --locked --test rename --run-ignored only --no-fail-fast|renames a copy of the repo with scripts/rename.sh (cargo xtask rename); the copy must build and pass its tests|apt rust cargo"
  "reliability|scripts/reliability.sh --soak \$SOAK_SECONDS --debug|shutdown under load, a soak at saturation, hostile input over raw sockets (tests/reliability/), then the API contract (schemathesis)|apt rust cargo api-test"
  "fuzz|scripts/fuzz.sh --time \$FUZZ_SECONDS|bounded cargo-fuzz run of the slug and request-body targets (nightly)|apt cargo"
)
# The time boxes of the stages that run for a set time rather than to the end
# of a fixed amount of work. --quick shortens them for a rerun during the day;
# CI never does (it refuses --quick), so every pull request gets the full boxes.
FULL_TIME_BOXES=(SOAK_SECONDS=20 FUZZ_SECONDS=30)
QUICK_TIME_BOXES=(SOAK_SECONDS=15 FUZZ_SECONDS=5)
# The parts that install system packages or change the kernel's binfmt table:
# ci.sh never runs them itself, it names the command that does.
ROOT_PARTS=(apt emulation)

stage_field() { # stage_field LINE N: the Nth |-separated field of a STAGES line
  local IFS='|' fields
  read -r -a fields <<<"$1"
  printf '%s' "${fields[$2]}"
}

usage() {
  cat <<'EOF'
Usage: scripts/ci.sh [--only STAGE...] [--skip STAGE...] [--fail-fast] [--quick]
                     [--no-install] [--list] [--help]

Runs the pipeline stages in order and prints a summary: stage | result | seconds.
Exit status is non-zero when any stage FAILED. A stage that cannot run on this
machine is SKIPPED with its reason (never reported as passed).

First it installs the pinned tools the selected stages need that are missing
(scripts/install-tools.sh; idempotent, seconds when all are present). System
packages and arm64 emulation need root: when they are missing it stops and
prints the one command that installs them.

Options:
  --only STAGE...  run only these stages (in pipeline order)
  --skip STAGE...  run every stage except these
  --fail-fast      stop after the first failed stage
  --quick          shorter time boxes (below) for a rerun during the day; every
                   check still runs. Refused in CI, which runs the full ones.
  --no-install     install nothing: stop with the list of what is missing
  --list           print the stage names and exit
  -h, --help       this help

Each stage's output is streamed and also saved to target/ci-logs/<stage>.log.
Environment: ADVISORY_DB=<git checkout or bundle> runs the supply-chain and scan
stages against that advisory database snapshot instead of fetching it;
IMAGE (default payload:local) names the image under test.

EOF
  printf 'Time boxes: %s; with --quick: %s\n\nStages:\n' "${FULL_TIME_BOXES[*]}" "${QUICK_TIME_BOXES[*]}"
  local line
  for line in "${STAGES[@]}"; do
    printf '  %-15s %s\n' "$(stage_field "$line" 0)" "$(stage_field "$line" 2)"
  done
}

is_stage() {
  local line
  for line in "${STAGES[@]}"; do
    [[ "$(stage_field "$line" 0)" == "$1" ]] && return 0
  done
  return 1
}

only=() skip=() fail_fast=0 install=1 quick=0 mode=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --list)
      for line in "${STAGES[@]}"; do stage_field "$line" 0; echo; done
      exit 0
      ;;
    --only | --skip) mode="${1#--}" ;;
    --fail-fast) fail_fast=1 ;;
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *)
      [[ -n "$mode" ]] || { usage >&2; die "'$1': put stage names after --only or --skip"; }
      is_stage "$1" || die "unknown stage '$1' (scripts/ci.sh --list shows the stages)"
      if [[ "$mode" == only ]]; then only+=("$1"); else skip+=("$1"); fi
      ;;
  esac
  shift
done
[[ -z "$mode" || ${#only[@]} -gt 0 || ${#skip[@]} -gt 0 ]] || die "--$mode needs at least one stage name"
if ((quick)); then
  [[ -z "${CI:-}" ]] || die "--quick shortens the fuzz and soak time boxes; CI runs the full ones (unset CI to use it on your machine)"
  export "${QUICK_TIME_BOXES[@]}"
else
  export "${FULL_TIME_BOXES[@]}"
fi

selected() {
  local s
  if ((${#only[@]} > 0)); then
    for s in "${only[@]}"; do [[ "$s" == "$1" ]] && return 0; done
    return 1
  fi
  for s in "${skip[@]}"; do [[ "$s" == "$1" ]] && return 1; done
  return 0
}

cd "$REPO_ROOT"
LOG_DIR="$REPO_ROOT/target/ci-logs"
mkdir -p "$LOG_DIR"
# cargo and friends stop colouring output that goes through tee; keep colour
# when a person is watching.
[[ -t 1 ]] && export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}"

plan=()
for line in "${STAGES[@]}"; do
  selected "$(stage_field "$line" 0)" && plan+=("$line")
done
((${#plan[@]} > 0)) || die "no stage selected"

# The install-tools parts the selected stages need, split into the ones that
# need root and the rest.
declare -A needed=()
for line in "${plan[@]}"; do
  for part in $(stage_field "$line" 3); do needed[$part]=1; done
done
root_parts=() user_parts=()
for part in "${!needed[@]}"; do
  if [[ " ${ROOT_PARTS[*]} " == *" $part "* ]]; then root_parts+=("--only" "$part"); else user_parts+=("--only" "$part"); fi
done
tools="$REPO_ROOT/scripts/install-tools.sh"
# lacks ARGS...: true, after listing what is missing, when install-tools.sh
# --check finds the selected parts incomplete.
lacks() {
  "$tools" --check "$@" 2>"$LOG_DIR/tools-check.log" && return 1
  grep '^missing:' "$LOG_DIR/tools-check.log" >&2
}
if ((${#root_parts[@]} > 0)) && lacks "${root_parts[@]}"; then
  die "the selected stages need system setup that needs root; run once: sudo scripts/install-tools.sh ${root_parts[*]}"
fi
if ((${#user_parts[@]} > 0)); then
  if ((install)); then
    log "tools: installing what the selected stages need and lack (scripts/install-tools.sh ${user_parts[*]})"
    # What is already there says so in the log only; what gets installed, and
    # any error, is shown.
    set +e
    "$tools" "${user_parts[@]}" </dev/null 2>&1 | tee "$LOG_DIR/install-tools.log" |
      grep -v -e ' present' -e ' up to date' -e ' skipped (ci-only'
    rc=${PIPESTATUS[0]}
    set -e
    ((rc == 0)) || die "installing the pinned tools failed (above; log: target/ci-logs/install-tools.log)"
  elif lacks "${user_parts[@]}"; then
    die "--no-install: the selected stages need the tools listed above; install them with: scripts/install-tools.sh ${user_parts[*]}"
  fi
fi

names=() results=() seconds=()
passed=0 failed=0 skipped=0 total_start=$SECONDS
for i in "${!plan[@]}"; do
  name="$(stage_field "${plan[$i]}" 0)"
  cmd="$(stage_field "${plan[$i]}" 1)"
  log_file="$LOG_DIR/$name.log"
  [[ "${GITHUB_ACTIONS:-}" == true ]] && echo "::group::$name"
  printf '\n>>> [%d/%d] %s: %s  (started %s, log: %s)\n' $((i + 1)) ${#plan[@]} \
    "$name" "$cmd" "$(date +%H:%M:%S)" "${log_file#"$REPO_ROOT"/}"
  start=$SECONDS
  # No stdin: a stage must never wait for input (CI has none either).
  set +e
  bash -c "$cmd" </dev/null 2>&1 | tee "$log_file"
  rc=${PIPESTATUS[0]}
  set -e
  elapsed=$((SECONDS - start))
  reason="$(sed -n 's/^SKIPPED: //p' "$log_file" | tail -n1)"
  if ((rc == 0)); then
    result=PASSED passed=$((passed + 1))
  elif ((rc == 3)) && [[ -n "$reason" ]]; then
    result="SKIPPED ($reason)" skipped=$((skipped + 1))
  else
    result="FAILED (exit $rc)" failed=$((failed + 1))
  fi
  [[ "${GITHUB_ACTIONS:-}" == true ]] && echo "::endgroup::"
  printf '<<< %s: %s in %ds\n' "$name" "$result" "$elapsed"
  names+=("$name") results+=("$result") seconds+=("$elapsed")
  if ((fail_fast)) && [[ "$result" == FAILED* ]]; then
    log "--fail-fast: stopping after the first failed stage"
    break
  fi
done

# A failed stage's last lines again, at the end of the run, where a reader of
# a long CI log (or of only its tail) looks first.
for i in "${!names[@]}"; do
  [[ "${results[$i]}" == FAILED* ]] || continue
  printf '\n--- %s failed; its last 40 lines (all: target/ci-logs/%s.log) ---\n' "${names[$i]}" "${names[$i]}"
  tail -n 40 "$LOG_DIR/${names[$i]}.log"
done

# Summary table, sized to the longest result (skip reasons can be long).
width=6
for r in "${results[@]}"; do ((${#r} > width)) && width=${#r}; done
printf '\n%-15s | %-*s | %7s\n' stage "$width" result seconds
printf '%s\n' "$(printf '%*s' $((15 + width + 13)) '' | tr ' ' -)"
for i in "${!names[@]}"; do
  printf '%-15s | %-*s | %7d\n' "${names[$i]}" "$width" "${results[$i]}" "${seconds[$i]}"
done
{
  echo "| stage | result | seconds |"
  echo "|---|---|---:|"
  for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} | ${seconds[$i]} |"; done
} | step_summary
printf '\n%d passed, %d failed, %d skipped (stages), %ds in total; logs in target/ci-logs/\n' \
  "$passed" "$failed" "$skipped" $((SECONDS - total_start))
((quick)) && log "--quick: time boxes ${QUICK_TIME_BOXES[*]} (CI runs ${FULL_TIME_BOXES[*]})"
((failed == 0))
