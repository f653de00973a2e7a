//! Support for the macros' generated code. Not a stable API: anything here
//! may change in any release.
//!
//! `#[metlog::timer]` / `#[metlog::incr]` put a [`Site`] in a `static` inside
//! the annotated function and start a [`Guard`] as its first statement; the
//! guard sends one message when it is dropped, whichever way the function
//! ends.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use crate::client::{whole_millis, ClientRef};
use crate::decorators::Decorator;
use crate::gate;
use crate::sampling::sampled_out;
use crate::text::{write_decimal, DECIMAL_LEN};
use crate::{holder, Client, Fields, Message, Severity, SharedStr, Value};

/// Runs a log macro's formatting against the current client, if there is one
/// and it is active (so nothing is formatted otherwise).
#[inline]
pub fn log_current(_severity: Severity, log: impl FnOnce(&Client)) {
    holder::with_current(|client| {
        if client.is_active() {
            log(client);
        }
    });
}

/// Which macro a site belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `#[metlog::timer]`: a `timer` message with the elapsed milliseconds.
    Timer,
    /// `#[metlog::incr]`: a `counter` message with the count.
    Incr,
}

/// A literal from the `fields(...)` option.
#[derive(Clone, Copy, Debug)]
pub enum FieldLit {
    /// A string.
    Str(&'static str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl From<FieldLit> for Value {
    fn from(lit: FieldLit) -> Value {
        match lit {
            FieldLit::Str(s) => Value::Str(SharedStr::from_static(s)),
            FieldLit::Int(n) => Value::I64(n),
            FieldLit::Float(n) => Value::F64(n),
            FieldLit::Bool(b) => Value::Bool(b),
        }
    }
}

/// Everything an annotated function's messages need that is known at compile
/// time; one `static` per annotated function.
#[derive(Debug)]
pub struct Site {
    /// Which macro.
    pub kind: Kind,
    /// `module_path!()` at the annotated function.
    pub module_path: &'static str,
    /// The `impl` block's type, or `""` for a free function.
    pub scope: &'static str,
    /// The function's name.
    pub function: &'static str,
    /// The `name` option, if given.
    pub name: Option<&'static str>,
    /// The `rate` option (1.0 by default).
    pub rate: f64,
    /// The `severity` option.
    pub severity: Option<u8>,
    /// The `logger` option.
    pub logger: Option<&'static str>,
    /// The `fields(...)` option.
    pub fields: &'static [(&'static str, FieldLit)],
    /// The `client` option: a named client to use instead of the current one.
    pub client: Option<&'static str>,
    /// The `count` option (1 by default; counters only).
    pub count: i64,
    /// What the site learns at run time, in a `static` of its own so that
    /// this one holds only constants, which the compiler folds into the
    /// inlined checks of [`enter`].
    pub state: &'static SiteState,
}

/// Run-time memory of a [`Site`].
#[derive(Debug)]
pub struct SiteState {
    /// The default name, built on first use.
    name: OnceLock<&'static str>,
    /// `client id << 1 | disabled` for the client last seen here (0: none):
    /// whether this timer is disabled on that client, so the disabled-timer
    /// set is consulted once per client rather than hashed on every call.
    timer_disabled: AtomicU64,
    /// Whether this site has nothing to do on the global client (inactive,
    /// or this timer disabled on it): [`UNKNOWN`], [`LIVE`] or [`IDLE`]. The
    /// global client never changes once set, so this is learnt once.
    on_global: AtomicU8,
}

const UNKNOWN: u8 = 0;
const LIVE: u8 = 1;
const IDLE: u8 = 2;

impl SiteState {
    /// Nothing learnt yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> SiteState {
        SiteState {
            name: OnceLock::new(),
            timer_disabled: AtomicU64::new(0),
            on_global: AtomicU8::new(UNKNOWN),
        }
    }
}

