#!/usr/bin/env bash
# Performance figures: `cargo xtask bench throughput|instructions|image` (xtask/src/bench/); --help says how.
exec cargo xtask bench "$@"
