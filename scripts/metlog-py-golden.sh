#!/usr/bin/env bash
# Regenerates suite/tests/fixtures/metlog-py-0.10.0.jsonl: the messages the real
# metlog-py 0.10.0 (from PyPI) emits for a fixed scenario, which
# suite/tests/envelope.rs replays through the Rust client and compares key by key.
#
# metlog-py is Python 2 code; it is converted with the standard library's
# 2to3 in a throwaway directory (nothing of it is kept).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-deps --target "$work/src" metlog-py==0.10.0
python3 -W ignore -m lib2to3 -w -n "$work/src/metlog" >/dev/null 2>&1
sed -i 's/^from types import StringTypes$/StringTypes = (str,)/' "$work/src/metlog/senders/udp.py"

PYTHONPATH="$work/src" python3 - >"$root/suite/tests/fixtures/metlog-py-0.10.0.jsonl" <<'PY'
from metlog.client import MetlogClient, SEVERITY
from metlog.senders.dev import DebugCaptureSender

sender = DebugCaptureSender()
client = MetlogClient(sender, 'myapp')
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
echo "wrote suite/tests/fixtures/metlog-py-0.10.0.jsonl ($(wc -l <"$root/suite/tests/fixtures/metlog-py-0.10.0.jsonl") messages)"
