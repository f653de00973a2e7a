//! # metlog — application metrics and logging for Rust services
//!
//! Metlog is Mozilla Services' metrics and logging system: an application
//! sends small typed *messages* — counters, timers, log lines, security events,
//! exceptions — "fire and forget" to routing infrastructure (statsd, syslog,
//! JSON over UDP/TCP) that delivers them to their endpoints. This crate is its
//! Rust client; messages it makes are indistinguishable from metlog-py's.
//!
//! ## Guide: from the dependency to messages in statsd
//!
//! 1. Add the dependency. `metlog` is not on crates.io: depend on a checkout
//!    of its repository, `metlog = { path = "../metlog-rs/metlog" }`, or on
//!    the repository by git (`metlog = { git = "…" }`). Features: `macros`
//!    (default), `zmq` (a bundled libzmq), `tracing` (the
//!    [`bridge::tracing`](crate::bridge) layer — its docs are built with
//!    the feature on).
//! 2. At startup, build a client — in code, or from a metlog-py INI / TOML
//!    file with [`config`] (`METLOG_CONFIG` + [`config::init_from_env`]) —
//!    and make it global with [`set_global_client`] (what it queued is
//!    delivered when the process exits; [`deliver_on_signals`] does the
//!    same on SIGTERM and SIGINT; [`Client::flush_guard`] flushes
//!    earlier).
//! 3. Instrument: [`#[metlog::timer]`](macro@timer) / [`#[metlog::incr]`](macro@incr)
//!    on functions, [`timer`](crate::timer()) guards around scopes,
//!    [`incr`](crate::incr()) and the log-style macros anywhere; route `log`
//!    and `tracing` through [`bridge`].
//! 4. Deliver: a [`StatsdSender`](sender::StatsdSender) for counters and
//!    timers (`<name>:1|c`, keyed as metlog-py's routers keyed it), a [`SyslogSender`](sender::SyslogSender)
//!    or JSON over [`UdpSender`](sender::UdpSender) / [`TcpSender`](sender::TcpSender)
//!    for the rest, combined with a [`Router`](sender::Router).
//! 5. Watch [`Client::stats`]: sent, dropped, failed, queued.
//!
//! ```no_run
//! use metlog::sender::{Router, SenderOptions, StatsdSender, SyslogSender};
//!
//! let statsd = StatsdSender::new("127.0.0.1:8125")?;
//! let syslog = SyslogSender::udp("127.0.0.1:514", SenderOptions::default())?;
//! let client = metlog::Client::builder("myapp")
//!     .sender(Router::new(syslog).route(["counter", "timer"], statsd))
//!     .build();
//! metlog::set_global_client(client.clone()).expect("set once");
//! let _flush_at_exit = client.flush_guard();
//!
//! #[metlog::timer]
//! fn handle() { /* … */ }
//! handle(); // statsd receives "myapp.<module>.handle:<ms>|ms"
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Quick start
//!
//! ```
//! use metlog::{sender::CaptureSender, Client, Severity};
//!
//! // Configure once, at startup. (Without `.sender(…)`, JSON goes to stdout.)
//! let capture = CaptureSender::new();
//! let client = Client::builder("myapp").sender(capture.clone()).build();
//!
//! client.incr("requests");                                  // counter
//! client.counter("bytes").count(512).rate(0.5).send();      // sampled counter
//! {
//!     let _t = client.timer("db.query");                    // timer, sent on drop
//! }
//! client.warn("disk nearly full");                          // log line
//! metlog::error!(client, "request {} failed", 17);           // formatted
//! client.metlog("deploy").payload("v2").severity(Severity::Notice).send();
//!
//! let json = capture.json();
//! assert_eq!(json[0]["type"], "counter");
//! assert_eq!(json[0]["payload"], "1");
//! assert_eq!(json[0]["fields"]["name"], "requests");
//! ```
//!
//! ## The message
//!
//! Every message is a [`Message`], serialised to the nine keys of metlog
//! envelope 0.8 (`type`, `timestamp`, `logger`, `severity`, `payload`,
//! `fields`, `env_version`, `metlog_pid`, `metlog_hostname`):
//!
//! ```json
//! {"type":"counter","timestamp":"2026-11-25T05:27:11.123456Z","logger":"myapp",
//!  "severity":6,"payload":"1","fields":{"name":"requests","rate":1.0},
//!  "env_version":"0.8","metlog_pid":4242,"metlog_hostname":"web-1"}
//! ```
//!
//! Counters carry the count as their payload, timers the elapsed whole
//! milliseconds (rounded); both carry `fields.name` and `fields.rate`.
//!
//! ## The current client
//!
//! Instrumented code rarely holds a client. The free functions
//! [`incr`](crate::incr()), [`counter`](crate::counter()), [`timer`](crate::timer()),
//! [`metlog`](crate::metlog()) and the macros [`info!`] & co. use the *current*
//! client, looked up at each call: this thread's scope ([`with_client`],
//! [`set_default`], or a future's [`WithClient::with_client`]), else the
//! global client ([`set_global_client`]), else none — in which case every call
//! is a cheap no-op, never a panic. Named clients ([`set_client`],
//! [`get_client`]) mirror metlog-py's `CLIENT_HOLDER`.
//!
//! ```
//! let client = metlog::Client::builder("myapp").sender(metlog::sender::NullSender).build();
//! metlog::set_global_client(client).expect("only set once");
//!
//! fn handle_request() {
//!     let _timer = metlog::timer("handle_request");
//!     metlog::incr("requests");
//!     metlog::info!("handled");
//! }
//! handle_request();
//! ```
//!
//! ## Attribute macros
//!
//! [`#[metlog::timer]`](macro@timer) and [`#[metlog::incr]`](macro@incr)
//! instrument a function (or every method of an `impl` block) like
//! metlog-py's `@timeit` and `@incr_count`: one message per call on every
//! path — return, `?`, panic, a dropped future — carrying `fields.outcome`
//! (`ok`, `err`, `panic`, `cancelled`), through the current client looked up
//! at call time. Idle (no client, disabled timer, switched off with
//! [`set_disabled_decorators`], sampled out) they cost about as much as an
//! unannotated call; enabled on a static name they do not allocate.
//!
//! ```
//! # let capture = metlog::sender::CaptureSender::new();
//! # metlog::set_global_client(metlog::Client::builder("app").sender(capture.clone()).build()).unwrap();
//! #[metlog::timer("db.load")]
//! fn load(id: u64) -> Result<String, String> {
//!     if id == 0 {
//!         return Err("no such row".into());
//!     }
//!     Ok(format!("row {id}"))
//! }
//! load(1).unwrap();
//! load(0).unwrap_err();
//! let outcomes: Vec<_> = capture.messages().iter().map(|m| m.fields["outcome"].to_string()).collect();
//! assert_eq!(outcomes, ["ok", "err"]);
//! ```
//!
//! Misuse is a compile error at the offending token (an unknown option, a
//! value of the wrong type, a `const fn`), with a message saying what the
//! macro takes. Default names are `<module path with . for ::>.<fn>`; inside
//! an instrumented `impl` block, `<module>.<Type>.<method>`. A method
//! annotated on its own cannot see its type, so its default name is
//! `<module>.<method>`. Messages carry `fields.outcome` `err` when the value
//! returned is an `Err`, however its type is spelled (`io::Result`, an alias,
//! `Result<impl Trait, E>`); a `#[track_caller]` function runs unwrapped, so
//! its `Err` is reported as `ok`, as is one returning a type parameter
//! (`-> T`: the value is looked at as a `T`, whatever it is at the call). A function returning `async move { … }` or
//! `Box::pin(async move { … })` (what `#[async_trait]` generates), or one of
//! several boxed futures (`Pin<Box<dyn Future …>>`, `BoxFuture`, some
//! returned early), is timed inside the future.
//!
//! ## Sampling, disabled timers, filters
//!
//! A rate below 1 ([`Counter::rate`], [`Timer::rate`]) keeps only that
//! fraction of calls, decided on the caller's thread before any other work,
//! and records the rate in `fields.rate` (so statsd scales counts back up).
//! [`ClientBuilder::disabled_timers`] turns named timers (or `*`, all) into
//! inert guards that read no clock. [`filter`]s — metlog-py's four providers
//! or any closure — run in order before the sender sees a message.
//!
//! ## Senders
//!
//! See [`sender`]: [`CaptureSender`](sender::CaptureSender) for tests,
//! [`StdoutSender`](sender::StdoutSender),
//! [`StreamSender`](sender::StreamSender), [`FileSender`](sender::FileSender),
//! [`NullSender`](sender::NullSender), or your own [`Sender`](sender::Sender).
//!
//! ## Decisions where metlog-py leaves room
//!
//! - **Failures never reach the caller.** A sender's error or panic, or a
//!   filter's panic, is counted in [`Client::stats`] and the first one is
//!   reported on stderr (or to your [`report::set_handler`]); later ones are
//!   only counted. So is a sender that ignores a message type (a log line
//!   sent to a [`StatsdSender`](sender::StatsdSender) rather than routed elsewhere).
//! - **Default sender is stdout**, so a client built without `.sender(…)`
//!   shows its messages instead of losing them silently.
//! - **Timers round** to the nearest millisecond, like metlog-py's `_Timer`;
//!   [`Client::timer_send`] writes rate 1.0 and does not sample.
//! - **Non-finite floats** in fields are written as `null`, keeping output
//!   valid JSON.
//! - **`exception`** sends an `oldstyle` message at severity Alert (as
//!   metlog-py does), with the error's source chain in the payload and fields.
//! - **[`CaptureSender`](sender::CaptureSender) is bounded** (10,000 messages
//!   by default); when full it refuses new messages, counted as dropped.
//! - **Named clients are not reconfigured in place**: [`get_client`] hands out
//!   an inactive client for an unknown name; [`set_client`] replaces the
//!   registration, not clients already handed out.
#![deny(missing_docs)]
#![warn(unreachable_pub)]
// docs.rs builds with every feature and marks the feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]
// No function over 80 lines (clippy.toml): each does one job.
#![warn(clippy::too_many_lines)]

