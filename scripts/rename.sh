#!/usr/bin/env bash
# Renames the service everywhere: `cargo xtask rename` (xtask/src/rename/) does it; --help says how.
exec cargo xtask rename "$@"
