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

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::SystemTime;

use serde_json::{json, Value as Json};

use crate::{Client, Fields, Message, Severity, SharedStr};

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

/// Frames of metlog's own machinery, the backtrace reader's and the
/// standard library's (the panic's), dropped from the innermost end.
fn is_machinery(function: &str) -> bool {
    let f = function.trim_start_matches(['<', '&', ':']);
    [
        "std::",
        "core::",
        "alloc::",
        "backtrace::",
        "metlog::",
        "__rustc",
        "rust_begin_unwind",
        "rust_panic",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// Not the application's: the culprit is the innermost frame that is.
fn is_library(function: &str) -> bool {
    let f = function.trim_start_matches(['<', '&', ':']);
    is_machinery(function)
        || ["test::", "tokio::", "__libc", "_start"]
            .iter()
            .any(|p| f.starts_with(p))
}

/// One frame: `(module, function, file, line)`.
type Frame = (String, String, String, u32);

/// How many frames an event holds: raven's limit for any list
/// (`list_max_length`, 50). raven keeps a stack's outermost 50; these are
/// the innermost, where the error or panic happened.
const MAX_FRAMES: usize = 50;

/// The frames of `trace`, outermost first, the innermost machinery left
/// out, and the frames `#[metlog::capture_stack]` adds folded away; at
/// most the innermost [`MAX_FRAMES`].
fn frames(mut trace: backtrace::Backtrace, site: &CallSite) -> Vec<Frame> {
    crate::process::walking_stack(|| trace.resolve());
    // Innermost first: (name, file, line).
    let mut named: Vec<(String, String, u32)> = Vec::new();
    for symbol in trace
        .frames()
        .iter()
        .flat_map(backtrace::BacktraceFrame::symbols)
    {
        let (Some(name), Some(file), Some(line)) =
            (symbol.name(), symbol.filename(), symbol.lineno())
        else {
            continue;
        };
        // `{:#}`: without the hash suffix.
        let name = format!("{name:#}");
        if named.is_empty() && is_machinery(&name) {
            continue;
        }
        named.push((name, file.display().to_string(), line));
        // A bound on the work for a runaway recursion's stack.
        if named.len() == 8 * MAX_FRAMES {
            break;
        }
    }
    application_frames(named, site)
}

/// The event's frames from the stack's, innermost first as
/// `(name, file, line)`: the attribute's own frames folded away, at most
/// [`MAX_FRAMES`], outermost first; `site` stands in for a stack with none
/// of the application's.
fn application_frames(mut named: Vec<(String, String, u32)>, site: &CallSite) -> Vec<Frame> {
    // Frames below `folded` belong to an annotated call folded already.
    let (mut at, mut folded) = (0, 0);
    while at < named.len() {
        let (name, ..) = &named[at];
        if is_capture(name) && !name.ends_with("{{closure}}") && at + 1 < named.len() {
            at = fold_capture(&mut named, folded, at);
            folded = at;
        } else {
            at += 1;
        }
    }
    named.truncate(MAX_FRAMES);
    // Without debug information only the C library's frames have a file
    // and line (when its debug symbols are installed): not the stack.
    if named.iter().all(|(name, ..)| is_library(name)) {
        named.clear();
    }
    let mut frames: Vec<Frame> = named
        .into_iter()
        .map(|(name, file, line)| {
            let (module, function) = split_path(&name);
            (module, function, file, line)
        })
        .collect();
    if frames.is_empty() {
        frames.push((
            site.module.clone(),
            site.function.clone(),
            site.file.clone(),
            site.line,
        ));
    }
    frames.reverse();
    frames
}

/// `#[metlog::capture_stack]`'s own frames (`capture_call`,
/// `CaptureFuture::poll`).
fn is_capture(name: &str) -> bool {
    name.trim_start_matches('<')
        .starts_with("metlog::__private::capture::")
}

/// Folds away the frames the attribute adds around a body (the frames
/// below `folded` are an inner annotated call's, folded already): at `at` its
/// `capture_call`, inside it `catch_unwind`'s frames, then the body's
/// closure (`f::{{closure}}`), outside it the annotated function `f`. The
/// stack then reads as without the attribute: the closure's frame, with
/// its line, named `f`.
fn fold_capture(named: &mut Vec<(String, String, u32)>, folded: usize, at: usize) -> usize {
    let outer = named.remove(at + 1);
    named.remove(at);
    let mut inner = at;
    while inner > 0 && is_machinery(&named[inner - 1].0) {
        inner -= 1;
        named.remove(inner);
    }
    let body = format!("{}::{{{{closure}}}}", outer.0);
    if inner <= folded || !named[inner - 1].0.starts_with(&body) {
        // Not the closure (inlined away): the function's own frame stands.
        named.insert(inner, outer);
        return inner + 1;
    }
    // The body's frame and its own closures': one `::{{closure}}` less.
    for (name, ..) in &mut named[folded..inner] {
        if name.starts_with(&body) {
            name.replace_range(..body.len(), &outer.0);
        }
    }
    inner
}

/// `a::b::<T as c::D>::f` → (`a::b::<T as c::D>`, `f`): the last `::`
/// outside angle brackets.
fn split_path(name: &str) -> (String, String) {
    let mut depth = 0i32;
    let mut cut = None;
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => cut = Some(i),
            _ => {}
        }
    }
    match cut {
        // `f::{{closure}}`: the function is `f::{{closure}}`'s `f`, kept whole.
        Some(i) if name[i + 2..].starts_with("{{") => {
            let (module, function) = split_path(&name[..i]);
            (module, format!("{function}{}", &name[i..]))
        }
        Some(i) => (name[..i].to_owned(), name[i + 2..].to_owned()),
        None => (String::new(), name.to_owned()),
    }
}

