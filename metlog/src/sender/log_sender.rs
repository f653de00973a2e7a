//! [`LogSender`]: hands messages to the `log` crate (metlog-py's
//! `StdLibLoggingSender`).

use super::{SendError, Sender};
use crate::{Record, Severity};

/// Passes messages to the [`log`] crate's logger, metlog-py's
/// `StdLibLoggingSender` semantics: a message whose type is in
/// `payload_types` (default `["oldstyle"]`) is logged as its payload text;
/// else one whose type is in `json_types` (default `["*"]`, all) as its whole
/// JSON envelope; anything else is dropped (counted as ignored). `"*"` in a
/// list matches every type. The level follows the severity: 0–3 → `Error`,
/// 4 → `Warn`, 5–6 → `Info`, 7 → `Debug`.
///
/// ```
/// use metlog::sender::LogSender;
/// let sender = LogSender::new()
///     .target("myapp.metlog")
///     .payload_types(["oldstyle"])
///     .json_types(["counter", "timer"]);
/// let client = metlog::Client::builder("myapp").sender(sender).build();
/// client.warn("to log::warn!");
/// ```
#[derive(Clone, Debug)]
pub struct LogSender {
    target: String,
    payload_types: Vec<String>,
    json_types: Vec<String>,
}

impl Default for LogSender {
    fn default() -> Self {
        LogSender {
            target: "metlog".to_owned(),
            payload_types: vec!["oldstyle".to_owned()],
            json_types: vec!["*".to_owned()],
        }
    }
}

impl LogSender {
    /// The defaults: target `metlog`, payloads of `oldstyle`, JSON of the rest.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `log` target (metlog-py's `logger_name`).
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Types logged as their payload text.
    pub fn payload_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.payload_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Types logged as their JSON envelope.
    pub fn json_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.json_types = types.into_iter().map(Into::into).collect();
        self
    }
}

fn listed(types: &[String], kind: &str) -> bool {
    types.iter().any(|t| t == kind || t == "*")
}

/// The `log` level of a severity.
fn level(severity: Severity) -> log::Level {
    match severity.as_u8() {
        0..=3 => log::Level::Error,
        4 => log::Level::Warn,
        5 | 6 => log::Level::Info,
        _ => log::Level::Debug,
    }
}

impl Sender for LogSender {
    /// Logs the message: its payload, or its JSON.
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        let message = record.envelope();
        let payload = listed(&self.payload_types, message.kind);
        if !payload && !listed(&self.json_types, message.kind) {
            return Err(SendError::unsupported(message.kind));
        }
        let level = level(message.severity);
        if level > log::max_level() {
            return Ok(());
        }
        let mut json = Vec::new();
        if !payload {
            crate::encode::json::write(message, &mut json);
        }
        let json = String::from_utf8_lossy(&json);
        let text: &dyn std::fmt::Display = if payload { &message.payload } else { &json };
        log::logger().log(
            &log::Record::builder()
                .level(level)
                .target(&self.target)
                .args(format_args!("{text}"))
                .build(),
        );
        Ok(())
    }

    fn flush(&self) -> Result<(), SendError> {
        log::logger().flush();
        Ok(())
    }
}
