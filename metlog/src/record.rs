//! [`Record`]: the one compact thing every call makes, whatever the API — an
//! annotated function, `client.incr`, a timer guard, a log line, a message
//! builder. A sender either reads it in place (through its [`Envelope`]) or,
//! when it delivers in the background, stores it in its queue as it is:
//! text borrowed by the call is copied there (inline when short), and the
//! envelope is only ever assembled on the worker thread, as a view.

use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use crate::envelope::{Envelope, FieldsView, Payload};
use crate::process::identity;
use crate::site::{Kind, Site, OUTCOMES};
use crate::{Fields, Message, Severity, SharedStr, Text};

/// How long a borrowed name or text may be and still be copied into a
/// background sender's queue without an allocation (longer text costs one;
/// owned text — a `String`, a [`SharedStr`] — is moved, never copied).
pub(crate) const INLINE_TEXT: usize = 30;

/// A client's process-unique identity, shared by its clones: how a sender
/// tells whether one client alone sends through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientId(pub(crate) u64);

/// What a client adds to each of its records: its logger and severity.
#[derive(Debug)]
pub(crate) struct ClientDefaults {
    pub(crate) id: ClientId,
    pub(crate) logger: SharedStr,
    pub(crate) severity: Severity,
}

impl ClientDefaults {
    pub(crate) fn new(id: u64, logger: SharedStr, severity: Severity) -> ClientDefaults {
        ClientDefaults {
            id: ClientId(id),
            logger,
            severity,
        }
    }
}

/// The "client" of a whole [`Message`] handed to a sender directly: its
/// envelope carries everything, so these defaults are never read. Its id
/// is no client's.
static NO_CLIENT: LazyLock<Arc<ClientDefaults>> = LazyLock::new(|| {
    Arc::new(ClientDefaults::new(
        u64::MAX - 1,
        SharedStr::default(),
        Severity::Informational,
    ))
});

/// A whole message, as a sender takes it: what
/// [`Sender::send`](crate::sender::Sender::send) is given for a [`Message`]
/// made by hand (or read back with [`Message::from_json`]).
impl From<Message> for Record<'static> {
    fn from(message: Message) -> Record<'static> {
        Record {
            at: message.timestamp,
            client: &NO_CLIENT,
            body: Body::Message(Box::new(message)),
        }
    }
}

/// One call's message, not yet built: what a client hands its sender.
///
/// Read it with [`envelope`](Record::envelope); take it as an owned
/// [`Message`] with [`into_message`](Record::into_message) (what
/// a sender that wants a whole message does).
#[derive(Debug)]
pub struct Record<'a> {
    pub(crate) at: SystemTime,
    pub(crate) client: &'a Arc<ClientDefaults>,
    pub(crate) body: Body<Text<'a>>,
}

/// What a record says beyond its time and client. `T` is its text: borrowed
/// from the call, or stored in a queue.
#[derive(Debug)]
pub(crate) enum Body<T> {
    /// An annotated function's counter or timer: everything but the elapsed
    /// time and the outcome is in its static site.
    Site {
        site: &'static Site,
        millis: u64,
        outcome: u8,
    },
    /// `client.incr`, `client.counter(..)`, timer guards, `timer_send`.
    Metric {
        kind: Kind,
        name: T,
        /// The count (as `i64` bits) or the elapsed milliseconds.
        value: u64,
        rate: f64,
        /// Options few calls use, kept out of line so the usual record
        /// stays small.
        extra: Option<Box<Extra>>,
    },
    /// A log line (`client.info(..)` and the like): an `oldstyle` message.
    Log { severity: Severity, text: T },
    /// Any other message, built whole by the caller.
    Message(Box<Message>),
}

/// A metric's rarely used options.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) logger: Option<SharedStr>,
    pub(crate) severity: Option<Severity>,
    /// All of the message's fields, `name` and `rate` included (set where
    /// the caller's own fields would have them).
    pub(crate) fields: Fields,
}

/// Text a record carries: the call's, or a queue's copy of it.
pub(crate) trait RecordText {
    fn text(&self) -> &str;
    /// What it holds on the heap (for a queue's byte ceiling).
    fn heap_bytes(&self) -> usize;
}