/// The Sentry event, as raven 3.1.16 builds it (the keys Sentry 5 takes).
fn event(
    raven: &Raven,
    msg: &str,
    exception: &Exception,
    trace: backtrace::Backtrace,
    site: &CallSite,
    fields: &Fields,
    now: SystemTime,
) -> Json {
    let frames = frames(trace, site);
    let culprit = frames
        .iter()
        .rev()
        .find(|(module, function, ..)| !is_library(&format!("{module}::{function}")))
        .or(frames.last())
        .map(|(module, function, ..)| format!("{module} in {function}"));
    let frames: Vec<Json> = frames
        .into_iter()
        .map(|(module, function, file, line)| {
            json!({"filename": file, "abs_path": file, "module": module,
                   "function": function, "lineno": line})
        })
        .collect();
    let mut extra = serde_json::Map::new();
    // Room left for the three below within raven's limit.
    for (key, value) in fields.iter().take(MAX_ITEMS - 3) {
        extra.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Json::Null),
        );
    }
    extra.insert("msg".into(), msg.into());
    extra.insert("logger".into(), raven.logger.clone().into());
    extra.insert("severity".into(), (raven.severity as u8).into());
    let stamp = crate::timestamp::format_micros(now);
    let stamp = format!("{}Z", String::from_utf8_lossy(&stamp[..19]));
    let mut event = json!({
        "project": raven.project,
        "event_id": event_id(),
        "message": format!("{}: {}", exception.kind, exception.value),
        "level": 40,
        "culprit": culprit,
        "timestamp": stamp,
        "sentry.interfaces.Exception": {
            "type": exception.kind, "value": exception.value, "module": exception.module,
        },
        "sentry.interfaces.Stacktrace": {"frames": frames},
        "extra": extra,
    });
    trim(&mut event);
    event
}

/// raven's limits on what an event holds (`string_max_length`,
/// `list_max_length`): it cuts every string and list of the event to them,
/// which keeps a report within a datagram whatever the error says.
const MAX_CHARS: usize = 400;
const MAX_ITEMS: usize = 50;

