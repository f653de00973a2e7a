#!/usr/bin/env bash
# Regenerates suite/tests/fixtures/metlog-py-0.10.0.jsonl: the messages the
# real metlog-py 0.10.0 (from PyPI, unmodified) emits for a fixed scenario
# under Python 2.7, which suite/tests/envelope.rs replays through the Rust
# client and compares key by key (key order aside: Python 2 writes its
# dicts in hash order).
#
# Needs a Python 2.7 interpreter: $PYTHON2, else pyenv's 2.7.18, else
# `python2.7` on PATH. The package is installed into a throwaway directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python2=${PYTHON2:-}
if [ -z "$python2" ]; then
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python" "$(command -v python2.7 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            python2=$candidate
            break
        fi
    done
fi
if [ -z "$python2" ]; then
    echo "metlog-py-golden.sh: no Python 2.7 found (set PYTHON2)" >&2
    exit 1
fi

PYTHONWARNINGS=ignore "$python2" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$work/src" metlog-py==0.10.0

# Timestamps, pid and host name pinned, so the file is the same on every run.
PYTHONPATH="$work/src" "$python2" - >"$root/suite/tests/fixtures/metlog-py-0.10.0.jsonl" <<'PY'
import datetime as _dt
import metlog.client
from metlog.client import MetlogClient, SEVERITY
from metlog.senders.dev import DebugCaptureSender


class FrozenDatetime(_dt.datetime):
    @classmethod
    def utcnow(cls):
        return _dt.datetime(2013, 1, 18, 19, 58, 24, 123456)


metlog.client.datetime = FrozenDatetime
sender = DebugCaptureSender()
client = MetlogClient(sender, 'myapp')
client.pid = 4242
client.hostname = 'fixture-host'
# Keep this scenario in step with `metlog_py_scenario` in suite/tests/envelope.rs.
client.incr('requests')
client.incr('bytes', count=512, fields={'route': '/login'})
client.timer_send('db.query', 12)
client.metlog('deploy', payload='v1.2.3', severity=SEVERITY.NOTICE,
              logger='deployer', fields={'build': 42, 'ok': True, 'ratio': 0.25})
client.debug('d')
client.info('i')
client.warn('w')
client.error('e')
client.critical('c')
client.exception('boom')
print('\n'.join(sender.msgs))
PY
echo "wrote suite/tests/fixtures/metlog-py-0.10.0.jsonl ($(wc -l <"$root/suite/tests/fixtures/metlog-py-0.10.0.jsonl") messages, Python 2.7: $("$python2" -V 2>&1))"
