//! Encoders: how a [`Message`](crate::Message) becomes bytes on a transport.
//!
//! Every encoding starts from the same envelope: [`json`] (metlog's native
//! wire format), [`statsd`] lines and RFC 5424 [`syslog`] messages.

pub mod json;
pub mod statsd;
pub mod syslog;