/// Cuts the event as raven's `transform` does: strings to [`MAX_CHARS`]
/// characters, lists and maps to [`MAX_ITEMS`] entries.
fn trim(value: &mut Json) {
    match value {
        Json::String(text) => cut_chars(text),
        Json::Array(items) => {
            items.truncate(MAX_ITEMS);
            items.iter_mut().for_each(trim);
        }
        Json::Object(map) => {
            let past: Vec<String> = map.keys().skip(MAX_ITEMS).cloned().collect();
            for key in past {
                map.remove(&key);
            }
            map.values_mut().for_each(trim);
        }
        _ => {}
    }
}

/// The first [`MAX_CHARS`] characters of `text`.
fn cut_chars(text: &mut String) {
    if let Some((at, _)) = text.char_indices().nth(MAX_CHARS) {
        text.truncate(at);
    }
}

/// 32 lowercase hex digits, random (std's randomly keyed hasher, fed the
/// time and a counter).
fn event_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut id = String::with_capacity(32);
    for half in 0..2u8 {
        let mut hasher = state.build_hasher();
        hasher.write_u8(half);
        hasher.write_u64(COUNTER.fetch_add(1, Relaxed));
        hasher.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let _ = write!(id, "{:016x}", hasher.finish());
    }
    id
}

/// `base64(zlib(json))`, as raven's `Client.encode`.
fn encode(event: &Json) -> String {
    use base64::Engine as _;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut zlib, event);
    let compressed = zlib.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(compressed)
}

thread_local! {
    /// What this thread's panics left for `#[metlog::capture_stack]`.
    static PANICS: RefCell<ThreadPanics> = const {
        RefCell::new(ThreadPanics { kept: Vec::new(), plugin_reported: Vec::new(), resumed: Vec::new() })
    };
}

/// How many panics a thread keeps for `#[metlog::capture_stack]`.
const KEPT_PANICS: usize = 8;

struct ThreadPanics {
    /// The latest panics, as the hook saw them (the newest last): more
    /// than the last one, as a `Drop` may catch a panic of its own while
    /// the thread unwinds from another. `seen` is taken once reported.
    kept: Vec<(PanicKey, Option<SeenPanic>)>,
    /// The latest panics the panics plugin reported to Sentry.
    plugin_reported: Vec<PanicKey>,
    /// The payloads annotated calls reported and resumed (the newest
    /// last, at most [`MAX_RESUMED`]), by key and box: the calls they
    /// unwind through next catch the same box.
    resumed: Vec<(u64, usize)>,
}

/// How many resumed payloads a thread remembers (`Drop`s may report many
/// while one unwinds).
const MAX_RESUMED: usize = 256;

/// What tells a panic from another: its message, and where the text lives.
/// A formatted message's `String` moves from the hook to the unwinding
/// payload, buffer and all, so such a panic is told apart exactly; two
/// panics with the same fixed text (`unwrap()` on `None`) are not.
#[derive(PartialEq, Hash)]
struct PanicKey {
    message: String,
    text_at: usize,
}

impl PanicKey {
    /// A digest, for remembering many.
    fn id(&self) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(self)
    }

    fn of(payload: &(dyn std::any::Any + Send)) -> PanicKey {
        let text_at = if let Some(text) = payload.downcast_ref::<String>() {
            text.as_ptr() as usize
        } else if let Some(text) = payload.downcast_ref::<&'static str>() {
            text.as_ptr() as usize
        } else {
            0
        };
        PanicKey {
            message: crate::client::panic_message(payload).to_owned(),
            text_at,
        }
    }
}

/// Adds `item` to a list of at most `limit`, the oldest forgotten.
fn push_bounded<T>(list: &mut Vec<T>, item: T, limit: usize) {
    if list.len() == limit {
        list.remove(0);
    }
    list.push(item);
}

/// A panic, as the hook saw it: its message, where, and the stack then.
pub(crate) struct SeenPanic {
    message: String,
    site: CallSite,
    trace: backtrace::Backtrace,
}

