//! Background delivery: a bounded queue (sharded per calling thread, see
//! [`queue`](super::queue)) in front of a worker thread that encodes and
//! transmits, so the caller never waits for I/O.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::queue::{Buffer, Queue};
use super::{Delivery, SendError, SendErrorKind};
use crate::site::{ClientDefaults, SiteEvent};
use crate::{Message, Severity, SharedStr};

/// The worker side of a background sender: turns batches of messages into
/// I/O. Implemented by each network sender's transport.
pub(crate) trait Transport: Send + 'static {
    /// Delivers (or keeps for later) a batch, reporting each message's fate
    /// through `outcome`. Messages it keeps (a backlog while disconnected)
    /// are reported when they are finally delivered or dropped.
    fn deliver(&mut self, batch: &mut Vec<Message>, outcome: &Outcome);

    /// Whether [`deliver_events`](Transport::deliver_events) is implemented.
    fn takes_events(&self) -> bool {
        false
    }

    /// Delivers annotated functions' events without building their
    /// messages (`owner` is the sending client's defaults). Only called
    /// when [`takes_events`](Transport::takes_events) says so.
    fn deliver_events(&mut self, events: &[SiteEvent], owner: &Owner, outcome: &Outcome) {
        let _ = (events, owner, outcome);
    }

    /// Called when the queue has been idle for a while: retry backlogs,
    /// reconnect.
    fn idle(&mut self, outcome: &Outcome) {
        let _ = outcome;
    }

    /// Called once at shutdown, after the queue is drained: deliver what is
    /// held if possible before `deadline`, and report the rest as failed.
    fn close(&mut self, outcome: &Outcome, deadline: Instant) {
        let _ = (outcome, deadline);
    }
}

/// Counts what a transport did, and reports its first error on stderr.
#[derive(Debug)]
pub(crate) struct Outcome {
    shared: Arc<Shared>,
}

impl Outcome {
    pub(crate) fn delivered(&self, n: u64) {
        self.shared.delivered.fetch_add(n, Relaxed);
    }

    /// Refused by the transport for lack of room: counted, not reported.
    #[allow(dead_code)] // only the ZeroMQ transport has such a limit
    pub(crate) fn dropped(&self, n: u64) {
        self.shared.dropped.fetch_add(n, Relaxed);
    }

    pub(crate) fn failed(&self, n: u64, error: &SendError) {
        self.shared.failed.fetch_add(n, Relaxed);
        if !self.shared.error_reported.swap(true, Relaxed) {
            crate::report::report(format_args!(
                "{} failed to deliver: {error}; further failures are only counted \
                 (see Client::stats)",
                self.shared.name
            ));
        }
    }
}

/// The default memory ceiling of a queue (and of a stream sender's backlog).
pub const DEFAULT_MAX_BYTES: usize = 32 << 20;

/// How a background sender queues; every network sender takes one.
///
/// ```
/// use std::time::Duration;
/// use metlog::sender::{QueueConfig, UdpSender};
/// let config = QueueConfig::default()
///     .capacity(100_000)                       // messages waiting at most
///     .block_when_full(Duration::from_millis(1)) // instead of dropping at once
///     .flush_timeout(Duration::from_secs(2));
/// let sender = UdpSender::with_queue("127.0.0.1:5565", config)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct QueueConfig {
    capacity: usize,
    max_bytes: usize,
    block_when_full: Option<Duration>,
    flush_timeout: Duration,
    drain_timeout: Duration,
    max_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 65_536,
            max_bytes: DEFAULT_MAX_BYTES,
            block_when_full: None,
            flush_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
            max_batch: 512,
        }
    }
}

