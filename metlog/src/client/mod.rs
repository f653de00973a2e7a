//! [`Client`]: builds messages and hands them to a sender.

pub mod builder;
pub mod message_builder;
pub mod timer;

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use builder::ClientBuilder;
pub use message_builder::{Count, Counter, MessageBuilder};
pub use timer::Timer;

use crate::filter::Filter;
use crate::process::identity;
use crate::record::{Body, ClientDefaults, Record};
use crate::sender::{Delivery, Held, SendError, SendErrorKind, Sender};
use crate::site::Kind;
use crate::{Fields, Message, Severity, SharedStr, Text};

/// The metlog client: a cheap, cloneable handle that makes messages and hands
/// them to its [`Sender`].
///
/// Every method of metlog-py's `MetlogClient` is here: [`metlog`](Client::metlog)
/// for any message, [`incr`](Client::incr) / [`counter`](Client::counter) for
/// counters, [`timer`](Client::timer) / [`timer_send`](Client::timer_send) for
/// timers, the log-style [`debug`](Client::debug) … [`critical`](Client::critical)
/// and [`exception`](Client::exception), plus [`flush`](Client::flush) and
/// [`stats`](Client::stats).
///
/// Nothing a client does reaches its caller as an error or a panic: a failing
/// sender is counted in [`stats`](Client::stats) and reported once on stderr.
///
/// ```
/// use metlog::{sender::CaptureSender, Severity};
/// let capture = CaptureSender::new();
/// let client = metlog::Client::builder("myapp").sender(capture.clone()).build();
///
/// client.incr("requests");
/// client.counter("bytes").count(512).field("route", "/login").send();
/// {
///     let _t = client.timer("db.query"); // sends a timer when dropped
/// }
/// client.warn("disk 91% full");
/// client.metlog("deploy").payload("v1.2.3").severity(Severity::Notice).send();
///
/// let kinds: Vec<_> = capture.messages().into_iter().map(|m| m.kind).collect();
/// assert_eq!(kinds, ["counter", "counter", "timer", "oldstyle", "deploy"]);
/// assert_eq!(client.stats().sent, 5);
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Logger, severity and identity, shared with the records in flight.
    pub(crate) defaults: Arc<ClientDefaults>,
    /// `None` for an inactive client (see [`Client::inactive`]).
    sender: Option<Held>,
    sender_name: &'static str,
    disabled_timers: DisabledTimers,
    filters: Vec<Box<dyn Filter>>,
    counters: Counters,
    failure_reported: AtomicBool,
    ignored_reported: AtomicBool,
    /// Plugins by name.
    plugins: Vec<(String, Box<dyn std::any::Any + Send + Sync>)>,
    /// The effective configuration, when the client came from one.
    config_json: Option<String>,
}

/// Timer names that produce nothing.
#[derive(Debug, Default)]
struct DisabledTimers {
    all: bool,
    names: HashSet<SharedStr>,
    /// A bit per disabled name, from its length and end bytes: most names
    /// that are not disabled are told so without hashing them (a guard or
    /// `timer_send` asks on every call).
    sketch: u64,
}

impl DisabledTimers {
    /// The bit `name` sets in [`sketch`](DisabledTimers::sketch).
    #[inline]
    fn bit(name: &str) -> u64 {
        let bytes = name.as_bytes();
        let ends = bytes.first().map_or(0, |&b| usize::from(b))
            + bytes.last().map_or(0, |&b| usize::from(b)) * 7;
        1 << ((bytes.len() * 31 + ends) % 64)
    }

    pub(crate) fn insert(&mut self, name: SharedStr) {
        if name == "*" {
            self.all = true;
        } else {
            self.sketch |= Self::bit(&name);
            self.names.insert(name);
        }
    }

    #[inline]
    fn contains(&self, name: &str) -> bool {
        self.all || (self.sketch & Self::bit(name) != 0 && self.names.contains(name))
    }
}

/// The global client as a call reads it (`holder`'s swap): a guard that
/// keeps it alive without a write to its reference count.
pub(crate) type GlobalGuard = arc_swap::Guard<Option<Arc<Client>>>;

/// A client to send through, borrowed or owned; `None` makes builders no-ops.
pub(crate) enum ClientRef<'c> {
    None,
    Borrowed(&'c Client),
    Owned(Client),
    /// The global client as read (`holder`): held without touching its
    /// reference count, which every thread's call would otherwise write.
    Global(GlobalGuard),
}

impl ClientRef<'_> {
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&Client> {
        match self {
            ClientRef::None => None,
            ClientRef::Borrowed(c) => Some(c),
            ClientRef::Owned(c) => Some(c),
            ClientRef::Global(guard) => guard.as_deref(),
        }
    }
}