impl Site {
    /// The metric name: the `name` option, or `module.path.[Type.]function`
    /// (built once per site and kept for the life of the process).
    pub fn name(&self) -> &'static str {
        if let Some(name) = self.name {
            return name;
        }
        self.state.name.get_or_init(|| {
            let mut name = self.module_path.replace("::", ".");
            for part in [self.scope, self.function] {
                if !part.is_empty() {
                    name.push('.');
                    name.push_str(part);
                }
            }
            // One small string per annotated function, so leaking is bounded;
            // it lets every message refer to the name without counting.
            Box::leak(name.into_boxed_str())
        })
    }

    /// Whether this (timer) site is disabled on `client`, from the cache.
    #[inline]
    fn timer_disabled_on(&self, client: &Client) -> bool {
        let id = client.id();
        let cached = self.state.timer_disabled.load(Ordering::Relaxed);
        if cached >> 1 == id {
            return cached & 1 == 1;
        }
        let disabled = client.is_timer_disabled(self.name());
        self.state
            .timer_disabled
            .store(id << 1 | u64::from(disabled), Ordering::Relaxed);
        disabled
    }

    fn decorator(&self) -> Decorator {
        match self.kind {
            Kind::Timer => Decorator::Timer,
            Kind::Incr => Decorator::Incr,
        }
    }
}

/// Sends the site's message when dropped; see [`enter`].
#[must_use]
pub struct Guard {
    active: Option<Active>,
}

struct Active {
    client: ClientRef<'static>,
    site: &'static Site,
    /// Set for timers only: counters read no clock.
    start: Option<Instant>,
    /// An index into [`OUTCOMES`], once known.
    outcome: Option<u8>,
    /// A function that *starts* while the thread unwinds (called from a
    /// `Drop`) must not be reported as panicking when it returns normally.
    was_panicking: bool,
    is_async: bool,
}

/// Starts the guard of an annotated call. Decides everything that can make
/// the call free — decorator switch, client, sampling, disabled timer —
/// inline and before reading the clock; only an enabled call leaves this
/// function.
#[inline(always)]
pub fn enter(site: &'static Site, is_async: bool) -> Guard {
    // One load decides the common idle cases: decorator off, or (for the
    // current client) no global client and no scope anywhere.
    let gate = gate::load();
    if gate & site.decorator().bit() != 0 {
        return Guard::inert();
    }
    if site.client.is_none() {
        let clients = gate & gate::ANY_CLIENT;
        if clients == 0 {
            return Guard::inert();
        }
        // Only the global client can be current: what this site learnt
        // about it holds for good.
        if clients == gate::GLOBAL_SET && site.state.on_global.load(Ordering::Relaxed) == IDLE {
            return Guard::inert();
        }
    }
    if sampled_out(site.rate) {
        return Guard::inert();
    }
    enter_resolved(site, is_async)
}

/// The rest of [`enter`], out of line so the inline part stays small.
#[inline(never)]
fn enter_resolved(site: &'static Site, is_async: bool) -> Guard {
    let client = match site.client {
        None => holder::current_ref(),
        Some(name) => match holder::named_client(name) {
            Some(client) => ClientRef::Owned(client),
            None => ClientRef::None,
        },
    };
    let Some(c) = client.get() else {
        return Guard::inert();
    };
    let idle = !c.is_active() || (site.kind == Kind::Timer && site.timer_disabled_on(c));
    if matches!(client, ClientRef::Borrowed(_))
        && site.state.on_global.load(Ordering::Relaxed) == UNKNOWN
    {
        // `Borrowed` only ever holds the global client.
        let verdict = if idle { IDLE } else { LIVE };
        site.state.on_global.store(verdict, Ordering::Relaxed);
    }
    if idle {
        return Guard::inert();
    }
    let start = match site.kind {
        Kind::Timer => Some(Instant::now()),
        Kind::Incr => None,
    };
    Guard {
        active: Some(Active {
            client,
            site,
            start,
            outcome: None,
            was_panicking: std::thread::panicking(),
            is_async,
        }),
    }
}

impl Guard {
    /// A guard that sends nothing. (A function, not a `const`: a constant
    /// would be copied whole, where this writes one discriminant.)
    #[inline(always)]
    fn inert() -> Guard {
        Guard { active: None }
    }

    /// Records how the call ended (`ok` or `err`, from [`outcome_of`]).
    #[inline]
    pub fn complete(&mut self, outcome: &'static str) {
        if let Some(active) = &mut self.active {
            active.outcome = Some(u8::from(outcome == "err"));
        }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.active.is_some() {
            self.send();
        }
    }
}

