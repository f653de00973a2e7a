//! CEF security events (metlog-cef): ArcSight Common Event Format lines in
//! `cef` messages, laid out as metlog-cef 0.2 (with the `cef` library) lays
//! them out, so the router's CEF output and the SIEM rules behind it see
//! the same records from a Rust service as from a Python one.
//!
//! ```
//! use metlog::plugin::cef::CefContext;
//! # let capture = metlog::sender::CaptureSender::new();
//! # let client = metlog::Client::builder("app").sender(capture.clone()).build();
//! let context = CefContext::new()
//!     .source_address("10.1.2.3")
//!     .user("ada")
//!     .request("POST", "/login");
//! let line = client.cef("AuthFail", 7, &context, [("reason", "bad=password|x")]).unwrap();
//! // `Jan 18 19:58:24 myhost CEF:0|…`: the local time and host first, as metlog-cef.
//! let cef = &line[line.find("CEF:").unwrap()..];
//! assert_eq!(
//!     cef,
//!     "CEF:0|Mozilla|app|0|AuthFail|AuthFail|7|cs1Label=requestClientApplication cs1=none \
//!      requestMethod=POST request=/login src=10.1.2.3 dhost=none suser=ada \
//!      reason=bad\\=password|x"
//! );
//! ```
//!
//! # The line
//!
//! `DATE HOST CEF:0|vendor|product|version|signature|name|severity|` and
//! the extension: first the seven metlog-cef always writes, in its order
//! and with its defaults for what the context leaves unset —
//! `cs1Label=requestClientApplication cs1=<user agent, none>
//! requestMethod=<method> request=<path> src=<address, None>
//! dhost=<host, none> suser=<user, none>` — then the caller's extensions,
//! ordered as metlog-cef orders them (by the value's length in bytes, then
//! the key's length, the key, the value), up to a line of 1,024
//! bytes (counted as metlog-cef counts: the header and, per extension, its
//! key, its unescaped value and two). `DATE` is the event's local time as
//! `%b %d %H:%M:%S` (`Jan 18 19:58:24`), `HOST` the machine's name (or
//! [`Cef::host`]).
//!
//! Where metlog-cef wrote a line a CEF parser reads wrongly, this one
//! differs (and only there): header fields escape `\` and `|` and lose
//! line breaks (metlog-cef left a `|` in vendor, product or version
//! unescaped and put a `\` before a line break, which still ends the syslog
//! record); extension values escape line breaks as `\n`/`\r` besides `\`
//! and `=`; extension keys keep only the characters metlog-cef allows in
//! one (ASCII letters, digits, `_`, `-`, `.`: it warned of others and wrote
//! them anyway); an extension
//! whose key is empty, repeats one written before, or is one of the seven
//! is left out and reported (metlog-cef kept illegal keys as they were,
//! and let a keyword named `date`, `host`, `vendor`, `suser`, … replace
//! that header field unescaped); the severity is at most 10.

use std::time::SystemTime;

use crate::{Client, SharedStr};

/// The longest line metlog-cef writes: extensions that would make it longer
/// are left out (the header and the seven standard extensions are always
/// written).
pub(crate) const MAX_LINE: usize = 1024;

/// The device fields of every CEF line a client sends: bind one as the
/// plugin `cef` (config: `[metlog_plugin_cef]` with `provider = cef` or
/// metlog-cef's `metlog_cef.cef_plugin:config_plugin`; options `vendor`,
/// `product`, `version` (or `device_version`), `host` and metlog-cef's
/// `syslog_*`) or rely on the defaults (vendor `Mozilla`, product the
/// client's logger, version `0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cef {
    /// Device vendor.
    pub vendor: String,
    /// Device product (default: the client's logger).
    pub product: Option<String>,
    /// Device version (metlog-cef's `cef.device_version`).
    pub version: String,
    /// The host name written before `CEF:0` (default: the machine's name,
    /// as metlog-cef's `socket.gethostname()`).
    pub host: Option<String>,
    /// metlog-cef's `syslog_options`, `syslog_facility`, `syslog_ident` and
    /// `syslog_priority`: sent with every message as `fields.cef_meta`,
    /// which the router's CEF output needs to write it to syslog (`None`:
    /// JSON `null`, the router's default).
    pub syslog: CefSyslog,
}

