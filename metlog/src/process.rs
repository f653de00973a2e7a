//! The process around the client: work at exit, and life after `fork()`.
//!
//! - Exit: the C runtime runs `atexit` handlers on every way out of a
//!   program — returning from `main`, `std::process::exit`, a panic in
//!   `main` — while its other threads (the senders' workers) still run.
//! - Fork: the child of a `fork()` has only the thread that forked; the
//!   senders' worker threads are gone and their queues may be held by
//!   threads that do not exist there. A `pthread_atfork` handler counts
//!   forks and notes the child's process id, so background senders start
//!   over in the child (see `QueuedSender`) and messages carry the child's
//!   `metlog_pid`.

// The FFI calls of this module: registering handlers with the C runtime
// (`atexit`, `pthread_atfork` have no safe wrapper in std).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

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

/// Forks this process has been through (0 in the original process).
static FORKS: AtomicU64 = AtomicU64::new(0);

/// This process's id, as of the last fork (0: not read yet).
static PID: AtomicU32 = AtomicU32::new(0);

/// How many forks made this process (each child counts one more than its
/// parent had at the time).
#[inline]
pub(crate) fn forks() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// This process's id, also in the child of a fork.
#[inline]
pub(crate) fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Starts counting forks (once per process; before any background sender
/// exists, so none misses one).
pub(crate) fn watch_forks() {
    #[cfg(unix)]
    {
        static WATCHING: Once = Once::new();
        WATCHING.call_once(|| {
            // SAFETY: `in_child` is an `extern "C" fn()` that only stores to
            // atomics and calls `getpid` — all async-signal-safe, as a
            // handler running in the child of a multithreaded fork must be;
            // registering has no other precondition.
            let _ = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        });
    }
}

#[cfg(unix)]
extern "C" fn in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
    PID.store(std::process::id(), Ordering::SeqCst);
}
