//! Work at process exit: the C runtime runs `atexit` handlers on every way
//! out of a program — returning from `main`, `std::process::exit`, a panic
//! in `main` — while its other threads (the senders' workers) still run.

// The one FFI call of this module: registering the handler with the C
// runtime (`atexit` has no safe wrapper in std).
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// What runs at exit (set once).
static AT_EXIT: OnceLock<fn()> = OnceLock::new();

/// Runs `work` when the process exits (the first `work` given: later calls
/// do nothing).
pub(crate) fn on_exit(work: fn()) {
    if AT_EXIT.set(work).is_err() {
        return;
    }
    #[cfg(unix)]
    // SAFETY: `at_exit` is an `extern "C" fn()` with no arguments that never
    // unwinds (it catches every panic), as `atexit` requires; registering
    // has no other precondition.
    let _ = unsafe { libc::atexit(at_exit) };
}

#[cfg(unix)]
extern "C" fn at_exit() {
    if let Some(work) = AT_EXIT.get() {
        // Unwinding out of an `extern "C"` function aborts: nothing may.
        let _ = std::panic::catch_unwind(work);
    }
}
