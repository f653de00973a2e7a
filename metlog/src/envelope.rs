//! [`Envelope`]: one borrowed view of a message, whatever holds it — an owned
//! [`Message`](crate::Message), a record in a background sender's queue, an
//! annotated function's call. Every encoder (JSON, statsd, syslog, log) and
//! every filter reads this view, so each exists once.

use std::time::SystemTime;

use crate::site::FieldLit;
use crate::timestamp::Rfc3339;
use crate::value::ValueRef;
use crate::{Fields, Severity};

/// The envelope version this crate writes into every message.
pub(crate) const ENV_VERSION: &str = "0.8";

/// A metlog message, borrowed: the nine keys of envelope 0.8 (see
/// [`Message`](crate::Message)), read from wherever the message is held
/// without building it.
///
/// It serialises (serde) to exactly the JSON an owned `Message` does; an
/// owned copy is [`Message::from(envelope)`](crate::Message#impl-From<Envelope<'_>>-for-Message).
///
/// ```
/// use metlog::{Envelope, Message};
/// let mut message = Message::new("counter", "app");
/// message.fields.insert("name", "hits");
/// let view: Envelope<'_> = message.envelope();
/// assert_eq!(view.kind, "counter");
/// assert_eq!(view.field("name").unwrap(), "hits");
/// assert_eq!(view.payload(), "");
/// assert_eq!(serde_json::to_string(&view).unwrap(), message.to_json());
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Envelope<'a> {
    /// The message type (`type` on the wire).
    pub kind: &'a str,
    /// When the message was made.
    pub timestamp: SystemTime,
    /// The emitting application.
    pub logger: &'a str,
    /// RFC 5424 severity.
    pub severity: Severity,
    /// The body (read it with [`payload`](Envelope::payload)).
    pub(crate) payload: Payload<'a>,
    /// The metadata (read it with [`field`](Envelope::field)).
    pub(crate) fields: FieldsView<'a>,
    /// The emitting process's id.
    pub pid: u32,
    /// The emitting host's name.
    pub hostname: &'a str,
}

impl Envelope<'_> {
    /// The payload as text (a counter's count, a timer's milliseconds as
    /// their decimal strings).
    pub fn payload(&self) -> std::borrow::Cow<'_, str> {
        match self.payload {
            Payload::Text(text) => text.into(),
            number => number.to_string().into(),
        }
    }

    /// The value of field `key`, copied.
    pub fn field(&self, key: &str) -> Option<crate::Value> {
        self.fields.get(key).map(|value| value.to_value())
    }
}

impl<'a> From<&Envelope<'a>> for Envelope<'a> {
    fn from(view: &Envelope<'a>) -> Envelope<'a> {
        *view
    }
}

/// The payload of an [`Envelope`]: text, or the number a counter or timer
/// carries (written as its decimal string on the wire).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Payload<'a> {
    /// Text.
    Text(&'a str),
    /// A signed number (a counter's count).
    I64(i64),
    /// An unsigned number (a timer's milliseconds).
    U64(u64),
}

impl Payload<'_> {
    /// Calls `f` with the payload as a string, formatting numbers into a
    /// buffer on the stack.
    pub(crate) fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let mut digits = [0u8; crate::text::DECIMAL_LEN];
        let text = match *self {
            Payload::Text(s) => s,
            Payload::I64(n) => crate::text::write_decimal(n < 0, n.unsigned_abs(), &mut digits),
            Payload::U64(n) => crate::text::write_decimal(false, n, &mut digits),
        };
        f(text)
    }
}

impl std::fmt::Display for Payload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

/// The fields of an [`Envelope`], in the order they are written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FieldsView<'a> {
    /// A message's own fields.
    Fields(&'a Fields),
    /// A counter's or timer's: literals (an annotated function's), then
    /// `name`, `rate` and, for annotated functions, `outcome`.
    Metric {
        literals: &'a [(&'static str, FieldLit)],
        name: &'a str,
        rate: f64,
        outcome: Option<&'static str>,
    },
}

impl<'a> FieldsView<'a> {
    /// The fields of an owned [`Fields`].
    pub(crate) fn of(fields: &'a Fields) -> Self {
        FieldsView::Fields(fields)
    }

    /// `literals`, `name`, `rate` and `outcome` (when given).
    pub(crate) fn metric(
        literals: &'a [(&'static str, FieldLit)],
        name: &'a str,
        rate: f64,
        outcome: Option<&'static str>,
    ) -> Self {
        FieldsView::Metric {
            literals,
            name,
            rate,
            outcome,
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<ValueRef<'a>> {
        match self {
            FieldsView::Fields(fields) => fields.get(key).map(ValueRef::from),
            // The macros refuse literals named like the metric's own fields,
            // so those are answered without a search (a statsd line asks for
            // `name` and `rate` of every message: the search was an eighth
            // of the worker's time).
            FieldsView::Metric {
                literals,
                name,
                rate,
                outcome,
            } => match key {
                "name" => Some(ValueRef::Str(name)),
                "rate" => Some(ValueRef::F64(*rate)),
                "outcome" => outcome.map(ValueRef::Str),
                _ => literals
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, literal)| literal.as_ref()),
            },
        }
    }

    /// The fields in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'a str, ValueRef<'a>)> + 'a {
        let (fields, literals, metric) = match self {
            FieldsView::Fields(fields) => (Some(fields), &[][..], None),
            FieldsView::Metric {
                literals,
                name,
                rate,
                outcome,
            } => (None, literals, Some((name, rate, outcome))),
        };
        let own = fields.into_iter().flat_map(Fields::iter);
        let literals = literals
            .iter()
            .map(|(key, literal)| (*key, literal.as_ref()));
        let metric = metric.into_iter().flat_map(|(name, rate, outcome)| {
            [("name", ValueRef::Str(name)), ("rate", ValueRef::F64(rate))]
                .into_iter()
                .chain(outcome.map(|outcome| ("outcome", ValueRef::Str(outcome))))
        });
        own.map(|(key, value)| (key, ValueRef::from(value)))
            .chain(literals)
            .chain(metric)
    }

    /// An owned copy.
    pub(crate) fn to_fields(self) -> Fields {
        match self {
            FieldsView::Fields(fields) => fields.clone(),
            FieldsView::Metric { .. } => self.iter().map(|(k, v)| (k, v.to_value())).collect(),
        }
    }
}

impl serde::Serialize for FieldsView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// The JSON envelope — metlog-py's key order — and the only JSON encoder.
impl serde::Serialize for Envelope<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Envelope", 9)?;
        out.serialize_field("type", self.kind)?;
        out.serialize_field("timestamp", &Collected(Rfc3339(self.timestamp)))?;
        out.serialize_field("logger", self.logger)?;
        out.serialize_field("severity", &self.severity)?;
        out.serialize_field("payload", &Collected(self.payload))?;
        out.serialize_field("fields", &self.fields)?;
        out.serialize_field("env_version", ENV_VERSION)?;
        out.serialize_field("metlog_pid", &self.pid)?;
        out.serialize_field("metlog_hostname", self.hostname)?;
        out.end()
    }
}

/// Serialises a `Display` as a string, without an intermediate `String`.
struct Collected<T>(T);

impl<T: std::fmt::Display> serde::Serialize for Collected<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
