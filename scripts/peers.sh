#!/usr/bin/env bash
# Installs (if needed) and starts the real programs the integration tests
# deliver to, on 127.0.0.1 high ports, and writes their addresses to
# $PEERS_DIR/env for the tests. Usage:
#
#   source scripts/peers.sh && peers_start   # installs, starts, waits, exports
#   peers_stop                               # stops them (by PID)
#
# Peers: Etsy statsd (npm), rsyslog (apt), a ZeroMQ SUB peer (python3-zmq),
# and for the router's Sentry outputs: ruby (apt), which runs
# logstash-metlog's code (tests/router/), and a stand-in Sentry store
# endpoint (tests/router/sentry_store.py) recording what they post.
# Every wait is bounded; a peer that does not come up fails the run.

PEERS_DIR=${PEERS_DIR:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.peers"}
STATSD_PORT=${STATSD_PORT:-18125}
STATSD_MGMT_PORT=${STATSD_MGMT_PORT:-18126}
RSYSLOG_PORT=${RSYSLOG_PORT:-15514}
ZMQ_PORT=${ZMQ_PORT:-15555}
SENTRY_PORT=${SENTRY_PORT:-18600}

peers_log() { printf 'peers: %s\n' "$*" >&2; }

peers_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

peers_apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  peers_log "apt-get install ${missing[*]}"
  peers_as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive peers_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Waits until a TCP port accepts connections (at most $2 seconds).
peers_wait_tcp() {
  local port=$1 limit=${2:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  peers_log "nothing listening on 127.0.0.1:$port after ${limit}s"
  return 1
}

peers_start_statsd() {
  local dir=$PEERS_DIR/statsd
  mkdir -p "$dir"
  if [ ! -f "$dir/node_modules/statsd/stats.js" ]; then
    peers_log "npm install statsd@0.9.0"
    (cd "$dir" && npm install --silent --no-audit --no-fund --omit=optional --ignore-scripts statsd@0.9.0 >/dev/null)
  fi
  # Counters reset at each flush, and a test straddling one would never see
  # its count: the longest interval Node's timers take (about 24 days).
  cat >"$dir/config.js" <<JS
{ address: "127.0.0.1", port: $STATSD_PORT, mgmt_address: "127.0.0.1", mgmt_port: $STATSD_MGMT_PORT,
  flushInterval: 2147483647, backends: ["./backends/console"], console: { prettyprint: false } }
JS
  (cd "$dir/node_modules/statsd" && exec node stats.js "$dir/config.js" >"$dir/log" 2>&1) &
  echo $! >"$dir/pid"
  peers_wait_tcp "$STATSD_MGMT_PORT"
}

peers_start_rsyslog() {
  local dir=$PEERS_DIR/rsyslog
  peers_apt_install rsyslog
  mkdir -p "$dir/work"
  : >"$dir/out.json"
  cat >"$dir/rsyslog.conf" <<CONF
global(workDirectory="$dir/work")
module(load="imudp")
module(load="imtcp")
module(load="mmpstrucdata")
module(load="mmjsonparse")
template(name="j" type="string" string="%jsonmesg%\n")
ruleset(name="r") {
  action(type="mmpstrucdata")
  action(type="mmjsonparse" cookie="")
  action(type="omfile" file="$dir/out.json" template="j")
}
input(type="imudp" address="127.0.0.1" port="$RSYSLOG_PORT" ruleset="r")
input(type="imtcp" address="127.0.0.1" port="$RSYSLOG_PORT" ruleset="r")
CONF
  # /usr/sbin may be missing from a non-login PATH.
  local rsyslogd
  rsyslogd=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
  "$rsyslogd" -N1 -f "$dir/rsyslog.conf" >/dev/null 2>&1 || { peers_log "invalid rsyslog config"; return 1; }
  "$rsyslogd" -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  peers_wait_tcp "$RSYSLOG_PORT"
}

peers_start_zmq() {
  local dir=$PEERS_DIR/zmq
  peers_apt_install python3-zmq
  mkdir -p "$dir"
  : >"$dir/received.jsonl"
  cat >"$dir/sub.py" <<'PY'
# A ZeroMQ SUB peer: binds, subscribes to everything, appends each message
# to a file (one per line), and serves a TCP "ready" port once bound.
import socket, sys, zmq
port, out, ready_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.bind("tcp://127.0.0.1:%s" % port)
ready = socket.socket()
ready.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ready.bind(("127.0.0.1", ready_port))
ready.listen(8)
with open(out, "ab", buffering=0) as f:
    while True:
        msg = sub.recv()
        f.write(msg.replace(b"\n", b"\\n") + b"\n")
PY
  /usr/bin/python3 "$dir/sub.py" "$ZMQ_PORT" "$dir/received.jsonl" $((ZMQ_PORT + 1)) >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  peers_wait_tcp $((ZMQ_PORT + 1))
}

peers_start_sentry() {
  local dir=$PEERS_DIR/sentry root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  peers_apt_install ruby
  mkdir -p "$dir"
  : >"$dir/requests.jsonl"
  /usr/bin/python3 "$root/tests/router/sentry_store.py" "$SENTRY_PORT" "$dir/requests.jsonl" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  peers_wait_tcp "$SENTRY_PORT"
}

peers_stop() {
  local pidfile
  for pidfile in "$PEERS_DIR"/*/pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

peers_start() {
  mkdir -p "$PEERS_DIR"
  peers_stop
  peers_start_statsd || return 1
  peers_start_rsyslog || return 1
  peers_start_zmq || return 1
  peers_start_sentry || return 1
  export METLOG_TEST_STATSD="127.0.0.1:$STATSD_PORT"
  export METLOG_TEST_STATSD_MGMT="127.0.0.1:$STATSD_MGMT_PORT"
  export METLOG_TEST_RSYSLOG="127.0.0.1:$RSYSLOG_PORT"
  export METLOG_TEST_RSYSLOG_OUT="$PEERS_DIR/rsyslog/out.json"
  export METLOG_TEST_ZMQ="tcp://127.0.0.1:$ZMQ_PORT"
  export METLOG_TEST_ZMQ_OUT="$PEERS_DIR/zmq/received.jsonl"
  export METLOG_TEST_SENTRY="127.0.0.1:$SENTRY_PORT"
  export METLOG_TEST_SENTRY_OUT="$PEERS_DIR/sentry/requests.jsonl"
  peers_log "statsd $METLOG_TEST_STATSD, rsyslog $METLOG_TEST_RSYSLOG, zmq SUB $METLOG_TEST_ZMQ, sentry $METLOG_TEST_SENTRY"
}
