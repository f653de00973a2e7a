//! Errors and panics for Sentry (metlog-raven 0.5): `sentry` messages whose
//! payload is the Sentry event raven 3.1.16 builds, so the router's Sentry
//! outputs (`metlog_sentry`, `metlog_sentry_dsn`) forward a Rust service's
//! errors as they forward a Python one's.
//!
//! Bind a [`Raven`] (built from the project's DSN) as the plugin `raven`,
//! then report errors with [`Client::raven`], panics and returned errors
//! with `#[metlog::capture_stack]`, or every panic with the panics plugin's
//! [`install_sentry`](crate::plugin::panics::install_sentry).
//!
//! ```
//! use metlog::plugin::raven::Raven;
//! # let capture = metlog::sender::CaptureSender::new();
//! let raven = Raven::new("http://public:secret@sentry.example.com/2").unwrap();
//! let client = metlog::Client::builder("app")
//!     .plugin("raven", raven)
//! #   .sender(capture.clone())
//!     .build();
//! let err = "x1".parse::<u8>().unwrap_err();
//! client.raven("cannot read the count", &err);
//! # let msg = &capture.messages()[0];
//! # assert_eq!(msg.kind, "sentry");
//! # assert_eq!(msg.fields.get("msg").unwrap().as_str(), Some("cannot read the count"));
//! ```
//!
//! # The message
//!
//! Type `sentry`; logger the client's (the plugin's [`Raven::logger`]
//! overrides it); severity 3 ([`Raven::severity`] overrides it); fields
//! `epoch_timestamp` (seconds since the epoch, a number), `msg` (the caller's
//! text, `""` for `capture_stack`), `dsn`, and the call's own fields
//! ([`Client::raven_fields`]). The payload is `base64(zlib(json(event)))`
//! (standard alphabet, `=` padding, one line), which raven's
//! `Client.decode` reads back. The event: `project` (the DSN's project),
//! `event_id` (32 lowercase hex digits), `message` (`"<Type>: <value>"`),
//! `level` 40, `culprit` (`"<module> in <function>"` of the innermost frame
//! outside std, core, alloc and metlog), `timestamp` (UTC,
//! `%Y-%m-%dT%H:%M:%SZ`), `sentry.interfaces.Exception` (`type`, `value`,
//! `module`), `sentry.interfaces.Stacktrace` (`frames`, the outermost call
//! first: `filename`, `abs_path`, `module`, `function`, `lineno` each) and
//! `extra` (`msg`, `logger` — the plugin's option, `null` without one, as
//! metlog-raven — `severity`, and the call's fields). Nothing else at the
//! top level: Sentry 5 refuses unknown keys.
//!
//! An error's `type` is its Rust type's name and `module` its path
//! (`ParseIntError`, `core::num::error`); behind a trait object (`&*boxed`,
//! `&*anyhow_err`) the type is unknown to the compiler, so it is the name
//! its `Debug` output starts with (`Custom { .. }` gives `Custom`), else
//! `Error`, with module `dyn`. Its `value` is its message and its
//! sources', joined by `": "`. A panic's type is `panic`, module
//! `core::panic`, value the panic's message.
//!
//! Frames come from a backtrace taken at the call (an error) or at the
//! panic (a panic), read with the `backtrace` crate; without debug
//! information there are none, and the call's (or the panic's) file and
//! line stand in as the one frame.
//!
//! As raven cuts an event, every string in it is cut to 400 characters and
//! every list and map to 50 entries (a stack keeps its innermost 50
//! frames; `extra` keeps `msg`, `logger` and `severity` and 47 of the
//! call's fields); `fields.msg` is cut as the event's. A report then fits
//! one datagram whatever the error says (the call's own fields go whole
//! into the envelope's `fields`, as metlog-raven sends them).

use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::SystemTime;

use crate::{Client, Fields, Message, Severity, SharedStr};

mod caught;
mod event;
mod stack;

pub(crate) use caught::{
    claim_panic, forget_panics, keep_panics, reported_by_plugin, resumed, SeenPanic,
};
use event::{cut_chars, encode, event};

/// A Sentry project to report to, bound on a client as the plugin `raven`
/// (config: `[metlog_plugin_raven]` with `provider = raven` or
/// metlog-raven's `metlog_raven.raven_plugin:config_plugin`; options `dsn`
/// (required), `logger`, `severity`, and the deprecated
/// `sentry_project_id`, accepted and ignored: the DSN names the project).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raven {
    dsn: String,
    project: String,
    logger: Option<String>,
    severity: Severity,
}

