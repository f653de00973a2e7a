//! [`Message`]: the metlog envelope, version 0.8.

use crate::process::identity;

use serde::Deserialize as _;
use std::time::SystemTime;

use crate::envelope::{Envelope, FieldsView, Payload};
use crate::timestamp;
use crate::{Fields, Severity, SharedStr};

/// One metlog message: the envelope every sender encodes.
///
/// It serialises (serde) to exactly the nine keys of metlog envelope 0.8, in
/// metlog-py's order:
///
/// | key | JSON type | from |
/// |---|---|---|
/// | `type` | string | [`kind`](Message::kind) |
/// | `timestamp` | string, `2026-11-25T05:27:11.123456Z` | [`timestamp`](Message::timestamp) |
/// | `logger` | string | [`logger`](Message::logger) |
/// | `severity` | integer 0–7 | [`severity`](Message::severity) |
/// | `payload` | string (read also as a number or other JSON value, as metlog-py's plugins write it) | [`payload`](Message::payload) |
/// | `fields` | object | [`fields`](Message::fields) |
/// | `env_version` | string, `"0.8"` | |
/// | `metlog_pid` | integer | [`pid`](Message::pid) |
/// | `metlog_hostname` | string | [`hostname`](Message::hostname) |
///
/// Deserialisation accepts what metlog-py writes too: timestamps without a
/// fraction or zone (UTC), severities as names, a missing or `null` `fields`.
///
/// ```
/// use metlog::{Message, Severity};
/// let mut msg = Message::new("oldstyle", "myapp");
/// msg.payload = "hello".into();
/// msg.severity = Severity::Warning;
/// let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
/// assert_eq!(json["type"], "oldstyle");
/// assert_eq!(json["severity"], 4);
/// assert_eq!(json["env_version"], "0.8");
/// assert_eq!(Message::from_json(&msg.to_json()).unwrap(), msg.truncated_to_micros());
/// ```
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Message {
    /// The message type (`type` on the wire): `counter`, `timer`, `oldstyle`,
    /// `cef`, or any type of the application's.
    #[serde(rename = "type")]
    pub kind: SharedStr,
    /// When the message was made; written in UTC with microseconds.
    #[serde(deserialize_with = "parse_timestamp")]
    pub timestamp: SystemTime,
    /// The application (or component) that emitted the message.
    #[serde(default)]
    pub logger: SharedStr,
    /// RFC 5424 severity.
    #[serde(default)]
    pub severity: Severity,
    /// The body: text for log messages, the count for counters, whole
    /// milliseconds for timers.
    #[serde(default, deserialize_with = "payload_text")]
    pub payload: SharedStr,
    /// Metadata; counters and timers carry `name` and `rate`.
    #[serde(default)]
    pub fields: Fields,
    /// The emitting process's id (`metlog_pid`).
    #[serde(default, rename = "metlog_pid", deserialize_with = "null_default")]
    pub pid: u32,
    /// The emitting host's name (`metlog_hostname`).
    #[serde(default, rename = "metlog_hostname", deserialize_with = "null_default")]
    pub hostname: SharedStr,
}

