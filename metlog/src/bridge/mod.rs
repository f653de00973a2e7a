//! Bridges from the logging facades Rust services already use: the [`log`]
//! crate (the [`log`](mod@self::log) module) and, with the `tracing` feature,
//! `tracing` (the `tracing` module).

use crate::Client;

pub mod log;
#[cfg(feature = "tracing")]
pub mod tracing;

/// Runs `f` on `client`, or on the current client (scope, then global) when
/// `None`.
pub(crate) fn with_client(client: &Option<Client>, f: impl FnOnce(&Client)) {
    match client {
        Some(client) => f(client),
        None => {
            crate::holder::with_current(f);
        }
    }
}

/// Hands a record to `client` (see [`with_client`]) through `f`, unless this
/// thread is already inside a bridge (a `Display`, `Debug` or sender that
/// itself logs, e.g. `LogSender`, must not loop back): such a record is
/// dropped, and counted.
pub(crate) fn hand_over(client: &Option<Client>, f: impl FnOnce(&Client)) {
    match crate::process::inside(crate::process::Within::Bridge) {
        Some(_inside) => with_client(client, f),
        None => with_client(client, Client::refuse_reentry),
    }
}