impl Client {
    /// Starts building a client whose messages carry `logger` (usually the
    /// application's name): a string of any lifetime — a literal, a
    /// `String`, or text borrowed from configuration read at run time.
    ///
    /// ```
    /// let from_config = String::from("billing");
    /// let client = metlog::Client::builder(from_config.as_str()).build();
    /// drop(from_config);
    /// assert_eq!(client.logger(), "billing");
    /// ```
    pub fn builder<'a>(logger: impl Into<Text<'a>>) -> ClientBuilder {
        ClientBuilder::new(logger.into().into_shared())
    }

    /// A client that sends nothing: every call returns at once. It is what
    /// [`get_client`](crate::get_client) hands out for a name nobody has
    /// configured, like metlog-py's client without a sender.
    pub fn inactive<'a>(logger: impl Into<Text<'a>>) -> Client {
        ClientBuilder::new(logger.into().into_shared()).build_inactive()
    }

    /// Whether the client has a sender (metlog-py's `is_active`).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.inner.sender.is_some()
    }

    /// The default `logger` of this client's messages.
    pub fn logger(&self) -> &str {
        &self.inner.defaults.logger
    }

    /// The default severity of this client's messages.
    pub fn severity(&self) -> Severity {
        self.inner.defaults.severity
    }

    /// The plugin bound under `name`, if it is a `T`.
    pub fn plugin<T: 'static>(&self, name: &str) -> Option<&T> {
        self.inner
            .plugins
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, p)| p.downcast_ref())
    }

    /// The names of the bound plugins.
    pub fn plugin_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.plugins.iter().map(|(n, _)| n.as_str())
    }

    /// The sender, if it is a `T` (e.g. the [`CaptureSender`](crate::sender::CaptureSender)
    /// a configuration file chose).
    pub fn sender_as<T: 'static>(&self) -> Option<&T> {
        self.inner.sender.as_ref()?.any.downcast_ref()
    }

    /// The name of the sender's type, e.g. `"UdpSender"`.
    pub fn sender_name(&self) -> &'static str {
        self.inner.sender_name
    }

    /// The effective configuration as JSON, when the client was built from
    /// one (metlog-py's `client._config`), for debugging.
    pub fn config_json(&self) -> Option<&str> {
        self.inner.config_json.as_deref()
    }

    /// The process-unique id of this client (shared by its clones).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.inner.defaults.id.0
    }

    /// Whether timers named `name` are disabled (by name or by `*`).
    pub fn is_timer_disabled(&self, name: &str) -> bool {
        self.inner.disabled_timers.contains(name)
    }

    /// A message of any type, configured by chained calls and sent by
    /// [`send`](MessageBuilder::send) (metlog-py's `client.metlog(...)`).
    ///
    /// ```
    /// # let client = metlog::Client::builder("app").sender(metlog::sender::NullSender).build();
    /// client.metlog("audit")
    ///     .payload("user 42 logged in")
    ///     .severity(metlog::Severity::Notice)
    ///     .field("user", 42)
    ///     .send();
    /// ```
    pub fn metlog<'a>(&self, kind: impl Into<Text<'a>>) -> MessageBuilder<'_> {
        MessageBuilder::new(ClientRef::Borrowed(self), kind.into().into_shared())
    }

    /// metlog-py's `timer_send` in full: a `timer` message for `elapsed`
    /// milliseconds measured elsewhere — whole (`12`) or fractional
    /// (`12.5`, written as Python 2 writes a float: `"12.5"`,
    /// `"0.333333333333"`, `"12.0"`) or a [`Duration`] (whole, rounded) —
    /// with `fields.name` and `fields.rate` = 1.0, to which the builder adds
    /// fields, a logger, a severity, or another rate (`.field("rate", 0.5)`:
    /// recorded, not applied, as metlog-py records it). Nothing is sent for
    /// a disabled timer.
    ///
    /// ```
    /// # let capture = metlog::sender::CaptureSender::new();
    /// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
    /// client
    ///     .timer_send_with("db.query", 12.5)
    ///     .field("rate", 0.5)
    ///     .field("shard", 3)
    ///     .logger("db")
    ///     .severity(metlog::Severity::Notice)
    ///     .send();
    /// assert_eq!(capture.messages()[0].payload, "12.5");
    /// ```
    pub fn timer_send_with<'a>(
        &self,
        name: impl Into<Text<'a>>,
        elapsed: impl Into<Millis>,
    ) -> MessageBuilder<'_> {
        let name = name.into().into_shared();
        let client = if self.is_timer_disabled(&name) {
            ClientRef::None
        } else {
            ClientRef::Borrowed(self)
        };
        MessageBuilder::new(client, SharedStr::from_static("timer"))
            .payload(elapsed.into().0)
            .field("name", name)
            .field("rate", 1.0)
    }

    /// Increments counter `name` by one: a `counter` message with payload
    /// `"1"` and fields `name` and `rate` (1.0).
    ///
    /// `name` may be text of any lifetime ([`Text`]): a literal, a `&str`
    /// borrowed from a `String`, a `String`; a background sender copies a
    /// borrowed name of up to 30 bytes into
    /// its queue without allocating.
    #[inline]
    pub fn incr<'a>(&'a self, name: impl Into<Text<'a>>) {
        if self.is_active() {
            self.metric(Kind::Incr, name.into(), 1);
        }
    }

    /// Sends a counter or timer `name` of `value`, at rate 1.
    #[inline]
    fn metric<'a>(&'a self, kind: Kind, name: Text<'a>, value: u64) {
        let body = Body::Metric {
            kind,
            name,
            value,
            rate: 1.0,
            extra: None,
        };
        self.dispatch(self.record(crate::clock::now(), body));
    }

    /// A counter message to configure (count, rate, fields, severity, logger)
    /// and [`send`](Counter::send).
    ///
    /// With a rate below 1, `send` delivers only that fraction of calls, and
    /// the message carries the rate so statsd can scale the count back up.
    ///
    /// ```
    /// # let client = metlog::Client::builder("app").sender(metlog::sender::NullSender).build();
    /// client.counter("cache.miss").count(3).rate(0.1).field("shard", 7).send();
    /// ```
    pub fn counter<'a>(&'a self, name: impl Into<Text<'a>>) -> Counter<'a> {
        Counter::new(ClientRef::Borrowed(self), name.into())
    }

    /// A timer guard: measures from now until it is dropped (or
    /// [`stop`](Timer::stop)ped), then sends a `timer` message whose payload is
    /// the elapsed whole milliseconds (rounded, as metlog-py does).
    ///
    /// A disabled timer name (see
    /// [`ClientBuilder::disabled_timers`]) gives a guard that does nothing and
    /// reads no clock.
    ///
    /// ```
    /// # let client = metlog::Client::builder("app").sender(metlog::sender::NullSender).build();
    /// fn query() {}
    /// let timer = client.timer("db.query").rate(0.5).field("table", "users");
    /// query();
    /// drop(timer); // sends now (or, half of the time, nothing)
    /// ```
    pub fn timer<'a>(&'a self, name: impl Into<Text<'a>>) -> Timer<'a> {
        Timer::start(ClientRef::Borrowed(self), name.into())
    }

    /// Sends a `timer` message for a duration measured elsewhere (metlog-py's
    /// `timer_send`). The payload is the duration in whole milliseconds
    /// (rounded); the rate written is 1.0.
    #[inline]
    pub fn timer_send<'a>(&'a self, name: impl Into<Text<'a>>, elapsed: Duration) {
        let name = name.into();
        if self.is_active() && !self.is_timer_disabled(name.as_str()) {
            self.metric(Kind::Timer, name, whole_millis(elapsed));
        }
    }

    /// Sets gauge `name` to `value`: a `gauge` message with fields `name`
    /// and `rate` (1.0), which a [`StatsdSender`](crate::sender::StatsdSender)
    /// writes as `name:value|g` (a negative value as `name:0|g` then
    /// `name:-5|g` in one datagram: statsd reads a sign as a change).
    /// A value that is not a finite number is not sent (counted as failed).
    ///
    /// ```
    /// # let capture = metlog::sender::CaptureSender::new();
    /// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
    /// client.gauge("queue.depth", 42.0);
    /// client.gauge_change("connections", -1.0);
    /// let sent = capture.messages();
    /// assert_eq!((sent[0].kind.as_str(), sent[0].payload.as_str()), ("gauge", "42"));
    /// assert_eq!(sent[1].payload, "-1");
    /// ```
    pub fn gauge<'a>(&'a self, name: impl Into<Text<'a>>, value: f64) {
        self.send_gauge(name.into(), value, false);
    }

    /// Moves gauge `name` up or down by `delta`: statsd's signed gauge,
    /// `name:+3|g` / `name:-3|g`. The message carries the sign in its
    /// payload and `fields.change = true`.
    pub fn gauge_change<'a>(&'a self, name: impl Into<Text<'a>>, delta: f64) {
        self.send_gauge(name.into(), delta, true);
    }

    fn send_gauge(&self, name: Text<'_>, value: f64, change: bool) {
        if !self.is_active() {
            return;
        }
        if !value.is_finite() {
            let why = format!("gauge {:?}: {value} is not a finite number", name.as_str());
            return self.refuse(why);
        }
        // `+0` for a change of zero, `-0` is `0` for a value.
        let payload = match (change, value >= 0.0) {
            (true, true) => format!("+{}", value.abs()),
            _ if value == 0.0 => "0".to_owned(),
            _ => value.to_string(),
        };
        let name = name.into_shared();
        let builder = self.metlog("gauge").payload(payload).field("name", name);
        let builder = builder.field("rate", 1.0);
        if change {
            builder.field("change", true).send();
        } else {
            builder.send();
        }
    }

    /// Logs `text` at [`Severity::Debug`] (an `oldstyle` message).
    pub fn debug<'a>(&'a self, text: impl Into<Text<'a>>) {
        self.log(Severity::Debug, text);
    }

    /// Logs `text` at [`Severity::Informational`].
    pub fn info<'a>(&'a self, text: impl Into<Text<'a>>) {
        self.log(Severity::Informational, text);
    }

    /// Logs `text` at [`Severity::Warning`].
    pub fn warn<'a>(&'a self, text: impl Into<Text<'a>>) {
        self.log(Severity::Warning, text);
    }

    /// Logs `text` at [`Severity::Error`]; [`error_with`](Client::error_with)
    /// adds an error.
    pub fn error<'a>(&'a self, text: impl Into<Text<'a>>) {
        self.log(Severity::Error, text);
    }

    /// Logs `text` and `error` at [`Severity::Error`] (metlog-py's
    /// `error(msg, exc_info=True)`): the payload and fields of
    /// [`exception`](Client::exception), at Error.
    ///
    /// ```
    /// # let capture = metlog::sender::CaptureSender::new();
    /// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
    /// let err = std::io::Error::other("db down");
    /// client.error_with("checkout failed", &err);
    /// # let sent = &capture.messages()[0];
    /// # assert!(sent.payload.starts_with("checkout failed\nError: db down"));
    /// # assert_eq!(sent.severity, metlog::Severity::Error);
    /// ```
    pub fn error_with<E>(&self, text: impl fmt::Display, error: &E)
    where
        E: std::error::Error + ?Sized,
    {
        self.exception_at(Severity::Error, text, error);
    }

    /// Logs `text` at [`Severity::Critical`];
    /// [`critical_with`](Client::critical_with) adds an error.
    pub fn critical<'a>(&'a self, text: impl Into<Text<'a>>) {
        self.log(Severity::Critical, text);
    }

    /// Logs `text` and `error` at [`Severity::Critical`] (metlog-py's
    /// `critical(msg, exc_info=True)`), as [`exception`](Client::exception)
    /// reports it.
    pub fn critical_with<E>(&self, text: impl fmt::Display, error: &E)
    where
        E: std::error::Error + ?Sized,
    {
        self.exception_at(Severity::Critical, text, error);
    }

    /// Logs `text` at `severity`: an `oldstyle` message, as metlog-py's
    /// logging-style methods send.
    #[inline]
    pub fn log<'a>(&'a self, severity: Severity, text: impl Into<Text<'a>>) {
        if !self.is_active() {
            return;
        }
        self.dispatch(self.record(
            crate::clock::now(),
            Body::Log {
                severity,
                text: text.into(),
            },
        ));
    }

    /// Logs pre-formatted arguments; what the `metlog::info!`-style macros
    /// call. Formats only when the client is active.
    pub fn log_fmt(&self, severity: Severity, args: fmt::Arguments<'_>) {
        if !self.is_active() {
            return;
        }
        let text = match args.as_str() {
            Some(s) => SharedStr::from_static(s),
            None => match self.format(|out| fmt::write(out, args)) {
                Some(text) => SharedStr::from(text),
                None => return,
            },
        };
        self.log(severity, Text::Shared(text));
    }

    /// Runs the caller's `Display` code into a string. A `Display` that
    /// fails or panics costs the message (counted as failed, reported
    /// once), never the caller's function.
    pub(crate) fn format(&self, write: impl FnOnce(&mut String) -> fmt::Result) -> Option<String> {
        // A `Display` that logs itself through this client would recurse.
        let Some(_entered) = crate::process::Dispatch::enter(self.inner.defaults.id.0) else {
            self.refuse_reentry();
            return None;
        };
        let mut out = String::new();
        let what = match panic::catch_unwind(AssertUnwindSafe(|| write(&mut out))) {
            Ok(Ok(())) => return Some(out),
            Ok(Err(fmt::Error)) => "returned an error".to_owned(),
            Err(panic) => format!("panicked: {}", panic_message(&*panic)),
        };
        self.inner.counters.here().failed.fetch_add(1, Relaxed);
        self.report_failure(format_args!("a Display or Debug implementation {what}"));
        None
    }

    /// Reports an error at [`Severity::Alert`] (metlog-py's `exception`);
    /// [`exception_at`](Client::exception_at) chooses the severity, and
    /// [`error_with`](Client::error_with) and
    /// [`critical_with`](Client::critical_with) report at Error and Critical.
    ///
    /// The message is an `oldstyle` one whose payload is laid out as
    /// metlog-py's (`text`, a line break, a Python traceback ending in
    /// `ValueError: db down`) as far as Rust's errors map to it:
    ///
    /// ```text
    /// checkout failed
    /// OrderError: cannot save order
    /// Caused by: database unavailable
    /// Caused by: connection refused
    /// Stack backtrace:
    ///    0: …
    /// ```
    ///
    /// - `text`, then a line break (none added when `text` ends with one,
    ///   as in metlog-py);
    /// - the error as `Type: message`, its type named without its path (as
    ///   Python names `ValueError`); an error passed as a trait object
    ///   (`&*boxed`, `&*anyhow_error`), whose type is not known, as its
    ///   message alone;
    /// - each of its [`source`](std::error::Error::source)s on a line of its
    ///   own, `Caused by: …`, followed at most 64 deep and never twice
    ///   through the same error: a chain that loops (an error that is its
    ///   own source) is cut, with a line saying so;
    /// - when one is captured, the backtrace of this call, its first 4 KB
    ///   (whole lines). It is captured as `anyhow` captures one
    ///   ([`Backtrace::capture`](std::backtrace::Backtrace::capture)): when
    ///   `RUST_LIB_BACKTRACE`, or when that is unset `RUST_BACKTRACE`, is set
    ///   and not `0`. Capturing and writing one takes from a millisecond to
    ///   much more (the first reads the program's debug information): set
    ///   it where errors are rare enough. An `anyhow::Error`'s own backtrace
    ///   (of where the error was made) cannot be reached through `&*err`.
    ///
    /// Fields carry `error` (the error's message), `causes` (the sources'
    /// messages, as a list) and `error_type` (the Rust type name, without the
    /// paths of a trait object's traits: `dyn Error + Send + Sync`).
    ///
    /// An `anyhow::Error` or a `Box<dyn Error>` is passed as `&*err` (the
    /// error it holds, with its whole chain): Rust's coherence rules do not
    /// let one method take both `&err` of every error type and `&err` of
    /// those two.
    ///
    /// ```
    /// # let capture = metlog::sender::CaptureSender::new();
    /// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
    /// let err = std::fs::read("/nonexistent/file").unwrap_err();
    /// client.exception("cannot load settings", &err);
    /// # assert!(capture.messages()[0].payload.starts_with("cannot load settings\nError: "));
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = "no such user".into();
    /// client.exception_at(metlog::Severity::Error, "login failed", &*boxed);
    /// # assert!(capture.messages()[1].payload.starts_with("login failed\nno such user"));
    /// # assert_eq!(capture.messages()[1].severity, metlog::Severity::Error);
    /// ```
    pub fn exception<E>(&self, text: impl fmt::Display, error: &E)
    where
        E: std::error::Error + ?Sized,
    {
        self.exception_at(Severity::Alert, text, error);
    }

    /// Reports an error, as [`exception`](Client::exception) does, at
    /// `severity`.
    pub fn exception_at<E>(&self, severity: Severity, text: impl fmt::Display, error: &E)
    where
        E: std::error::Error + ?Sized,
    {
        if !self.is_active() {
            return;
        }
        let backtrace = crate::process::walking_stack(std::backtrace::Backtrace::capture);
        let mut error_text = String::new();
        let mut causes = Vec::new();
        let payload = self.format(|payload| {
            write!(payload, "{text}")?;
            if !payload.ends_with('\n') {
                payload.push('\n');
            }
            write!(error_text, "{error}")?;
            match short_type_name(std::any::type_name::<E>()) {
                Some(ty) if error_text.is_empty() => payload.push_str(ty),
                Some(ty) => write!(payload, "{ty}: {error_text}")?,
                None => payload.push_str(&error_text),
            }
            write_causes(payload, error, &mut causes)?;
            if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
                let frames = crate::process::walking_stack(|| backtrace.to_string());
                let frames = bounded_backtrace(frames);
                write!(payload, "\nStack backtrace:\n{frames}")?;
            }
            Ok(())
        });
        let Some(payload) = payload else { return };
        let mut fields = Fields::new();
        fields.insert("error", error_text);
        fields.insert("causes", serde_json::Value::Array(causes));
        fields.insert("error_type", readable_type_name(std::any::type_name::<E>()));
        let msg = self.make_message(
            SharedStr::from_static("oldstyle"),
            None,
            Some(severity),
            payload.into(),
            fields,
            None,
        );
        self.dispatch_message(msg);
    }

    /// Waits until the sender has handed everything queued to its transport
    /// (background senders give up after their configured flush timeout,
    /// 5 s by default). A failure is reported like a failed send; use
    /// [`flush_timeout`](Client::flush_timeout) to get it as a `Result`.
    pub fn flush(&self) {
        if let Err(err) = self.flush_with(|sender| sender.flush()) {
            self.report_failure(format_args!("flush failed: {err}"));
        }
    }

    /// Like [`flush`](Client::flush), waiting at most `timeout`, and saying
    /// whether everything was delivered in time.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        self.flush_with(|sender| sender.flush_timeout(timeout))
    }

    /// Runs `flush` on the sender, if any; a panic in it becomes an error.
    fn flush_with(
        &self,
        flush: impl FnOnce(&dyn Sender) -> Result<(), SendError>,
    ) -> Result<(), SendError> {
        let Some(sender) = &self.inner.sender else {
            return Ok(());
        };
        panic::catch_unwind(AssertUnwindSafe(|| flush(&**sender)))
            .unwrap_or_else(|_| Err(SendError::new(SendErrorKind::Other, "flush panicked")))
    }

    /// A guard that flushes this client when dropped, at a point of your
    /// choosing (within its sender's flush timeout). Kept in `main`, it
    /// flushes as `main` returns; the delivery at exit that follows (of the
    /// global and named clients and every queue still alive) shares its
    /// budget — its 5 s count from the start of the guard's flush — so with
    /// the default flush timeout the two together take at most 5 s.
    ///
    /// ```
    /// let client = metlog::Client::builder("app").sender(metlog::sender::NullSender).build();
    /// let _flush_at_exit = client.flush_guard();
    /// client.incr("started");
    /// ```
    pub fn flush_guard(&self) -> FlushGuard {
        FlushGuard {
            client: self.clone(),
        }
    }

    /// Counts of what happened to this client's messages so far.
    ///
    /// With a background sender, messages move from `queued` to `sent` or
    /// `failed` as the worker delivers them (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.counters.snapshot();
        let delivery = self.inner.sender.as_ref().and_then(|s| s.delivery());
        let id = self.inner.defaults.id.0;
        // A sender's counts are this client's only when no other client
        // sent through it (else: what this client handed on is `sent`).
        let all_from =
            |d: &Delivery| d.sent_by == crate::sender::queue::NO_CLIENT || d.sent_by == id;
        if let Some(delivery) = delivery.filter(all_from) {
            stats.sent = delivery.delivered;
            stats.failed += delivery.failed;
            stats.dropped += delivery.dropped;
            stats.queued = delivery.queued;
            stats.ignored += delivery.ignored;
        }
        stats
    }

    /// What its sender says became of the messages it accepted (from every
    /// client that sends through it).
    pub(crate) fn sender_delivery(&self) -> Option<crate::sender::Delivery> {
        self.inner.sender.as_ref()?.delivery()
    }

    /// Builds the envelope with this client's defaults.
    pub(crate) fn make_message(
        &self,
        kind: SharedStr,
        logger: Option<SharedStr>,
        severity: Option<Severity>,
        payload: SharedStr,
        fields: Fields,
        timestamp: Option<SystemTime>,
    ) -> Message {
        let identity = identity();
        Message {
            kind,
            timestamp: timestamp.unwrap_or_else(SystemTime::now),
            logger: logger.unwrap_or_else(|| self.inner.defaults.logger.clone()),
            severity: severity.unwrap_or(self.inner.defaults.severity),
            payload,
            fields,
            pid: identity.pid(),
            hostname: SharedStr::from_static(identity.hostname),
        }
    }

    /// A record of this client.
    #[inline]
    pub(crate) fn record<'a>(&'a self, at: SystemTime, body: Body<Text<'a>>) -> Record<'a> {
        Record {
            at,
            client: &self.inner.defaults,
            body,
        }
    }

    /// Sends a whole message as this client's.
    pub(crate) fn dispatch_message(&self, message: Message) {
        self.dispatch(self.record(message.timestamp, Body::Message(Box::new(message))));
    }

    /// Runs the filters on the record's envelope and hands the record to
    /// the sender, counting the outcome. Nothing escapes: errors and panics
    /// become counts.
    #[inline]
    pub(crate) fn dispatch(&self, record: Record<'_>) {
        let inner = &*self.inner;
        let Some(sender) = &inner.sender else {
            return;
        };
        // A sender or filter that sends through this client again (on this
        // thread) would recurse without end: such a message is dropped.
        let Some(_entered) = crate::process::Dispatch::enter(inner.defaults.id.0) else {
            return self.refuse_reentry();
        };
        // Whatever the sender: no encoder or reader should meet a value
        // nested deeper than JSON readers accept (nor copy it, recursing).
        if record.nests_too_deep() {
            return self.count(Ok(Some(Err(SendError::new(
                SendErrorKind::Encode,
                format!(
                    "a field value nests deeper than {} levels; the message was not sent",
                    crate::value::MAX_NESTING
                ),
            )))));
        }
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            if !inner.filters.is_empty() {
                let envelope = record.envelope();
                if !inner.filters.iter().all(|f| f.allow(&envelope)) {
                    return None;
                }
            }
            Some(sender.send(record))
        }));
        self.count(outcome);
    }

    /// Counts as failed (and reports, if it is the first failure) a message
    /// not sent because it could not be written (`why`).
    #[cold]
    pub(crate) fn refuse(&self, why: String) {
        self.count(Ok(Some(Err(SendError::new(SendErrorKind::Encode, why)))));
    }

    /// Counts (and reports once) a message dropped because it was made
    /// while this client — or a bridge feeding it — was already handling one
    /// on this thread: it would recurse.
    #[cold]
    pub(crate) fn refuse_reentry(&self) {
        self.inner.counters.here().dropped.fetch_add(1, Relaxed);
        self.report_failure(format_args!(
            "a message was sent from inside this client's own sender or filter (or {} \
             clients deep): dropped, as it would recurse",
            crate::process::MAX_DISPATCH_DEPTH
        ));
    }

    fn count(&self, outcome: std::thread::Result<Option<Result<(), SendError>>>) {
        let inner = &*self.inner;
        let counters = inner.counters.here();
        match outcome {
            Ok(Some(Ok(()))) => {
                counters.sent.fetch_add(1, Relaxed);
            }
            Ok(None) => {
                counters.filtered.fetch_add(1, Relaxed);
            }
            Ok(Some(Err(err))) if err.kind() == SendErrorKind::Full => {
                counters.dropped.fetch_add(1, Relaxed);
            }
            Ok(Some(Err(err))) if err.kind() == SendErrorKind::Unsupported => {
                counters.ignored.fetch_add(1, Relaxed);
                self.report_ignored(&err);
            }
            Ok(Some(Err(err))) => {
                counters.failed.fetch_add(1, Relaxed);
                self.report_failure(format_args!("{err}"));
            }
            Err(panic) => {
                counters.failed.fetch_add(1, Relaxed);
                let what = panic_message(&*panic);
                self.report_failure(format_args!("a filter or the sender panicked: {what}"));
            }
        }
    }

    /// Reports the first failure of this client ([`crate::report`]); later
    /// ones are only counted, so a dead transport cannot flood the service's
    /// logs.
    fn report_failure(&self, what: fmt::Arguments<'_>) {
        if self.inner.failure_reported.swap(true, Relaxed) {
            return;
        }
        crate::report::report(format_args!(
            "client {:?} ({}): {what}; further failures are only counted (see Client::stats)",
            &*self.inner.defaults.logger, self.inner.sender_name,
        ));
    }

    /// Reports, once per client, that its sender ignores a message type (a
    /// log line sent to statsd): otherwise such messages would vanish with
    /// only a count to show for it.
    fn report_ignored(&self, why: &SendError) {
        if self.inner.ignored_reported.swap(true, Relaxed) {
            return;
        }
        crate::report::report(format_args!(
            "client {:?} ({}): its sender ignores messages of some types (the first: {why}); \
             route them to another sender (sender::Router); until \
             then every such message, of any type, is only counted as ignored (see Client::stats)",
            &*self.inner.defaults.logger, self.inner.sender_name,
        ));
    }
}

