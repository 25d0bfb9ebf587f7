#!/usr/bin/env bash
# fuzz stage: libFuzzer (through cargo-fuzz) feeds generated input to the
# slug rules and to the request-body validation for a bounded time each.
# Unit and property tests cover the cases someone thought of; coverage-guided
# fuzzing finds the ones nobody did. It needs a nightly toolchain for the
# sanitizer flags; the service itself stays on stable.
set -euo pipefail

TARGETS=(slugify request_body)

usage() {
  cat <<'EOF'
Usage: scripts/fuzz.sh [--time SECONDS] [TARGET...]

Builds the fuzz targets in fuzz/ (cargo +<nightly> fuzz build: optimised, with
debug assertions and AddressSanitizer), seeds a small corpus, and runs each
target for a bounded time with libFuzzer. Prints runs, speed and coverage per
target; exits non-zero on a crash.

  --time SECONDS   how long each target runs (default 30)
  TARGET           slugify, request_body (default: all)

Needs: the nightly of fuzz/rust-toolchain.toml (scripts/install-tools.sh --only cargo),
cargo-fuzz (pinned in scripts/tools/cargo-tools.txt; scripts/install-tools.sh
installs it) and a C++ compiler (libFuzzer is C++; Debian: apt-get install g++).

A crash leaves its input in fuzz/artifacts/TARGET/; the script prints the
command that replays it. Fix the bug and keep the input as a regression test.
Long runs and corpus handling: docs/reliability.md, section "Fuzzing".
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

seconds=30 targets=()
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --time)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--time needs a whole number of seconds, got '${2:-}'"
      seconds="$2"
      shift
      ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *)
      [[ " ${TARGETS[*]} " == *" $1 "* ]] || die "unknown fuzz target '$1'; the targets are: ${TARGETS[*]}"
      targets+=("$1")
      ;;
  esac
  shift
done
((${#targets[@]} > 0)) || targets=("${TARGETS[@]}")

require_tool rustup "Install Rust with rustup (https://rustup.rs); fuzzing needs its nightly toolchain."
nightly="$(fuzz_toolchain)"
rustup toolchain list | grep -q "^$nightly-" ||
  die "the toolchain $nightly (fuzz/rust-toolchain.toml) is not installed: cargo-fuzz needs a nightly for the sanitizer flags. Run scripts/install-tools.sh --only cargo"
cargo "+$nightly" fuzz --version >/dev/null 2>&1 ||
  die "cargo-fuzz is not installed. Run scripts/install-tools.sh (it installs the version pinned in scripts/tools/cargo-tools.txt)."
require_tool c++ "libFuzzer is compiled from C++: install a C++ compiler (Debian: apt-get install g++)."
cd "$REPO_ROOT"

# A few valid and invalid inputs give the fuzzer a head start. They are
# written at run time into fuzz/corpus/ (git-ignored), where libFuzzer also
# keeps the inputs it finds, so a later run resumes from a richer corpus.
seed() { # seed TARGET NAME CONTENT
  mkdir -p "fuzz/corpus/$1"
  printf '%s' "$3" >"fuzz/corpus/$1/seed-$2"
}
# slugify input: first line max_len (anything else: not given), then the text.
seed slugify hello $'64\nHello, World!'
seed slugify cut $'5\nabc def'
seed slugify default $'\nStraße in Köln'
seed slugify scripts $'256\n北京 Москва Ελληνικά 😀'
seed slugify zero $'0\nx'
seed slugify negative $'-1\n!!!'
seed slugify dashes $'1\n  --  a__b  '
seed request_body ok '{"text": "Hello, World!"}'
seed request_body max-len '{"text": "Crème brûlée: a recipe", "max_len": 12}'
seed request_body no-letters '{"text": "!!!"}'
seed request_body zero '{"text": "a", "max_len": 0}'
seed request_body min '{"text": "a", "max_len": -9223372036854775808}'
seed request_body wrong-type '{"text": 5}'
seed request_body unknown-field '{"text": "a", "colour": "red"}'
seed request_body array '[1, 2]'
seed request_body escapes '{"text": "\ud83d\ude00 caf\u00e9 \ud800"}'
seed request_body nested '{"text": [[[[[[[[{"a": null}]]]]]]]]}'
seed request_body empty '{}'
seed request_body not-json 'text=hello'

# The targets fuzz the versions the service ships: fuzz/ is a workspace of its
# own, so its lock file starts as a copy of Cargo.lock, and cargo drops what
# fuzz/ does not use and adds libFuzzer's crates. It is not committed: a
# second lock file would only go stale each time Cargo.lock moves.
cp Cargo.lock fuzz/Cargo.lock
log "building the fuzz targets (nightly, AddressSanitizer; cold: a few minutes)"
start=$SECONDS
cargo "+$nightly" fuzz build
log "built in $((SECONDS - start)) s"

final_stat() { # final_stat NAME FILE: a `stat::NAME: N` line of -print_final_stats
  sed -nE "s/^stat::$1: *([0-9]+).*/\\1/p" "$2" | tail -n1
}

logs="$REPO_ROOT/target/fuzz"
mkdir -p "$logs"
summary=() failed=()
for target in "${targets[@]}"; do
  output="$logs/$target.log"
  log "fuzzing $target for ${seconds} s (libFuzzer's output: $output)"
  stamp="$(mktemp)"
  rc=0
  # -timeout: one input taking over 10 s counts as a hang, a finding too.
  cargo "+$nightly" fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$output" 2>&1 || rc=$?
  # Figures: libFuzzer's final stats, and coverage (edges) and corpus size
  # from its last status line (`#RUNS DONE cov: N ft: N corp: N/SIZE ...`).
  runs="$(final_stat number_of_executed_units "$output")"
  speed="$(final_stat average_exec_per_sec "$output")"
  rss="$(final_stat peak_rss_mb "$output")"
  last="$(grep -aE '^#[0-9]+[[:space:]]' "$output" | tail -n1 || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")"
  corp="$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")"
  if ((rc == 0)); then
    result=passed
  else
    result=FAILED
    failed+=("$target")
    tail -n 40 "$output" >&2
    artifact="$(find "fuzz/artifacts/$target" -type f -newer "$stamp" 2>/dev/null | head -n1 || true)"
    warn "$target: failed (exit code $rc)${artifact:+; the failing input is $artifact}"
    [[ -z "$artifact" ]] ||
      warn "replay it with: cargo +$nightly fuzz run $target $artifact ; then fix the bug and turn the input into a regression test (docs/reliability.md, Fuzzing)"
  fi
  summary+=("$(printf '%-14s %-7s %12s %9s %6s %7s %8s' "$target" "$result" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${corp:-?}" "${rss:-?}")")
  rm -f "$stamp"
done

printf '\n%-14s %-7s %12s %9s %6s %7s %8s\n' target result runs exec/s cov corpus "peak MB"
printf '%s\n' "${summary[@]}"
((${#failed[@]} == 0)) || die "fuzzing found failing inputs in: ${failed[*]}"
log "fuzz: no crash in ${seconds} s per target"
