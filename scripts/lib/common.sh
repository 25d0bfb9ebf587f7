# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; do not run it.
#
# It only glues tools together: where the pinned tools live, how to say what is
# missing, and how to print a step. Logic that needs tests belongs in Rust.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# Python tools live in venvs outside the repository so a laptop's global
# Python is left alone and `git clean` never has to rebuild them.
TOOLS_HOME="${PAYLOAD_TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/payload-ci}"
export TOOLS_HOME
# The official Go builds come first, so where both exist (a machine with Go
# and the repacks) the official actionlint is the one that runs.
case ":$PATH:" in
  *":$TOOLS_HOME/venv/bin:"*) ;;
  *) PATH="$TOOLS_HOME/go/bin:$TOOLS_HOME/venv/bin:$TOOLS_HOME/repacks/bin:$TOOLS_HOME/checkov/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
esac
export PATH

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# no_arguments "$@": the argument handling of a script that takes none:
# --help prints the script's `usage`, anything else is refused with it.
no_arguments() {
  case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
}

# expect_arguments N WHAT "$@": the argument handling of a script that takes
# N positional arguments: --help prints the script's `usage`; another count is
# refused with it, saying what was expected (WHAT).
expect_arguments() {
  local count="$1" what="$2"
  shift 2
  case "${1:-}" in
    -h | --help) usage; exit 0 ;;
  esac
  (($# == count)) || { usage >&2; die "expected $what"; }
}

# option_value "$@": the value of the option at the head of the arguments,
# written `--name VALUE` or `--name=VALUE`. The caller shifts once more for
# the first form: `[[ "$1" == *=* ]] || shift`.
option_value() {
  if [[ "$1" == *=* ]]; then
    printf '%s\n' "${1#*=}"
  elif (($# >= 2)); then
    printf '%s\n' "$2"
  else
    die "$1 needs a value (see --help)"
  fi
}

# require_tool NAME HINT: fail with an install hint when NAME is not on PATH.
require_tool() {
  command -v "$1" >/dev/null 2>&1 ||
    die "'$1' is not installed. ${2:-Run scripts/install-tools.sh.}"
}

# require_nextest: cargo and cargo-nextest, or a message naming the install.
require_nextest() {
  require_tool cargo "Install Rust with rustup (https://rustup.rs)."
  cargo nextest --version >/dev/null 2>&1 ||
    die "cargo-nextest is not installed: scripts/install-tools.sh --only cargo"
}

# nextest_passthrough "$@": the argument handling of a script that wraps one
# nextest run and takes only `-- EXTRA NEXTEST ARGS`, which it leaves in
# NEXTEST_EXTRA; --help prints the script's `usage`.
# shellcheck disable=SC2034 # NEXTEST_EXTRA is read by the calling script
nextest_passthrough() {
  NEXTEST_EXTRA=()
  case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    --) shift; NEXTEST_EXTRA=("$@") ;;
    "") ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
}

# docker_engine_up: true when a Docker engine answers.
docker_engine_up() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# git_sha: the commit being built; CI passes GITHUB_SHA, a laptop asks git.
git_sha() {
  if [[ -n "${GIT_SHA:-}" ]]; then
    printf '%s\n' "$GIT_SHA"
  elif [[ -n "${GITHUB_SHA:-}" ]]; then
    printf '%s\n' "$GITHUB_SHA"
  else
    # --verify --quiet: a repository without commits prints nothing, not "HEAD".
    git -C "$REPO_ROOT" rev-parse --verify --quiet HEAD 2>/dev/null || printf 'unknown\n'
  fi
}

# parent_sha: the commit before HEAD, whose build the rollout test rolls from.
# A repository's first commit has none: its tree's SHA stands in, since what
# the rollout needs is a second /version. Needs a checkout of depth 2 or more.
parent_sha() {
  git -C "$REPO_ROOT" rev-parse --verify --quiet 'HEAD~1' || git -C "$REPO_ROOT" rev-parse 'HEAD^{tree}'
}

# ensure_rust_toolchain: the toolchain rust-toolchain.toml names, which
# builds the repository's tooling (cargo xtask). rustup installs it on first
# use only where RUSTUP_AUTO_INSTALL allows, so a fresh machine needs this.
ensure_rust_toolchain() {
  require_tool rustup "Install Rust with rustup (https://rustup.rs): the pipeline's tooling is cargo xtask."
  local channel
  channel="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$REPO_ROOT/rust-toolchain.toml")"
  if ! rustup toolchain list | grep -q "^$channel-"; then
    log "rustup: installing toolchain $channel (rust-toolchain.toml)"
    (cd "$REPO_ROOT" && rustup toolchain install </dev/null)
  fi
}