/// How the router's CEF output (and [`SyslogSender`](crate::sender::SyslogSender))
/// writes the event to syslog (metlog-cef's `cef_meta`); each `None` leaves
/// the router's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CefSyslog {
    /// `PID`, `CONS`, `NDELAY`, `NOWAIT`, comma-separated.
    pub options: Option<String>,
    /// `KERN`, `USER`, `MAIL`, `DAEMON`, `AUTH`, `LPR`, `NEWS`, `UUCP`,
    /// `CRON`, `LOCAL0`–`LOCAL7` (router default `LOCAL4`).
    pub facility: Option<String>,
    /// The syslog ident.
    pub ident: Option<String>,
    /// `EMERG`, `ALERT`, `CRIT`, `ERR`, `WARNING`, `NOTICE`, `INFO`, `DEBUG`
    /// (router default `INFO`).
    pub priority: Option<String>,
}

/// metlog-cef's accepted values (it refuses others when the client is
/// configured; the router's output drops the messages of some).
const SYSLOG_OPTIONS: [&str; 4] = ["PID", "CONS", "NDELAY", "NOWAIT"];
const SYSLOG_FACILITIES: [&str; 17] = [
    "KERN", "USER", "MAIL", "DAEMON", "AUTH", "LPR", "NEWS", "UUCP", "CRON", "LOCAL0", "LOCAL1",
    "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7",
];
use crate::encode::syslog::PRIORITY_NAMES as SYSLOG_PRIORITIES;

impl CefSyslog {
    /// Checks the values as metlog-cef does, and refuses what the router's
    /// output would drop every message for.
    fn check(&self) -> Result<(), String> {
        let one_of = |setting: &str, what: &str, value: Option<&str>, allowed: &[&str]| match value
        {
            Some(value) if !allowed.contains(&value) => Err(format!(
                "{setting}: unknown {what} {value:?} (expected one of {}, in capitals)",
                allowed.join(", ")
            )),
            _ => Ok(()),
        };
        for option in self.options.iter().flat_map(|options| options.split(',')) {
            let option = option.trim();
            if option.ends_with("PERROR") {
                return Err(format!(
                    "syslog_options: {option} is not supported: the router's CEF output \
                     drops every message that asks for it (use PID, CONS, NDELAY, NOWAIT)"
                ));
            }
            one_of("syslog_options", "option", Some(option), &SYSLOG_OPTIONS)?;
        }
        one_of(
            "syslog_facility",
            "facility",
            self.facility.as_deref(),
            &SYSLOG_FACILITIES,
        )?;
        one_of(
            "syslog_priority",
            "priority",
            self.priority.as_deref(),
            &SYSLOG_PRIORITIES,
        )
    }
}

impl Default for Cef {
    fn default() -> Self {
        Cef {
            vendor: "Mozilla".to_owned(),
            product: None,
            version: "0".to_owned(),
            host: None,
            syslog: CefSyslog::default(),
        }
    }
}

/// What a security event is about — metlog-cef's `environ`, `username` and
/// `signature`: each part fills one of the standard extensions, and what is
/// left unset is written as metlog-cef writes it (`none`, empty, `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CefContext {
    remote_address: Option<String>,
    forwarded_for: Option<String>,
    user: Option<String>,
    method: Option<String>,
    path: Option<String>,
    host: Option<String>,
    user_agent: Option<String>,
    signature: Option<String>,
    time: Option<SystemTime>,
}

impl CefContext {
    /// No context.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client's address (`src`; `REMOTE_ADDR`).
    pub fn source_address(mut self, addr: impl Into<String>) -> Self {
        self.remote_address = Some(addr.into());
        self
    }

    /// The request's `X-Forwarded-For` header: when given, its first
    /// address (trimmed) is `src`, whatever [`source_address`](Self::source_address)
    /// says — as metlog-cef.
    pub fn forwarded_for(mut self, header: impl Into<String>) -> Self {
        self.forwarded_for = Some(header.into());
        self
    }

