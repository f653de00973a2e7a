//! The bounded queue in front of a background worker, sharded per thread.
//!
//! One shared channel makes every message move cache lines between cores
//! (the channel's head, its slots) and costs the caller 40–60 ns on this
//! project's machines. Here each calling thread pushes into its own shard — a
//! `Vec` behind a lock that only that thread and, once per batch, the
//! worker touch — so a push is an uncontended lock, a write, and an unlock.
//! The lock is a spin lock whose unlock is a plain release store: a
//! `Mutex`'s unlock is a full barrier, and the caller would wait there, on
//! every call, for its write to reach the cache line the worker last read
//! (measured: a third of a queued call's cost). The worker swaps each shard's `Vec`
//! for an empty one and delivers what it took.
//!
//! The bound is global, in messages and in bytes: shards take room from
//! shared counters in chunks (one shared write per chunk, not per message)
//! and the worker gives room back once it has dealt with what it took. An
//! item's bytes are what it holds on the heap, as its pusher says; items of
//! fixed size (the macros' events) say 0 and are bounded by their number.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use spin::mutex::{SpinMutex, SpinMutexGuard};
use spin::relax::Yield;

use crate::record::ClientDefaults;

/// A value alone on its cache lines (two, for adjacent-line prefetching), so
/// neighbouring shards never share one.
#[repr(align(128))]
struct Padded<T>(T);

struct Shard<T> {
    items: Vec<T>,
    /// Room this shard has taken from [`Queue::room`] and not used yet.
    credits: usize,
    /// Bytes this shard has taken from [`Queue::bytes`] and not used yet.
    byte_credits: usize,
    /// Messages ever accepted into this shard.
    accepted: u64,
    /// The clients whose defaults (logger, severity) `items` read, by
    /// index; taken with them. A client sending again and again is held
    /// once.
    clients: Vec<Arc<ClientDefaults>>,
}

/// A shard behind its spin lock, alone on its cache lines.
type Slot<T> = Padded<SpinMutex<Shard<T>, Yield>>;

/// Messages waiting for the worker, at most `capacity` of them and
/// `max_bytes` of their contents at a time.
pub(crate) struct Queue<T> {
    shards: Box<[Slot<T>]>,
    /// Room not yet handed to any shard.
    room: AtomicUsize,
    /// How much room a shard takes at once.
    chunk: usize,
    /// Bytes not yet handed to any shard.
    bytes: AtomicUsize,
    /// How many bytes a shard takes at once (more for a larger item).
    byte_chunk: usize,
    /// The byte bound itself.
    max_bytes: usize,
    /// The id of the one client whose items were ever queued ([`NO_CLIENT`]
    /// before the first, [`MANY_CLIENTS`] once a second one came).
    sole_client: AtomicU64,
}

/// [`Queue::sole_client`] before any item.
pub(crate) const NO_CLIENT: u64 = 0;
/// [`Queue::sole_client`] once items of two clients were queued.
pub(crate) const MANY_CLIENTS: u64 = u64::MAX;