// A panic in the middle of a client call cannot leave it inconsistent: its
// only mutable state is atomic counters, and sender/filter panics are caught.
// So a client may be used across `catch_unwind`, as users of `tokio` or test
// harnesses expect.
impl panic::UnwindSafe for Client {}
impl panic::RefUnwindSafe for Client {}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("logger", &self.inner.defaults.logger)
            .field("severity", &self.inner.defaults.severity)
            .field("sender", &self.inner.sender_name)
            .field("disabled_timers", &self.inner.disabled_timers)
            .field("filters", &self.inner.filters.len())
            .finish()
    }
}

/// Flushes its client when dropped; made by [`Client::flush_guard`].
#[must_use = "the client is flushed when this guard is dropped; `let _ =` drops it at once"]
#[derive(Debug)]
pub struct FlushGuard {
    client: Client,
}

impl Drop for FlushGuard {
    /// Flushes the client (its sender's flush timeout at most; during the
    /// process's exit work, what is left of the exit's budget). Dropped at
    /// the end of `main`, the guard and the delivery at exit share one
    /// budget: the exit's 5 s count from the start of this flush.
    fn drop(&mut self) {
        let result = match crate::process::guard_flush_begins() {
            Some(left) => self.client.flush_with(|sender| sender.flush_timeout(left)),
            None => self.client.flush_with(|sender| sender.flush()),
        };
        crate::process::guard_flush_ended();
        if let Err(err) = result {
            self.client
                .report_failure(format_args!("flush failed: {err}"));
        }
    }
}

