#!/usr/bin/env bash
# Blue-green and canary deploys to one Docker host behind nginx, with automatic rollback: `cargo xtask deploy-host` (xtask/src/deploy_host/) does it; --help says how.
exec cargo xtask deploy-host "$@"
