//! Counts of messages a synchronous sender accepted, per client: what a
//! [`Router`](super::Router) route or a statsd fallback reports as
//! delivered when the sender behind it keeps no counts of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use crate::record::{ClientDefaults, ClientId};

/// Accepted messages, in total and per client. A client's entry is looked
/// up under a read lock; clients that are gone are forgotten when the map
/// has doubled since it was last swept.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    total: AtomicU64,
    by_client: RwLock<HashMap<ClientId, Entry>>,
    /// The map's size that triggers the next sweep.
    sweep_at: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    /// Kept to know when the client is gone.
    client: Arc<ClientDefaults>,
    accepted: AtomicU64,
}

impl Accepted {
    /// One more message of `client` (`None`: sent to the sender directly).
    pub(crate) fn add(&self, client: Option<&Arc<ClientDefaults>>) {
        self.total.fetch_add(1, Relaxed);
        let Some(client) = client else { return };
        {
            let by_client = self
                .by_client
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = by_client.get(&client.id) {
                entry.accepted.fetch_add(1, Relaxed);
                return;
            }
        }
        self.first(client);
    }

    #[cold]
    fn first(&self, client: &Arc<ClientDefaults>) {
        let mut by_client = self
            .by_client
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if by_client.len() as u64 >= self.sweep_at.load(Relaxed) {
            by_client.retain(|_, entry| entry.client.is_alive());
            self.sweep_at
                .store((by_client.len() as u64 * 2).max(64), Relaxed);
        }
        by_client
            .entry(client.id)
            .or_insert_with(|| Entry {
                client: client.clone(),
                accepted: AtomicU64::new(0),
            })
            .accepted
            .fetch_add(1, Relaxed);
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    pub(crate) fn of(&self, client: ClientId) -> u64 {
        let by_client = self
            .by_client
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        by_client
            .get(&client)
            .map_or(0, |entry| entry.accepted.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Severity, SharedStr};

    #[test]
    fn counts_per_client_and_forgets_the_clients_that_are_gone() {
        let accepted = Accepted::default();
        let kept = Arc::new(ClientDefaults::new(1, SharedStr::EMPTY, Severity::Notice));
        accepted.add(Some(&kept));
        accepted.add(Some(&kept));
        accepted.add(None);
        assert_eq!((accepted.total(), accepted.of(kept.id)), (3, 2));
        for id in 2..1_000 {
            let gone = Arc::new(ClientDefaults::new(id, SharedStr::EMPTY, Severity::Notice));
            accepted.add(Some(&gone));
            gone.retire();
        }
        let size = accepted.by_client.read().unwrap().len();
        assert!(size < 200, "{size} entries for 1 live client");
        assert_eq!((accepted.total(), accepted.of(kept.id)), (1_001, 2));
    }
}