/// How many of an error's sources [`Client::exception`] follows at most.
const MAX_CAUSES: usize = 64;

/// Writes a line `Caused by: …` per source of `error` into `payload`, and
/// its message into `causes`. An error may be its own source, or a chain may
/// loop or run on without end: followed at most [`MAX_CAUSES`] deep, and
/// never twice through the same error.
fn write_causes<E>(
    payload: &mut String,
    error: &E,
    causes: &mut Vec<serde_json::Value>,
) -> fmt::Result
where
    E: std::error::Error + ?Sized,
{
    // Compared with their types (wide pointers): a wrapper and its first
    // field share an address, and are not a loop.
    let mut seen: Vec<*const (dyn std::error::Error + 'static)> = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let at = std::ptr::from_ref(cause);
        #[allow(ambiguous_wide_pointer_comparisons)]
        let looped = seen.iter().any(|&earlier| std::ptr::eq(earlier, at));
        if looped || causes.len() >= MAX_CAUSES {
            payload.push_str("\n(cause chain cut: it loops or runs deeper)");
            causes.push(serde_json::Value::String("(cut)".to_owned()));
            break;
        }
        seen.push(at);
        let mut cause_text = String::new();
        write!(cause_text, "{cause}")?;
        write!(payload, "\nCaused by: {cause_text}")?;
        causes.push(serde_json::Value::String(cause_text));
        source = cause.source();
    }
    Ok(())
}

