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