# image_revision_problem IMAGE: print why IMAGE is not this commit's build
# (its org.opencontainers.image.revision label, set by scripts/build-image.sh
# and the image job, is another commit's), or nothing when it is. A leftover
# image from an earlier build must not pass for a build that failed.
image_revision_problem() {
  local revision sha
  revision="$(docker image inspect --format '{{ index .Config.Labels "org.opencontainers.image.revision" }}' "$1" 2>/dev/null)"
  sha="$(git_sha)"
  [[ "$revision" == "$sha" ]] ||
    printf 'image %s was built from %s, not from this commit (%s): rebuild it with scripts/build-image.sh\n' \
      "$1" "${revision:-an unlabelled tree}" "$sha"
}

# crate_name: the [package] name in Cargo.toml (not a [[bin]] or other name).
crate_name() {
  sed -n '/^\[package\]/,/^\[/ s/^name *= *"\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1
}

# crate_version: the package version from Cargo.toml.
crate_version() {
  sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1
}

# ---------------------------------------------------------------------------
# Stage helpers shared by the stage scripts that run several checks.
#
# A stage runs every one of its checks even after one fails, so a single run
# shows every problem; it fails at the end, naming the checks that failed.

FAILED_CHECKS=()
CHECK_ROWS=() # "| name | result | seconds |", for the job summary

# step_summary: append standard input to the GitHub job's summary page when
# there is one ($GITHUB_STEP_SUMMARY), so each stage script reports itself
# and no workflow step has to parse its output; elsewhere it is discarded.
step_summary() {
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then cat >>"$GITHUB_STEP_SUMMARY"; else cat >/dev/null; fi
}

# check NAME COMMAND...: run one check of a stage, print its name and command,
# and record a failure instead of exiting. COMMAND should be a program, not a
# shell function (errexit does not apply inside a condition).
check() {
  local name="$1" start=$SECONDS rc=0 result
  shift
  printf -- '--> %s: %s\n' "$name" "$*" >&2
  "$@" || rc=$?
  if ((rc == 0)); then
    result=ok
    printf -- '--> %s: ok (%ds)\n' "$name" $((SECONDS - start)) >&2
  else
    result="FAILED (exit $rc)"
    printf -- '--> %s: FAILED with exit code %d (%ds)\n' "$name" "$rc" $((SECONDS - start)) >&2
    FAILED_CHECKS+=("$name")
  fi
  CHECK_ROWS+=("| ${name//|/\\|} | $result | $((SECONDS - start)) |")
}