/// How much of a backtrace [`Client::exception`] and the panics plugin
/// send: syslog daemons cut messages at 8 KB by default (rsyslog), which
/// would break the JSON.
const MAX_BACKTRACE: usize = 4096;

/// The first [`MAX_BACKTRACE`] bytes of `backtrace` at most, cut at a line
/// end (a line end is one byte, never inside a character), said when cut.
pub(crate) fn bounded_backtrace(mut backtrace: String) -> String {
    backtrace.truncate(backtrace.trim_end().len());
    if backtrace.len() > MAX_BACKTRACE {
        let bytes = &backtrace.as_bytes()[..MAX_BACKTRACE];
        let cut = bytes.iter().rposition(|&b| b == b'\n').unwrap_or(0);
        backtrace.truncate(cut);
        backtrace.push_str("\n(backtrace truncated)");
    }
    backtrace
}

/// The error's type as Python names an exception's class (`ValueError`):
/// without its path (a generic type's parameters keep theirs); `None` for a
/// trait object, whose type is not known.
fn short_type_name(name: &str) -> Option<&str> {
    let name = name.trim_start_matches('&').trim_start_matches("mut ");
    if name.starts_with("dyn ") {
        return None;
    }
    let end = name.find('<').unwrap_or(name.len());
    let start = name[..end].rfind("::").map_or(0, |at| at + 2);
    Some(&name[start..])
}