impl Guard {
    /// Builds and dispatches the message: out of line, so the inert guard's
    /// drop is a single test.
    #[inline(never)]
    fn send(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        let outcome = match active.outcome {
            Some(outcome) => outcome,
            None if std::thread::panicking() && !active.was_panicking => OUTCOME_PANIC,
            None if active.is_async => OUTCOME_CANCELLED,
            None => OUTCOME_OK,
        };
        let Some(client) = active.client.get() else {
            return;
        };
        // A timer reads the clock twice in all: at the start and here; the
        // timestamp is derived from the second reading.
        let (millis, at) = match active.start {
            Some(start) => {
                let end = Instant::now();
                let elapsed = end.saturating_duration_since(start);
                (whole_millis(elapsed), crate::clock::system_time_at(end))
            }
            None => (0, SystemTime::now()),
        };
        client.dispatch_site(SiteEvent {
            site: active.site,
            millis,
            at,
            outcome,
            position: 0,
        });
    }
}

/// A counter or timer from an annotated function before it is built into a
/// [`Message`]. Senders that deliver in the background queue this small
/// value and let their worker build the envelope, so the caller's thread
/// neither builds nor moves it.
///
/// Kept small (40 bytes): the caller writes it into memory the worker read
/// last, and every cache line it touches has to come back.
#[derive(Clone, Copy, Debug)]
pub struct SiteEvent {
    site: &'static Site,
    /// Whole milliseconds (timers only).
    millis: u64,
    at: SystemTime,
    /// Messages queued before this event in its queue's shard (set by the
    /// queue, to keep each thread's order).
    pub(crate) position: u32,
    /// An index into [`OUTCOMES`].
    outcome: u8,
}

/// The `outcome` field's values.
const OUTCOMES: [&str; 4] = ["ok", "err", "panic", "cancelled"];
const OUTCOME_OK: u8 = 0;
const OUTCOME_PANIC: u8 = 2;
const OUTCOME_CANCELLED: u8 = 3;

/// What a client adds to a [`SiteEvent`] to make it a message.
#[derive(Clone, Copy, Debug)]
pub struct ClientDefaults<'a> {
    pub(crate) id: u64,
    pub(crate) logger: &'a SharedStr,
    pub(crate) severity: Severity,
}

