//! A `tracing` layer (feature `tracing`): events become `oldstyle`
//! messages, and spans can become `timer` messages.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! # let capture = metlog::sender::CaptureSender::new();
//! # let client = metlog::Client::builder("app").sender(capture.clone()).build();
//! let subscriber = tracing_subscriber::registry()
//!     .with(metlog::bridge::tracing::MetlogLayer::new(client).with_span_timers(true));
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("handle_request");
//!     let _entered = span.enter();
//!     tracing::warn!(user = "ada", attempts = 3, "login failed");
//! });
//! let msgs = capture.messages();
//! assert_eq!(msgs[0].payload, "login failed");
//! assert_eq!(msgs[0].fields["user"], "ada");
//! assert_eq!(msgs[1].kind, "timer");
//! assert_eq!(msgs[1].fields["name"], "handle_request");
//! ```
//!
//! Events and spans below `INFO` (`DEBUG`, `TRACE`: a web server's
//! "connection accepted") are left out unless [`MetlogLayer::with_level`]
//! asks for them, as the `log` bridge is usually installed at `Info`.

use std::time::Instant;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::{Client, Fields, Severity, SharedStr};

/// Sends `tracing` events (and, optionally, closed spans) through a metlog
/// client, or the current one.
///
/// Events: type `oldstyle`, payload the `message` field (of any type:
/// `message = 42` gives `"42"`), every other field in `fields`, plus
/// `target` — the event's target, unless the event has a field of that name,
/// which is kept — severity from the level (`ERROR` → 3, `WARN`
/// → 4, `INFO` → 6, `DEBUG`/`TRACE` → 7). Spans, when enabled: a `timer`
/// named after the span, from creation to close. Only events and spans at
/// its level or above (default `INFO`; [`MetlogLayer::with_level`]).
#[derive(Debug)]
pub struct MetlogLayer {
    client: Option<Client>,
    span_timers: bool,
    level: LevelFilter,
}

impl MetlogLayer {
    /// Sends through `client`, from `INFO` up.
    pub fn new(client: Client) -> Self {
        MetlogLayer {
            client: Some(client),
            span_timers: false,
            level: LevelFilter::INFO,
        }
    }

    /// Sends through the current client of each event, from `INFO` up.
    pub fn current() -> Self {
        MetlogLayer {
            client: None,
            span_timers: false,
            level: LevelFilter::INFO,
        }
    }

    /// Takes events (and spans, for their timers) at `level` or above
    /// (default `INFO`); `LevelFilter::OFF` takes none.
    ///
    /// An event below the level costs one comparison: its fields are not
    /// visited, no message is made. The level is this layer's own, never a
    /// filter on the subscriber's other layers (a `Layer::enabled` or
    /// `max_level_hint` would be: `tracing-subscriber` would then withhold
    /// `DEBUG` from a layer beside it that asks for it). For events below
    /// it not to be built at all, when no other layer wants them, give the
    /// subscriber a level too (`.with(LevelFilter::INFO)`) or use a
    /// per-layer filter (`MetlogLayer::new(client).with_filter(…)`).
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// use tracing::level_filters::LevelFilter;
    /// # let capture = metlog::sender::CaptureSender::new();
    /// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
    /// let layer = metlog::bridge::tracing::MetlogLayer::new(client).with_level(LevelFilter::DEBUG);
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::debug!("kept");
    ///     tracing::trace!("left out");
    /// });
    /// assert_eq!(capture.messages().len(), 1);
    /// ```
    pub fn with_level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// Whether the level takes what `metadata` describes.
    fn takes(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.level
    }

    /// Also report each span as a `timer` when it closes.
    pub fn with_span_timers(mut self, enabled: bool) -> Self {
        self.span_timers = enabled;
        self
    }
}

/// The severity of a `tracing` level.
pub fn severity(level: &Level) -> Severity {
    match *level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warning,
        Level::INFO => Severity::Informational,
        _ => Severity::Debug,
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Fields,
    /// A field's `Debug` returned an error.
    failed: bool,
}

impl FieldVisitor {
    /// A field of a plain type: the payload when it is `message`.
    fn record_value(&mut self, field: &Field, value: impl Into<crate::Value> + ToString) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.fields.insert(field.name(), value);
        }
    }
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_value(field, value.to_owned());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_value(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_value(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_value(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_value(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        // A `Debug` that returns an error fails the event (`format!` would
        // panic in the caller).
        let mut text = String::new();
        self.failed |= write!(text, "{value:?}").is_err();
        self.record_value(field, text);
    }
}

/// When a span started, kept in its extensions.
struct Started(Instant);

impl<S> Layer<S> for MetlogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !self.takes(event.metadata()) {
            return;
        }
        super::hand_over(&self.client, |client| {
            if !client.is_active() {
                return;
            }
            let mut visitor = FieldVisitor::default();
            // The application's `Debug` code runs here: a failure or a panic
            // costs the event (counted as failed, reported once).
            let recorded = client.format(|_| {
                event.record(&mut visitor);
                if visitor.failed {
                    Err(std::fmt::Error)
                } else {
                    Ok(())
                }
            });
            if recorded.is_none() {
                return;
            }
            let metadata = event.metadata();
            // A field the event names `target` is the application's: kept.
            if !visitor.fields.contains_key("target") {
                visitor
                    .fields
                    .insert("target", SharedStr::from_static(metadata.target()));
            }
            let msg = client.make_message(
                SharedStr::from_static("oldstyle"),
                None,
                Some(severity(metadata.level())),
                SharedStr::from(visitor.message.unwrap_or_default()),
                visitor.fields,
                None,
            );
            client.dispatch_message(msg);
        });
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.span_timers || !self.takes(attrs.metadata()) {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.span_timers {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        let name = span.metadata().name();
        super::hand_over(&self.client, |client| {
            client.timer_send(SharedStr::from_static(name), started.elapsed())
        });
    }
}