impl SeenPanic {
    /// Reads a panic in a panic hook (the stack unresolved: resolving it
    /// waits for the report).
    pub(crate) fn new(info: &std::panic::PanicHookInfo<'_>) -> SeenPanic {
        let message = crate::client::panic_message(info.payload()).to_owned();
        let site = match info.location() {
            Some(location) => CallSite::caller(location),
            None => CallSite::caller(Location::caller()),
        };
        SeenPanic {
            message,
            site,
            trace: crate::process::walking_stack(backtrace::Backtrace::new_unresolved),
        }
    }
}

/// Installs, once, the panic hook that keeps each panic of a thread for
/// `#[metlog::capture_stack]` (chaining to the hook installed before).
pub(crate) fn keep_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let kept = (PanicKey::of(info.payload()), Some(SeenPanic::new(info)));
            let _ = PANICS.try_with(|panics| {
                push_bounded(&mut panics.borrow_mut().kept, kept, KEPT_PANICS);
            });
            previous(info);
        }));
    });
}

/// The panics plugin reported this panic (in its hook, on the panicking
/// thread): `#[metlog::capture_stack]` leaves it be.
pub(crate) fn reported_by_plugin(info: &std::panic::PanicHookInfo<'_>) {
    let key = PanicKey::of(info.payload());
    let _ = PANICS.try_with(|panics| {
        push_bounded(&mut panics.borrow_mut().plugin_reported, key, KEPT_PANICS);
    });
}

/// Forgets this thread's panics: an annotated call starting (not while
/// unwinding) is past them.
pub(crate) fn forget_panics() {
    let _ = PANICS.try_with(|panics| {
        let mut panics = panics.borrow_mut();
        panics.kept.clear();
        panics.plugin_reported.clear();
        // A box may be reused by a new panic of the same fixed text.
        panics.resumed.clear();
    });
}

/// The panic `#[metlog::capture_stack]` caught (`payload`), unless it is
/// reported already (by the panics plugin, or an annotated call it unwound
/// from): the newest unreported one the hook saw like it, else (another
/// hook replaced metlog's) the panic as seen from `site`. Marked reported.
pub(crate) fn claim_panic(
    payload: &(dyn std::any::Any + Send),
    site: CallSite,
) -> Option<SeenPanic> {
    let key = PanicKey::of(payload);
    let resumed = (key.id(), address_of(payload));
    let found = PANICS.try_with(|panics| {
        let mut panics = panics.borrow_mut();
        if panics.plugin_reported.contains(&key) {
            return Some(None);
        }
        let reported =
            panics.kept.iter().any(|(k, _)| *k == key) || panics.resumed.contains(&resumed);
        let unreported = panics
            .kept
            .iter_mut()
            .rev()
            .find(|(k, seen)| *k == key && seen.is_some());
        match unreported {
            // Unreported: a new panic, also in a box a reported one left.
            Some((_, seen)) => Some(seen.take()),
            None if reported => Some(None),
            None => None,
        }
    });
    if let Ok(Some(seen)) = found {
        return seen;
    }
    Some(SeenPanic {
        message: key.message,
        site,
        trace: crate::process::walking_stack(backtrace::Backtrace::new_unresolved),
    })
}

/// An annotated call reported `payload` and resumes it.
pub(crate) fn resumed(payload: &(dyn std::any::Any + Send)) {
    let resumed = (PanicKey::of(payload).id(), address_of(payload));
    let _ = PANICS.try_with(|panics| {
        push_bounded(&mut panics.borrow_mut().resumed, resumed, MAX_RESUMED);
    });
}

