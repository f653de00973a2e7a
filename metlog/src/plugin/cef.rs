//! CEF security events (metlog-cef): ArcSight Common Event Format lines in
//! `cef` messages.
//!
//! ```
//! use metlog::plugin::cef::{CefContext, CefExt};
//! # let capture = metlog::sender::CaptureSender::new();
//! # let client = metlog::Client::builder("app").sender(capture.clone()).build();
//! let context = CefContext::new()
//!     .source_address("10.1.2.3")
//!     .user("ada")
//!     .request("POST", "/login");
//! let line = client.cef("AuthFail", 7, &context, [("reason", "bad=password|x")]);
//! assert_eq!(
//!     line.unwrap(),
//!     "CEF:0|Mozilla|app|0|AuthFail|AuthFail|7|src=10.1.2.3 suser=ada requestMethod=POST request=/login reason=bad\\=password|x"
//! );
//! ```

use crate::{Client, Fields, SharedStr};

/// The device fields of every CEF line a client sends: bind one as the
/// plugin `cef` (config: `[metlog_plugin_cef]` with `provider = cef`,
/// options `vendor`, `product`, `version`) or rely on the defaults (vendor
/// `Mozilla`, product the client's logger, version `0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cef {
    /// Device vendor.
    pub vendor: String,
    /// Device product (default: the client's logger).
    pub product: Option<String>,
    /// Device version.
    pub version: String,
    /// metlog-cef's `syslog_options`, `syslog_facility`, `syslog_ident` and
    /// `syslog_priority`: sent with every message as `fields.cef_meta`,
    /// which the router's CEF output needs to write it to syslog (`None`:
    /// JSON `null`, the router's default).
    pub syslog: CefSyslog,
}

/// How the router's CEF output writes the event to syslog (metlog-cef's
/// `cef_meta`); each `None` leaves the router's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CefSyslog {
    /// `PID`, `CONS`, `NDELAY`, `NOWAIT`, comma-separated.
    pub options: Option<String>,
    /// `KERN`, `USER`, …, `LOCAL0`–`LOCAL7` (router default `LOCAL4`).
    pub facility: Option<String>,
    /// The syslog ident.
    pub ident: Option<String>,
    /// `EMERG` … `DEBUG` (router default `INFO`).
    pub priority: Option<String>,
}

impl CefSyslog {
    /// `fields.cef_meta` as metlog-cef writes it.
    fn cef_meta(&self) -> serde_json::Value {
        serde_json::json!({
            "syslog_options": self.options,
            "syslog_facility": self.facility,
            "syslog_ident": self.ident,
            "syslog_priority": self.priority,
        })
    }
}

impl Default for Cef {
    fn default() -> Self {
        Cef {
            vendor: "Mozilla".to_owned(),
            product: None,
            version: "0".to_owned(),
            syslog: CefSyslog::default(),
        }
    }
}

/// The request a security event is about: each part becomes a standard CEF
/// extension (`src`, `suser`, `requestMethod`, `request`, `dhost`,
/// `requestClientApplication`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CefContext {
    extensions: Vec<(&'static str, String)>,
}

impl CefContext {
    /// No context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (a second call replaces the first value).
    fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.extensions.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.extensions.push((key, value)),
        }
        self
    }

    /// The client's address (`src`).
    pub fn source_address(self, addr: impl Into<String>) -> Self {
        self.with("src", addr)
    }

    /// The user (`suser`).
    pub fn user(self, user: impl Into<String>) -> Self {
        self.with("suser", user)
    }

    /// The request's method and path (`requestMethod`, `request`).
    pub fn request(self, method: impl Into<String>, path: impl Into<String>) -> Self {
        self.with("requestMethod", method).with("request", path)
    }

    /// The host the request was sent to (`dhost`).
    pub fn host(self, host: impl Into<String>) -> Self {
        self.with("dhost", host)
    }

    /// The user agent (`requestClientApplication`).
    pub fn user_agent(self, agent: impl Into<String>) -> Self {
        self.with("requestClientApplication", agent)
    }
}

