//! [`ClientBuilder`]: how a [`Client`] is made.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{Client, Counters, DisabledTimers, Inner};
use crate::filter::Filter;
use crate::record::ClientDefaults;
use crate::sender::{Held, Sender, StdoutSender};
use crate::{Severity, SharedStr};

/// Configures a [`Client`]; made by [`Client::builder`].
///
/// ```
/// use metlog::{filter, sender::CaptureSender, Severity};
/// let client = metlog::Client::builder("myapp")
///     .severity(Severity::Notice)           // default severity of messages
///     .sender(CaptureSender::new())         // default: StdoutSender
///     .disabled_timers(["slow.report"])     // "*" disables every timer
///     .filter(filter::severity_max(Severity::Informational))
///     .build();
/// assert_eq!(client.logger(), "myapp");
/// assert!(client.is_timer_disabled("slow.report"));
/// ```
#[must_use = "a ClientBuilder does nothing until .build() is called"]
pub struct ClientBuilder {
    logger: SharedStr,
    severity: Severity,
    pub(crate) sender: Option<Held>,
    disabled_timers: DisabledTimers,
    filters: Vec<Box<dyn Filter>>,
    plugins: Vec<(String, Box<dyn std::any::Any + Send + Sync>)>,
    pub(crate) config_json: Option<String>,
}

impl ClientBuilder {
    pub(super) fn new(logger: SharedStr) -> Self {
        ClientBuilder {
            logger,
            severity: Severity::default(),
            sender: None,
            disabled_timers: DisabledTimers::default(),
            filters: Vec::new(),
            plugins: Vec::new(),
            config_json: None,
        }
    }

    /// The default severity of messages that don't set their own
    /// (default: [`Severity::Informational`], 6).
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Where messages go. Without this call the client writes JSON lines to
    /// stdout ([`StdoutSender`]), metlog-py's development default, so that a
    /// forgotten sender shows up rather than losing data silently.
    pub fn sender<S: Sender>(mut self, sender: S) -> Self {
        self.sender = Some(Held::new(sender));
        self
    }

    /// Timers that produce nothing: each item is a timer name, or `"*"` for
    /// all timers. Adds to any names given before. As in metlog-py, an
    /// annotated function without a `name` of its own is disabled by its full
    /// name (`myapp.db.timed_add`) or its bare one (`timed_add`); one named
    /// `name = "db.add"` (`@timeit(name='db.add')`), by that name or its bare
    /// function name; one named by a bare string first
    /// (`#[metlog::timer("db.add")]`, `@timeit('db.add')`), by that name only.
    /// `timer_send` is disabled by its name too (metlog-py's sent regardless).
    pub fn disabled_timers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<SharedStr>,
    {
        for name in names {
            self.disabled_timers.insert(name.into());
        }
        self
    }

    /// Adds a filter; filters run in the order they were added, and the first
    /// that rejects a message drops it.
    pub fn filter(mut self, filter: impl Filter) -> Self {
        self.filters.push(Box::new(filter));
        self
    }

    /// Binds `plugin` under `name` (replacing a plugin of that name); get it
    /// back with [`Client::plugin`].
    pub fn plugin(
        mut self,
        name: impl Into<String>,
        plugin: impl std::any::Any + Send + Sync,
    ) -> Self {
        self.add_plugin(name.into(), Box::new(plugin));
        self
    }

    pub(crate) fn add_plugin(
        &mut self,
        name: String,
        plugin: Box<dyn std::any::Any + Send + Sync>,
    ) {
        self.plugins.retain(|(n, _)| *n != name);
        self.plugins.push((name, plugin));
    }

    pub(crate) fn add_filter_boxed(&mut self, filter: Box<dyn Filter>) {
        self.filters.push(filter);
    }

    /// Makes the client.
    pub fn build(self) -> Client {
        self.finish(true)
    }

    pub(super) fn build_inactive(self) -> Client {
        self.finish(false)
    }

    fn finish(self, active: bool) -> Client {
        let sender = active.then(|| {
            self.sender
                .unwrap_or_else(|| Held::new(StdoutSender::new()))
        });
        let sender_name = sender.as_ref().map_or("no sender", |held| held.name);
        // The caller's clock is calibrated now, not in the first call.
        // The fork handler first: a fork from now on waits for it.
        crate::process::watch_forks();
        crate::clock::calibrate();
        // From the first client on, forks are counted: a sender made later,
        // or lazily (stdout's), still knows it is in a child.
        crate::process::watch_forks();
        // A process-unique, non-zero id per client, so per-call-site caches
        // can tell which client they describe.
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Client {
            inner: Arc::new(Inner {
                defaults: Arc::new(ClientDefaults::new(id, self.logger, self.severity)),
                sender,
                sender_name,
                disabled_timers: self.disabled_timers,
                filters: self.filters,
                plugins: self.plugins,
                config_json: self.config_json,
                counters: Counters::default(),
                failure_reported: AtomicBool::new(false),
                ignored_reported: AtomicBool::new(false),
            }),
        }
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("logger", &self.logger)
            .field("severity", &self.severity)
            .field("sender", &self.sender.as_ref().map(|held| held.name))
            .field("disabled_timers", &self.disabled_timers)
            .field("filters", &self.filters.len())
            .finish()
    }
}