    /// The user (`suser`; metlog-cef's `username`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The request's method and path (`requestMethod`, `request`;
    /// `REQUEST_METHOD`, `PATH_INFO`).
    pub fn request(mut self, method: impl Into<String>, path: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self.path = Some(path.into());
        self
    }

    /// The host the request was sent to (`dhost`; `HTTP_HOST`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The user agent (`cs1`, labelled `requestClientApplication`;
    /// `HTTP_USER_AGENT`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// The event's signature ID (default: its name), such as metlog-cef's
    /// `AuthFail`.
    pub fn signature(mut self, signature: impl Into<String>) -> Self {
        self.signature = Some(signature.into());
        self
    }

    /// When the event happened (default: when it is sent): the line's date
    /// and the message's timestamp.
    pub fn time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// `src` as metlog-cef finds it: `X-Forwarded-For`'s first address, else
    /// the remote address, else Python's `None`.
    fn source(&self) -> &str {
        match (&self.forwarded_for, &self.remote_address) {
            // Python 2's `str.strip()`: ASCII whitespace only.
            (Some(header), _) => header
                .split(',')
                .next()
                .unwrap_or("")
                .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b'),
            (None, Some(addr)) => addr,
            (None, None) => "None",
        }
    }
}

/// The seven extensions every line has, in metlog-cef's order.
const STANDARD_KEYS: [&str; 7] = [
    "cs1Label",
    "cs1",
    "requestMethod",
    "request",
    "src",
    "dhost",
    "suser",
];

/// Writes one CEF line (see the [module docs](self) for its layout) for
/// event `name` of `severity` (at most 10) from device `cef` (`product`:
/// its product, [`Cef::product`] or the client's logger).
pub fn format(
    cef: &Cef,
    product: &str,
    name: &str,
    severity: u8,
    context: &CefContext,
    extensions: &[(&str, &str)],
) -> String {
    Line::new(cef, product, name, severity, context, extensions).text
}

/// A formatted line, its time, and the extensions it leaves out.
struct Line {
    text: String,
    time: SystemTime,
    /// Keys that are empty once cleaned, repeat one, or are standard.
    bad_keys: Vec<String>,
    /// Keys of extensions beyond [`MAX_LINE`].
    too_long: Vec<String>,
}

impl Line {
    /// `DATE HOST CEF:0|vendor|product|version|signature|name|severity|`,
    /// the seven standard extensions, then the caller's.
    fn new(
        cef: &Cef,
        product: &str,
        name: &str,
        severity: u8,
        context: &CefContext,
        extensions: &[(&str, &str)],
    ) -> Line {
        let time = context.time.unwrap_or_else(SystemTime::now);
        let mut text = crate::local_time::cef_date(time);
        text.push(' ');
        let host = cef
            .host
            .as_deref()
            .unwrap_or(crate::process::identity().hostname);
        // A space or line break in the host would shift the fields a
        // syslog-style reader finds before `CEF:`.
        text.extend(host.chars().map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        }));
        text.push_str(" CEF:0");
        let signature = context.signature.as_deref().unwrap_or(name);
        let severity = severity.min(10).to_string();
        for field in [
            &cef.vendor,
            product,
            &cef.version,
            signature,
            name,
            &severity,
        ] {
            text.push('|');
            escape(field, true, &mut text);
        }
        // The seven extensions metlog-cef always writes, with its defaults.
        let standard = [
            "requestClientApplication",
            context.user_agent.as_deref().unwrap_or("none"),
            context.method.as_deref().unwrap_or(""),
            context.path.as_deref().unwrap_or(""),
            context.source(),
            context.host.as_deref().unwrap_or("none"),
            context.user.as_deref().unwrap_or("none"),
        ];
        for (i, (key, value)) in STANDARD_KEYS.iter().zip(standard).enumerate() {
            text.push(if i == 0 { '|' } else { ' ' });
            text.push_str(key);
            text.push('=');
            escape(value, false, &mut text);
        }
        let (extra, bad_keys) = callers_extensions(extensions);
        // Up to [`MAX_LINE`] by metlog-cef's measure (the header, then each
        // extension's key, raw value and two): the first that would pass the
        // limit ends the line.
        let mut measured = text.len();
        let mut too_long = Vec::new();
        for (key, value) in extra {
            let added = key.len() + value.len() + 2;
            if !too_long.is_empty() || measured + added > MAX_LINE {
                too_long.push(key);
                continue;
            }
            measured += added;
            text.push(' ');
            text.push_str(&key);
            text.push('=');
            escape(value, false, &mut text);
        }
        Line {
            text,
            time,
            bad_keys,
            too_long,
        }
    }
}

