#!/usr/bin/env bash
# The whole test suite, as the README gives it and CI runs it: unit,
# integration and doc tests of every crate in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features "$@"
