//! Encoders: how a [`Message`](crate::Message) becomes bytes on a transport.
//!
//! Every encoding starts from the same envelope. This module has the JSON one
//! (metlog's native wire format); the statsd and syslog encoders arrive with
//! their senders.

pub mod json;
