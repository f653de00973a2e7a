//! Counts of messages a synchronous sender accepted, per client: what a
//! [`Router`](super::Router) route or a statsd fallback reports as
//! delivered when the sender behind it keeps no counts of its own.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::record::ClientId;

/// Accepted messages, in total and per client.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    total: AtomicU64,
    /// Few clients share a sender: a short list beats a map.
    by_client: Mutex<Vec<(ClientId, u64)>>,
}

impl Accepted {
    pub(crate) fn add(&self, client: ClientId) {
        self.total.fetch_add(1, Relaxed);
        let mut by_client = self
            .by_client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match by_client.iter_mut().find(|(id, _)| *id == client) {
            Some((_, n)) => *n += 1,
            None => by_client.push((client, 1)),
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    pub(crate) fn of(&self, client: ClientId) -> u64 {
        let by_client = self
            .by_client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        by_client
            .iter()
            .find(|(id, _)| *id == client)
            .map_or(0, |(_, n)| *n)
    }
}
