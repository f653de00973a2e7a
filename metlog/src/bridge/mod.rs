//! Bridges from the logging facades Rust services already use: the [`log`]
//! crate (the [`log`](mod@self::log) module) and, with the `tracing` feature,
//! `tracing` (the `tracing` module).

pub mod log;
#[cfg(feature = "tracing")]
pub mod tracing;

/// Runs `f` unless this thread is already inside a bridge (a sender that
/// itself logs, e.g. `LogSender`, must not loop back); whether it ran.
pub(crate) fn guarded(f: impl FnOnce()) -> bool {
    let Some(_inside) = crate::process::inside(crate::process::Within::Bridge) else {
        return false;
    };
    f();
    true
}