/// Writes one CEF:0 line.
///
/// Header fields escape `\` and `|` (and lose line breaks, which the header
/// cannot carry); extension values escape `\`, `=`, and line breaks as
/// `\n` / `\r`; extension keys keep only ASCII letters and digits. So no
/// value can end a field early or add one. Each key is written once: an
/// extension whose key, so cleaned, is empty or was already written (by an
/// earlier extension, or the context's: `s-r-c` next to a source address)
/// is left out — it could otherwise forge the event's source or user.
pub fn format(
    cef: &Cef,
    product: &str,
    signature: &str,
    name: &str,
    severity: u8,
    extensions: &[(&str, &str)],
) -> String {
    format_reporting(cef, product, signature, name, severity, extensions).0
}

/// [`format`], and the keys of the extensions left out.
fn format_reporting(
    cef: &Cef,
    product: &str,
    signature: &str,
    name: &str,
    severity: u8,
    extensions: &[(&str, &str)],
) -> (String, Vec<String>) {
    let mut line = String::from("CEF:0");
    for field in [
        cef.vendor.as_str(),
        product,
        cef.version.as_str(),
        signature,
        name,
    ] {
        line.push('|');
        escape_header(field, &mut line);
    }
    line.push('|');
    line.push_str(&severity.min(10).to_string());
    line.push('|');
    let mut written: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut left_out = Vec::new();
    for (original, value) in extensions {
        let key: String = original
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        if key.is_empty() || written.contains(&key) {
            left_out.push((*original).to_owned());
            continue;
        }
        if !written.is_empty() {
            line.push(' ');
        }
        line.push_str(&key);
        line.push('=');
        escape_extension(value, &mut line);
        written.insert(key);
    }
    (line, left_out)
}

fn escape_header(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
}

fn escape_extension(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `client.cef(...)`: metlog-cef's method.
pub trait CefExt {
    /// Sends a `cef` message whose payload is the CEF line for event `name`
    /// (also its signature) of `severity` 0–10, with the context's and the
    /// given extensions; returns the line (`None` when the client is
    /// inactive).
    fn cef<'a, I>(
        &self,
        name: &str,
        severity: u8,
        context: &CefContext,
        extensions: I,
    ) -> Option<String>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>;
}

impl CefExt for Client {
    fn cef<'a, I>(
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
        let extra: Vec<(&'a str, &'a str)> = extensions.into_iter().collect();
        let mut all: Vec<(&str, &str)> = context
            .extensions
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        all.extend(extra.iter().copied());
        let (line, left_out) = format_reporting(cef, product, name, name, severity, &all);
        if !left_out.is_empty() {
            static REPORTED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                crate::report::report(format_args!(
                    "CEF event {name:?}: extensions {left_out:?} left out (a key needs a letter \
                     or digit, and may not repeat one already written); further ones are left \
                     out silently"
                ));
            }
        }
        // As metlog-cef: the syslog settings the router's CEF output reads.
        let mut fields = Fields::new();
        fields.insert("cef_meta", crate::Value::from(cef.syslog.cef_meta()));
        let msg = self.make_message(
            SharedStr::from_static("cef"),
            None,
            None,
            SharedStr::from(line.clone()),
            fields,
            None,
        );
        self.dispatch_message(msg);
        Some(line)
    }
}

/// The configuration provider (`provider = cef`, or metlog-cef's
/// `metlog_cef.cef_plugin:config_plugin`): options `vendor`, `product`,
/// `version`, and metlog-cef's `syslog_options`, `syslog_facility`,
/// `syslog_ident`, `syslog_priority` (sent as `fields.cef_meta`).
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
            "version" => cef.version = text()?,
            "syslog_options" => cef.syslog.options = Some(text()?),
            "syslog_facility" => cef.syslog.facility = Some(text()?),
            "syslog_ident" => cef.syslog.ident = Some(text()?),
            "syslog_priority" => cef.syslog.priority = Some(text()?),
            other => {
                return Err(format!(
                    "unknown option `{other}` (expected vendor, product, version, syslog_options, \
                     syslog_facility, syslog_ident, syslog_priority)"
                ))
            }
        }
    }
    Ok(Box::new(cef))
}
