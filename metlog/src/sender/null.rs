//! [`NullSender`]: discards everything.

use super::{SendError, Sender};
use crate::Record;

/// Discards every message (counted as sent).
///
/// Useful to switch output off without touching call sites, and as the
/// baseline in benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSender;

impl Sender for NullSender {
    /// Discards the record without building its message.
    fn send(&self, _record: Record<'_>) -> Result<(), SendError> {
        Ok(())
    }
}