# finish_checks STAGE: exit 1 naming the failed checks, or report success;
# either way the checks' table goes to the job summary.
finish_checks() {
  if ((${#CHECK_ROWS[@]} > 0)); then
    printf '### %s\n\n| check | result | seconds |\n|---|---|---:|\n' "$1"
    printf '%s\n' "${CHECK_ROWS[@]}"
    echo
  fi | step_summary
  if ((${#FAILED_CHECKS[@]} > 0)); then
    local list
    list="$(printf '%s, ' "${FAILED_CHECKS[@]}")"
    die "$1: ${#FAILED_CHECKS[@]} check(s) failed: ${list%, } (their output is above)"
  fi
  log "$1: all checks passed"
}

# skip_stage REASON: the contract with scripts/ci.sh for "this stage cannot run
# on this machine": one line `SKIPPED: <reason>` and exit code 3. ci.sh reports
# it as SKIPPED, never as PASSED.
skip_stage() {
  printf 'SKIPPED: %s\n' "$*"
  printf '**SKIPPED:** %s\n\n' "$*" | step_summary
  exit 3
}

# ---------------------------------------------------------------------------
# The RustSec advisory database, read by cargo-deny and cargo-audit in the
# supply-chain and scan stages.

# cargo-deny names each database folder after its URL; this is the folder for
# the default RustSec URL, so an offline copy there is found without a custom
# URL in deny.toml.
ADVISORY_DBS="$REPO_ROOT/target/advisory-dbs"
ADVISORY_DB_DIR="$ADVISORY_DBS/advisory-db-3157b0e258782691"

# advisory_db_checkout: when ADVISORY_DB names a RustSec advisory database
# (a git checkout or a git bundle), clone it into ADVISORY_DB_DIR and print
# that path; print nothing when ADVISORY_DB is unset (the tools then fetch the
# live database).
# A relative ADVISORY_DB is taken relative to the repository root, which is
# where scripts/ci.sh and .ci/run run from.
advisory_db_checkout() {
  local dest="$ADVISORY_DB_DIR" src="${ADVISORY_DB:-}" head
  [[ -n "$src" ]] || return 0
  [[ "$src" == /* ]] || src="$REPO_ROOT/$src"
  [[ -e "$src" ]] || die "ADVISORY_DB=$ADVISORY_DB does not exist (resolved to $src). Point it at a git checkout or bundle of the RustSec advisory-db, or unset it to fetch the live database."
  src="$(cd "$(dirname "$src")" && pwd)/$(basename "$src")"
  head="$(git ls-remote "$src" HEAD 2>/dev/null | cut -f1)"
  [[ -n "$head" ]] || die "ADVISORY_DB=$src is neither a git checkout nor a git bundle."
  # Re-clone only when the source moved, so warm runs cost nothing.
  if [[ "$(git -C "$dest" rev-parse HEAD 2>/dev/null)" != "$head" ]]; then
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    git -c init.defaultBranch=main clone --quiet "$src" "$dest" || die "could not clone the advisory database from $src"
  fi
  local committed age_days
  committed="$(git -C "$dest" log -1 --format=%cs)"
  age_days=$((($(date +%s) - $(git -C "$dest" log -1 --format=%ct)) / 86400))
  log "advisory database: offline snapshot $src (commit ${head:0:12}, $committed, $age_days days old)"
  # The tools refuse a database older than 90 days when they fetch it; a
  # snapshot bypasses that, so at least say so loudly.
  ((age_days <= 90)) ||
    warn "the advisory snapshot is $age_days days old: advisories published since $committed are not checked. Refresh it, or run online (unset ADVISORY_DB)."
  printf '%s\n' "$dest"
}

# advisory_db_unreachable: when ADVISORY_DB is unset and the live RustSec
# database cannot be fetched (a machine without access to GitHub), print the
# reason the advisory checks are skipped; print nothing when they can run. On
# GitHub Actions the database is always reachable, so there nothing is printed
# and a failed fetch fails the check.
advisory_db_unreachable() {
  [[ -z "${ADVISORY_DB:-}" && "${GITHUB_ACTIONS:-}" != true ]] || return 0
  (cd "$REPO_ROOT" && timeout 120 cargo deny fetch db >/dev/null 2>&1) && return 0
  printf '%s\n' "advisories not checked: the RustSec database cannot be fetched from here and ADVISORY_DB is unset (point it at a git checkout or bundle of the advisory-db)"
}

# cargo_audit_command DB: set CARGO_AUDIT to the cargo-audit command line: the
# offline database DB (from advisory_db_checkout; empty: fetch the live one),
# and the advisories deny.toml accepts (each with its reason there), since
# cargo-audit has no ignore list of its own here.
cargo_audit_command() {
  local id
  CARGO_AUDIT=(cargo audit)
  [[ -z "$1" ]] || CARGO_AUDIT+=(--db "$1" --no-fetch)
  [[ -f "$REPO_ROOT/deny.toml" ]] || die "deny.toml is missing at the repository root; it holds the advisory policy."
  while read -r id; do CARGO_AUDIT+=(--ignore "$id"); done < <(
    sed -n '/^\[advisories\]/,/^\[/p' "$REPO_ROOT/deny.toml" | grep -v '^[[:space:]]*#' |
      grep -o 'RUSTSEC-[0-9]\{4\}-[0-9]\{4\}' | sort -u
  )
}
