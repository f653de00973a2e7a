//! The `log` bridge (metlog-py's `hook_logger` / `MetlogHandler`): records
//! logged with `log::info!` and friends become metlog `oldstyle` messages.
//!
//! ```
//! use metlog::sender::CaptureSender;
//! let capture = CaptureSender::new();
//! let client = metlog::Client::builder("app").sender(capture.clone()).build();
//! metlog::bridge::log::install(client, log::LevelFilter::Info).unwrap();
//!
//! log::info!(target: "db", "connected in {} ms", 12);
//! log::debug!("below the level: costs one comparison, sends nothing");
//!
//! let msg = &capture.messages()[0];
//! assert_eq!((msg.kind.as_str(), msg.payload.as_str()), ("oldstyle", "connected in 12 ms"));
//! assert_eq!(msg.severity, metlog::Severity::Informational);
//! assert_eq!(msg.fields["target"], "db");
//! ```

use crate::{Client, Severity, SharedStr};

/// A [`log::Log`] that sends each record through a metlog client (or the
/// current client, see [`MetlogLogger::current`]).
///
/// Levels map to severities: `Error` → 3, `Warn` → 4, `Info` → 6, `Debug`
/// and `Trace` → 7. The payload is the formatted message; fields carry
/// `target`, and `module_path`, `file` and `line` when the record has them.
/// A record logged while a sender is handling a bridged record (a sender
/// that logs) is dropped rather than looping.
#[derive(Debug)]
pub struct MetlogLogger {
    client: Option<Client>,
    level: log::LevelFilter,
}

impl MetlogLogger {
    /// Sends through `client`, records up to `level`.
    pub fn new(client: Client, level: log::LevelFilter) -> Self {
        MetlogLogger {
            client: Some(client),
            level,
        }
    }

    /// Sends through whichever client is current at each record (scope,
    /// then global).
    pub fn current(level: log::LevelFilter) -> Self {
        MetlogLogger {
            client: None,
            level,
        }
    }
}

/// The severity of a `log` level.
pub fn severity(level: log::Level) -> Severity {
    match level {
        log::Level::Error => Severity::Error,
        log::Level::Warn => Severity::Warning,
        log::Level::Info => Severity::Informational,
        log::Level::Debug | log::Level::Trace => Severity::Debug,
    }
}

impl log::Log for MetlogLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        super::hand_over(&self.client, |client| {
            if !client.is_active() {
                return;
            }
            let args = record.args();
            let payload = match args.as_str() {
                Some(s) => SharedStr::from_static(s),
                // A `Display` that fails or panics costs the message
                // (counted as failed, reported once), not the caller.
                None => match client.format(|out| std::fmt::write(out, *args)) {
                    Some(text) => SharedStr::from(text),
                    None => return,
                },
            };
            let mut msg = client
                .metlog(SharedStr::from_static("oldstyle"))
                .severity(severity(record.level()))
                .payload(payload)
                .field("target", SharedStr::copy_from(record.target()));
            if let Some(module) = record.module_path() {
                msg = msg.field("module_path", SharedStr::copy_from(module));
            }
            if let Some(file) = record.file() {
                msg = msg.field("file", SharedStr::copy_from(file));
            }
            if let Some(line) = record.line() {
                msg = msg.field("line", line);
            }
            msg.send();
        });
    }

    fn flush(&self) {
        super::with_client(&self.client, Client::flush);
    }
}

/// Installs a [`MetlogLogger`] for `client` as the `log` crate's logger and
/// sets `log`'s maximum level to `level` (so disabled levels are skipped by
/// the `log` macros themselves). Fails if a logger is already installed.
pub fn install(client: Client, level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    set_logger(MetlogLogger::new(client, level))
}

/// Like [`install`], sending through the current client of each record.
pub fn install_current(level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    set_logger(MetlogLogger::current(level))
}

fn set_logger(logger: MetlogLogger) -> Result<(), log::SetLoggerError> {
    let level = logger.level;
    log::set_boxed_logger(Box::new(logger))?;
    log::set_max_level(level);
    Ok(())
}