impl RecordText for Text<'_> {
    fn text(&self) -> &str {
        self.as_str()
    }
    /// What it will hold on the heap once stored ([`StoredText`]).
    fn heap_bytes(&self) -> usize {
        match self {
            Text::Borrowed(s) if s.len() <= INLINE_TEXT => 0,
            other => other.as_str().len(),
        }
    }
}

/// Text copied into a queue: inline when it fits, else shared.
#[derive(Debug)]
pub(crate) enum StoredText {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Shared(SharedStr),
}

impl StoredText {
    #[inline]
    fn store(text: Text<'_>) -> StoredText {
        match text {
            Text::Borrowed(s) if s.len() <= INLINE_TEXT => {
                let mut bytes = [0u8; INLINE_TEXT];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                StoredText::Inline {
                    len: s.len() as u8,
                    bytes,
                }
            }
            Text::Borrowed(s) => StoredText::Shared(SharedStr::copy_from(s)),
            Text::Shared(s) => StoredText::Shared(s),
        }
    }
}

impl RecordText for StoredText {
    fn text(&self) -> &str {
        match self {
            // Copied whole from a `&str`: always valid; the fallback keeps
            // the crate free of `unsafe`.
            StoredText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            StoredText::Shared(s) => s,
        }
    }
    fn heap_bytes(&self) -> usize {
        match self {
            StoredText::Inline { .. } => 0,
            StoredText::Shared(s) => s.len(),
        }
    }
}

/// A record as a background sender's queue holds it: `client` is the
/// index of the sending client's defaults among those its queue shard holds.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) at: SystemTime,
    pub(crate) client: u32,
    pub(crate) body: Body<StoredText>,
}

impl Stored {
    /// About how many bytes it holds on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.body.heap_bytes()
    }

    /// The envelope, with `client`'s defaults (those at index `self.client`).
    pub(crate) fn envelope<'s>(&'s self, client: &'s ClientDefaults) -> Envelope<'s> {
        self.body.envelope(self.at, client)
    }
}

/// No fields (a log line's).
static NO_FIELDS: Fields = Fields::new();

impl<T: RecordText> Body<T> {
    fn heap_bytes(&self) -> usize {
        match self {
            Body::Site { .. } => 0,
            Body::Metric { name, extra, .. } => {
                name.heap_bytes()
                    + extra.as_ref().map_or(0, |extra| {
                        extra.fields.heap_bytes() + extra.logger.as_ref().map_or(0, |l| l.len())
                    })
            }
            Body::Log { text, .. } => text.heap_bytes(),
            Body::Message(message) => message.heap_bytes(),
        }
    }

    pub(crate) fn kind(&self) -> &str {
        match self {
            Body::Site { site, .. } => metric_type(site.kind),
            Body::Metric { kind, .. } => metric_type(*kind),
            Body::Log { .. } => "oldstyle",
            Body::Message(message) => &message.kind,
        }
    }

    fn envelope<'s>(&'s self, at: SystemTime, client: &'s ClientDefaults) -> Envelope<'s> {
        let identity = identity();
        let envelope = |logger, severity, payload, fields| Envelope {
            kind: self.kind(),
            timestamp: at,
            logger,
            severity,
            payload,
            fields,
            pid: identity.pid(),
            hostname: identity.hostname,
        };
        match self {
            Body::Site {
                site,
                millis,
                outcome,
            } => envelope(
                site.logger.unwrap_or(&client.logger),
                site.severity.map_or(client.severity, Severity::from),
                match site.kind {
                    Kind::Timer => Payload::U64(*millis),
                    Kind::Incr => Payload::I64(site.count),
                },
                FieldsView::metric(
                    site.fields,
                    site.name(),
                    site.rate,
                    Some(OUTCOMES[usize::from(outcome & 3)]),
                ),
            ),
            Body::Metric {
                kind,
                name,
                value,
                rate,
                extra,
            } => {
                let payload = match kind {
                    Kind::Timer => Payload::U64(*value),
                    Kind::Incr => Payload::I64(*value as i64),
                };
                match extra {
                    None => envelope(
                        &client.logger,
                        client.severity,
                        payload,
                        FieldsView::metric(&[], name.text(), *rate, None),
                    ),
                    Some(extra) => envelope(
                        extra.logger.as_deref().unwrap_or(&client.logger),
                        extra.severity.unwrap_or(client.severity),
                        payload,
                        FieldsView::of(&extra.fields),
                    ),
                }
            }
            Body::Log { severity, text } => envelope(
                &client.logger,
                *severity,
                Payload::Text(text.text()),
                FieldsView::of(&NO_FIELDS),
            ),
            Body::Message(message) => message.envelope(),
        }
    }
}