/// Where a payload's box is: the same box unwinds on when resumed.
fn address_of(payload: &(dyn std::any::Any + Send)) -> usize {
    std::ptr::from_ref(payload).cast::<()>() as usize
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

    fn named(names: &[&str]) -> Vec<(String, String, u32)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), "f.rs".to_owned(), 1))
            .collect()
    }

    fn functions(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .rev()
            .map(|(m, f, ..)| format!("{m}::{f}"))
            .collect()
    }

    fn site() -> CallSite {
        CallSite::caller(Location::caller())
    }

    /// The attribute's frames fold away, its closures' names with them
    /// (attack: a closure inside read `f::{{closure}}::{{closure}}`).
    #[test]
    fn the_attributes_frames_fold_away() {
        let stack = named(&[
            "app::f::{{closure}}::{{closure}}",
            "core::iter::Iterator::for_each",
            "app::f::{{closure}}",
            "core::panic::unwind_safe::call_once",
            "std::panicking::catch_unwind",
            "metlog::__private::capture::capture_call",
            "app::f",
            "app::main",
        ]);
        assert_eq!(
            functions(&application_frames(stack, &site())),
            [
                "app::f::{{closure}}",
                "core::iter::Iterator::for_each",
                "app::f",
                "app::main"
            ]
        );
        // An `async fn`: its body is a closure already.
        let stack = named(&[
            "app::g",
            "app::h::{{closure}}::{{closure}}",
            "<metlog::__private::capture::CaptureFuture<F> as core::future::future::Future>::poll::{{closure}}",
            "std::panicking::catch_unwind",
            "<metlog::__private::capture::CaptureFuture<F> as core::future::future::Future>::poll",
            "app::h::{{closure}}",
            "app::run",
        ]);
        assert_eq!(
            functions(&application_frames(stack, &site())),
            ["app::g", "app::h::{{closure}}", "app::run"]
        );
    }

    /// Recursive annotated calls fold each their own frames: a closure in
    /// the innermost keeps its name (attack: each fold stripped it again).
    #[test]
    fn recursive_annotated_calls_fold_each_their_own() {
        let call = [
            "std::panicking::catch_unwind",
            "metlog::__private::capture::capture_call",
        ];
        let mut stack = vec![
            "app::helper",
            "app::rec::{{closure}}::{{closure}}",
            "app::rec::{{closure}}",
        ];
        for _ in 0..2 {
            stack.extend(call);
            stack.extend(["app::rec", "app::rec::{{closure}}"]);
        }
        stack.extend(call);
        stack.extend(["app::rec", "app::main"]);
        assert_eq!(
            functions(&application_frames(named(&stack), &site())),
            [
                "app::helper",
                "app::rec::{{closure}}",
                "app::rec",
                "app::rec",
                "app::rec",
                "app::main"
            ]
        );
    }

    /// A payload an annotated call reported and resumed is known by its box
    /// and text; a new panic whose box takes the old one's place is not it
    /// (attack: taken for it by the box alone, and lost).
    #[test]
    fn a_new_panic_in_a_reported_ones_box_is_reported() {
        let mut payload: Box<dyn std::any::Any + Send> = Box::new(String::from("first 1"));
        resumed(&*payload);
        assert!(
            claim_panic(&*payload, site()).is_none(),
            "the same panic, resumed"
        );
        *payload.downcast_mut::<String>().unwrap() = String::from("second 2");
        let claimed = claim_panic(&*payload, site()).expect("a new panic");
        assert_eq!(claimed.message, "second 2");
    }

    /// A stack with only the C library's frames (a release build without
    /// debug information, libc's symbols installed) is no stack: the site
    /// stands in (attack: every event named `__libc_start_call_main`).
    #[test]
    fn a_stack_of_libc_alone_gives_the_site() {
        let stack = named(&["__libc_start_call_main", "__libc_start_main_impl", "_start"]);
        let frames = application_frames(stack, &site());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].2, file!());
    }

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

    #[test]
    fn paths() {
        assert_eq!(split_path("a::b::f"), ("a::b".into(), "f".into()));
        assert_eq!(
            split_path("a::f::{{closure}}"),
            ("a".into(), "f::{{closure}}".into())
        );
        assert_eq!(
            split_path("<a::T as b::U>::f"),
            ("<a::T as b::U>".into(), "f".into())
        );
        assert_eq!(split_path("main"), (String::new(), "main".into()));
    }
}
