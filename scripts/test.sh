#!/usr/bin/env bash
# The whole test suite, as the README gives it and CI runs it: starts the
# real peers (statsd, rsyslog, a ZeroMQ SUB; installed if missing), then runs
# every test of the workspace, including the peer tests that plain
# `cargo test` leaves ignored. Peers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh
trap peers_stop EXIT
peers_start
cargo test --workspace --all-features "$@" -- --include-ignored
