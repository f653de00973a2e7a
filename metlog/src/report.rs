//! Where metlog tells about its own trouble: a sender that fails, a sender
//! that ignores a message type, a flush that ran out of time.
//!
//! Each cause is reported once (later occurrences are only counted in
//! [`Client::stats`](crate::Client::stats)), so a dead transport cannot flood
//! a service's logs. Reports go to stderr as `metlog: <text>` unless a
//! handler is set — to route them into the application's own logging, or to
//! keep a test run's output clean:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! metlog::report::set_handler(move |text: &str| sink.lock().unwrap().push(text.to_owned()));
//!
//! let client = metlog::Client::builder("app")
//!     .sender(metlog::sender::from_fn(|_| {
//!         Err(metlog::sender::SendError::new(metlog::sender::SendErrorKind::Io, "router down"))
//!     }))
//!     .build();
//! client.incr("requests");
//! client.incr("requests"); // counted, not reported again
//! assert_eq!(seen.lock().unwrap().len(), 1);
//! assert!(seen.lock().unwrap()[0].contains("router down"));
//!
//! metlog::report::to_stderr(); // the default again
//! ```

use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, PoisonError, RwLock};

type Handler = Arc<dyn Fn(&str) + Send + Sync>;

static HANDLER: RwLock<Option<Handler>> = RwLock::new(None);

/// Sends metlog's reports to `handler` (the text, without the `metlog: `
/// prefix) instead of stderr, for the whole process. A panic in the handler
/// is caught; the report is then lost.
pub fn set_handler(handler: impl Fn(&str) + Send + Sync + 'static) {
    *HANDLER.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(handler));
}

/// Sends metlog's reports to stderr again (the default).
pub fn to_stderr() {
    *HANDLER.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Reports `what` through the handler, or on stderr. Never panics, never
/// blocks on another report.
pub(crate) fn report(what: fmt::Arguments<'_>) {
    let handler = HANDLER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    // A report made from inside a handler (one that logs through metlog,
    // whose sender fails) goes to stderr instead of recursing.
    let inside = crate::process::inside(crate::process::Within::ReportHandler);
    match handler {
        Some(handler) if inside.is_some() => {
            let text = what.to_string();
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&text)));
            drop(inside);
        }
        // Not `eprintln!`, which panics when stderr is closed.
        _ => {
            let _ = writeln!(std::io::stderr(), "metlog: {what}");
        }
    }
}
