#!/usr/bin/env bash
# The noise-free half of the benchmark: user-space instructions per request,
# counted by valgrind (callgrind) rather than timed. On a shared VM the CPU
# time per request that scripts/bench.sh reports moves by 20% from one run to
# the next; an instruction count does not move at all for the same binary and
# inputs, so it shows what a code change costs, even by a few hundred
# instructions. It leaves out the kernel (the TCP stack, write(2) of log
# lines), which scripts/bench.sh does measure.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench-instructions.sh [--requests N] [--binary PATH]

Builds the release binary and the framework floor (examples/bench_floor.rs),
then for GET /healthz and POST /api/v1/slugify counts the user-space
instructions each of them executes per request:
  - floor: the same handlers and accept loop, no middleware, no log;
  - the service with RUST_LOG=warn: the whole middleware stack, no access log;
  - the service in its default configuration (JSON access log at info).
Each server runs under valgrind --tool=callgrind twice, once for a small and
once for a large number of requests (sent by ab over 8 keep-alive
connections); the difference divided by the difference in requests removes
start-up and shutdown from the figure. Prints a Markdown table.

Options:
  --requests N   requests in the large run (default 10000; the small run is N/5)
  --binary PATH  count this service binary instead of the cargo build for this
                 host (glibc), e.g. the musl binary that ships:
                 dist/linux/amd64/payload
  -h, --help     this text

Needs: cargo, valgrind, ab and curl.
  Debian/Ubuntu: apt-get install -y valgrind apache2-utils curl
Takes about 3 minutes after the build (valgrind runs the server ~50x slower).
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

requests=10000 service_binary=""
while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --requests)
      (($# >= 2)) || die "--requests needs a value, e.g. --requests 10000"
      [[ "$2" =~ ^[1-9][0-9]{3,6}$ ]] || die "--requests must be a whole number from 1000 to 9999999, got '$2'"
      requests="$2"
      shift
      ;;
    --binary)
      (($# >= 2)) || die "--binary needs a path, e.g. --binary dist/linux/amd64/payload"
      service_binary="$2"
      shift
      ;;
    *) usage >&2; die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
small=$((requests / 5))

install_hint="Debian/Ubuntu: apt-get install -y valgrind apache2-utils curl; this benchmark is not part of CI."
require_tool cargo "Install Rust with rustup (https://rustup.rs)."
require_tool valgrind "$install_hint"
require_tool ab "$install_hint"
require_tool curl "$install_hint"

cd "$REPO_ROOT"
build_bench_binaries
[[ -z "$service_binary" ]] || use_service_binary "$service_binary"

work="$(mktemp -d "${TMPDIR:-/tmp}/$crate-instructions.XXXXXX")"
server_pid=""
cleanup() {
  [[ -z "$server_pid" ]] || kill -KILL "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
printf '%s' '{"text":"Crème brûlée: a recipe for 4, ready in 45 minutes!","max_len":64}' >"$work/body.json"
port=18765

# instructions BINARY RUST_LOG ENDPOINT REQUESTS: total instructions of one
# server run that answers REQUESTS requests, then stops on SIGTERM.
instructions() {
  local server="$1" filter="$2" endpoint="$3" n="$4" out="$work/callgrind.out"
  env -i PORT="$port" RUST_LOG="$filter" LOG_FORMAT=json SHUTDOWN_DELAY_SECONDS=0 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$server" >"$work/server.log" 2>"$work/valgrind.log" &
  server_pid=$!
  local deadline=$((SECONDS + 60))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 "$server_pid" 2>/dev/null || die "the server exited under valgrind; its log:
$(tail -n 20 "$work/server.log" "$work/valgrind.log")"
    ((SECONDS < deadline)) || die "/readyz did not answer within 60 s under valgrind"
    sleep 0.2
  done
  local -a ab_args=(-q -k -n "$n" -c 8)
  [[ "$endpoint" == healthz ]] || ab_args+=(-p "$work/body.json" -T application/json)
  ab "${ab_args[@]}" "http://127.0.0.1:$port$(path_of "$endpoint")" >"$work/ab.txt" ||
    die "ab failed: $(tail -n 5 "$work/ab.txt")"
  # Every answer must be a 2xx: an error is cheaper than a real answer.
  local failed non2xx
  failed="$(awk '/^Failed requests:/ {print $3}' "$work/ab.txt")"
  non2xx="$(awk '/^Non-2xx responses:/ {print $3}' "$work/ab.txt")"
  [[ "${failed:-0}" == 0 && "${non2xx:-0}" == 0 ]] ||
    die "ab saw ${failed:-0} failed and ${non2xx:-0} non-2xx answers from $(path_of "$endpoint")"
  kill -TERM "$server_pid"
  wait "$server_pid" || die "the server exited with an error under valgrind: $(tail -n 5 "$work/valgrind.log")"
  server_pid=""
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}
path_of() { [[ "$1" == healthz ]] && printf '/healthz' || printf '/api/v1/slugify'; }

declare -A per_request
for endpoint in healthz slugify; do
  for variant in floor warn info; do
    case "$variant" in
      floor) server="$floor_bin" filter=warn ;;
      warn) server="$bin" filter=warn ;;
      info) server="$bin" filter=info ;;
    esac
    log "$variant, $(path_of "$endpoint"): $small then $requests requests under callgrind"
    a="$(instructions "$server" "$filter" "$endpoint" "$small")"
    b="$(instructions "$server" "$filter" "$endpoint" "$requests")"
    per_request[$variant/$endpoint]=$(((b - a) / (requests - small)))
  done
done

label() {
  case "$1" in
    floor) printf '%s' "$FLOOR_LABEL" ;;
    warn) printf '%s, RUST_LOG=warn (middleware, no access log)' "$crate" ;;
    info) printf '%s, defaults: JSON access log' "$crate" ;;
  esac
}
printf '\n- commit %s, %s, valgrind %s; service binary %s\n\n' "$(git_sha | cut -c1-12)" "$(rustc -V | cut -d' ' -f1-2)" "$(valgrind --version | sed 's/^valgrind-//')" "${bin#"$REPO_ROOT"/}"
printf '| server | GET /healthz instructions/request | POST /api/v1/slugify instructions/request |\n|---|---:|---:|\n'
for variant in floor warn info; do
  printf '| %s | %s | %s |\n' "$(label "$variant")" "${per_request[$variant/healthz]}" "${per_request[$variant/slugify]}"
done
