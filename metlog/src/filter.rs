//! Filters: decide, message by message, what reaches the sender.
//!
//! metlog-py's four filter providers are here under the same names, and any
//! closure `Fn(&Message) -> bool` is a filter too. Filters read the message
//! as a borrowed [`Envelope`], before anything is built or queued; a
//! closure on `&Message` is handed an owned copy (one allocation per
//! message), so prefer [`envelope`] for a closure on a hot path. A client applies its filters
//! in the order they were added; the first one that returns `false` drops the
//! message (counted in [`Stats::filtered`](crate::Stats::filtered)).
//!
//! ```
//! use metlog::{filter, sender::CaptureSender, Severity};
//! let capture = CaptureSender::new();
//! let client = metlog::Client::builder("app")
//!     .sender(capture.clone())
//!     .filter(filter::severity_max(Severity::Warning)) // drop info and debug
//!     .filter(filter::type_blacklist(["noise"]))
//!     .filter(|msg: &metlog::Message| !msg.payload.contains("password"))
//!     .build();
//! client.info("dropped: severity 6 > 4");
//! client.error("kept");
//! client.metlog("noise").severity(Severity::Error).send();
//! client.error("password=hunter2");
//! assert_eq!(capture.len(), 1);
//! ```

use crate::{Envelope, Message, Severity, SharedStr};

/// Decides whether a message is delivered.
pub trait Filter: Send + Sync + 'static {
    /// `true` to deliver `message`, `false` to drop it.
    fn allow(&self, message: &Envelope<'_>) -> bool;
}

impl<F> Filter for F
where
    F: Fn(&Message) -> bool + Send + Sync + 'static,
{
    fn allow(&self, message: &Envelope<'_>) -> bool {
        self(&Message::from(*message))
    }
}

/// A filter from a closure on the borrowed [`Envelope`]: nothing is built
/// to ask it.
///
/// ```
/// use metlog::{filter, sender::CaptureSender};
/// let capture = CaptureSender::new();
/// let client = metlog::Client::builder("app")
///     .sender(capture.clone())
///     .filter(filter::envelope(|m| m.field("name").and_then(|n| n.as_str().map(|n| !n.starts_with("debug."))).unwrap_or(true)))
///     .build();
/// client.incr("debug.noise");
/// client.incr("requests");
/// assert_eq!(capture.len(), 1);
/// ```
pub fn envelope<F>(f: F) -> impl Filter
where
    F: Fn(&Envelope<'_>) -> bool + Send + Sync + 'static,
{
    OnEnvelope(f)
}

/// A filter made of a closure on the envelope.
struct OnEnvelope<F>(F);

impl<F> Filter for OnEnvelope<F>
where
    F: Fn(&Envelope<'_>) -> bool + Send + Sync + 'static,
{
    fn allow(&self, message: &Envelope<'_>) -> bool {
        (self.0)(message)
    }
}

/// Drops messages less severe than `max` (metlog-py's
/// `severity_max_provider`): a message passes when its severity number is at
/// most `max`'s.
pub fn severity_max(max: Severity) -> impl Filter {
    OnEnvelope(move |message: &Envelope<'_>| message.severity <= max)
}

/// Delivers only messages whose type is listed (metlog-py's
/// `type_whitelist_provider`).
pub fn type_whitelist<I>(types: I) -> impl Filter
where
    I: IntoIterator,
    I::Item: Into<SharedStr>,
{
    let types: Vec<SharedStr> = types.into_iter().map(Into::into).collect();
    OnEnvelope(move |message: &Envelope<'_>| types.iter().any(|t| *t == message.kind))
}

/// Drops messages whose type is listed (metlog-py's
/// `type_blacklist_provider`).
pub fn type_blacklist<I>(types: I) -> impl Filter
where
    I: IntoIterator,
    I::Item: Into<SharedStr>,
{
    let types: Vec<SharedStr> = types.into_iter().map(Into::into).collect();
    OnEnvelope(move |message: &Envelope<'_>| !types.iter().any(|t| *t == message.kind))
}

/// A maximum severity per message type (metlog-py's
/// `type_severity_max_provider`): a message of a listed type passes when its
/// severity number is at most that type's maximum; other types always pass.
///
/// ```
/// use metlog::{filter, Severity};
/// let f = filter::type_severity_max([("oldstyle", Severity::Warning), ("cef", Severity::Error)]);
/// # let _ = f;
/// ```
pub fn type_severity_max<I, T>(limits: I) -> impl Filter
where
    I: IntoIterator<Item = (T, Severity)>,
    T: Into<SharedStr>,
{
    let limits: Vec<(SharedStr, Severity)> =
        limits.into_iter().map(|(t, s)| (t.into(), s)).collect();
    OnEnvelope(move |message: &Envelope<'_>| {
        let limit = limits.iter().find(|(t, _)| **t == *message.kind);
        limit.is_none_or(|(_, max)| message.severity <= *max)
    })
}
