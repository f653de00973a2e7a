//! Background delivery: a bounded queue (sharded per calling thread, see
//! [`queue`](super::queue)) in front of a worker thread that encodes and
//! transmits, so the caller never waits for I/O.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::owners::{Clients, Owners};
use super::queue::Queue;
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::envelope::Envelope;
use crate::record::{ClientDefaults, ClientId, Record, Stored};
use crate::Message;

/// The worker side of a [`QueuedSender`]: turns batches of messages into
/// I/O, on the sender's own thread.
///
/// Every network sender of this crate is a [`QueuedSender`] around a
/// [`Transport`]; a transport of your own gets the same queue by
/// implementing that trait:
///
/// ```
/// use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, Transport};
///
/// /// Writes each message's JSON line to stderr.
/// struct Stderr;
///
/// impl Transport for Stderr {
///     fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
///         let mut line = Vec::new();
///         for item in batch.iter() {
///             line.clear();
///             metlog::encode::json::write(item.envelope(), &mut line);
///             line.push(b'\n');
///             match std::io::Write::write_all(&mut std::io::stderr(), &line) {
///                 Ok(()) => outcome.delivered(item.ticket()),
///                 Err(e) => outcome.failed(item.ticket(), &metlog::sender::SendError::io("stderr", e)),
///             }
///         }
///     }
/// }
///
/// let sender = QueuedSender::new("stderr", Stderr, QueueConfig::default())?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("started");
/// client.flush();
/// assert_eq!(client.stats().sent, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Transport: Send + 'static {
    /// Delivers (or keeps for later) a batch, reporting each message's fate
    /// through `outcome` by its [`Ticket`]. Messages it keeps (a backlog
    /// while disconnected) are reported when they are finally delivered or
    /// lost; a message never reported stays counted as queued.
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome);

    /// Called when the queue has been idle for a while: retry backlogs,
    /// reconnect. The default does nothing.
    fn idle(&mut self, outcome: &Outcome) {
        let _ = outcome;
    }

    /// Called once at shutdown, after the queue is drained: deliver what is
    /// held if possible before `deadline`, and report the rest as failed.
    /// The default does nothing.
    fn close(&mut self, outcome: &Outcome, deadline: Instant) {
        let _ = (outcome, deadline);
    }
}

/// Messages for a [`Transport`] to deliver, read in place from the queue.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    items: &'a [Stored],
    clients: &'a Clients,
}

impl<'a> Batch<'a> {
    /// How many messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The messages, in the order their callers sent them (per thread).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Item<'a>> + 'a {
        let clients = self.clients;
        self.items.iter().map(move |stored| Item {
            stored,
            client: clients.get(stored.owner),
        })
    }
}

/// One message of a [`Batch`].
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    stored: &'a Stored,
    client: &'a ClientDefaults,
}

impl<'a> Item<'a> {
    /// The message, borrowed: what the encoders read.
    #[inline]
    pub fn envelope(&self) -> Envelope<'a> {
        self.stored.envelope(self.client)
    }

    /// What to report this message's fate with.
    #[inline]
    pub fn ticket(&self) -> Ticket {
        Ticket(self.stored.owner)
    }

    /// The message, owned (for a transport that needs one; the encoders do
    /// not).
    pub fn to_message(&self) -> Message {
        Message::from(self.envelope())
    }
}

/// Names the client a delivered (or lost) message came from, so each client
/// sharing a sender gets its own counts; see [`Outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u32);

/// Counts what a transport did with each message, per sending client, and
/// reports the first error once.
#[derive(Debug)]
pub struct Outcome {
    shared: Arc<Shared>,
}

impl Outcome {
    /// The message was handed to the transport (written to the socket).
    #[inline]
    pub fn delivered(&self, ticket: Ticket) {
        self.shared
            .owners
            .counts(ticket.0)
            .delivered
            .fetch_add(1, Relaxed);
    }

    /// Every message of `batch` was delivered.
    pub fn delivered_all(&self, batch: &Batch<'_>) {
        for item in batch.iter() {
            self.delivered(item.ticket());
        }
    }

    /// The message was refused by the transport for lack of room (e.g.
    /// ZeroMQ's high-water mark): counted as dropped, not reported.
    pub fn dropped(&self, ticket: Ticket) {
        self.shared
            .owners
            .counts(ticket.0)
            .dropped
            .fetch_add(1, Relaxed);
    }