impl Raven {
    /// Reads a DSN, `http://PUBLIC:SECRET@host[:port]/[path/]PROJECT` or
    /// the same with `udp://` (the router's `metlog_sentry_dsn` sends a
    /// datagram): an `Err` says what is wrong with it.
    ///
    /// ```
    /// use metlog::plugin::raven::Raven;
    /// assert_eq!(Raven::new("http://pub:sec@localhost:9000/sentry/7").unwrap().project(), "7");
    /// assert!(Raven::new("http://localhost:9000/7").unwrap_err().contains("PUBLIC:SECRET@"));
    /// ```
    pub fn new(dsn: impl Into<String>) -> Result<Raven, String> {
        let dsn = dsn.into();
        let project = parse_dsn(&dsn).map_err(|why| {
            format!(
                "invalid Sentry DSN {dsn:?}: {why} (expected \
                 http://PUBLIC:SECRET@host[:port]/[path/]PROJECT, or udp://…)"
            )
        })?;
        Ok(Raven {
            project: project.to_owned(),
            dsn,
            logger: None,
            severity: Severity::Error,
        })
    }

    /// The messages' logger (default: the client's), as metlog-raven's
    /// `logger` option; also the event's `extra.logger`.
    pub fn logger(mut self, logger: impl Into<String>) -> Raven {
        self.logger = Some(logger.into());
        self
    }

    /// The messages' severity (default: [`Severity::Error`], 3).
    pub fn severity(mut self, severity: Severity) -> Raven {
        self.severity = severity;
        self
    }

    /// The DSN, as given.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// The DSN's project id: the event's `project`.
    pub fn project(&self) -> &str {
        &self.project
    }
}

/// The project of a valid DSN: one the router's `metlog_sentry_dsn`
/// output can send to. It handles `http://` and `udp://` only (`https://`
/// gives it no client), and Ruby's `URI.parse` raises on anything outside
/// RFC 3986 — either kills the output's only sending thread, and with it
/// every later event of every service. So: those two schemes, keys of
/// URL-safe characters (a `,` would add a key to the router's
/// `X-Sentry-Auth` header), a host name, IPv4 or bracketed IPv6 address,
/// a port of digits.
fn parse_dsn(dsn: &str) -> Result<&str, &'static str> {
    let (scheme, rest) = dsn.split_once("://").ok_or("no scheme")?;
    // Lower case only: the router compares `http://` exactly (`HTTP://`
    // would get no client there).
    if !matches!(scheme, "http" | "udp") {
        return Err(
            "the scheme must be http or udp, the two the router's metlog_sentry_dsn \
                    output sends to",
        );
    }
    let (keys, rest) = rest
        .split_once('@')
        .ok_or("no PUBLIC:SECRET@ before the host")?;
    let (public, secret) = keys
        .split_once(':')
        .ok_or("no :SECRET after the public key")?;
    let key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if public.is_empty() || secret.is_empty() {
        return Err("the public and secret keys must not be empty");
    }
    if !public.chars().chain(secret.chars()).all(key_char) {
        return Err("the keys may hold letters, digits and - . _ ~ only");
    }
    let (authority, path) = rest.split_once('/').ok_or("no /PROJECT after the host")?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']').ok_or("an unclosed [ in the host")?;
            if address.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("the brackets hold no IPv6 address");
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or("text after the IPv6 address")?,
                ),
            };
            (address, port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':');
    if host.is_empty() || host.len() > 253 || !host.chars().all(host_char) {
        return Err("no host name or address (letters, digits, - and . only)");
    }
    let port_ok =
        |p: &str| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p > 0);
    if port.is_some_and(|p| !port_ok(p)) {
        return Err("the port must be a number from 1 to 65535");
    }
    let project = path.rsplit('/').next().unwrap_or("");
    let path_char = |c: char| key_char(c) || c == '/';
    if project.is_empty() || !project.chars().all(key_char) || !path.chars().all(path_char) {
        return Err("the path must end in the project id (letters, digits, - . _ ~)");
    }
    Ok(project)
}

/// `client.raven(...)`: metlog-raven's method.
impl Client {
    /// Reports `error` to Sentry: one `sentry` message (see the
    /// [module docs](crate::plugin::raven)) with `text` as `fields.msg`,
    /// through the client's plugin `raven`. A client without one sends
    /// nothing, and says so once (the router could not forward it).
    ///
    /// An `anyhow::Error` or a `Box<dyn Error>` is passed as `&*err`, as
    /// for [`exception`](Client::exception).
    #[track_caller]
    pub fn raven<E>(&self, text: impl fmt::Display, error: &E)
    where
        E: std::error::Error + ?Sized,
    {
        self.raven_fields(text, error, Fields::new());
    }

    /// [`raven`](Client::raven) with fields of the caller's, sent as
    /// metlog-raven sends its keyword arguments (in `fields`) and in the
    /// event's `extra`.
    #[track_caller]
    pub fn raven_fields<E>(&self, text: impl fmt::Display, error: &E, fields: Fields)
    where
        E: std::error::Error + ?Sized,
    {
        let site = CallSite::caller(Location::caller());
        let trace = crate::process::walking_stack(backtrace::Backtrace::new_unresolved);
        let Some(message) = self.raven_error_message(&text, error, trace, &site, fields) else {
            return;
        };
        self.dispatch_message(message);
    }