thread_local! {
    /// This thread's shard number (modulo each queue's shard count).
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Hands out shard numbers to threads in turn.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn thread_slot() -> usize {
    THREAD_SLOT
        .try_with(|slot| {
            let mut value = slot.get();
            if value == usize::MAX {
                value = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
                slot.set(value);
            }
            value
        })
        // A thread-local destructor sending on its way out: any shard will do.
        .unwrap_or(0)
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items and `max_bytes` of their
    /// contents, with a shard for each of about four threads per core.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Queue<T> {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        let shards = (cores * 4).next_power_of_two().min(64);
        // Small chunks for small queues, so one thread can still fill it;
        // shards never strand more than a quarter of either bound.
        let chunk = (capacity / (shards * 4)).clamp(1, 256);
        let byte_chunk = (max_bytes / (shards * 4)).clamp(1, 1 << 20);
        Queue {
            shards: (0..shards)
                .map(|_| {
                    Padded(SpinMutex::new(Shard {
                        items: Vec::new(),
                        credits: 0,
                        byte_credits: 0,
                        accepted: 0,
                        clients: Vec::new(),
                    }))
                })
                .collect(),
            room: AtomicUsize::new(capacity.max(1)),
            chunk,
            bytes: AtomicUsize::new(max_bytes.max(1)),
            byte_chunk,
            max_bytes: max_bytes.max(1),
            sole_client: AtomicU64::new(NO_CLIENT),
        }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Held for a few instructions by the pushing thread, or for a swap by
    /// the worker: a thread that finds it taken yields until it is free.
    fn lock(&self, index: usize) -> SpinMutexGuard<'_, Shard<T>, Yield> {
        self.shards[index].0.lock()
    }

    /// Adds one item of `client`, holding `bytes` on the heap, to the
    /// calling thread's shard with `write`, which must add exactly one and
    /// is given the client's index in the shard's clients.
    /// `Ok(true)` when that shard was empty before (the worker may need
    /// waking); when the queue is full (in number or in bytes), `write`
    /// comes back unused.
    #[inline]
    pub(crate) fn push<F: FnOnce(&mut Vec<T>, u32)>(
        &self,
        client: &Arc<ClientDefaults>,
        bytes: usize,
        write: F,
    ) -> Result<bool, F> {
        let index = thread_slot() & (self.shards.len() - 1);
        let mut reclaimed = false;
        loop {
            let mut shard = self.lock(index);
            if shard.credits == 0 {
                let taken = take(&self.room, self.chunk, 1);
                if taken == 0 {
                    return Err(write);
                }
                shard.credits = taken;
            }
            if shard.byte_credits < bytes {
                let needed = bytes - shard.byte_credits;
                shard.byte_credits += take(&self.bytes, self.byte_chunk.max(needed), needed);
            }
            if shard.byte_credits >= bytes {
                shard.byte_credits -= bytes;
                shard.credits -= 1;
                shard.accepted += 1;
                let at = match shard.clients.last() {
                    Some(last) if Arc::ptr_eq(last, client) => shard.clients.len() - 1,
                    _ => self.hold(&mut shard.clients, client),
                };
                let was_empty = shard.items.is_empty();
                write(&mut shard.items, at as u32);
                return Ok(was_empty);
            }
            // Other shards may hold unused bytes: gather them, without
            // holding this shard (two threads doing so cannot deadlock),
            // and start over once — the shard may have changed meanwhile.
            drop(shard);
            if reclaimed || bytes > self.max_bytes || !self.reclaim_bytes() {
                return Err(write);
            }
            reclaimed = true;
        }
    }

    /// Returns every shard's unused bytes to the shared pool; whether any
    /// were returned. The cold path of a push that found too few bytes.
    #[cold]
    fn reclaim_bytes(&self) -> bool {
        let returned: usize = (0..self.shards.len())
            .map(|index| std::mem::take(&mut self.lock(index).byte_credits))
            .sum();
        if returned > 0 {
            self.bytes.fetch_add(returned, Ordering::Relaxed);
        }
        returned > 0
    }

    /// Whether an item of `bytes` could ever fit.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        bytes <= self.max_bytes
    }

    /// Swaps shard `index`'s items with `spare` (which must be empty), and
    /// its clients with `clients` (which must be empty too);
    /// returns how many were taken. Their room stays taken until
    /// [`release`](Queue::release), so the bound covers messages the worker
    /// holds too.
    pub(crate) fn take(
        &self,
        index: usize,
        spare: &mut Vec<T>,
        clients: &mut Vec<Arc<ClientDefaults>>,
    ) -> usize {
        debug_assert!(spare.is_empty());
        let mut shard = self.lock(index);
        if shard.items.is_empty() {
            return 0;
        }
        std::mem::swap(&mut shard.items, spare);
        std::mem::swap(&mut shard.clients, clients);
        drop(shard);
        spare.len()
    }

    /// Gives back the room of `n` items taken and dealt with, which held
    /// `bytes` (as their pushers said).
    pub(crate) fn release(&self, n: usize, bytes: usize) {
        self.room.fetch_add(n, Ordering::Relaxed);
        if bytes > 0 {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Whether every shard is empty.
    pub(crate) fn is_empty(&self) -> bool {
        (0..self.shards.len()).all(|index| self.lock(index).items.is_empty())
    }

    /// Items ever accepted.
    pub(crate) fn accepted(&self) -> u64 {
        (0..self.shards.len())
            .map(|index| self.lock(index).accepted)
            .sum()
    }

    /// The id of the one client whose items were ever queued, if one.
    pub(crate) fn sole_client(&self) -> u64 {
        self.sole_client.load(Ordering::SeqCst)
    }

    /// Adds `client` to a shard's clients (it was not the last one there);
    /// returns its index.
    #[cold]
    fn hold(&self, clients: &mut Vec<Arc<ClientDefaults>>, client: &Arc<ClientDefaults>) -> usize {
        let _ = self
            .sole_client
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(super::sent_by_both(now, client.id.0))
            });
        clients.push(client.clone());
        clients.len() - 1
    }
}