pub mod bridge;
pub mod client;
mod clock;
pub mod config;
pub mod config_value;
pub mod decorators;
#[cfg(test)]
mod delivery_tests;
pub mod encode;
pub mod envelope;
pub mod filter;
mod gate;
pub mod holder;
mod local_time;
mod macros;
pub mod message;
pub mod plugin;
mod process;
pub mod record;
pub mod report;
mod sampling;
pub mod sender;
pub mod severity;
mod site;
pub mod text;
mod timestamp;
pub mod value;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

include!("attributes.rs");

pub use client::builder::ClientBuilder;
pub use client::message_builder::{Count, Counter, MessageBuilder};
pub use client::timer::Timer;
pub use client::{Client, FlushGuard, Millis, Stats};
pub use decorators::{
    is_decorator_enabled, set_decorator_enabled, set_disabled_decorators, Decorator,
    UnknownDecoratorError,
};
pub use envelope::Envelope;
pub use holder::{
    clear_global_client, counter, current_client, default_client_name, get_client, global_client,
    incr, metlog, named_client, remove_client, replace_global_client, set_client, set_default,
    set_default_client_name, set_global_client, timer, with_client, DefaultGuard,
    SetGlobalClientError, WithClient, WithClientFuture,
};
pub use message::Message;
/// Reports a panic of the function to Sentry, as metlog-raven's
/// `capture_stack` decorator: one `sentry` message (see
/// [`plugin::raven`]) through the client's `raven` plugin, with the panic's
/// message and the stack at the panic, at the plugin's severity; then the
/// panic goes on unwinding. `#[metlog::capture_stack(err)]` also reports a
/// returned `Err` (a `std::error::Error`, or what derefs to one:
/// `anyhow::Error`, `Box<dyn Error>`); `client = "name"` reports to a named
/// client instead of the current one.
///
/// The body runs inside `catch_unwind`: the panic that leaves it is
/// reported, then resumed with the same payload (the caller sees the same
/// panic; the panic hook runs once, at the panic). Its stack comes from a
/// panic hook installed when the first annotated function runs (it chains
/// to the hook before it; after one installed later that does not chain,
/// the stack is the annotated function's). A panic a `Drop` catches on the
/// way out is not the one reported — unless its text is the same fixed
/// text (two `unwrap()`s on `None`): the hook's panics are told from the
/// payload by their text, exactly for a formatted one. Nested annotated
/// functions report a panic once, from the innermost. On an `async fn` it
/// works the same: a panic while the future is polled is reported, a
/// dropped future is not; `err` looks at the future's output. A function
/// may return what it could without the attribute: borrows of its
/// arguments, `Result<impl Trait, E>`.
///
/// Under `panic = "abort"` no function unwinds, so the attribute reports
/// no panic: install the panics plugin in Sentry mode
/// ([`plugin::panics::install_sentry`]), whose hook reports before the
/// abort. The panics that plugin reports (to its own client), the
/// attribute leaves be: each is reported once. After a hook that does not
/// chain replaced the plugin's, the attribute reports them again.
/// Not a `const fn`, nor with `#[track_caller]` (compile errors say why).
///
/// ```
/// use metlog::plugin::raven::Raven;
/// # let capture = metlog::sender::CaptureSender::new();
/// let client = metlog::Client::builder("app")
///     .plugin("raven", Raven::new("http://public:secret@sentry.example.com/2").unwrap())
/// #   .sender(capture.clone())
///     .build();
/// let _scope = metlog::set_default(&client);
///
/// #[metlog::capture_stack(err)]
/// fn parse(text: &str) -> Result<u8, std::num::ParseIntError> {
///     text.parse()
/// }
/// assert!(parse("x").is_err());
/// # assert_eq!(capture.messages()[0].kind, "sentry");
/// ```
#[cfg(all(feature = "macros", feature = "raven"))]
#[cfg_attr(docsrs, doc(cfg(feature = "raven")))]
pub use metlog_macros::capture_stack;
#[cfg(unix)]
pub use process::deliver_on_signals;
pub use record::Record;
pub use severity::{ParseSeverityError, Severity};
pub use text::{SharedStr, Text};
pub use value::{Fields, Value};

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "zmq"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
