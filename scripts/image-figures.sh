#!/usr/bin/env bash
# Measures the figures the image is held to and prints them as a markdown
# table for docs/performance.md: size, start-up time, and how long a rebuild
# takes after a one-file change. A script rather than a test: timings depend
# on the machine, so they are recorded, not asserted.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/image-figures.sh [--skip-rebuild]

Builds ${IMAGE:-payload:local} with scripts/build-image.sh, then prints:
  - the image size as `docker image inspect` reports it (target: at most 6 MB)
  - the median time from `docker run` to the first 200 from /readyz over RUNS
    runs (default 10; target: under 150 ms), with the container hardened as
    in production (--read-only, --cap-drop ALL)
  - the time of scripts/build-image.sh after touching one source file
    (its mtime only; the content is unchanged); --skip-rebuild leaves it out
Environment: IMAGE, RUNS (as above), and those of scripts/build-image.sh.
Nothing is written to the repository except build outputs (target/, dist/).
EOF
}

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

measure_rebuild=1
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --skip-rebuild) measure_rebuild=0 ;;
    *) usage >&2; die "unknown argument '$arg'" ;;
  esac
done

IMAGE="${IMAGE:-payload:local}"
RUNS="${RUNS:-10}"
TOUCHED="src/lib.rs"
export IMAGE

require_tool docker "Install Docker (Debian: apt-get install docker.io)."
require_tool curl "Install curl (Debian: apt-get install curl)."
docker_engine_up || die "no Docker engine answers ('docker info' failed); start one and retry."
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive whole number, got '$RUNS'"

now_ns() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

cd "$REPO_ROOT"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
build_log="$(mktemp)"
container=""
cleanup() {
  [[ -n "$container" ]] && docker rm -f "$container" >/dev/null 2>&1
  rm -f "$build_log"
}
trap cleanup EXIT
build_quietly() {
  "$REPO_ROOT/scripts/build-image.sh" >"$build_log" 2>&1 ||
    { tail -n 40 "$build_log" >&2; die "scripts/build-image.sh failed (last lines above)"; }
}

# A warm build first, so the timed rebuilds below are the incremental case.
log "building $IMAGE"
build_quietly
# With nothing changed: what packaging costs (cargo has nothing to do).
start=$(now_ns)
build_quietly
noop="$(awk -v ns=$(($(now_ns) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }') s"

size=$(docker image inspect --format '{{.Size}}' "$IMAGE")

# A free loopback port, fixed for all runs, so no `docker port` call sits
# between `docker run` and the first request.
port=""
for candidate in $(seq 18080 18180); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[[ -n "$port" ]] || die "no free port in 18080-18180 on 127.0.0.1"

# startup_runs DOCKER_RUN_ARGS...: RUNS times, start a hardened container and
# poll /readyz on $port; prints "total_ms service_ms" per run.
startup_runs() {
  local i start started ready
  for i in $(seq 1 "$RUNS"); do
    container="payload-figures-$$-$i"
    start=$(now_ns)
    # `docker run --detach` returns once the engine has started the process.
    # Polling only then, not during the engine's network set-up: a connection
    # attempt made while the port proxy has no route yet stalls for a SYN
    # retransmit (1 s) and would be measured as start-up time.
    docker run --detach --rm --name "$container" --read-only --cap-drop ALL \
      --security-opt no-new-privileges "$@" "$IMAGE" >/dev/null ||
      die "run $i: docker run failed"
    started=$(now_ns)
    until curl --silent --fail --output /dev/null --max-time 1 "http://127.0.0.1:$port/readyz"; do
      (($(now_ns) - start < 10000000000)) || die "run $i: no 200 from /readyz within 10 s"
      sleep 0.002
    done
    ready=$(now_ns)
    printf '%d %d\n' $(((ready - start) / 1000000)) $(((ready - started) / 1000000))
    docker rm -f "$container" >/dev/null
    container=""
  done
}
# summary < "total service" lines: "median ms (min a, max b)" and the
# median of the service's share.
summary() {
  local runs
  runs="$(cat)"
  printf '%s ms (min %s, max %s) | %s ms' \
    "$(cut -d' ' -f1 <<<"$runs" | median)" "$(cut -d' ' -f1 <<<"$runs" | sort -n | head -n1)" \
    "$(cut -d' ' -f1 <<<"$runs" | sort -n | tail -n1)" "$(cut -d' ' -f2 <<<"$runs" | median)"
}

log "$RUNS starts with a published port (bridge network)"
bridge="$(startup_runs --publish "127.0.0.1:$port:8080" | summary)"
# In Kubernetes the pod's network exists before its container starts, so
# the bridge set-up above is not on the start path there; host networking
# shows the start-up without it.
log "$RUNS starts on the host network"
host="$(startup_runs --network host --env "PORT=$port" | summary)"

rebuild="not measured (--skip-rebuild)"
if ((measure_rebuild)); then
  log "touching $TOUCHED and rebuilding"
  touch "$TOUCHED"
  start=$(now_ns)
  build_quietly
  rebuild="$(awk -v ns=$(($(now_ns) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }') s"
fi

engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)
cat <<EOF

Measured $(date -u +%Y-%m-%d) on $(nproc) cores (load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)), Docker engine $engine, image $IMAGE ($(docker image inspect --format '{{.Architecture}}' "$IMAGE")).

| figure | measured | of which after \`docker run\` returned | target |
|---|---|---|---|
| image size (\`docker image inspect\`) | $(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1e6 }') MB ($size bytes) | | at most 6 MB |
| \`docker run\` to first 200 from \`/readyz\`, published port, median of $RUNS | $bridge | under 150 ms |
| the same on the host network (no bridge set-up), median of $RUNS | $host | |
| \`scripts/build-image.sh\` with nothing changed | $noop | | |
| \`scripts/build-image.sh\` after touching \`$TOUCHED\` | $rebuild | | |
EOF