fn metric_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Timer => "timer",
        Kind::Incr => "counter",
    }
}

impl<'a> Record<'a> {
    /// The message, borrowed.
    pub fn envelope(&self) -> Envelope<'_> {
        self.body.envelope(self.at, self.client)
    }

    /// The message type (`counter`, `timer`, `oldstyle`, …).
    pub fn kind(&self) -> &str {
        self.body.kind()
    }

    /// Whether it is a counter or a timer made by a metric call (known
    /// without comparing its type's text).
    #[inline]
    pub(crate) fn is_metric_call(&self) -> bool {
        matches!(self.body, Body::Site { .. } | Body::Metric { .. })
    }

    /// The id of the client that made it.
    pub(crate) fn client_id(&self) -> ClientId {
        self.client.id
    }

    /// The message, owned.
    pub fn into_message(mut self) -> Message {
        // A metric's own fields are moved into the message, not copied
        // (copying a deeply nested value recurses).
        let own_fields = match &mut self.body {
            Body::Metric {
                extra: Some(extra), ..
            } => Some(std::mem::take(&mut extra.fields)),
            _ => None,
        };
        match self.body {
            Body::Message(message) => *message,
            ref body => {
                let mut message = Message::from(body.envelope(self.at, self.client));
                if let Some(fields) = own_fields {
                    message.fields = fields;
                }
                // The client's logger is shared, not copied.
                if message.logger == self.client.logger {
                    message.logger = self.client.logger.clone();
                }
                message
            }
        }
    }

    /// What it will hold on the heap once stored.
    #[inline]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.body.heap_bytes()
    }

    /// Whether a field value nests deeper than [`MAX_NESTING`](crate::value::MAX_NESTING)
    /// (too deep for a worker thread to encode and drop safely).
    pub(crate) fn nests_too_deep(&self) -> bool {
        match &self.body {
            Body::Metric {
                extra: Some(extra), ..
            } => extra.fields.nests_too_deep(),
            Body::Message(message) => message.fields.nests_too_deep(),
            _ => false,
        }
    }

    /// The record as a queue stores it, its client's defaults at `client`.
    #[inline]
    pub(crate) fn into_stored(self, client: u32) -> Stored {
        let body = match self.body {
            Body::Site {
                site,
                millis,
                outcome,
            } => Body::Site {
                site,
                millis,
                outcome,
            },
            Body::Metric {
                kind,
                name,
                value,
                rate,
                extra,
            } => Body::Metric {
                kind,
                name: StoredText::store(name),
                value,
                rate,
                extra,
            },
            Body::Log { severity, text } => Body::Log {
                severity,
                text: StoredText::store(text),
            },
            Body::Message(message) => Body::Message(message),
        };
        Stored {
            at: self.at,
            client,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every call puts in a queue stays small: the caller writes it
    /// into memory the worker read last.
    #[test]
    fn a_stored_record_is_compact() {
        assert!(
            std::mem::size_of::<Stored>() <= 88,
            "{} bytes",
            std::mem::size_of::<Stored>()
        );
    }

    #[test]
    fn borrowed_text_is_copied_inline_up_to_the_documented_length() {
        let fits = "x".repeat(INLINE_TEXT);
        let stored = StoredText::store(Text::Borrowed(&fits));
        assert!(matches!(stored, StoredText::Inline { .. }));
        assert_eq!(stored.text(), fits);
        let longer = "é".repeat(INLINE_TEXT);
        let stored = StoredText::store(Text::Borrowed(&longer));
        assert!(matches!(stored, StoredText::Shared(_)));
        assert_eq!(stored.text(), longer);
    }
}