impl SiteEvent {
    /// The message type: `timer` or `counter`.
    pub(crate) fn kind(&self) -> &'static str {
        match self.site.kind {
            Kind::Timer => "timer",
            Kind::Incr => "counter",
        }
    }

    /// The statsd line of this event's message — what
    /// [`encode::statsd::write_line`](crate::encode::statsd::write_line)
    /// writes for it — without building the message.
    pub(crate) fn write_statsd(&self, client_logger: &str, out: &mut Vec<u8>) {
        let site = self.site;
        let (metric, negative, magnitude) = match site.kind {
            Kind::Timer => ("ms", false, self.millis),
            Kind::Incr => ("c", site.count < 0, site.count.unsigned_abs()),
        };
        let mut digits = [0u8; DECIMAL_LEN];
        let payload = write_decimal(negative, magnitude, &mut digits);
        crate::encode::statsd::write_parts(
            site.logger.unwrap_or(client_logger),
            site.name(),
            payload,
            metric,
            Some(site.rate),
            out,
        );
    }

    /// The JSON envelope of this event's message — byte for byte what
    /// [`encode::json::write`](crate::encode::json::write) writes for it —
    /// without building the message.
    pub(crate) fn write_json(
        &self,
        client_logger: &str,
        client_severity: Severity,
        out: &mut Vec<u8>,
    ) {
        use std::io::Write as _;
        let site = self.site;
        let start = out.len();
        let written = (|| -> serde_json::Result<()> {
            out.extend_from_slice(b"{\"type\":\"");
            out.extend_from_slice(self.kind().as_bytes());
            out.extend_from_slice(b"\",\"timestamp\":\"");
            let _ = write!(out, "{}", crate::Rfc3339(self.at));
            out.extend_from_slice(b"\",\"logger\":");
            serde_json::to_writer(&mut *out, site.logger.unwrap_or(client_logger))?;
            let severity = site.severity.map_or(client_severity, Severity::from);
            let _ = write!(out, ",\"severity\":{},\"payload\":\"", severity.as_u8());
            let mut digits = [0u8; DECIMAL_LEN];
            let payload = match site.kind {
                Kind::Timer => write_decimal(false, self.millis, &mut digits),
                Kind::Incr => write_decimal(site.count < 0, site.count.unsigned_abs(), &mut digits),
            };
            out.extend_from_slice(payload.as_bytes());
            out.extend_from_slice(b"\",\"fields\":{");
            for (key, value) in site.fields {
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                serde_json::to_writer(&mut *out, &Value::from(*value))?;
                out.push(b',');
            }
            out.extend_from_slice(b"\"name\":");
            serde_json::to_writer(&mut *out, site.name())?;
            out.extend_from_slice(b",\"rate\":");
            serde_json::to_writer(&mut *out, &Value::F64(site.rate))?;
            out.extend_from_slice(b",\"outcome\":\"");
            out.extend_from_slice(OUTCOMES[usize::from(self.outcome & 3)].as_bytes());
            let identity = crate::message::identity();
            let _ = write!(
                out,
                "\"}},\"env_version\":\"{}\",\"metlog_pid\":{},\"metlog_hostname\":",
                crate::ENV_VERSION,
                identity.pid
            );
            serde_json::to_writer(&mut *out, identity.hostname)?;
            out.push(b'}');
            Ok(())
        })();
        if written.is_err() {
            // Unreachable (strings and numbers into a `Vec`); never leave
            // half an object behind.
            out.truncate(start);
        }
    }

    /// The envelope, with the client's logger and severity unless the site
    /// names its own.
    pub(crate) fn into_message(self, logger: &SharedStr, severity: Severity) -> Message {
        let site = self.site;
        let payload = match site.kind {
            Kind::Timer => SharedStr::from_u64(self.millis),
            Kind::Incr => SharedStr::from_i64(site.count),
        };
        // Keys are unique by construction: the macro rejects duplicate and
        // reserved field names at compile time.
        let mut fields = Fields::new();
        for (key, value) in site.fields {
            fields.push_unique(SharedStr::from_static(key), Value::from(*value));
        }
        fields.push_unique(
            SharedStr::from_static("name"),
            Value::Str(SharedStr::from_static(site.name())),
        );
        fields.push_unique(SharedStr::from_static("rate"), Value::F64(site.rate));
        fields.push_unique(
            SharedStr::from_static("outcome"),
            Value::Str(SharedStr::from_static(
                OUTCOMES[usize::from(self.outcome & 3)],
            )),
        );
        let identity = crate::message::identity();
        Message {
            kind: SharedStr::from_static(self.kind()),
            timestamp: self.at,
            logger: site
                .logger
                .map_or_else(|| logger.clone(), SharedStr::from_static),
            severity: site.severity.map_or(severity, Severity::from),
            payload,
            fields,
            pid: identity.pid,
            hostname: SharedStr::from_static(identity.hostname),
        }
    }
}

/// Moved into the closure that runs a `Result`-returning body, making it
/// `FnOnce` so the body may return borrows of the arguments it owns.
#[derive(Debug)]
pub struct OnceToken;

impl OnceToken {
    /// Consumes the token.
    #[inline(always)]
    pub fn consume(self) {}
}

/// Wraps a return value to ask whether it is an `Err` (see [`outcome_of`]).
pub struct OutcomeProbe<'a, T>(pub &'a T);

/// Chosen by method resolution when the probed value is a `Result`.
pub trait ResultOutcome {
    /// `"ok"` or `"err"`.
    fn metlog_outcome(&self) -> &'static str;
}

impl<T, E> ResultOutcome for OutcomeProbe<'_, Result<T, E>> {
    #[inline]
    fn metlog_outcome(&self) -> &'static str {
        if self.0.is_ok() {
            "ok"
        } else {
            "err"
        }
    }
}

/// The fallback for any other value: `"ok"`.
pub trait AnyOutcome {
    /// Always `"ok"`.
    fn metlog_outcome(&self) -> &'static str;
}

impl<T> AnyOutcome for &OutcomeProbe<'_, T> {
    #[inline]
    fn metlog_outcome(&self) -> &'static str {
        "ok"
    }
}

