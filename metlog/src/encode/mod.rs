//! Encoders: how a message becomes bytes on a transport.
//!
//! Every encoding reads the same borrowed view of the envelope, an
//! [`Envelope`](crate::Envelope) — of an owned [`Message`](crate::Message)
//! (`&message` converts), or of a record in a background sender's queue —
//! and each exists once: `json` (metlog's native wire format, the
//! envelope's `Serialize`), [`statsd`] lines and RFC 5424 [`syslog`]
//! messages.

pub(crate) mod json;
pub mod statsd;
pub mod syslog;

#[cfg(test)]
mod hostile_tests;
