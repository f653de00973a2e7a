// Documentation and re-export of the attribute macros (crate
// `metlog-macros`), included at the crate's root (so that each has one
// documentation page, there).

/// Reports how long each call of a function takes, as a `timer` message
/// (metlog-py's `@timeit`).
///
/// One message per call, however the call ends: normal return, early
/// `return`, `?`, or a panic (sent while unwinding; the panic continues
/// unchanged). On an `async fn` the timer runs from the first poll to
/// completion, and a future dropped before completing still reports.
/// `fields.outcome` tells which: `ok`, `err` (the function returned `Err`),
/// `panic` or `cancelled`.
///
/// The client is looked up at each call: this thread's scope, else the
/// global client. With none, with the timer name disabled on the client
/// (`disabled_timers`), with timers switched off process-wide
/// ([`set_decorator_enabled`]), or when the
/// call is sampled out, the call costs about as much as an unannotated one:
/// no clock read, no allocation, no lock.
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// #[metlog::timer]
/// fn render() -> String {
///     "page".to_owned()
/// }
/// render();
/// let msg = &capture.messages()[0];
/// assert_eq!(msg.kind, "timer");
/// // The default name: the module path with `.` for `::`, then the function.
/// assert!(msg.fields["name"].as_str().unwrap().ends_with(".render"));
/// assert_eq!(msg.fields["outcome"], "ok");
/// ```
///
/// # Options
///
/// A bare string names the metric: `#[metlog::timer("db.query")]`, the same
/// as `name = "db.query"`.
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// #[metlog::timer("db.query")]
/// fn query() {}
/// #[metlog::timer(name = "db.write")]
/// fn write() {}
/// query();
/// write();
/// let names: Vec<_> = capture.messages().iter().map(|m| m.fields["name"].to_string()).collect();
/// assert_eq!(names, ["db.query", "db.write"]);
/// ```
///
/// `rate = <0.0..=1.0>` reports only that fraction of calls (decided before
/// the clock is read) and writes the rate into `fields.rate`:
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// #[metlog::timer(rate = 0.0)]
/// fn never_reported() {}
/// #[metlog::timer(rate = 1.0)]
/// fn always_reported() {}
/// never_reported();
/// always_reported();
/// assert_eq!(capture.len(), 1);
/// assert_eq!(capture.messages()[0].fields["rate"], 1.0);
/// ```
///
/// `severity = <0..=7>` or `severity = Severity::Warning`, and
/// `logger = "…"`, override the client's defaults:
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// use metlog::Severity;
/// #[metlog::timer(severity = Severity::Notice, logger = "batch")]
/// fn nightly() {}
/// #[metlog::timer(severity = 7)]
/// fn chatty() {}
/// nightly();
/// chatty();
/// let msgs = capture.messages();
/// assert_eq!((msgs[0].severity, &*msgs[0].logger), (Severity::Notice, "batch"));
/// assert_eq!(msgs[1].severity, Severity::Debug);
/// ```
///
/// `fields(key = <literal>, …)` adds fixed fields:
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// #[metlog::timer(fields(backend = "postgres", shard = 3, primary = true, weight = 0.5))]
/// fn load() {}
/// load();
/// let fields = &capture.messages()[0].fields;
/// assert_eq!(fields["backend"], "postgres");
/// assert_eq!(fields["shard"], 3);
/// assert_eq!(fields["primary"], true);
/// ```
///
/// `client = "<name>"` reports to a named client (see
/// [`set_client`]) instead of the current one:
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// let db = metlog::Client::builder("db").sender(capture.clone()).build();
/// metlog::set_client("db", db);
/// #[metlog::timer(client = "db")]
/// fn migrate() {}
/// migrate();
/// assert_eq!(capture.messages()[0].logger, "db");
/// ```
///
/// On an `impl` block, every method is instrumented and named
/// `<module>.<Type>.<method>`; `#[metlog::skip]` leaves one out, and `const
/// fn`s are left out:
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// struct Cache;
/// #[metlog::timer]
/// impl Cache {
///     fn get(&self) -> u32 { 1 }
///     #[metlog::skip]
///     fn len(&self) -> usize { 0 }
/// }
/// Cache.get();
/// Cache.len();
/// assert_eq!(capture.len(), 1);
/// assert!(capture.messages()[0].fields["name"].as_str().unwrap().ends_with(".Cache.get"));
/// ```
///
/// # Errors at compile time
///
/// Misuse is a compile error pointing at the offending token:
///
/// ```compile_fail
/// #[metlog::timer(rate = 2.0)] // `rate` must be between 0.0 and 1.0
/// fn f() {}
/// ```
///
/// ```compile_fail
/// #[metlog::timer] // cannot instrument a `const fn`
/// const fn f() {}
/// ```
///
/// ```compile_fail
/// #[metlog::timer(nmae = "typo")] // unknown option `nmae`
/// fn f() {}
/// ```
#[cfg(feature = "macros")]
pub use metlog_macros::timer;

/// Counts the calls of a function: one `counter` message per call, sent
/// when the call ends (metlog-py's `@incr_count`).
///
/// Takes the options of [`#[metlog::timer]`](macro@crate::timer) — `name`,
/// `rate`, `severity`, `logger`, `fields`, `client` — plus `count = <int>`
/// (default 1). Messages carry `fields.outcome` like the timer's. Reads no
/// clock.
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// # let _scope = metlog::set_default(&client);
/// #[metlog::incr("logins")]
/// fn login(user: &str) -> Result<(), String> {
///     if user.is_empty() {
///         return Err("no user".into());
///     }
///     Ok(())
/// }
/// #[metlog::incr(name = "bytes", count = 512)]
/// fn upload() {}
///
/// login("ada").unwrap();
/// login("").unwrap_err();
/// upload();
/// let msgs = capture.messages();
/// assert_eq!(msgs[0].kind, "counter");
/// assert_eq!(msgs[0].payload, "1");
/// assert_eq!(msgs[0].fields["outcome"], "ok");
/// assert_eq!(msgs[1].fields["outcome"], "err");
/// assert_eq!(msgs[2].payload, "512");
/// ```
///
/// ```compile_fail
/// #[metlog::incr(count = 0)] // would report nothing
/// fn f() {}
/// ```
///
/// ```compile_fail
/// #[metlog::incr]
/// struct NotAFunction; // only functions and impl blocks
/// ```
#[cfg(feature = "macros")]
pub use metlog_macros::incr;

/// Leaves a method out of an `impl` block annotated with
/// [`#[metlog::timer]`](macro@crate::timer) or
/// [`#[metlog::incr]`](macro@crate::incr). Anywhere else it is an error.
///
/// ```compile_fail
/// #[metlog::skip] // not inside an annotated impl block
/// fn f() {}
/// ```
#[cfg(feature = "macros")]
pub use metlog_macros::skip;