    /// The message was lost to `error`: counted as failed; the sender's
    /// first failure is reported ([`crate::report`]).
    pub fn failed(&self, ticket: Ticket, error: &SendError) {
        self.shared
            .owners
            .counts(ticket.0)
            .failed
            .fetch_add(1, Relaxed);
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

/// Hands out queue ids (0 means "none" in a client's slot cache).
static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

struct Shared {
    name: String,
    id: u64,
    queue: Queue<Stored>,
    owners: Owners,
    error_reported: AtomicBool,
    /// Messages the worker assembled (tests check the record road builds
    /// none).
    #[cfg(test)]
    built_on_worker: AtomicU64,
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
        let (delivered, failed, dropped) = self.owners.totals();
        delivered + failed + dropped
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

/// A bounded queue and a worker thread in front of a [`Transport`]: the
/// sender every network sender of this crate is made of, and the way to
/// give a transport of your own the same road (see [`Transport`]).
///
/// The caller's cost is one compact record written into its thread's shard
/// of the queue; the envelope is read in place and encoded on the worker.
/// When the queue is full (in messages or in bytes, see [`QueueConfig`]) a
/// message is dropped and counted. Counts are kept per sending client, so
/// clients sharing the sender each see their own in
/// [`Client::stats`](crate::Client::stats).
#[derive(Debug)]
pub struct QueuedSender {
    shared: Arc<Shared>,
    config: QueueConfig,
    /// Signalled by the worker when it has finished (in a mutex only to be
    /// `Sync`).
    done: Mutex<Option<Receiver<()>>>,
    worker: Option<JoinHandle<()>>,
}

impl QueuedSender {
    /// Starts the worker thread `metlog-<name>` around `transport`.
    pub fn new(
        name: impl Into<String>,
        transport: impl Transport,
        config: QueueConfig,
    ) -> std::io::Result<QueuedSender> {
        let name = name.into();
        let (done_tx, done) = mpsc::channel();
        let shared = Arc::new(Shared {
            id: NEXT_QUEUE_ID.fetch_add(1, Relaxed),
            queue: Queue::new(config.capacity, config.max_bytes),
            owners: Owners::new(),
            error_reported: AtomicBool::new(false),
            #[cfg(test)]
            built_on_worker: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            worker: OnceLock::new(),
            progress: Mutex::new(()),
            progressed: Condvar::new(),
            name: name.clone(),
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
        Ok(QueuedSender {
            shared,
            config,
            done: Mutex::new(Some(done)),
            worker: Some(worker),
        })
    }

    /// The sending client's slot in this queue: found in the client's own
    /// cache, without a lock, after its first message.
    #[inline]
    fn slot(&self, client: &Arc<ClientDefaults>) -> u32 {
        let id = self.shared.id;
        for entry in &client.slots {
            let cached = entry.load(Relaxed);
            if cached >> 32 == id {
                return cached as u32;
            }
        }
        self.add_client(client)
    }

    #[cold]
    fn add_client(&self, client: &Arc<ClientDefaults>) -> u32 {
        let slot = self.shared.owners.add(client);
        let tagged = self.shared.id << 32 | u64::from(slot);
        // An empty cache entry, or else one chosen by queue (a client
        // sending through more queues than entries finds the rest under
        // the lock of `add`, still in the same slot).
        let entry = client
            .slots
            .iter()
            .find(|e| e.load(Relaxed) == 0)
            .unwrap_or(&client.slots[self.shared.id as usize % client.slots.len()]);
        entry.store(tagged, Relaxed);
        slot
    }

    #[inline]
    fn push(&self, stored: Stored) -> Result<(), SendError> {
        let shared = &*self.shared;
        let bytes = stored.heap_bytes();
        let owner = stored.owner;
        match shared.queue.push(owner, bytes, |items| items.push(stored)) {
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
            Err(write) => self.push_when_room(owner, bytes, write),
        }
    }

    #[cold]
    fn push_when_room(
        &self,
        owner: u32,
        bytes: usize,
        mut write: impl FnOnce(&mut Vec<Stored>),
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
            match self.shared.queue.push(owner, bytes, write) {
                Ok(_) => {
                    self.shared.wake_worker();
                    return Ok(());
                }
                Err(back) => write = back,
            }
        }
        Err(SendError::full())
    }

    /// Client slots in use.
    #[cfg(test)]
    pub(crate) fn live_slots(&self) -> usize {
        self.shared.owners.live()
    }

    /// Messages its worker has assembled so far.
    #[cfg(test)]
    pub(crate) fn built_on_worker(&self) -> u64 {
        self.shared.built_on_worker.load(Relaxed)
    }

    /// `(delivered, failed, dropped)` and the number accepted: of every
    /// client (`None`) or of one.
    fn delivery_of(&self, client: Option<ClientId>) -> Delivery {
        let shared = &*self.shared;
        // Read the settled counts first: a message settles after it is
        // accepted, so `queued` never goes negative.
        let ((delivered, failed, dropped), accepted) = match client {
            None => (shared.owners.totals(), shared.queue.accepted()),
            Some(client) => match shared.owners.find(client) {
                Some(slot) => (
                    shared.owners.counts(slot).read(),
                    shared.queue.accepted_by(slot),
                ),
                None => ((0, 0, 0), 0),
            },
        };
        Delivery {
            delivered,
            failed,
            dropped,
            queued: accepted.saturating_sub(delivered + failed + dropped),
            ignored: 0,
        }
    }
}

impl Sender for QueuedSender {
    /// Queues a message made without a client.
    fn send(&self, message: Message) -> Result<(), SendError> {
        self.push(Stored::message(message))
    }

    /// Queues the record as it is (its borrowed text copied in).
    #[inline]
    fn send_record(&self, record: Record<'_>) -> Result<(), SendError> {
        let slot = self.slot(record.client);
        self.push(record.into_stored(slot))
    }

    fn flush(&self) -> Result<(), SendError> {
        self.flush_timeout(self.config.flush_timeout)
    }

    /// Waits until everything accepted so far is delivered or lost.
    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        let shared = &*self.shared;
        let target = shared.queue.accepted();
        let deadline = Instant::now() + timeout;
        shared.wake_worker();
        let mut guard = shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while shared.settled() < target {
            let now = Instant::now();
            if now >= deadline {
                let waiting = target - shared.settled().min(target);
                return Err(SendError::new(
                    SendErrorKind::Other,
                    format!(
                        "{} still had {waiting} message(s) waiting after {timeout:?}",
                        shared.name
                    ),
                ));
            }
            // Short waits: a wake-up can slip between the check and the wait.
            let wait = (deadline - now).min(Duration::from_millis(10));
            guard = shared
                .progressed
                .wait_timeout(guard, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// The counts of every client's messages, and of those sent directly.
    fn delivery(&self) -> Option<Delivery> {
        Some(self.delivery_of(None))
    }

    fn delivery_for(&self, client: ClientId) -> Option<Delivery> {
        Some(self.delivery_of(Some(client)))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl Drop for QueuedSender {
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
    let mut spare: Vec<Stored> = Vec::new();
    let mut clients = Clients::default();
    // Slots of clients that are gone are looked for when the queue idles,
    // and whenever the table has doubled since the last look.
    let mut recycle_at = 64;
    let mut quiet_rounds = 0;
    // The most ever taken from a shard at once.
    let mut most: usize = 0;
    loop {
        // Read before taking: everything sent before the sender was dropped
        // is then taken in this round.
        let closing = shared.closing.load(SeqCst);
        let mut moved = 0;
        for shard in 0..shared.queue.shard_count() {
            // The spare becomes the shard's buffer: room for twice the
            // largest batch so far (at least a burst's worth), allocated
            // here rather than by a caller pushing into it.
            spare.reserve(most.saturating_mul(2).max(1_024).min(capacity));
            let taken = shared.queue.take(shard, &mut spare);
            if taken == 0 {
                continue;
            }
            most = most.max(taken);
            // What their senders charged, given back once they are dealt with.
            let bytes: usize = spare.iter().map(Stored::heap_bytes).sum();
            moved += taken;
            for stored in &spare {
                clients.refresh(&shared.owners, stored.owner);
            }
            for items in spare.chunks(max_batch) {
                let batch = Batch {
                    items,
                    clients: &clients,
                };
                guarded(outcome, &batch, || transport.deliver(&batch, outcome));
            }
            spare.clear();
            #[cfg(test)]
            shared
                .built_on_worker
                .store(crate::message::BUILT.with(std::cell::Cell::get), Relaxed);
            shared.queue.release(taken, bytes);
            notify(outcome);
        }
        if shared.owners.live() >= recycle_at {
            recycle(shared, &mut clients);
            recycle_at = (shared.owners.live() * 2).max(64);
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
            let _ = panic::catch_unwind(AssertUnwindSafe(|| transport.idle(outcome)));
            recycle(shared, &mut clients);
            notify(outcome);
        }
    }
    let deadline = Instant::now() + drain_timeout;
    let _ = panic::catch_unwind(AssertUnwindSafe(|| transport.close(outcome, deadline)));
    notify(outcome);
}

/// Gives back the slots of clients that are gone and whose messages the
/// transport has all dealt with.
fn recycle(shared: &Shared, clients: &mut Clients) {
    shared
        .owners
        .recycle(clients, |slot, settled| shared.queue.retire(slot, settled));
}

/// Runs a transport's delivery; a panic in it counts what the batch had not
/// yet settled as failed (its last messages) rather than killing the worker.
fn guarded(outcome: &Outcome, batch: &Batch<'_>, call: impl FnOnce()) {
    let shared = &*outcome.shared;
    let before = shared.settled();
    if panic::catch_unwind(AssertUnwindSafe(call)).is_err() {
        let settled = (shared.settled() - before) as usize;
        let error = SendError::new(SendErrorKind::Other, "the transport panicked");
        for item in batch.iter().skip(settled) {
            outcome.failed(item.ticket(), &error);
        }
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
        fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
            if !self.panicked {
                self.panicked = true;
                panic!("transport bug");
            }
            outcome.delivered_all(batch);
        }
    }

    #[test]
    fn a_panicking_transport_costs_its_batch_and_the_worker_lives_on() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = reports.clone();
        crate::report::set_handler(move |text: &str| sink.lock().unwrap().push(text.to_owned()));
        let sender = QueuedSender::new(
            "test",
            PanicsOnce { panicked: false },
            QueueConfig::default(),
        )
        .unwrap();
        sender.send(Message::new("counter", "t")).unwrap();
        let _ = sender.flush_timeout(Duration::from_secs(5));
        sender.send(Message::new("counter", "t")).unwrap();
        sender.flush_timeout(Duration::from_secs(5)).unwrap();
        let delivery = sender.delivery().unwrap();
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