impl QueueConfig {
    /// How many messages may wait (default 65,536). When the queue is full a
    /// message is dropped and counted in [`Stats::dropped`](crate::Stats::dropped).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.clamp(1, u32::MAX as usize);
        self
    }

    /// How many bytes of message contents may wait (default 32 MiB): the
    /// memory ceiling when messages are large — 50 kB log lines to a peer
    /// that stalled would otherwise fill `capacity` with gigabytes. Beyond
    /// it a message is dropped and counted, as when the queue is full; one
    /// message larger than the whole ceiling is never queued. Stream
    /// senders (TCP, syslog over TCP) hold their unsent backlog to the same
    /// ceiling. A message's contents are its strings and field values (the
    /// envelope's fixed part and the macros' events count only by number).
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    pub(crate) fn max_bytes_value(&self) -> usize {
        self.max_bytes
    }

    /// When the queue is full, wait up to `timeout` for room before dropping
    /// (default: drop at once, never making the caller wait).
    pub fn block_when_full(mut self, timeout: Duration) -> Self {
        self.block_when_full = Some(timeout);
        self
    }

    /// How long [`Client::flush`](crate::Client::flush) waits at most
    /// (default 5 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// How long dropping the sender waits for the queue to drain (default
    /// 5 s); after that the worker is left behind, so a hung transport never
    /// hangs the program's exit.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// The most messages the worker hands to the transport at once
    /// (default 512).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }
}

/// What waits in one shard: messages, and annotated functions' events with
/// the number of messages queued before each (so the worker keeps each
/// thread's order).
#[derive(Default)]
struct Pending {
    messages: Vec<Message>,
    events: Vec<SiteEvent>,
}

impl Buffer for Pending {
    fn len(&self) -> usize {
        self.messages.len() + self.events.len()
    }
}

impl Pending {
    /// Makes room (while empty) for twice `most` messages and events, at
    /// least a small burst's worth (64 messages, 1,024 40-byte events), but
    /// never beyond the queue's `capacity`.
    fn reserve(&mut self, most: (usize, usize), capacity: usize) {
        let wanted = |n: usize, floor: usize| n.saturating_mul(2).max(floor).min(capacity);
        self.messages.reserve(wanted(most.0, 64));
        self.events.reserve(wanted(most.1, 1_024));
    }

    /// Moves everything, in order, into `batch` as messages, handing the
    /// batch to `deliver` whenever it reaches `max_batch`.
    fn drain(
        &mut self,
        owner: Option<&Owner>,
        batch: &mut Vec<Message>,
        max_batch: usize,
        mut deliver: impl FnMut(&mut Vec<Message>),
    ) {
        let mut messages = self.messages.drain(..);
        let mut taken = 0;
        let mut push = |batch: &mut Vec<Message>, message: Message| {
            batch.push(message);
            if batch.len() >= max_batch {
                deliver(batch);
            }
        };
        for event in self.events.drain(..) {
            while taken < event.position as usize {
                let Some(message) = messages.next() else {
                    break;
                };
                taken += 1;
                push(batch, message);
            }
            // Events are only queued once the owner is known.
            if let Some(owner) = owner {
                push(batch, event.into_message(&owner.logger, owner.severity));
            }
        }
        for message in messages {
            push(batch, message);
        }
    }
}

/// The client whose defaults the worker adds to events.
#[derive(Debug)]
pub(crate) struct Owner {
    id: u64,
    pub(crate) logger: SharedStr,
    pub(crate) severity: Severity,
}

struct Shared {
    name: &'static str,
    queue: Queue<Pending>,
    /// Learnt from the first event; a sender shared between clients builds
    /// the other clients' messages on the caller's thread.
    owner: OnceLock<Owner>,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Events the transport encoded straight from the queue (tests check
    /// that the direct path is the one that runs).
    #[cfg(test)]
    direct_events: AtomicU64,
    error_reported: AtomicBool,
    /// Set by the worker before it parks for long; a caller that finds it
    /// set after filling an empty shard wakes the worker.
    sleeping: AtomicBool,
    /// Set when the sender is dropped: drain and stop.
    closing: AtomicBool,
    worker: OnceLock<Thread>,
    /// Signalled whenever the worker has finished a batch.
    progress: Mutex<()>,
    progressed: Condvar,
}

impl Shared {
    fn settled(&self) -> u64 {
        self.delivered.load(Relaxed) + self.failed.load(Relaxed) + self.dropped.load(Relaxed)
    }

