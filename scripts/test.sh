#!/usr/bin/env bash
# The whole test suite, as the README gives it and CI runs it: starts the
# real peers (statsd, rsyslog, a ZeroMQ SUB; installed if missing), then runs
# every test of the workspace — the integration tests are in tests/ — including
# the peer tests that plain `cargo test` leaves ignored. Peers are stopped on
# exit.
#
# Two checks on the run itself: it must not change the source tree (a test
# that writes a regressions file, a `wip/` directory or anything else into
# the checkout fails it), and a passing run must read clean (no `metlog:`
# report escaping a test, no colour codes when colour is off).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh
trap peers_stop EXIT
peers_start

# raven 3.1.16 and metlog-raven 0.5 under Python 2.7, for the test that
# reads the crate's `sentry` messages back with raven's own decoder
# (tests/integration/raven.rs): installed once into target/.
source scripts/python2.sh
raven_py=$PWD/target/python2-raven
if [ ! -d "$raven_py/metlog_raven" ]; then
    PYTHONWARNINGS=ignore "$python2" -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$raven_py" raven==3.1.16 metlog-raven==0.5 metlog-py==0.10.0
fi
export METLOG_PYTHON2=$python2 METLOG_RAVEN_PYTHONPATH=$raven_py

tree_state() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git status --porcelain --untracked-files=all
    fi
}
before=$(tree_state)

# Four tests at a time, not one per core: most of the slow tests wait (on
# a peer, a timeout, a child process) rather than compute, and no test
# depends on an idle machine. Halves the run on a 2-core machine.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}

mkdir -p target
log=target/test-output.log
cargo test --workspace --all-features "$@" -- --include-ignored 2>&1 | tee "$log"

after=$(tree_state)
if [ "$before" != "$after" ]; then
    echo "test.sh: the test run changed the source tree:" >&2
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
    exit 1
fi
if grep -n '^metlog: ' "$log" >&2; then
    echo "test.sh: metlog reports escaped the tests above (collect them: support::collect_reports)" >&2
    exit 1
fi
if [ "${CARGO_TERM_COLOR:-}" = never ] && grep -n $'\e\[' "$log" >&2; then
    echo "test.sh: colour codes in the output although CARGO_TERM_COLOR=never" >&2
    exit 1
fi