/// Whole milliseconds, rounded to nearest (metlog-py: `int(round(s * 1000))`).
pub(crate) fn whole_millis(elapsed: Duration) -> u64 {
    // In u64 (a u128 division is a library call on the timer's hot path).
    let rounded = (u64::from(elapsed.subsec_nanos()) + 500_000) / 1_000_000;
    elapsed
        .as_secs()
        .saturating_mul(1_000)
        .saturating_add(rounded)
}

/// A panic's text: its `&str` or `String` payload (the panics plugin and
/// the Sentry capture read it too).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(a panic with a non-string payload)"
    }
}

/// What happened to the messages a [`Client`] produced.
///
/// Every message that passed the filters is in exactly one bucket:
/// `sent + dropped + failed + queued + ignored` is the number of messages
/// handed to the sender; `filtered` ones never reached it. With a
/// background sender, `sent` counts messages actually handed to the
/// transport and `queued` those still waiting. Messages skipped by sampling or a disabled
/// timer are never produced and are not counted (counting them would put a
/// shared write on the path that must cost next to nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Accepted by the sender.
    pub sent: u64,
    /// Refused because the sender had no room (e.g. a full queue).
    pub dropped: u64,
    /// Lost to an error in the sender (I/O, encoding, a panic).
    pub failed: u64,
    /// Stopped by one of the client's filters.
    pub filtered: u64,
    /// Accepted by a background sender, not yet delivered.
    pub queued: u64,
    /// Of a type the sender does not carry (e.g. log lines sent to statsd).
    pub ignored: u64,
}