impl Message {
    /// About how many bytes this message holds beyond its fixed-size part:
    /// its strings and field values. What a queue's byte ceiling counts.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.kind.len() + self.logger.len() + self.payload.len() + self.fields.heap_bytes()
    }

    /// A message of type `kind` from `logger`, stamped now, with this process's
    /// pid and host name, severity 6, an empty payload and no fields.
    pub fn new(kind: impl Into<SharedStr>, logger: impl Into<SharedStr>) -> Message {
        let identity = identity();
        Message {
            kind: kind.into(),
            timestamp: SystemTime::now(),
            logger: logger.into(),
            severity: Severity::default(),
            payload: SharedStr::EMPTY,
            fields: Fields::new(),
            pid: identity.pid(),
            hostname: SharedStr::from_static(identity.hostname),
        }
    }

    /// The message as one line of JSON (no trailing newline): what the
    /// JSON senders write (U+2028, U+2029 and U+0085 escaped, as metlog-py
    /// escapes them).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        crate::value::write_json(&mut out, self);
        // Cannot fail: serde writes UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The message as a [`serde_json::Value`].
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Parses one JSON envelope.
    pub fn from_json(text: &str) -> Result<Message, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// This message with its timestamp cut to whole microseconds, the
    /// precision of the wire format (for comparing with a parsed copy).
    pub fn truncated_to_micros(&self) -> Message {
        let mut msg = self.clone();
        if let Ok(since) = msg.timestamp.duration_since(SystemTime::UNIX_EPOCH) {
            msg.timestamp -=
                std::time::Duration::from_nanos(u64::from(since.subsec_nanos() % 1000));
        }
        msg
    }

    /// The message as a borrowed [`Envelope`]: what encoders and filters
    /// read.
    pub fn envelope(&self) -> Envelope<'_> {
        Envelope {
            kind: &self.kind,
            timestamp: self.timestamp,
            logger: &self.logger,
            severity: self.severity,
            payload: Payload::Text(&self.payload),
            fields: FieldsView::of(&self.fields),
            pid: self.pid,
            hostname: &self.hostname,
        }
    }

    /// The value of field `key`.
    pub fn field(&self, key: &str) -> Option<&crate::Value> {
        self.fields.get(key)
    }
}

impl serde::Serialize for Message {
    /// Through its [`Envelope`]: the one JSON encoding.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.envelope().serialize(serializer)
    }
}

impl<'a> From<&'a Message> for Envelope<'a> {
    fn from(message: &'a Message) -> Envelope<'a> {
        message.envelope()
    }
}

#[cfg(test)]
thread_local! {
    /// Messages assembled from a view on this thread (tests check that the
    /// record road builds none).
    pub(crate) static BUILT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl From<Envelope<'_>> for Message {
    /// An owned copy of the view: the one place a message is assembled from
    /// its parts (borrowed text is copied, inline when short).
    fn from(view: Envelope<'_>) -> Message {
        #[cfg(test)]
        BUILT.with(|n| n.set(n.get() + 1));
        Message {
            kind: SharedStr::copy_from(view.kind),
            timestamp: view.timestamp,
            logger: SharedStr::copy_from(view.logger),
            severity: view.severity,
            payload: match view.payload {
                Payload::Text(text) => SharedStr::copy_from(text),
                Payload::I64(n) => SharedStr::from_i64(n),
                Payload::U64(n) => SharedStr::from_u64(n),
            },
            fields: view.fields.to_fields(),
            pid: view.pid,
            // This host's name (nearly always) is kept for the whole process.
            hostname: match identity().hostname {
                own if std::ptr::eq(own, view.hostname) => SharedStr::from_static(own),
                _ => SharedStr::copy_from(view.hostname),
            },
        }
    }
}

fn parse_timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(d)?;
    timestamp::parse(&text).map_err(serde::de::Error::custom)
}

/// Text, or as metlog-py's plugins write it a number (metlog-psutils sends
/// `"payload": 12345.5`) or any other JSON value, kept as its JSON text;
/// `null` is empty.
/// A number is kept as written (read raw): an integer beyond 64 bits
/// stays `123456789012345678901234567890`, not a float's rounding.
fn payload_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SharedStr, D::Error> {
    let Some(raw) = Option::<Box<serde_json::value::RawValue>>::deserialize(d)? else {
        return Ok(SharedStr::EMPTY);
    };
    match raw.get().as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw.get())
            .map(SharedStr::from)
            .map_err(serde::de::Error::custom),
        Some(b'n') => Ok(SharedStr::EMPTY),
        // An object or array: written compactly.
        Some(b'{' | b'[') => serde_json::from_str::<serde_json::Value>(raw.get())
            .map(|value| value.to_string().into())
            .map_err(serde::de::Error::custom),
        // A number or a boolean: as written.
        _ => Ok(SharedStr::copy_from(raw.get())),
    }
}

/// The value, its default when `null`.
fn null_default<'de, D: serde::Deserializer<'de>, T: Default + serde::Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}