    /// The `sentry` message for an error, or `None` (nothing to send).
    pub(crate) fn raven_error_message<E>(
        &self,
        text: &dyn fmt::Display,
        error: &E,
        trace: backtrace::Backtrace,
        site: &CallSite,
        fields: Fields,
    ) -> Option<Message>
    where
        E: std::error::Error + ?Sized,
    {
        let raven = self.raven_plugin()?;
        let (mut msg, mut value) = (String::new(), String::new());
        self.format(|_| {
            write!(msg, "{text}")?;
            write!(value, "{error}")?;
            let mut source = error.source();
            // As `exception`: a chain followed 64 deep at most (it may loop).
            for _ in 0..64 {
                let Some(cause) = source else { break };
                write!(value, ": {cause}")?;
                source = cause.source();
            }
            Ok(())
        })?;
        let (kind, module) = error_type::<E>(error);
        let exception = Exception {
            kind,
            module,
            value,
        };
        Some(self.sentry_message(raven, msg, &exception, trace, site, fields))
    }

    /// The client's `raven` plugin; without one, says so once per process.
    fn raven_plugin(&self) -> Option<&Raven> {
        static REPORTED: AtomicBool = AtomicBool::new(false);
        if !self.is_active() {
            return None;
        }
        let raven = self.plugin::<Raven>("raven");
        if raven.is_none() && !REPORTED.swap(true, Relaxed) {
            crate::report::report(format_args!(
                "client {:?}: an error or panic for Sentry was not sent: the client has no \
                 `raven` plugin (bind a metlog::plugin::raven::Raven with the project's DSN, \
                 or configure [..._plugin_raven] with `dsn`); further ones are dropped silently",
                self.logger()
            ));
        }
        raven
    }

    /// The envelope around the event.
    fn sentry_message(
        &self,
        raven: &Raven,
        msg: String,
        exception: &Exception,
        trace: backtrace::Backtrace,
        site: &CallSite,
        mut fields: Fields,
    ) -> Message {
        let now = SystemTime::now();
        let epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // `msg` as in the event (metlog-raven sends it whole in `fields`).
        let mut msg = msg;
        cut_chars(&mut msg);
        let event = event(raven, &msg, exception, trace, site, &fields, now);
        fields.insert("epoch_timestamp", epoch);
        fields.insert("msg", msg);
        fields.insert("dsn", raven.dsn.clone());
        self.make_message(
            SharedStr::from_static("sentry"),
            raven.logger.clone().map(SharedStr::from),
            Some(raven.severity),
            SharedStr::from(encode(&event)),
            fields,
            Some(now),
        )
    }
}

/// What the event's `sentry.interfaces.Exception` says.
struct Exception {
    kind: String,
    module: String,
    value: String,
}

/// Where the report was made: the frame that stands in when the backtrace
/// has none.
pub(crate) struct CallSite {
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) module: String,
    pub(crate) function: String,
}

impl CallSite {
    fn caller(location: &Location<'_>) -> CallSite {
        CallSite {
            file: location.file().to_owned(),
            line: location.line(),
            module: location.file().to_owned(),
            function: "<unknown>".to_owned(),
        }
    }
}

/// The error's type name and module (see the module docs).
fn error_type<E: std::error::Error + ?Sized>(error: &E) -> (String, String) {
    let mut name = std::any::type_name::<E>();
    // The error a reference or a `Box`/`Arc` holds is the one named.
    loop {
        name = name.trim_start_matches('&').trim_start_matches("mut ");
        let inner = ["alloc::boxed::Box<", "alloc::sync::Arc<"]
            .iter()
            .find_map(|wrapper| name.strip_prefix(wrapper)?.strip_suffix('>'));
        match inner {
            Some(inner) => name = inner,
            None => break,
        }
    }
    if !name.starts_with("dyn ") {
        // Generic arguments aside, the path's last segment is the type.
        let bare = name.split('<').next().unwrap_or(name);
        return match bare.rsplit_once("::") {
            Some((module, kind)) => (format!("{kind}{}", &name[bare.len()..]), module.to_owned()),
            None => (name.to_owned(), String::new()),
        };
    }
    // A `Debug` that panics costs the type name, not the caller's call.
    let mut debug = String::new();
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = write!(Limited(&mut debug, 128), "{error:?}");
    }));
    if read.is_err() {
        debug.clear();
    }
    let ident: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let is_type = ident.chars().next().is_some_and(char::is_uppercase);
    let kind = if is_type { ident } else { "Error".to_owned() };
    (kind, "dyn".to_owned())
}