impl Stats {
    /// All messages handed to the sender: `sent + dropped + failed + queued + ignored`.
    pub fn produced(&self) -> u64 {
        self.sent + self.dropped + self.failed + self.queued + self.ignored
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) ignored: AtomicU64,
    /// The forks the process had been through when these counts began: in
    /// the child of a fork they start over, as the child's sender does.
    forks: AtomicU64,
}

impl Counters {
    /// These counts, started over first if this is the child of a fork
    /// since they were last touched.
    #[inline]
    pub(crate) fn here(&self) -> &Counters {
        let forks = crate::process::forks();
        if self.forks.load(Relaxed) != forks {
            self.start_over(forks);
        }
        self
    }

    #[cold]
    fn start_over(&self, forks: u64) {
        for counter in [
            &self.sent,
            &self.dropped,
            &self.failed,
            &self.filtered,
            &self.ignored,
        ] {
            counter.store(0, Relaxed);
        }
        self.forks.store(forks, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let this = self.here();
        Stats {
            sent: this.sent.load(Relaxed),
            dropped: this.dropped.load(Relaxed),
            failed: this.failed.load(Relaxed),
            filtered: this.filtered.load(Relaxed),
            queued: 0,
            ignored: this.ignored.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{bounded_backtrace, short_type_name, whole_millis, MAX_BACKTRACE};
    use std::time::Duration;

    #[test]
    fn error_types_are_named_as_python_names_classes() {
        assert_eq!(short_type_name("std::io::error::Error"), Some("Error"));
        assert_eq!(short_type_name("ValueError"), Some("ValueError"));
        assert_eq!(short_type_name("&mut app::E"), Some("E"));
        assert_eq!(
            short_type_name("app::Wrap<std::io::error::Error>"),
            Some("Wrap<std::io::error::Error>")
        );
        assert_eq!(short_type_name("dyn core::error::Error + Send"), None);
        assert_eq!(short_type_name("&dyn core::error::Error"), None);
    }

    #[test]
    fn a_long_backtrace_is_cut_at_a_line_end_never_inside_a_character() {
        assert_eq!(bounded_backtrace("   0: main\n".to_owned()), "   0: main");
        for line in ["   0: é::ü::ß\n", "x\n", "   12: a_rather_long_name\n"] {
            let backtrace = line.repeat(3_000);
            let cut = bounded_backtrace(backtrace.clone());
            assert!(cut.len() <= MAX_BACKTRACE + 30, "{}", cut.len());
            let kept = cut.strip_suffix("\n(backtrace truncated)").unwrap();
            assert!(backtrace.starts_with(kept) && kept.ends_with(line.trim_end()));
        }
        // One line longer than the limit: nothing of it is kept.
        assert_eq!(
            bounded_backtrace("é".repeat(5_000)),
            "\n(backtrace truncated)"
        );
    }

    #[test]
    fn whole_millis_rounds_to_nearest_and_saturates() {
        let ms = |secs, nanos| whole_millis(Duration::new(secs, nanos));
        assert_eq!(ms(0, 499_999), 0);
        assert_eq!(ms(0, 500_000), 1);
        assert_eq!(ms(1, 499_500_000), 1_500);
        assert_eq!(ms(2, 999_600_000), 3_000);
        assert_eq!(ms(u64::MAX, 999_999_999), u64::MAX);
    }
}

/// A type's name as `exception` reports it: a trait object's traits
/// without their paths (`dyn core::error::Error + core::marker::Send` →
/// `dyn Error + Send`); any other type's name in full.
fn readable_type_name(name: &'static str) -> crate::Value {
    match name.strip_prefix("dyn ") {
        Some(traits) => {
            let short = traits
                .split(" + ")
                .map(|t| t.rsplit("::").next().unwrap_or(t));
            format!("dyn {}", short.collect::<Vec<_>>().join(" + ")).into()
        }
        None => name.into(),
    }
}

/// Milliseconds for [`Client::timer_send_with`], written as metlog-py's
/// `str(elapsed)` writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Millis(String);

macro_rules! whole_millis_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Millis {
            fn from(ms: $ty) -> Millis {
                Millis(ms.to_string())
            }
        }
    )*};
}
whole_millis_from!(u8, u16, u32, u64, i8, i16, i32, i64, usize);