/// The caller's extensions, each key once (the first given wins), in
/// metlog-cef's order; and the keys left out.
fn callers_extensions<'a>(extensions: &[(&str, &'a str)]) -> (Vec<(String, &'a str)>, Vec<String>) {
    let mut bad_keys = Vec::new();
    let mut extra: Vec<(String, &str)> = Vec::with_capacity(extensions.len());
    let mut seen = std::collections::HashSet::with_capacity(extensions.len());
    // metlog-cef's key characters (its `_KEY`): ASCII letters, digits, `_`,
    // `-` and `.`.
    let cleaned: Vec<String> = extensions
        .iter()
        .map(|(original, _)| {
            let is_key_char = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            original.chars().filter(is_key_char).collect()
        })
        .collect();
    // Keys written as given come first: one that had to be cleaned
    // (`a b` → `ab`) never takes the place of a key given as it is.
    let mut order: Vec<usize> = (0..extensions.len()).collect();
    order.sort_by_key(|&at| cleaned[at] != extensions[at].0);
    for at in order {
        let (original, value) = extensions[at];
        let key = &cleaned[at];
        if key.is_empty() || STANDARD_KEYS.contains(&key.as_str()) || !seen.insert(key.clone()) {
            bad_keys.push(original.to_owned());
        } else {
            extra.push((key.clone(), value));
        }
    }
    extra.sort_by(|(k1, v1), (k2, v2)| {
        (v1.len(), k1.len(), k1, v1).cmp(&(v2.len(), k2.len(), k2, v2))
    });
    (extra, bad_keys)
}

/// Escapes a header field (`\`, `|`; line breaks become spaces) or an
/// extension value (`\`, `=`; line breaks as `\n`, `\r`).
fn escape(text: &str, header: bool, out: &mut String) {
    for c in text.chars() {
        match (c, header) {
            ('\\', _) => out.push_str("\\\\"),
            ('|', true) => out.push_str("\\|"),
            ('\r' | '\n', true) => out.push(' '),
            ('=', false) => out.push_str("\\="),
            ('\n', false) => out.push_str("\\n"),
            ('\r', false) => out.push_str("\\r"),
            (c, _) => out.push(c),
        }
    }
}

/// `client.cef(...)`: metlog-cef's method.
impl Client {
    /// Sends a `cef` message whose payload is the CEF line for event `name`
    /// of `severity` 0–10 (see [`plugin::cef`](crate::plugin::cef)), with
    /// the context's and the given extensions, and whose `fields.cef_meta`
    /// carries the plugin's syslog settings; returns the line (`None` when
    /// the client is inactive). The message's logger and severity are the
    /// client's, as metlog-cef's.
    pub fn cef<'a, I>(
        &self,
        name: &str,
        severity: u8,
        context: &CefContext,
        extensions: I,
    ) -> Option<String>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        if !self.is_active() {
            return None;
        }
        let default = Cef::default();
        let cef = self.plugin::<Cef>("cef").unwrap_or(&default);
        let product = cef.product.as_deref().unwrap_or(self.logger());
        let extensions: Vec<(&'a str, &'a str)> = extensions.into_iter().collect();
        let line = Line::new(cef, product, name, severity, context, &extensions);
        report_left_out(name, &line);
        // As metlog-cef: the syslog settings the router's CEF output reads.
        let syslog = &cef.syslog;
        let meta = serde_json::json!({
            "syslog_options": syslog.options,
            "syslog_facility": syslog.facility,
            "syslog_ident": syslog.ident,
            "syslog_priority": syslog.priority,
        });
        self.metlog(SharedStr::from_static("cef"))
            .payload(line.text.clone())
            .field("cef_meta", meta)
            .timestamp(line.time)
            .send();
        Some(line.text)
    }
}

