//! The clients sending through one queue: a slot each, with the counts of
//! what became of its messages, so that clients sharing a sender each see
//! their own in `Client::stats`.
//!
//! A record carries its client's slot number (4 bytes) rather than a
//! reference-counted pointer: the caller's thread never writes a shared
//! count. The table keeps each client's defaults alive for the worker, which
//! reads them through a copy of its own ([`Clients`]), without a lock per
//! message. A client that is gone and whose messages are all dealt with
//! gives its slot back (its counts move into the sender's retired totals),
//! so a service making short-lived clients on one sender does not grow the
//! table without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::record::{ClientDefaults, ClientId};
use crate::{Severity, SharedStr};

/// What became of a slot's messages (or, for the retired totals, of every
/// retired slot's).
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Counts {
    /// `(delivered, failed, dropped)`.
    pub(crate) fn read(&self) -> (u64, u64, u64) {
        (
            self.delivered.load(Relaxed),
            self.failed.load(Relaxed),
            self.dropped.load(Relaxed),
        )
    }

    fn settled(&self) -> u64 {
        let (delivered, failed, dropped) = self.read();
        delivered + failed + dropped
    }

    fn reset(&self) {
        self.delivered.store(0, Relaxed);
        self.failed.store(0, Relaxed);
        self.dropped.store(0, Relaxed);
    }
}

#[derive(Debug, Default)]
struct Slot {
    client: Mutex<Option<Arc<ClientDefaults>>>,
    /// Bumped whenever the slot changes hands, so the worker's copy knows.
    generation: AtomicU32,
    counts: Counts,
}

impl Slot {
    fn client(&self) -> MutexGuard<'_, Option<Arc<ClientDefaults>>> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which slot each client holds, and the slots given back.
#[derive(Debug, Default)]
struct Table {
    by_client: HashMap<ClientId, u32>,
    free: Vec<u32>,
}

/// The slots of one queue. Slot 0 holds messages sent to the sender
/// directly, by no client.
#[derive(Debug)]
pub(crate) struct Owners {
    /// Slot `i` lives in chunk `c = log2(i / 64 + 1)`; chunk `c` holds
    /// `64 << c` slots, allocated when first needed. Slots never move, so a
    /// ticket's counts are found without a lock.
    chunks: [OnceLock<Box<[Slot]>>; 27],
    table: Mutex<Table>,
    /// Slots ever used (the highest number plus one).
    used: AtomicU32,
    /// Every slot's counts together, given-back slots' included: the
    /// sender's totals, read without visiting the slots.
    all: Counts,
}

/// Where slot `index` is: its chunk and its place there.
fn locate(index: u32) -> (usize, usize) {
    let index = index as usize;
    let chunk = (index / 64 + 1).ilog2() as usize;
    (chunk, index - 64 * ((1 << chunk) - 1))
}

impl Owners {
    pub(crate) fn new() -> Owners {
        let owners = Owners {
            chunks: Default::default(),
            table: Mutex::new(Table::default()),
            used: AtomicU32::new(0),
            all: Counts::default(),
        };
        owners.add(&Arc::new(ClientDefaults::new(
            0,
            SharedStr::EMPTY,
            Severity::default(),
        )));
        owners
    }

    fn slot(&self, index: u32) -> &Slot {
        let (chunk, at) = locate(index);
        &self.chunks[chunk].get_or_init(|| (0..64usize << chunk).map(|_| Slot::default()).collect())
            [at]
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counts of slot `index`.
    #[inline]
    pub(crate) fn counts(&self, index: u32) -> &Counts {
        &self.slot(index).counts
    }

    /// Counts one message of slot `index`: `fate` picks the counter.
    #[inline]
    pub(crate) fn count(&self, index: u32, fate: impl Fn(&Counts) -> &AtomicU64) {
        fate(self.counts(index)).fetch_add(1, Relaxed);
        fate(&self.all).fetch_add(1, Relaxed);
    }

    /// The slot of `client`, given one if it has none.
    pub(crate) fn add(&self, client: &Arc<ClientDefaults>) -> u32 {
        let mut table = self.table();
        if let Some(&index) = table.by_client.get(&client.id) {
            return index;
        }
        let index = table
            .free
            .pop()
            .unwrap_or_else(|| self.used.fetch_add(1, SeqCst));
        let slot = self.slot(index);
        *slot.client() = Some(client.clone());
        slot.generation.fetch_add(1, SeqCst);
        table.by_client.insert(client.id, index);
        index
    }

    /// The slot `client` holds, if any.
    pub(crate) fn find(&self, client: ClientId) -> Option<u32> {
        self.table().by_client.get(&client).copied()
    }

    /// Every slot's counts together, given-back slots' included.
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        self.all.read()
    }

