//! Annotated call sites (`#[metlog::timer]`, `#[metlog::incr]`): what is
//! known of each at compile time ([`Site`]), and the small event one call
//! queues ([`SiteEvent`]) with its encodings. Below the senders and the
//! client, which both use it; the macros reach it through `__private`.

use std::sync::atomic::{AtomicU64, AtomicU8};
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::text::{write_decimal, DECIMAL_LEN};
use crate::{Fields, Message, Severity, SharedStr, Value};

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
    /// inlined checks of [`enter`](crate::__private::enter).
    pub state: &'static SiteState,
}

/// Run-time memory of a [`Site`].
#[derive(Debug)]
pub struct SiteState {
    /// The default name, built on first use.
    pub(crate) name: OnceLock<&'static str>,
    /// `client id << 1 | disabled` for the client last seen here (0: none):
    /// whether this timer is disabled on that client, so the disabled-timer
    /// set is consulted once per client rather than hashed on every call.
    pub(crate) timer_disabled: AtomicU64,
    /// Whether this site has nothing to do on the global client (inactive,
    /// or this timer disabled on it): [`UNKNOWN`], [`LIVE`] or [`IDLE`]. The
    /// global client never changes once set, so this is learnt once.
    pub(crate) on_global: AtomicU8,
}

pub(crate) const UNKNOWN: u8 = 0;
pub(crate) const LIVE: u8 = 1;
pub(crate) const IDLE: u8 = 2;

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
    pub(crate) site: &'static Site,
    /// Whole milliseconds (timers only).
    pub(crate) millis: u64,
    pub(crate) at: SystemTime,
    /// Messages queued before this event in its queue's shard (set by the
    /// queue, to keep each thread's order).
    pub(crate) position: u32,
    /// An index into [`OUTCOMES`].
    pub(crate) outcome: u8,
}

/// The `outcome` field's values.
const OUTCOMES: [&str; 4] = ["ok", "err", "panic", "cancelled"];
pub(crate) const OUTCOME_OK: u8 = 0;
pub(crate) const OUTCOME_PANIC: u8 = 2;
pub(crate) const OUTCOME_CANCELLED: u8 = 3;

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
