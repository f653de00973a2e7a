#!/usr/bin/env bash
# Regenerates tests/fixtures/metlog-raven-0.5.jsonl: the `sentry` messages
# the real metlog-raven 0.5 (with raven 3.1.16 and metlog-py 0.10.0, from
# PyPI, unmodified) sends under Python 2.7 for the cases
# tests/integration/raven.rs replays through the Rust client, each with its
# payload decoded by raven's own `Client.decode` (`event`; `modules` and the
# frames' source context, variables and absolute paths left out, which the Rust event does
# not carry). Time, pid and host are pinned; the event id is random.
#
# Needs a Python 2.7 interpreter: $PYTHON2, else pyenv's 2.7.18, else
# `python2.7` on PATH. The packages are installed into a throwaway directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source "$root/scripts/python2.sh"

PYTHONWARNINGS=ignore "$python2" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$work/src" metlog-py==0.10.0 metlog-raven==0.5 raven==3.1.16

out="$root/tests/fixtures/metlog-raven-0.5.jsonl"
PYTHONWARNINGS=ignore PYTHONPATH="$work/src" "$python2" - >"$out" <<'PY'
import datetime as _dt
import json
import socket
socket.gethostname = lambda: 'fixture-host'
import metlog.client
import metlog_raven.raven_plugin as plugin
import raven.base
from metlog.config import client_from_text_config
from raven import Client


class FrozenDatetime(_dt.datetime):
    @classmethod
    def utcnow(cls):
        return _dt.datetime(2013, 1, 18, 19, 58, 24, 123456)


class FrozenTime(object):
    @staticmethod
    def time():
        return 1358539104.123456


metlog.client.datetime = FrozenDatetime
raven.base.datetime.datetime = FrozenDatetime
plugin.time = FrozenTime
DSN = 'http://public:secret@sentry.example.com:9000/2'


def client(options=''):
    c = client_from_text_config("""
[metlog]
sender_class = metlog.senders.DebugCaptureSender
logger = myapp
[metlog_plugin_raven]
provider = metlog_raven.raven_plugin:config_plugin
dsn = %s
%s
""" % (DSN, options), 'metlog')
    c.pid = 4242
    c.hostname = 'fixture-host'
    return c


plain = client()
custom = client('logger = raven-logger\nseverity = 4')


def fail():
    raise ValueError('bad value')


@plugin.capture_stack
def decorated():
    raise ValueError('bad value')


def emit(label, c, call):
    c.sender.msgs.clear()
    try:
        fail()
    except ValueError:
        call(c)
    assert len(c.sender.msgs) == 1, label
    message = c.sender.msgs[0]
    event = Client().decode(json.loads(message)['payload'])
    event.pop('modules', None)
    for frame in event['sentry.interfaces.Stacktrace']['frames']:
        for key in ('vars', 'pre_context', 'post_context', 'context_line', 'abs_path'):
            frame.pop(key, None)
    print(json.dumps({'case': label, 'message': message, 'event': event}, sort_keys=True))


# Keep these in step with `golden_cases` in tests/integration/raven.rs.
emit('error', plain, lambda c: c.raven('oops'))
emit('options', custom, lambda c: c.raven('with options'))
emit('fields', plain, lambda c: c.raven('oops', extra1='x'))
# The decorator (metlog-py's client holder gives it the client).
from metlog.holder import CLIENT_HOLDER
CLIENT_HOLDER.set_client('myapp', plain)
CLIENT_HOLDER.global_config['default'] = 'myapp'
plain.sender.msgs.clear()
try:
    decorated()
except ValueError:
    pass
message = plain.sender.msgs[0]
event = Client().decode(json.loads(message)['payload'])
event.pop('modules', None)
for frame in event['sentry.interfaces.Stacktrace']['frames']:
    for key in ('vars', 'pre_context', 'post_context', 'context_line', 'abs_path'):
        frame.pop(key, None)
print(json.dumps({'case': 'capture_stack', 'message': message, 'event': event}, sort_keys=True))
PY
echo "wrote tests/fixtures/metlog-raven-0.5.jsonl ($(wc -l <"$out") messages, Python 2.7: $("$python2" -V 2>&1))"