/// Takes up to `most` from `counter`, all or nothing below `least` (what
/// is available when that is less than `most` but at least `least`).
fn take(counter: &AtomicUsize, most: usize, least: usize) -> usize {
    let mut available = counter.load(Ordering::Relaxed);
    loop {
        let take = available.min(most);
        if take == 0 || take < least {
            return 0;
        }
        match counter.compare_exchange_weak(
            available,
            available - take,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return take,
            Err(now) => available = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Arc<ClientDefaults> {
        static CLIENT: std::sync::OnceLock<Arc<ClientDefaults>> = std::sync::OnceLock::new();
        CLIENT
            .get_or_init(|| Arc::new(ClientDefaults::new(1, "t".into(), crate::Severity::Debug)))
            .clone()
    }

    fn push(queue: &Queue<i32>, n: i32) -> bool {
        queue.push(&client(), 0, |v, _| v.push(n)).is_ok()
    }

    #[test]
    fn holds_at_most_its_capacity_and_gives_room_back() {
        let queue = Queue::<i32>::new(10, usize::MAX);
        let accepted = (0..25).filter(|&n| push(&queue, n)).count();
        assert_eq!(accepted, 10);
        assert_eq!(queue.accepted(), 10);
        let mut taken = Vec::new();
        let mut spare = Vec::new();
        for index in 0..queue.shard_count() {
            queue.take(index, &mut spare, &mut Vec::new());
            taken.append(&mut spare);
        }
        assert_eq!(taken, (0..10).collect::<Vec<_>>());
        assert!(queue.is_empty());
        // Taken but not released: still no room.
        assert!(!push(&queue, 0));
        queue.release(10, 0);
        assert_eq!((0..25).filter(|&n| push(&queue, n)).count(), 10);
    }

    #[test]
    fn threads_share_the_bound() {
        let queue = std::sync::Arc::new(Queue::<i32>::new(1_000, usize::MAX));
        let accepted: usize = (0..4)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || (0..1_000).filter(|&n| push(&queue, n)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        // Every thread keeps pushing until its own credits run out too.
        assert_eq!(accepted, 1_000);
        assert_eq!(queue.accepted(), accepted as u64);
    }

    #[test]
    fn reports_when_a_shard_was_empty() {
        let queue = Queue::<i32>::new(100, usize::MAX);
        assert!(matches!(
            queue.push(&client(), 0, |v, _| v.push(1)),
            Ok(true)
        ));
        assert!(matches!(
            queue.push(&client(), 0, |v, _| v.push(2)),
            Ok(false)
        ));
    }

    #[test]
    fn holds_at_most_its_bytes_and_gives_them_back() {
        let queue = Queue::<i32>::new(1_000, 10_000);
        let big = |queue: &Queue<i32>| queue.push(&client(), 3_000, |v, _| v.push(3)).is_ok();
        assert_eq!(
            (0..10).filter(|_| big(&queue)).count(),
            3,
            "3 × 3,000 fit in 10,000"
        );
        // Small items still fit in what is left, and count-only items always.
        assert!(queue.push(&client(), 1_000, |v, _| v.push(1)).is_ok());
        assert!(queue.push(&client(), 1_000, |v, _| v.push(1)).is_err());
        assert!(queue.push(&client(), 0, |v, _| v.push(0)).is_ok());
        // One item larger than the whole bound never fits.
        assert!(queue.push(&client(), 10_001, |v, _| v.push(9)).is_err());
        let mut spare = Vec::new();
        let mut taken = 0;
        for index in 0..queue.shard_count() {
            taken += queue.take(index, &mut spare, &mut Vec::new());
            spare.clear();
        }
        assert_eq!(taken, 5);
        assert!(
            !big(&queue),
            "taken, not released: the bytes are still held"
        );
        queue.release(taken, 10_000);
        assert_eq!((0..10).filter(|_| big(&queue)).count(), 3);
    }

    /// Many threads (several per shard) pushing items near the byte bound
    /// while a drainer takes and releases: reclaiming and retrying never
    /// overdraws a shard's credits, and everything accepted is taken.
    #[test]
    fn contended_pushes_near_the_byte_bound_stay_consistent() {
        use std::sync::atomic::AtomicBool;
        let queue = std::sync::Arc::new(Queue::<i32>::new(64, 16_384));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let drainer = {
            let (queue, done) = (queue.clone(), done.clone());
            std::thread::spawn(move || {
                let mut spare = Vec::new();
                let mut taken = 0u64;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    for index in 0..queue.shard_count() {
                        let n = queue.take(index, &mut spare, &mut Vec::new());
                        queue.release(n, n * 3_000);
                        taken += n as u64;
                        spare.clear();
                    }
                    if finished {
                        return taken;
                    }
                }
            })
        };
        let pushers: Vec<_> = (0..4 * queue.shard_count())
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    (0..2_000)
                        .filter(|_| queue.push(&client(), 3_000, |v, _| v.push(1)).is_ok())
                        .count()
                })
            })
            .collect();
        let accepted: usize = pushers.into_iter().map(|p| p.join().unwrap()).sum();
        done.store(true, Ordering::SeqCst);
        let taken = drainer.join().unwrap();
        assert!(accepted > 0);
        assert_eq!(taken, accepted as u64);
        assert_eq!(queue.accepted(), accepted as u64);
    }

    /// Bytes one thread's shard took but did not use are not lost to the
    /// others: an item under the bound fits an empty queue whoever pushes it.
    #[test]
    fn bytes_left_in_other_shards_are_reclaimed() {
        let queue = std::sync::Arc::new(Queue::<i32>::new(1_000, 65_536));
        // Sixteen threads each take a chunk of bytes for one small item.
        for _ in 0..16 {
            let queue = queue.clone();
            std::thread::spawn(move || {
                assert!(queue.push(&client(), 10, |v, _| v.push(1)).is_ok())
            })
            .join()
            .unwrap();
        }
        let mut spare = Vec::new();
        let mut taken = 0;
        for index in 0..queue.shard_count() {
            taken += queue.take(index, &mut spare, &mut Vec::new());
            spare.clear();
        }
        queue.release(taken, 16 * 10);
        // Empty again: an item of almost the whole bound fits.
        assert!(queue.push(&client(), 65_000, |v, _| v.push(2)).is_ok());
        assert!(!queue.fits(65_537));
    }
}