    /// Gives back the slots of clients that are gone and whose messages are
    /// all dealt with: `retire(slot, settled)` says whether the queue took in
    /// exactly `settled` messages from that slot, and if so forgets its count.
    /// Run by the worker, the only one that settles messages, so no count
    /// moves meanwhile.
    pub(crate) fn recycle(&self, clients: &mut Clients, mut retire: impl FnMut(u32, u64) -> bool) {
        let mut table = self.table();
        let candidates: Vec<(ClientId, u32)> = table
            .by_client
            .iter()
            .filter(|(id, _)| id.0 != 0)
            .map(|(&id, &index)| (id, index))
            .collect();
        for (id, index) in candidates {
            let slot = self.slot(index);
            let mut client = slot.client();
            if !client.as_ref().is_some_and(|c| !c.is_alive()) {
                continue;
            }
            if !retire(index, slot.counts.settled()) {
                continue;
            }
            slot.counts.reset();
            *client = None;
            slot.generation.fetch_add(1, SeqCst);
            table.by_client.remove(&id);
            table.free.push(index);
            clients.forget(index);
        }
    }

    /// Slots in use now.
    pub(crate) fn live(&self) -> usize {
        self.table().by_client.len()
    }
}

/// The worker's copy of each slot's client: read per message without a lock,
/// refreshed when a slot changes hands.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    entries: Vec<Option<(u32, Arc<ClientDefaults>)>>,
}

impl Clients {
    /// Makes sure slot `index`'s entry is the table's current one.
    #[inline]
    pub(crate) fn refresh(&mut self, owners: &Owners, index: u32) {
        let slot = owners.slot(index);
        let generation = slot.generation.load(SeqCst);
        let at = index as usize;
        if let Some(Some((seen, _))) = self.entries.get(at) {
            if *seen == generation {
                return;
            }
        }
        if self.entries.len() <= at {
            self.entries.resize(at + 1, None);
        }
        self.entries[at] = slot.client().clone().map(|client| (generation, client));
    }

    /// Slot `index`'s client (after [`refresh`](Clients::refresh)).
    #[inline]
    pub(crate) fn get(&self, index: u32) -> &ClientDefaults {
        match self.entries.get(index as usize) {
            Some(Some((_, client))) => client,
            _ => unregistered(),
        }
    }

    fn forget(&mut self, index: u32) {
        if let Some(entry) = self.entries.get_mut(index as usize) {
            *entry = None;
        }
    }
}

/// Defaults for a slot that has none (never happens: a slot is set before
/// its first record is queued, and freed only once its records are done).
#[cold]
fn unregistered() -> &'static ClientDefaults {
    static NONE: OnceLock<ClientDefaults> = OnceLock::new();
    NONE.get_or_init(|| ClientDefaults::new(0, SharedStr::EMPTY, Severity::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_found_where_they_were_put() {
        let mut seen = std::collections::HashSet::new();
        for index in 0..10_000u32 {
            let (chunk, at) = locate(index);
            assert!(at < 64 << chunk, "{index}");
            assert!(seen.insert((chunk, at)), "{index} collides");
        }
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        assert!(locate(u32::MAX).0 < 27);
    }

    #[test]
    fn a_gone_clients_slot_is_reused_once_its_messages_are_settled() {
        let owners = Owners::new();
        let mut clients = Clients::default();
        let a = Arc::new(ClientDefaults::new(
            7,
            SharedStr::from("a"),
            Severity::Notice,
        ));
        let slot = owners.add(&a);
        assert_eq!(owners.add(&a), slot, "one slot per client");
        clients.refresh(&owners, slot);
        assert_eq!(&*clients.get(slot).logger, "a");
        for _ in 0..3 {
            owners.count(slot, |c| &c.delivered);
        }

        // Alive: kept, whatever its counts.
        owners.recycle(&mut clients, |_, _| true);
        assert_eq!(owners.find(ClientId(7)), Some(slot));

        a.retire();
        // Gone, but the queue says messages are still out: kept.
        owners.recycle(&mut clients, |_, settled| settled == 4);
        assert_eq!(owners.find(ClientId(7)), Some(slot));
        // Gone and settled: freed, its counts kept in the totals.
        owners.recycle(&mut clients, |_, settled| settled == 3);
        assert_eq!(owners.find(ClientId(7)), None);
        assert_eq!(owners.totals(), (3, 0, 0));
        assert_eq!(owners.live(), 1, "slot 0 only");

        let b = Arc::new(ClientDefaults::new(
            8,
            SharedStr::from("b"),
            Severity::Notice,
        ));
        assert_eq!(owners.add(&b), slot, "the freed slot is reused");
        clients.refresh(&owners, slot);
        assert_eq!(&*clients.get(slot).logger, "b", "the worker's copy follows");
        assert_eq!(owners.counts(slot).read(), (0, 0, 0));
        assert_eq!(owners.totals(), (3, 0, 0));
    }
}
