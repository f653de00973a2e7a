#!/usr/bin/env bash
# Regenerates tests/fixtures/metlog-py-0.10.0.jsonl: the messages the
# real metlog-py 0.10.0 (from PyPI, unmodified) emits for a fixed scenario
# under Python 2.7, which tests/integration/envelope.rs replays through the Rust
# client and compares key by key (key order aside: Python 2 writes its
# dicts in hash order); and tests/fixtures/metlog-cef-0.2.jsonl: the
# messages of the real metlog-cef 0.2 (with cef 0.5, which pip resolves for
# its unpinned requirement) for the CEF cases tests/integration/cef_golden.rs
# replays.
#
# Needs a Python 2.7 interpreter: $PYTHON2, else pyenv's 2.7.18, else
# `python2.7` on PATH. The package is installed into a throwaway directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source "$root/scripts/python2.sh"

PYTHONWARNINGS=ignore "$python2" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$work/src" metlog-py==0.10.0 metlog-cef==0.2 cef==0.5

# Timestamps, pid and host name pinned, so the file is the same on every run.
PYTHONPATH="$work/src" "$python2" - >"$root/tests/fixtures/metlog-py-0.10.0.jsonl" <<'PY'
import datetime as _dt
import metlog.client
from metlog.client import MetlogClient, SEVERITY
from metlog.senders.dev import DebugCaptureSender
from metlog.holder import CLIENT_HOLDER
from metlog.decorators import incr_count, timeit


class FrozenDatetime(_dt.datetime):
    @classmethod
    def utcnow(cls):
        return _dt.datetime(2013, 1, 18, 19, 58, 24, 123456)


metlog.client.datetime = FrozenDatetime


class FakeClock(object):
    """`time` as metlog.client's timers see it: each read takes the next value."""
    def __init__(self):
        self.values = []

    def time(self):
        return self.values.pop(0)


CLOCK = FakeClock()
metlog.client.time = CLOCK
sender = DebugCaptureSender()
client = MetlogClient(sender, 'myapp')
client.pid = 4242
client.hostname = 'fixture-host'
CLIENT_HOLDER.set_client('myapp', client)
# Keep this scenario in step with `metlog_py_scenario` in tests/integration/envelope.rs.
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
# Timers: Python 2 rounds half away from zero (12.5 ms -> 13; the 2to3
# port's Python 3 gave 12); the elapsed time is float seconds.
CLOCK.values = [0.0, 0.0125]
with client.timer('ctx.timer'):
    pass
CLOCK.values = [1.0, 1.0125]  # 12.499999999999956 ms -> 12
with client.timer('ctx.timer2', logger='timerlog', severity=SEVERITY.ERROR, fields={'a': 1}):
    pass
CLOCK.values = [0.0, 0.0135]
with client.timer('ctx.timer3'):
    pass
client.timer_send('db.query', 12.5, fields={'shard': 3}, rate=0.5, logger='dblog',
                  severity=SEVERITY.WARNING)
client.timer_send('frac', 1.0 / 3)
client.timer_send('whole.float', 12.0)
client.timer_send('zero', 0)
client.incr('neg', count=-3, logger='other', severity=SEVERITY.DEBUG)


@incr_count(name='qdo.foo', count=5, logger='somelogger', severity=2)
def incr_kwargs():
    return 1


@timeit(name='qdo.timeit', logger='timeit_logger', severity=5, fields={'anumber': 42, 'atext': 'foo'})
def timeit_kwargs():
    return 1


incr_kwargs()
CLOCK.values = [0.0, 0.004]
timeit_kwargs()
client.metlog('unicode', payload=u'caf\xe9 \u2603', fields={u'k\xe9': u'v\xe9'})
client.metlog('nested', fields={'list': [1, 'two', 3.0], 'dict': {'x': None}, 'f': 0.1 + 0.2})
client.metlog('ctrl', payload='tab\tnl\nquote" bs\\ slash/ \x01')
# An error's traceback (exc_info): the message, a line break, the traceback.
try:
    raise ValueError('db down')
except ValueError:
    client.error('checkout failed', exc_info=True)
    client.critical('checkout failed', exc_info=True)
    client.exception('checkout failed')
# No line break added after one; an exception without a traceback.
client.warn('ends with a line break\n', exc_info=(ValueError, ValueError('db down'), None))
# Fractional counts, written as Python's str().
client.incr('credits', count=2.5)
client.incr('whole.float', count=2.0)
print('\n'.join(sender.msgs))
PY
echo "wrote tests/fixtures/metlog-py-0.10.0.jsonl ($(wc -l <"$root/tests/fixtures/metlog-py-0.10.0.jsonl") messages, Python 2.7: $("$python2" -V 2>&1))"

# The CEF line's date (local time) and host pinned too.
PYTHONWARNINGS=ignore PYTHONPATH="$work/src" "$python2" - >"$root/tests/fixtures/metlog-cef-0.2.jsonl" <<'PY'
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


# Keep these in step with `CASES` in tests/integration/cef_golden.rs.
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
    # Where the Rust line differs on purpose (tests/integration/cef_golden.rs says how).
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
echo "wrote tests/fixtures/metlog-cef-0.2.jsonl ($(wc -l <"$root/tests/fixtures/metlog-cef-0.2.jsonl") messages)"
