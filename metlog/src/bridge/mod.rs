//! Bridges from the logging facades Rust services already use: the [`log`]
//! crate (the [`log`](mod@self::log) module) and, with the `tracing` feature,
//! `tracing` (the `tracing` module).

pub mod log;
#[cfg(feature = "tracing")]
pub mod tracing;

use std::cell::Cell;

thread_local! {
    /// Set while a bridge is handing a record to metlog on this thread: a
    /// sender that itself logs (e.g. `LogSender`) must not loop back.
    static IN_BRIDGE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` unless this thread is already inside a bridge.
pub(crate) fn guarded(f: impl FnOnce()) -> bool {
    let entered = IN_BRIDGE
        .try_with(|flag| !flag.replace(true))
        .unwrap_or(false);
    if !entered {
        return false;
    }
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = IN_BRIDGE.try_with(|flag| flag.set(false));
        }
    }
    let _reset = Reset;
    f();
    true
}
