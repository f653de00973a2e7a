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
//! With the `raven` feature, [`install_sentry`] sends `sentry` messages
//! instead (through the client's plugin `raven`, as metlog-raven reports
//! an exception; config: `sentry = true` in the panics section), which the
//! router forwards to Sentry.
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
    install_as(client, flush_timeout, false);
}

/// Installs the hook, as [`install`] does, sending each panic as a
/// `sentry` message through the client's plugin
/// [`raven`](crate::plugin::raven) (type `panic`, the panic's message and
/// the backtrace at the panic). A client without that plugin sends nothing
/// for a panic, and says so once.
///
/// ```
/// use std::time::Duration;
/// use metlog::plugin::raven::Raven;
/// # let capture = metlog::sender::CaptureSender::new();
/// let client = metlog::Client::builder("app")
///     .plugin("raven", Raven::new("http://public:secret@sentry.example.com/2").unwrap())
/// #   .sender(capture.clone())
///     .build();
/// metlog::plugin::panics::install_sentry(Some(client), Duration::from_secs(2));
/// let _ = std::thread::spawn(|| panic!("boom")).join();
/// # let _ = std::panic::take_hook();
/// # assert_eq!(capture.messages()[0].kind, "sentry");
/// ```
#[cfg(feature = "raven")]
#[cfg_attr(docsrs, doc(cfg(feature = "raven")))]
pub fn install_sentry(client: Option<Client>, flush_timeout: Duration) {
    install_as(client, flush_timeout, true);
}

pub(crate) fn install_as(client: Option<Client>, flush_timeout: Duration, sentry: bool) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A panic of the reporting itself (a sender's, a filter's) is not
        // reported again: that would recurse without end.
        // Nor is a panic on one of metlog's own threads (a transport's: the
        // sender already counts and reports it), which would feed the
        // report back into the worker that panicked.
        let own_thread = crate::process::is_inside(crate::process::Within::OwnThread);
        if !crate::process::is_inside(crate::process::Within::PanicReport) && !own_thread {
            let mut reported = false;
            crate::bridge::with_client(&client, |c| {
                reported = report(c, info, flush_timeout, sentry);
            });
            // `#[metlog::capture_stack]` then leaves this panic be: once.
            #[cfg(feature = "raven")]
            if sentry && reported {
                crate::plugin::raven::reported_by_plugin(info);
            }
        }
        previous(info);
    }));
}

/// Sends the panic's message; whether there was one to send.
fn report(
    client: &Client,
    info: &PanicHookInfo<'_>,
    flush_timeout: Duration,
    sentry: bool,
) -> bool {
    if !client.is_active() {
        return false;
    }
    let msg = if sentry {
        sentry_message(client, info)
    } else {
        Some(panic_message(client, info))
    };
    let Some(msg) = msg else { return false };
    // Filters and senders are the application's code, and a panic inside a
    // panic hook aborts the process (no unwinding can catch it): they run
    // on a thread of their own, where the client catches and counts it.
    let client = client.clone();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let delivered = std::thread::Builder::new()
        .name("metlog-panic-report".into())
        .spawn(move || {
            crate::process::mark_own_thread();
            let _reporting = crate::process::inside(crate::process::Within::PanicReport);
            client.dispatch_message(msg);
            let _ = client.flush_timeout(flush_timeout);
            let _ = done.send(());
        });
    // Waited for, but not for ever: the panicking thread still holds its
    // locks, and a sender needing one of them would never finish.
    if delivered.is_ok() {
        let _ = finished.recv_timeout(flush_timeout + Duration::from_secs(1));
    }
    true
}

#[cfg(feature = "raven")]
fn sentry_message(client: &Client, info: &PanicHookInfo<'_>) -> Option<crate::Message> {
    crate::plugin::raven::panic_message(client, crate::plugin::raven::SeenPanic::new(info))
}

#[cfg(not(feature = "raven"))]
fn sentry_message(_: &Client, _: &PanicHookInfo<'_>) -> Option<crate::Message> {
    None
}

/// The `panic` message.
fn panic_message(client: &Client, info: &PanicHookInfo<'_>) -> crate::Message {
    let message = crate::client::panic_message(info.payload()).to_owned();
    let mut fields = Fields::new();
    if let Some(location) = info.location() {
        // `file:line:column`.
        fields.insert("location", location.to_string());
    }
    let thread = std::thread::current();
    fields.insert("thread", thread.name().unwrap_or("unnamed").to_owned());
    fields.insert(
        "backtrace",
        crate::client::bounded_backtrace(crate::process::walking_stack(|| {
            Backtrace::force_capture().to_string()
        })),
    );
    client.make_message(
        SharedStr::from_static("panic"),
        None,
        Some(Severity::Critical),
        SharedStr::from(message),
        fields,
        None,
    )
}
