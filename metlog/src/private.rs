//! Support for the macros' generated code. Not a stable API: anything here
//! may change in any release.

use crate::{holder, Client, Severity};

/// Runs a log macro's formatting against the current client, if there is one
/// and it is active (so nothing is formatted otherwise).
#[inline]
pub fn log_current(_severity: Severity, log: impl FnOnce(&Client)) {
    holder::with_current(|client| {
        if client.is_active() {
            log(client);
        }
    });
}
