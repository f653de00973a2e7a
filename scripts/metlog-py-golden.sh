#!/usr/bin/env bash
# Regenerates suite/tests/fixtures/metlog-py-0.10.0.jsonl: the messages the
# real metlog-py 0.10.0 (from PyPI, unmodified) emits for a fixed scenario
# under Python 2.7, which suite/tests/envelope.rs replays through the Rust
# client and compares key by key (key order aside: Python 2 writes its
# dicts in hash order); and suite/tests/fixtures/metlog-cef-0.2.jsonl: the
# messages of the real metlog-cef 0.2 (with cef 0.5, which pip resolves for
# its unpinned requirement) for the CEF cases suite/tests/cef_golden.rs
# replays.
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
    --target "$work/src" metlog-py==0.10.0 metlog-cef==0.2 cef==0.5

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

# The CEF line's date (local time) and host pinned too.
PYTHONWARNINGS=ignore PYTHONPATH="$work/src" "$python2" - >"$root/suite/tests/fixtures/metlog-cef-0.2.jsonl" <<'PY'
# -*- coding: utf-8 -*-
import datetime as _dt
import json
import time
import cef
import metlog.client
from metlog.config import client_from_text_config


class FrozenDatetime(_dt.datetime):
    @classmethod
    def utcnow(cls):
        return _dt.datetime(2013, 1, 18, 19, 58, 24, 123456)


metlog.client.datetime = FrozenDatetime
FIXED = time.struct_time((2013, 1, 18, 19, 58, 24, 4, 18, 0))
cef.strftime = lambda fmt: time.strftime(fmt, FIXED)
cef._HOST = 'cef-host'
cef.logger.warning = lambda text: None


def client(plugin='', main=''):
    c = client_from_text_config("""
[metlog]
sender_class = metlog.senders.DebugCaptureSender
%s
[metlog_plugin_cef]
provider = metlog_cef.cef_plugin:config_plugin
%s
""" % (main, plugin), 'metlog')
    c.pid = 4242
    c.hostname = 'fixture-host'
    return c


plain = client()
syslog = client('syslog_options = PID,NDELAY\nsyslog_facility = KERN\n'
                'syslog_ident = some_identifier\nsyslog_priority = EMERG')
custom = client(main='logger = myapp\nseverity = 4')
ENVIRON = {'REMOTE_ADDR': '127.0.0.1', 'HTTP_HOST': '127.0.0.1', 'PATH_INFO': '/',
           'REQUEST_METHOD': 'GET', 'HTTP_USER_AGENT': 'MySuperBrowser'}
CONFIG = {'cef.version': '0', 'cef.vendor': 'mozilla', 'cef.device_version': '3',
          'cef.product': 'weave'}


def env(**kw):
    e = dict(ENVIRON)
    e.update(kw)
    return e


# Keep these in step with `CASES` in suite/tests/cef_golden.rs.
CASES = [
    ('pipe in name', plain, 'xx|x', 5, ENVIRON, CONFIG, {}),
    ('empty environ', plain, 'Empty environ', 5, {}, CONFIG, {}),
    ('x-forwarded-for', plain, 'XFF', 3, env(HTTP_X_FORWARDED_FOR=' 10.0.0.1 , 10.0.0.2'), CONFIG, {}),
    ('username and signature', plain, 'Authentication attempted without username', 5, ENVIRON,
     CONFIG, {'username': 'me', 'signature': 'AuthFail'}),
    ('extensions in order', plain, 'custom', 5, ENVIRON, CONFIG,
     {'username': 'me', 'custom1': 'ok', 'ext1': 'ok=ok', 'ext2': 'ok\\ok', 'n': '42',
      'zz': 'a', 'aa': 'b'}),
    ('non-ascii', plain, u'caf\xe9', 5, env(PATH_INFO=u'/issue/\u043f\u0442\u0442-news'), CONFIG,
     {'username': u'j\xf6rg', 'cs2': '1', 'cs2Label': u'\xd0', 'signature': u'S\xefg'}),
    ('too long', plain, 'xx|x', 5, ENVIRON, CONFIG,
     {'username': 'me', 'custom1': 'ok', 'big': 'i' * 500, 'bigger': 'u' * 550}),
    ('severity 10', plain, 'sev10', 10, ENVIRON, CONFIG, {}),
    ('syslog settings', syslog, 'syslog', 5, ENVIRON, CONFIG, {}),
    ('client logger and severity', custom, 'defaults', 5, ENVIRON, CONFIG, {}),
    # Where the Rust line differs on purpose (suite/tests/cef_golden.rs says how).
    ('line breaks in header', plain, 'xx\nx|xx\rx\\y', 5, ENVIRON, CONFIG,
     {'signature': 'sig|na\\ture'}),
    ('line break in extension', plain, 'esc', 5,
     env(HTTP_USER_AGENT='=|\\', PATH_INFO='/a=b|c\\d\ne', REQUEST_METHOD='G=T'), CONFIG,
     {'msg': 'line1\nline2'}),
    ('pipe in product', plain, 'cfg', 0, ENVIRON, dict(CONFIG, **{'cef.product': 'P|roduct'}), {}),
    ('illegal keys', plain, 'xxx', 5, ENVIRON, CONFIG, {'ba|d': '1', 'sp ace': 'v'}),
]

for label, c, name, severity, environ, config, kw in CASES:
    c.sender.msgs.clear()
    c.cef(name, severity, environ, config, **kw)
    assert len(c.sender.msgs) == 1
    print(json.dumps({'case': label, 'message': c.sender.msgs[0]}))
PY
echo "wrote suite/tests/fixtures/metlog-cef-0.2.jsonl ($(wc -l <"$root/suite/tests/fixtures/metlog-cef-0.2.jsonl") messages)"
