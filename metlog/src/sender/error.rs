//! [`SendError`]: why a sender did not take a message.

use std::borrow::Cow;
use std::fmt;

/// Why a [`Sender`](super::Sender) could not deliver a message.
#[derive(Debug)]
pub struct SendError {
    kind: SendErrorKind,
    /// Static for the errors of the hot path (a full queue), which must
    /// not allocate: a saturated queue refuses millions a second.
    message: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The category of a [`SendError`], which decides how the client counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The sender had no room (a full queue or capture buffer): counted as
    /// *dropped*, not reported on stderr.
    Full,
    /// An I/O error from the transport: counted as *failed*.
    Io,
    /// The message could not be encoded for this transport (e.g. larger than a
    /// datagram): counted as *failed*.
    Encode,
    /// The sender was shut down: counted as *failed*.
    Closed,
    /// The sender does not carry messages of this type (e.g. a log line
    /// sent to statsd): counted as *ignored*, and reported once per client.
    Unsupported,
    /// Anything else: counted as *failed*.
    Other,
}

impl SendError {
    /// An error of `kind` with a human-readable reason.
    pub fn new(kind: SendErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        SendError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The sender had no room for the message.
    pub fn full() -> Self {
        Self::new(SendErrorKind::Full, "sender is full")
    }

    /// The sender does not carry messages of this type.
    pub fn unsupported(kind: &str) -> Self {
        Self::new(
            SendErrorKind::Unsupported,
            format!("messages of type {kind:?} are not carried by this sender"),
        )
    }

    /// The sender has been shut down.
    pub fn closed() -> Self {
        Self::new(SendErrorKind::Closed, "sender is closed")
    }

    /// An I/O error, with what was being done (`context`) for the report.
    pub fn io(context: impl Into<Cow<'static, str>>, error: std::io::Error) -> Self {
        Self::new(SendErrorKind::Io, context).with_source(error)
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The category, which decides how the client counts the error.
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_deref()?)
    }
}
