# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# What scripts/bench.sh and scripts/bench-instructions.sh share: the two
# release binaries they measure and the name of the floor's row. Source it
# after common.sh.

FLOOR_LABEL='floor: same handlers and accept loop, no middleware, no log'

# build_bench_binaries: release builds of the service and of the framework
# floor (examples/bench_floor.rs); sets `crate`, `bin` (the service) and
# `floor_bin`.
build_bench_binaries() {
  crate="$(crate_name)"
  log "building the release binary and the framework floor (examples/bench_floor.rs)"
  (cd "$REPO_ROOT" && cargo build --release --locked --bin "$crate" --example bench_floor)
  local release="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release" built
  bin="$release/$crate"
  floor_bin="$release/examples/bench_floor"
  for built in "$bin" "$floor_bin"; do
    [[ -x "$built" ]] || die "cargo build succeeded but $built is missing; is CARGO_TARGET_DIR set to something else than the build used?"
  done
}

# use_service_binary PATH: measure PATH as the service (`--binary`), e.g.
# dist/linux/amd64/payload, the musl binary that ships, instead of the
# cargo-built one for this host (glibc); the floor stays the cargo build.
# Call after build_bench_binaries.
use_service_binary() {
  [[ -f "$1" && -x "$1" ]] ||
    die "--binary $1 is not an executable file (build the musl one with scripts/build-binary.sh)"
  bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  log "the service rows measure $bin"
}