/// `"err"` for an `Err`, `"ok"` for anything else, without knowing the type
/// in the macro: `outcome_of!(&value)` expands to a method call that
/// resolves to [`ResultOutcome`] for results and [`AnyOutcome`] otherwise.
#[doc(hidden)]
#[macro_export]
macro_rules! __outcome_of {
    ($value:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{AnyOutcome as _, ResultOutcome as _};
        (&$crate::__private::OutcomeProbe($value)).metlog_outcome()
    }};
}
pub use crate::__outcome_of as outcome_of;

#[cfg(test)]
mod tests {
    use super::*;

    static TIMER_STATE: SiteState = SiteState::new();
    static TIMER: Site = Site {
        kind: Kind::Timer,
        module_path: "a::b",
        scope: "T",
        function: "f",
        name: Some("q\"é\n\\"),
        rate: 0.25,
        severity: Some(3),
        logger: Some("lo\"g\u{1F980}"),
        fields: &[
            ("s", FieldLit::Str("x\"y\u{0}")),
            ("i", FieldLit::Int(-3)),
            ("nan", FieldLit::Float(f64::NAN)),
            ("f", FieldLit::Float(1.5)),
            ("b", FieldLit::Bool(true)),
        ],
        client: None,
        count: 1,
        state: &TIMER_STATE,
    };

    static COUNTER_STATE: SiteState = SiteState::new();
    static COUNTER: Site = Site {
        kind: Kind::Incr,
        module_path: "my_crate::handlers",
        scope: "",
        function: "get",
        name: None,
        rate: 1.0,
        severity: None,
        logger: None,
        fields: &[],
        client: None,
        count: -7,
        state: &COUNTER_STATE,
    };

    fn counter_event() -> SiteEvent {
        SiteEvent {
            site: &COUNTER,
            millis: 0,
            at: SystemTime::UNIX_EPOCH + std::time::Duration::new(1_790_000_000, 123_456_000),
            position: 0,
            outcome: 0,
        }
    }

    /// The UDP and TCP workers take the direct road for events — the one
    /// BENCHMARKS.md measures — not only produce the same bytes: the count
    /// of events they encoded straight from the queue is every event sent.
    #[test]
    fn udp_and_tcp_workers_encode_events_directly() {
        use crate::sender::Sender;
        use std::io::BufRead;
        let logger = SharedStr::from("direct");
        let client = ClientDefaults {
            id: 7,
            logger: &logger,
            severity: Severity::Informational,
        };
        let expected = counter_event()
            .into_message(&logger, Severity::Informational)
            .to_json();

        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp = crate::sender::UdpSender::new(receiver.local_addr().unwrap()).unwrap();
        for _ in 0..10 {
            udp.send_site(counter_event(), &client).unwrap();
        }
        udp.flush().unwrap();
        assert_eq!(udp.direct_events(), 10, "UDP took the direct road");
        let mut buf = [0u8; 2048];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected);

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = crate::sender::TcpSender::new(listener.local_addr().unwrap()).unwrap();
        for _ in 0..10 {
            tcp.send_site(counter_event(), &client).unwrap();
        }
        tcp.flush().unwrap();
        assert_eq!(tcp.direct_events(), 10, "TCP took the direct road");
        let (conn, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(conn).read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), expected);
    }

    /// The workers write events straight into JSON and statsd lines; both
    /// must be exactly what the encoders make of the built message.
    #[test]
    fn direct_encodings_match_the_built_message() {
        let logger = SharedStr::from("client \"logger\"");
        for site in [&TIMER, &COUNTER] {
            for outcome in 0..4 {
                let event = SiteEvent {
                    site,
                    millis: 1_234_567,
                    at: SystemTime::UNIX_EPOCH
                        + std::time::Duration::new(1_790_000_000, 123_456_789),
                    position: 0,
                    outcome,
                };
                let message = event.into_message(&logger, Severity::Notice);

                let mut direct = Vec::new();
                event.write_json(&logger, Severity::Notice, &mut direct);
                let mut built = Vec::new();
                crate::encode::json::write(&message, &mut built);
                assert_eq!(
                    String::from_utf8_lossy(&direct),
                    String::from_utf8_lossy(&built)
                );

                let mut direct = Vec::new();
                event.write_statsd(&logger, &mut direct);
                let mut built = Vec::new();
                crate::encode::statsd::write_line(&message, &mut built).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&direct),
                    String::from_utf8_lossy(&built)
                );
            }
        }
    }
}