/// A writer that stops (with an error) after `.1` bytes: a `Debug` output
/// read only for its first word.
struct Limited<'a>(&'a mut String, usize);

impl fmt::Write for Limited<'_> {
    /// Keeps nothing past the limit, also from a `Debug` that goes on
    /// writing after an error.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.1.saturating_sub(self.0.len());
        if s.len() <= room {
            self.0.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.0.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}

/// The `sentry` message for a panic (`msg` empty), or `None`.
pub(crate) fn panic_message(client: &Client, seen: SeenPanic) -> Option<Message> {
    let raven = client.raven_plugin()?;
    let exception = Exception {
        kind: "panic".to_owned(),
        module: "core::panic".to_owned(),
        value: seen.message,
    };
    Some(client.sentry_message(
        raven,
        String::new(),
        &exception,
        seen.trace,
        &seen.site,
        Fields::new(),
    ))
}

/// The configuration provider (`provider = raven`, or metlog-raven's
/// `metlog_raven.raven_plugin:config_plugin`).
pub(crate) fn provider(
    options: &std::collections::BTreeMap<String, crate::config_value::ConfigValue>,
) -> Result<Box<dyn std::any::Any + Send + Sync>, String> {
    let text = |key: &str| {
        options
            .get(key)
            .map(|v| v.as_string().ok_or_else(|| format!("`{key}` must be text")))
            .transpose()
    };
    if let Some(other) = options
        .keys()
        .find(|k| !["dsn", "logger", "severity", "sentry_project_id"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown option `{other}` (expected dsn, logger, severity, sentry_project_id)"
        ));
    }
    let dsn = text("dsn")?.filter(|d| !d.trim().is_empty()).ok_or(
        "`dsn` is required: the Sentry project's DSN, \
         http://PUBLIC:SECRET@host[:port]/[path/]PROJECT (`sentry_project_id` alone is \
         not enough: the router needs the DSN to forward the event)",
    )?;
    let mut raven = Raven::new(dsn.trim())?;
    if let Some(logger) = text("logger")? {
        raven = raven.logger(logger);
    }
    if let Some(severity) = text("severity")? {
        let severity: Severity = severity
            .trim()
            .parse()
            .map_err(|e| format!("`severity`: {e}"))?;
        raven = raven.severity(severity);
    }
    // `sentry_project_id`: deprecated in metlog-raven (used only without a
    // DSN, which the router cannot forward): accepted, and the DSN's
    // project wins.
    Ok(Box::new(raven))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error a reference, `Box` or `Arc` holds is the one named.
    #[test]
    fn wrapped_errors_are_named_by_what_they_hold() {
        #[derive(Debug)]
        struct Oops;
        impl fmt::Display for Oops {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("oops")
            }
        }
        impl std::error::Error for Oops {}
        let module = format!(
            "{}::wrapped_errors_are_named_by_what_they_hold",
            module_path!()
        );
        let boxed = Box::new(Oops);
        assert_eq!(error_type(&boxed), ("Oops".to_owned(), module.clone()));
        assert_eq!(
            error_type(&std::sync::Arc::new(Oops)),
            ("Oops".to_owned(), module.clone())
        );
        assert_eq!(error_type(&&Oops), ("Oops".to_owned(), module));
        let shared: std::sync::Arc<dyn std::error::Error + Send + Sync> = std::sync::Arc::new(Oops);
        assert_eq!(error_type(&shared), ("Oops".to_owned(), "dyn".to_owned()));
    }

    #[test]
    fn dsns() {
        for good in [
            "http://a:b@h/1",
            "http://a:b@h:9000/2",
            "udp://a:b@h:9001/sentry/x/3",
            "http://a:b@[::1]/4",
            "http://a:b@[::1]:9000/4",
            "http://0123abc:fed.c_b@sentry-1.example.com/12",
        ] {
            assert!(Raven::new(good).is_ok(), "{good}");
        }
        for bad in [
            "a:b@h/1",
            "ftp://a:b@h/1",
            "http://h/1",
            "http://a@h/1",
            "http://:b@h/1",
            "http://a:b@/1",
            "http://a:b@h:x/1",
            "http://a:b@h",
            "http://a:b@h/",
            "http://a:b@h/1?x",
            // What kills the router's metlog_sentry_dsn thread (attack F1).
            "https://a:b@h/1",
            "http://a:b@h:+9000/1",
            "http://a:b@hôst/1",
            "http://a:b@h:9000:1/1",
            "http://a:b@h;x:9000/1",
            "http://a:b@h?x/1",
            "http://a\"x:b@h/1",
            "http://a,sentry_key=evil:b@h/1",
            "http://a:b@[::1/1",
            "http://a:b@[zz]/1",
            "http://a:b@h/x y/1",
        ] {
            assert!(Raven::new(bad).is_err(), "{bad}");
        }
    }
}