impl From<Duration> for Millis {
    /// Whole milliseconds, rounded (as a timer's).
    fn from(elapsed: Duration) -> Millis {
        Millis(whole_millis(elapsed).to_string())
    }
}

impl From<f64> for Millis {
    /// Python 2's `str(float)`: 12 significant digits, a `.0` on whole
    /// numbers, exponents as `1e+16`.
    fn from(ms: f64) -> Millis {
        Millis(python2_float(ms))
    }
}

impl From<f32> for Millis {
    fn from(ms: f32) -> Millis {
        Millis(python2_float(f64::from(ms)))
    }
}

/// `str(x)` in Python 2 (`'%.12g' % x`, with `.0` when that reads as a
/// whole number).
fn python2_float(x: f64) -> String {
    if !x.is_finite() {
        // `NaN`, `inf`, `-inf` in Rust.
        return x.to_string().to_lowercase();
    }
    // Both forms below have a point: its trailing zeros go, and it too
    // when nothing follows it.
    let trim = |digits: &str| {
        digits
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    };
    let scientific = format!("{x:.11e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Python 2 writes 12 digits before the point (where `.0` would not
    // fit the 12) with an exponent too.
    if !(-4..11).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exponent.abs());
    }
    let decimals = usize::try_from(11 - exponent).unwrap_or(0);
    let fixed = trim(&format!("{x:.decimals$}"));
    if fixed.contains('.') {
        fixed
    } else {
        fixed + ".0"
    }
}