/// Reports, once per process for each kind, extensions a line left out.
fn report_left_out(name: &str, line: &Line) {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    static BAD_KEYS: AtomicBool = AtomicBool::new(false);
    static TOO_LONG: AtomicBool = AtomicBool::new(false);
    if !line.bad_keys.is_empty() && !BAD_KEYS.swap(true, Relaxed) {
        crate::report::report(format_args!(
            "CEF event {name:?}: extensions {} left out (a key needs a letter, digit, `_`, `-` \
             or `.`, may not repeat one, and may not be one of the standard {STANDARD_KEYS:?}, \
             which the context sets); further ones are left out silently",
            some_keys(&line.bad_keys)
        ));
    }
    if !line.too_long.is_empty() && !TOO_LONG.swap(true, Relaxed) {
        crate::report::report(format_args!(
            "CEF event {name:?}: extensions {} left out: the line would pass {MAX_LINE} bytes, \
             metlog-cef's limit; further ones are left out silently",
            some_keys(&line.too_long)
        ));
    }
}

/// The first few keys (each cut to 64 bytes), and how many more: a report
/// stays a line whatever the caller passed.
fn some_keys(keys: &[String]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = keys
        .iter()
        .take(SHOWN)
        .map(|key| {
            let mut end = key.len().min(64);
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            format!("{:?}", &key[..end])
        })
        .collect();
    let shown = format!("[{}]", shown.join(", "));
    match keys.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The configuration provider (`provider = cef`, or metlog-cef's
/// `metlog_cef.cef_plugin:config_plugin`): options `vendor`, `product`,
/// `version` (or `device_version`), `host`, and metlog-cef's
/// `syslog_options`, `syslog_facility`, `syslog_ident`, `syslog_priority`
/// (checked as metlog-cef checks them, and sent as `fields.cef_meta`).
pub(crate) fn provider(
    options: &std::collections::BTreeMap<String, crate::config_value::ConfigValue>,
) -> Result<Box<dyn std::any::Any + Send + Sync>, String> {
    let mut cef = Cef::default();
    for (key, value) in options {
        let text = || {
            value
                .as_string()
                .ok_or_else(|| format!("`{key}` must be text"))
        };
        match key.as_str() {
            "vendor" => cef.vendor = text()?,
            "product" => cef.product = Some(text()?),
            "version" | "device_version" => cef.version = text()?,
            "host" => cef.host = Some(text()?),
            // Empty: unset, as metlog-cef takes it (the router's default).
            "syslog_options" => cef.syslog.options = Some(text()?).filter(|t| !t.is_empty()),
            "syslog_facility" => cef.syslog.facility = Some(text()?).filter(|t| !t.is_empty()),
            "syslog_ident" => cef.syslog.ident = Some(text()?).filter(|t| !t.is_empty()),
            "syslog_priority" => cef.syslog.priority = Some(text()?).filter(|t| !t.is_empty()),
            other => {
                return Err(format!(
                    "unknown option `{other}` (expected vendor, product, version, host, \
                     syslog_options, syslog_facility, syslog_ident, syslog_priority)"
                ))
            }
        }
    }
    cef.syslog.check()?;
    Ok(Box::new(cef))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_a_few_keys_whatever_was_passed() {
        let keys: Vec<String> = (0..100_000).map(|i| format!("key{i}")).collect();
        let said = some_keys(&keys);
        assert!(said.len() < 200, "{said}");
        assert!(said.ends_with("\"key9\"] and 99990 more"), "{said}");
        let long = vec!["é".repeat(100)];
        assert_eq!(some_keys(&long), format!("[{:?}]", "é".repeat(32)));
    }
}
