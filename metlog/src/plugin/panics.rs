//! A panic hook that reports every panic (metlog-raven's role).
//!
//! Each panic sends one message of type `panic` at severity
//! [`Critical`](crate::Severity::Critical): the payload is the panic message;
//! fields carry `location` (`file:line:column`), `thread` (its name, or
//! `unnamed`) and `backtrace` (captured whatever `RUST_BACKTRACE` says, its
//! first 4 KB, so the message stays within syslog's usual 8 KB limit).
//! The client is then flushed (at most `flush_timeout`), so the message
//! leaves before a dying process does, and the previously installed hook
//! runs as before (the usual "thread panicked at" report still prints).
//!
//! ```
//! use std::time::Duration;
//! # let capture = metlog::sender::CaptureSender::new();
//! # let client = metlog::Client::builder("app").sender(capture.clone()).build();
//! metlog::plugin::panics::install(Some(client), Duration::from_secs(2));
//! let _ = std::thread::spawn(|| panic!("boom")).join();
//! # let _ = std::panic::take_hook();
//! assert_eq!(capture.messages()[0].kind, "panic");
//! ```

use std::backtrace::Backtrace;
use std::panic::PanicHookInfo;
use std::time::Duration;

use crate::{Client, Fields, Severity, SharedStr};

/// Installs the hook, chaining to the current one. `client`: where to
/// report, or `None` for the current client at the time of each panic.
pub fn install(client: Option<Client>, flush_timeout: Duration) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match &client {
            Some(client) => report(client, info, flush_timeout),
            None => {
                crate::holder::with_current(|c| report(c, info, flush_timeout));
            }
        }
        previous(info);
    }));
}

/// Backtraces can run to tens of kilobytes; syslog daemons cut messages at
/// 8 KB by default (rsyslog), which would break the JSON. Keep the first
/// frames, whole lines only.
const MAX_BACKTRACE: usize = 4096;

fn bounded(mut backtrace: String) -> String {
    if backtrace.len() <= MAX_BACKTRACE {
        return backtrace;
    }
    let cut = backtrace[..MAX_BACKTRACE].rfind('\n').unwrap_or(0);
    backtrace.truncate(cut);
    backtrace.push_str("\n(backtrace truncated)");
    backtrace
}

fn report(client: &Client, info: &PanicHookInfo<'_>, flush_timeout: Duration) {
    if !client.is_active() {
        return;
    }
    let payload = info.payload();
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic with a non-string payload)".to_owned()
    };
    let mut fields = Fields::new();
    if let Some(location) = info.location() {
        fields.insert(
            "location",
            format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            ),
        );
    }
    let thread = std::thread::current();
    fields.insert("thread", thread.name().unwrap_or("unnamed").to_owned());
    fields.insert("backtrace", bounded(Backtrace::force_capture().to_string()));
    let msg = client.make_message(
        SharedStr::from_static("panic"),
        None,
        Some(Severity::Critical),
        SharedStr::from(message),
        fields,
        None,
    );
    client.dispatch_message(msg);
    let _ = client.flush_timeout(flush_timeout);
}