    fn wake_worker(&self) {
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// The queue and worker behind every network sender.
#[derive(Debug)]
pub(crate) struct Background {
    shared: Arc<Shared>,
    config: QueueConfig,
    /// Signalled by the worker when it has finished (in a mutex only to be
    /// `Sync`).
    done: Mutex<Option<Receiver<()>>>,
    worker: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the worker thread `metlog-<name>` around `transport`.
    pub(crate) fn spawn(
        name: &'static str,
        transport: impl Transport,
        config: QueueConfig,
    ) -> std::io::Result<Background> {
        let (done_tx, done) = mpsc::channel();
        let shared = Arc::new(Shared {
            name,
            queue: Queue::new(config.capacity, config.max_bytes),
            owner: OnceLock::new(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            #[cfg(test)]
            direct_events: AtomicU64::new(0),
            error_reported: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            worker: OnceLock::new(),
            progress: Mutex::new(()),
            progressed: Condvar::new(),
        });
        let outcome = Outcome {
            shared: shared.clone(),
        };
        let max_batch = config.max_batch;
        let drain_timeout = config.drain_timeout;
        let capacity = config.capacity;
        let worker = std::thread::Builder::new()
            .name(format!("metlog-{name}"))
            .spawn(move || {
                run(transport, &outcome, capacity, max_batch, drain_timeout);
                let _ = done_tx.send(());
            })?;
        let _ = shared.worker.set(worker.thread().clone());
        Ok(Background {
            shared,
            config,
            done: Mutex::new(Some(done)),
            worker: Some(worker),
        })
    }

    /// Queues a message without waiting (or waiting up to the configured
    /// time for room).
    #[inline]
    pub(crate) fn send(&self, message: Message) -> Result<(), SendError> {
        let bytes = message.heap_bytes();
        self.push(bytes, |pending: &mut Pending| {
            pending.messages.push(message)
        })
    }

    /// Queues an annotated function's event; the worker builds its message.
    #[inline]
    pub(crate) fn send_site(
        &self,
        event: SiteEvent,
        client: &ClientDefaults<'_>,
    ) -> Result<(), SendError> {
        let owner = self.shared.owner.get_or_init(|| Owner {
            id: client.id,
            logger: client.logger.clone(),
            severity: client.severity,
        });
        if owner.id != client.id {
            return self.send(event.into_message(client.logger, client.severity));
        }
        self.push(0, |pending: &mut Pending| {
            // Capacity is at most `u32::MAX`.
            let position = u32::try_from(pending.messages.len()).unwrap_or(u32::MAX);
            let mut event = event;
            event.position = position;
            pending.events.push(event);
        })
    }

    #[inline]
    fn push(&self, bytes: usize, write: impl FnOnce(&mut Pending)) -> Result<(), SendError> {
        let shared = &*self.shared;
        match shared.queue.push(bytes, write) {
            Ok(was_empty) => {
                // Only the first message of a batch can find the worker
                // asleep. The fence pairs with the worker's: either it sees
                // this message, or this sees it sleeping.
                if was_empty {
                    fence(SeqCst);
                    if shared.sleeping.load(Relaxed) && shared.sleeping.swap(false, Relaxed) {
                        shared.wake_worker();
                    }
                }
                Ok(())
            }
            Err(write) => self.push_when_room(bytes, write),
        }
    }

    #[cold]
    fn push_when_room(
        &self,
        bytes: usize,
        mut write: impl FnOnce(&mut Pending),
    ) -> Result<(), SendError> {
        let Some(wait) = self.config.block_when_full else {
            return Err(SendError::full());
        };
        // Larger than the whole byte ceiling: no wait would make room.
        if !self.shared.queue.fits(bytes) {
            return Err(SendError::full());
        }
        let deadline = Instant::now() + wait;
        self.shared.wake_worker();
        while Instant::now() < deadline {
            std::thread::yield_now();
            match self.shared.queue.push(bytes, write) {
                Ok(_) => {
                    self.shared.wake_worker();
                    return Ok(());
                }
                Err(back) => write = back,
            }
        }
        Err(SendError::full())
    }

    /// Waits until everything accepted so far is delivered or failed.
    pub(crate) fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        let target = self.shared.queue.accepted();
        let deadline = Instant::now() + timeout;
        self.shared.wake_worker();
        let mut guard = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while self.shared.settled() < target {
            let now = Instant::now();
            if now >= deadline {
                let waiting = target - self.shared.settled().min(target);
                return Err(SendError::new(
                    SendErrorKind::Other,
                    format!(
                        "{} still had {waiting} message(s) waiting after {timeout:?}",
                        self.shared.name
                    ),
                ));
            }
            // Short waits: a wake-up can slip between the check and the wait.
            let wait = (deadline - now).min(Duration::from_millis(10));
            guard = self
                .shared
                .progressed
                .wait_timeout(guard, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    pub(crate) fn flush(&self) -> Result<(), SendError> {
        self.flush_timeout(self.config.flush_timeout)
    }

    /// Events encoded straight from the queue so far.
    #[cfg(test)]
    pub(crate) fn direct_events(&self) -> u64 {
        self.shared.direct_events.load(Relaxed)
    }

    pub(crate) fn delivery(&self) -> Delivery {
        // Read the settled counts first: a message settles after it is
        // accepted, so `queued` never goes negative.
        let delivered = self.shared.delivered.load(Relaxed);
        let failed = self.shared.failed.load(Relaxed);
        let dropped = self.shared.dropped.load(Relaxed);
        let accepted = self.shared.queue.accepted();
        Delivery {
            delivered,
            failed,
            dropped,
            queued: accepted.saturating_sub(delivered + failed + dropped),
            ignored: 0,
        }
    }
}

impl Drop for Background {
    /// Lets the worker drain the queue and stop, waiting at most the drain
    /// timeout.
    fn drop(&mut self) {
        self.shared.closing.store(true, SeqCst);
        self.shared.wake_worker();
        let finished = self
            .done
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some_and(|done| done.recv_timeout(self.config.drain_timeout).is_ok());
        if let Some(worker) = self.worker.take() {
            if finished {
                let _ = worker.join();
            }
            // Otherwise the worker is left to finish (or not) on its own.
        }
    }
}

/// How long the worker sleeps between idle calls to the transport.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// After finding the queue empty the worker naps this long, a few times,
/// without asking to be woken: under load, messages gather into batches and
/// callers never pay for a wake-up.
const NAP: Duration = Duration::from_micros(200);
const NAPS: u32 = 5;

fn run(
    mut transport: impl Transport,
    outcome: &Outcome,
    capacity: usize,
    max_batch: usize,
    drain_timeout: Duration,
) {
    let shared = &*outcome.shared;
    let mut spare = Pending::default();
    let mut batch = Vec::with_capacity(max_batch);
    let mut quiet_rounds = 0;
    let takes_events = transport.takes_events();
    // The most of each kind ever taken from a shard at once.
    let mut most = (0, 0);
    loop {
        // Read before taking: everything sent before the sender was dropped
        // is then taken in this round.
        let closing = shared.closing.load(SeqCst);
        let mut moved = 0;
        for shard in 0..shared.queue.shard_count() {
            // The spare becomes the shard's buffer: room for twice the
            // largest batch so far, allocated here rather than by a caller
            // pushing into it.
            spare.reserve(most, capacity);
            let taken = shared.queue.take(shard, &mut spare);
            if taken == 0 {
                continue;
            }
            most = (
                most.0.max(spare.messages.len()),
                most.1.max(spare.events.len()),
            );
            // What their senders charged, given back once they are dealt with.
            let bytes: usize = spare.messages.iter().map(Message::heap_bytes).sum();
            moved += taken;
            let owner = shared.owner.get();
            if spare.events.is_empty() && spare.messages.len() <= max_batch {
                // The common case for senders without annotated functions:
                // hand the shard's messages over as they are.
                deliver(&mut transport, &mut spare.messages, outcome);
            } else if let (Some(owner), true) = (owner, takes_events && spare.messages.is_empty()) {
                // Only events: encoded straight from them, at most a batch
                // at a time like messages.
                for events in spare.events.chunks(max_batch) {
                    guarded(outcome, events.len() as u64, || {
                        transport.deliver_events(events, owner, outcome);
                    });
                    #[cfg(test)]
                    shared.direct_events.fetch_add(events.len() as u64, Relaxed);
                }
                spare.events.clear();
            } else {
                spare.drain(owner, &mut batch, max_batch, |batch| {
                    deliver(&mut transport, batch, outcome);
                });
                if !batch.is_empty() {
                    deliver(&mut transport, &mut batch, outcome);
                }
            }
            shared.queue.release(taken, bytes);
            notify(outcome);
        }
        if moved > 0 {
            quiet_rounds = 0;
            // Taking a shard moves its cache lines to this thread, and the
            // caller pays to get them back: let small batches grow first.
            if moved < max_batch && !closing {
                std::thread::sleep(NAP);
            }
            continue;
        }
        if closing {
            break;
        }
        quiet_rounds += 1;
        if quiet_rounds <= NAPS {
            std::thread::sleep(NAP);
            continue;
        }
        shared.sleeping.store(true, Relaxed);
        fence(SeqCst);
        if shared.queue.is_empty() && !shared.closing.load(SeqCst) {
            std::thread::park_timeout(IDLE_TICK);
        }
        shared.sleeping.store(false, Relaxed);
        if shared.queue.is_empty() {
            guarded(outcome, 0, || transport.idle(outcome));
            notify(outcome);
        }
    }
    let deadline = Instant::now() + drain_timeout;
    guarded(outcome, 0, || transport.close(outcome, deadline));
    notify(outcome);
}

fn deliver(transport: &mut impl Transport, batch: &mut Vec<Message>, outcome: &Outcome) {
    let size = batch.len() as u64;
    guarded(outcome, size, || transport.deliver(batch, outcome));
    batch.clear();
}

/// Runs a transport call; a panic in it counts the batch as failed rather
/// than killing the worker.
fn guarded(outcome: &Outcome, batch: u64, call: impl FnOnce()) {
    let before = outcome.shared.settled();
    if panic::catch_unwind(AssertUnwindSafe(call)).is_err() {
        let settled = outcome.shared.settled() - before;
        let lost = batch.saturating_sub(settled);
        outcome.failed(
            lost,
            &SendError::new(SendErrorKind::Other, "the transport panicked"),
        );
    }
}

fn notify(outcome: &Outcome) {
    let _guard = outcome
        .shared
        .progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    outcome.shared.progressed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panics on its first batch, delivers the rest.
    struct PanicsOnce {
        panicked: bool,
    }

    impl Transport for PanicsOnce {
        fn deliver(&mut self, batch: &mut Vec<Message>, outcome: &Outcome) {
            if !self.panicked {
                self.panicked = true;
                panic!("transport bug");
            }
            outcome.delivered(batch.len() as u64);
        }
    }

    #[test]
    fn a_panicking_transport_costs_its_batch_and_the_worker_lives_on() {
        let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = reports.clone();
        crate::report::set_handler(move |text: &str| sink.lock().unwrap().push(text.to_owned()));
        let background = Background::spawn(
            "test",
            PanicsOnce { panicked: false },
            QueueConfig::default(),
        )
        .unwrap();
        background.send(Message::new("counter", "t")).unwrap();
        let _ = background.flush_timeout(Duration::from_secs(5));
        background.send(Message::new("counter", "t")).unwrap();
        background.flush_timeout(Duration::from_secs(5)).unwrap();
        let delivery = background.delivery();
        assert_eq!(
            (delivery.failed, delivery.delivered, delivery.queued),
            (1, 1, 0)
        );
        let reports = reports.lock().unwrap();
        assert!(
            reports.iter().any(|r| r.contains("the transport panicked")),
            "reported once: {reports:?}"
        );
    }
}
