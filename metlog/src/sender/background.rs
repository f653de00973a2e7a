//! Background delivery: a bounded queue (sharded per calling thread, see
//! `queue`) in front of a worker thread that encodes and
//! transmits, so the caller never waits for I/O.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::queue::Queue;
use super::transport::{Batch, Outcome, Tally, Transport};
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::record::{ClientDefaults, Record, Stored};

/// The default memory ceiling of a queue (and of a stream sender's backlog).
pub(crate) const DEFAULT_MAX_BYTES: usize = 32 << 20;

/// How a background sender queues; every network sender takes one.
///
/// ```
/// use std::time::Duration;
/// use metlog::sender::{QueueConfig, SenderOptions, UdpSender};
/// let config = QueueConfig::default()
///     .capacity(100_000)                       // messages waiting at most
///     .block_when_full(Duration::from_millis(1)) // instead of dropping at once
///     .flush_timeout(Duration::from_secs(2));
/// let sender = UdpSender::with_options("127.0.0.1:5565", SenderOptions::default().queue(config))?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct QueueConfig {
    capacity: usize,
    pub(crate) max_bytes: usize,
    block_when_full: Option<Duration>,
    pub(crate) flush_timeout: Duration,
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

    /// How long the worker keeps draining the queue once the sender is
    /// dropped (default 5 s). The drop itself never waits: the thread that
    /// drops the last handle goes on at once, and the worker drains, closes
    /// its transport and stops on its own — or, stuck past this time (a
    /// hung transport), is left behind. The process's exit waits for such a
    /// worker, within this time and the exit's own budget, so what it
    /// drains is not lost when the program ends just after the drop.
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

/// Hands out queue ids (0 means "not a worker", see `process::worker_of`).
static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

struct Shared {
    id: u64,
    queue: Queue<Stored>,
    /// The transport's counts, the sender's name and reports (shared with
    /// the worker's [`Outcome`]).
    tally: Arc<Tally>,
    /// Messages the worker assembled (tests check the record road builds
    /// none).
    #[cfg(test)]
    built_on_worker: AtomicU64,
    /// Set by the worker before it parks for long; a caller that finds it
    /// set after filling an empty shard wakes the worker.
    sleeping: AtomicBool,
    worker: OnceLock<Thread>,
    /// Signalled whenever the worker has finished a batch.
    progress: Mutex<()>,
    progressed: Condvar,
    /// Forks the process had been through when the worker started: in a
    /// later child it does not exist.
    forks: u64,
    /// How many messages a flush of this queue that timed out during the
    /// exit work said were waiting (0: none timed out).
    exit_reported: AtomicU64,
    /// The worker's leave to write; given up when the sender's drop gave
    /// up waiting for the worker (the exit does not wait for it again).
    leave: Arc<crate::process::LeaveSlot>,
    /// How it queues (its flush timeout also bounds its flush at exit).
    config: QueueConfig,
    /// Rounds the worker has begun: a round takes everything every shard
    /// holds, so one begun after a flush was called takes all the messages
    /// sent before it.
    rounds_begun: AtomicU64,
    /// Rounds the worker has finished, and how many messages it had handed
    /// to the transport when it finished the last one.
    rounds_done: AtomicU64,
    handed_through: AtomicU64,
    /// Set when the sender is dropped (the drop's time and the drain
    /// timeout), or by the exit work once the queue is flushed: the worker
    /// closes its transport by this deadline (so what the transport holds —
    /// ZeroMQ's own queue — leaves before the process ends). Either way it
    /// takes one last round, closes its transport and stops.
    close: OnceLock<Instant>,
    /// Set when the sender was dropped (`close` is then its drain deadline).
    dropped: AtomicBool,
    /// Set by the worker when it has stopped.
    stopped: AtomicBool,
}

impl Shared {
    /// Waits on the worker's progress until `done()` or `deadline`;
    /// whether it was done.
    fn wait_for(&self, deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
        let mut guard = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        while !done() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Short waits: a wake-up can slip between the check and the wait.
            let wait = (deadline - now).min(Duration::from_millis(10));
            guard = self
                .progressed
                .wait_timeout(guard, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Whether the sender was dropped and its worker, still not stopped,
    /// is past its drain timeout — stuck in a lookup or a write: left to
    /// finish (or not) on its own; the exit does not wait for it (again).
    fn drain_overdue(&self) -> bool {
        if self.leave.given_up() {
            return true;
        }
        let overdue = self.dropped.load(SeqCst)
            && !self.stopped.load(SeqCst)
            && self.close.get().is_some_and(|&c| c <= Instant::now());
        if overdue {
            self.leave.give_up();
        }
        overdue
    }

    fn wake_worker(&self) {
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }

    /// Waits until everything accepted so far is delivered or lost, at
    /// most `timeout`.
    fn wait_settled(&self, timeout: Duration) -> Result<(), SendError> {
        if on_own_worker(self) {
            // A transport (or something it calls, or a router's thread
            // flushing for it) flushing its own sender would wait for
            // itself.
            return Err(SendError::new(
                SendErrorKind::Other,
                format!(
                    "{}: flush called from the sender's own worker thread; not waited for",
                    self.tally.name
                ),
            ));
        }
        // Everything accepted so far settled: ours with it.
        if self.tally.settled() >= self.queue.accepted() {
            return Ok(());
        }
        // Otherwise: the first round begun from now on takes every message
        // sent before this call; once it is done, they are all among the
        // first `handed_through` handed to the transport, which reports in
        // the order it was handed messages: they are settled once that many
        // are. (`accepted` would not do: on a busy sender, newer messages
        // of other threads may be taken in a later round, after ours.)
        let round = self.rounds_begun.load(SeqCst) + 1;
        let deadline = Instant::now() + timeout;
        self.wake_worker();
        let mut through = None;
        let settled = self.wait_for(deadline, || {
            if through.is_none() && self.rounds_done.load(SeqCst) >= round {
                through = Some(self.handed_through.load(SeqCst));
            }
            through.is_some_and(|t| self.tally.settled() >= t)
                || self.tally.settled() >= self.queue.accepted()
        });
        if settled {
            return Ok(());
        }
        // Everything still unsettled (of this call's and newer).
        let waiting = self
            .queue
            .accepted()
            .saturating_sub(self.tally.settled())
            .max(1);
        if crate::process::in_exit_work() {
            self.exit_reported.store(waiting, SeqCst);
        }
        let name = &self.tally.name;
        Err(SendError::new(
            SendErrorKind::Other,
            format!("{name} still had {waiting} message(s) waiting after {timeout:?}"),
        ))
    }
}

/// Every queue started in this process, for the exit work (dead entries are
/// pruned as new queues start).
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// The live-queue list, if it can be had soon (it is held across forks, see
/// `process::ForkLock`; the wait is bounded all the same: the exit must not
/// hang on it).
fn live_queues() -> Option<MutexGuard<'static, Vec<Weak<Shared>>>> {
    let deadline = Instant::now() + Duration::from_millis(100);
    loop {
        match LIVE.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

/// At exit, after the clients: flushes every queue of this process still
/// alive — a local client's, which `std::process::exit` never drops — by
/// `deadline`, and reports what could not be delivered.
fn deliver_queues_at_exit(deadline: Instant) {
    // A queue of a process this one was forked from has no worker here.
    let forks = crate::process::forks();
    let queues: Vec<Arc<Shared>> = live_queues()
        .map(|live| {
            let live = live.iter().filter_map(Weak::upgrade);
            live.filter(|queue| queue.forks == forks).collect()
        })
        .unwrap_or_default();
    for queue in &queues {
        if queue.exit_reported.load(SeqCst) > 0
            || queue.drain_overdue()
            || queue.tally.settled() >= queue.queue.accepted()
        {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if let Err(error) = queue.wait_settled(left.min(queue.config.flush_timeout)) {
            crate::report::report(format_args!(
                "at exit, sender {}: {error}; those messages are lost",
                queue.tally.name
            ));
        }
    }
    // Then each transport closes, delivering what it holds itself (ZeroMQ
    // sends from a queue of its own, which the end of the process would
    // discard), all by the same deadline. What is sent from now on is
    // refused: it could not leave.
    crate::process::close_queues();
    for queue in &queues {
        if queue.close.set(deadline).is_ok() {
            queue.wake_worker();
        }
    }
    // Once a queue's worker has stopped, what other threads sent while the
    // exit ran (after a flush's count was reported) and is still not
    // delivered is reported too — no message leaves the process counted
    // queued without a word.
    for queue in &queues {
        if !on_own_worker(queue) {
            // A dropped sender's worker drains until its own deadline.
            let until = queue.close.get().map_or(deadline, |&c| c.min(deadline));
            queue.wait_for(until, || queue.stopped.load(SeqCst));
        }
        if queue.drain_overdue() {
            continue;
        }
        let waiting = queue.queue.accepted().saturating_sub(queue.tally.settled());
        let said = queue.exit_reported.load(SeqCst);
        if waiting > said {
            crate::report::report(format_args!(
                "at exit, sender {} still had {} message(s) waiting{}; those messages are lost",
                queue.tally.name,
                waiting - said,
                if said > 0 {
                    " besides those said above, sent while the exit ran"
                } else {
                    ""
                }
            ));
        }
    }
    // Other threads may still be sending: no worker may be in the middle
    // of a write when the process ends (a peer would get half a line).
    let grace = Instant::now() + crate::process::EXIT_WRITE_GRACE;
    if !crate::process::stop_deliveries(deadline.max(grace)) {
        crate::report::report(format_args!(
            "at exit: a sender was still writing when the time for delivery ran out; \
             its peer may receive the last message cut off"
        ));
    }
}

/// A bounded queue and a worker thread in front of a [`Transport`]: the
/// sender every network sender of this crate is made of, and the way to
/// give a transport of your own the same road (see [`Transport`]).
///
/// The caller's cost is one compact record written into its thread's shard
/// of the queue; the envelope is read in place and encoded on the worker.
/// When the queue is full (in messages or in bytes, see [`QueueConfig`]) a
/// message is dropped and counted. What became of the accepted messages is
/// counted per sender ([`Sender::delivery`]); a client alone on the sender
/// sees those counts in [`Client::stats`](crate::Client::stats).
pub struct QueuedSender {
    shared: Arc<Shared>,
    /// Makes the transport anew: how the sender starts over in the child of
    /// a `fork()`, where its worker thread does not exist.
    factory: Arc<Factory>,
    /// The sender standing in for this one in the child of a fork (`None`
    /// inside: it could not start over).
    in_child: OnceLock<Option<Box<QueuedSender>>>,
}

/// Makes a transport (see [`QueuedSender::with_factory`]).
type Factory = dyn Fn() -> std::io::Result<Box<dyn Transport>> + Send + Sync;

impl std::fmt::Debug for QueuedSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedSender")
            .field("name", &self.shared.tally.name)
            .finish_non_exhaustive()
    }
}

impl QueuedSender {
    /// Starts the worker thread `metlog-<name>` around `transport`.
    ///
    /// In the child of a `fork()` such a sender cannot start over (its
    /// transport went with the parent's worker thread): there, messages
    /// fail, reported once. [`with_factory`](QueuedSender::with_factory)
    /// makes a sender that can.
    pub fn new(
        name: impl Into<String>,
        transport: impl Transport,
        config: QueueConfig,
    ) -> std::io::Result<QueuedSender> {
        // A factory that can make its transport once: the one given.
        let once = Mutex::new(Some(transport));
        Self::with_factory(
            name,
            move || {
                let mut once = once.lock().unwrap_or_else(PoisonError::into_inner);
                once.take()
                    .ok_or_else(|| std::io::Error::other("made without a factory"))
            },
            config,
        )
    }

    /// Like [`new`](QueuedSender::new), with the transport made by
    /// `factory` — and made anew in the child of a `fork()`, where the
    /// sender starts over with its own queue and worker thread (what the
    /// parent had queued stays the parent's to deliver). Every network
    /// sender of this crate is made this way.
    ///
    /// ```
    /// use metlog::sender::{Batch, Outcome, QueueConfig, QueuedSender, Transport};
    /// struct Discard;
    /// impl Transport for Discard {
    ///     fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
    ///         outcome.delivered(batch.len());
    ///     }
    /// }
    /// let sender = QueuedSender::with_factory("discard", || Ok(Discard), QueueConfig::default())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_factory<T, F>(
        name: impl Into<String>,
        factory: F,
        config: QueueConfig,
    ) -> std::io::Result<QueuedSender>
    where
        T: Transport,
        F: Fn() -> std::io::Result<T> + Send + Sync + 'static,
    {
        let factory: Arc<Factory> =
            Arc::new(move || factory().map(|t| Box::new(t) as Box<dyn Transport>));
        Self::start(name.into(), factory, config)
    }

    fn start(
        name: String,
        factory: Arc<Factory>,
        config: QueueConfig,
    ) -> std::io::Result<QueuedSender> {
        let transport = factory()?;
        crate::process::watch_forks();
        let shared = Arc::new(Shared {
            id: NEXT_QUEUE_ID.fetch_add(1, Relaxed),
            queue: Queue::new(config.capacity, config.max_bytes),
            tally: Arc::new(Tally {
                name: name.clone(),
                ..Tally::default()
            }),
            #[cfg(test)]
            built_on_worker: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            worker: OnceLock::new(),
            progress: Mutex::new(()),
            progressed: Condvar::new(),
            forks: crate::process::forks(),
            config,
            exit_reported: AtomicU64::new(0),
            leave: Arc::default(),
            rounds_begun: AtomicU64::new(0),
            rounds_done: AtomicU64::new(0),
            handed_through: AtomicU64::new(0),
            close: OnceLock::new(),
            dropped: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        crate::process::hold_across_fork(crate::process::ForkLock::LiveQueues, || {
            Box::new(LIVE.lock().unwrap_or_else(PoisonError::into_inner))
        });
        if let Some(mut live) = live_queues() {
            live.retain(|queue| queue.strong_count() > 0);
            live.push(Arc::downgrade(&shared));
        }
        crate::process::on_exit(crate::process::ExitWork::Queues, deliver_queues_at_exit);
        let outcome = Outcome::new(shared.tally.clone());
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name(format!("metlog-{name}"))
            .spawn(move || {
                crate::process::mark_own_thread();
                crate::process::set_worker_of(worker_shared.id);
                run(transport, &worker_shared, &outcome);
                worker_shared.stopped.store(true, SeqCst);
                notify(&worker_shared);
            })?;
        // Not joined: it stops on its own once the sender is dropped.
        let _ = shared.worker.set(worker.thread().clone());
        Ok(QueuedSender {
            shared,
            factory,
            in_child: OnceLock::new(),
        })
    }

    /// The sender doing the work in this process: this one, or in the child
    /// of a fork the one standing in for it (started on first use).
    #[inline]
    fn here(&self) -> Result<&QueuedSender, SendError> {
        if crate::process::forks() == self.shared.forks {
            return Ok(self);
        }
        self.here_after_fork()
    }

    #[cold]
    fn here_after_fork(&self) -> Result<&QueuedSender, SendError> {
        let name = &self.shared.tally.name;
        let child = self.in_child.get_or_init(|| {
            let config = self.shared.config.clone();
            Self::start(name.clone(), self.factory.clone(), config)
                .ok()
                .map(Box::new)
        });
        match child {
            Some(child) => child.here(),
            None => Err(SendError::new(
                SendErrorKind::Other,
                format!(
                    "{name}: cannot start over in the child of a fork (made without a transport \
                     factory, or the factory failed)"
                ),
            )),
        }
    }

    /// Queues what `write` adds (one record of `client`, holding `bytes`
    /// on the heap): written straight into the shard, not built first.
    #[inline]
    fn push(
        &self,
        client: &Arc<ClientDefaults>,
        bytes: usize,
        write: impl FnOnce(&mut Vec<Stored>, u32),
    ) -> Result<(), SendError> {
        let shared = &*self.shared;
        match shared.queue.push(client, bytes, write) {
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
            Err(write) => self.push_when_room(client, bytes, write),
        }
    }

    #[cold]
    fn push_when_room(
        &self,
        client: &Arc<ClientDefaults>,
        bytes: usize,
        mut write: impl FnOnce(&mut Vec<Stored>, u32),
    ) -> Result<(), SendError> {
        let Some(wait) = self.shared.config.block_when_full else {
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
            match self.shared.queue.push(client, bytes, write) {
                Ok(_) => {
                    self.shared.wake_worker();
                    return Ok(());
                }
                Err(back) => write = back,
            }
        }
        Err(SendError::full())
    }

    /// Messages its worker has assembled so far.
    #[cfg(test)]
    pub(crate) fn built_on_worker(&self) -> u64 {
        self.shared.built_on_worker.load(Relaxed)
    }
}

impl Sender for QueuedSender {
    /// Queues the record as it is (its borrowed text copied in).
    #[inline]
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        let this = self.here()?;
        if !std::ptr::eq(this, self) {
            return this.send(record);
        }
        if on_own_worker(&self.shared) {
            return Err(fed_back());
        }
        if crate::process::queues_closed() {
            return Err(after_exit());
        }
        // No worker should meet (encode, drop) a value nested too deep.
        if record.nests_too_deep() {
            return Err(too_deep());
        }
        let bytes = record.heap_bytes();
        let client = record.client;
        self.push(client, bytes, move |items, at| {
            items.push(record.into_stored(at))
        })
    }

    fn flush(&self) -> Result<(), SendError> {
        self.flush_timeout(self.shared.config.flush_timeout)
    }

    /// Waits until everything accepted so far is delivered or lost.
    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        // A sender that could not start over in a fork's child refused its
        // messages there (counted, reported): nothing waits to be flushed.
        let Ok(this) = self.here() else {
            return Ok(());
        };
        this.shared.wait_settled(timeout)
    }

    /// What became of the messages accepted so far (in the child of a
    /// fork where the sender could not start over: none was).
    fn delivery(&self) -> Option<Delivery> {
        let Ok(this) = self.here() else {
            return Some(Delivery::default());
        };
        let shared = &*this.shared;
        // The settled counts before the accepted: a message settles after
        // it is accepted, so `queued` never goes negative.
        let tally = &shared.tally;
        let (delivered, failed, dropped) = (
            tally.delivered.load(SeqCst),
            tally.failed.load(SeqCst),
            tally.dropped.load(SeqCst),
        );
        let accepted = shared.queue.accepted();
        Some(Delivery {
            delivered,
            failed,
            dropped,
            queued: accepted.saturating_sub(delivered + failed + dropped),
            ignored: 0,
            queue: shared.id,
            // Who sent, read last: a message's client is noted before it
            // is accepted, so every message counted above is of these.
            sent_by: shared.queue.sole_client(),
        })
    }
}

impl Drop for QueuedSender {
    /// Tells the worker to drain the queue within the drain timeout, close
    /// its transport and stop — without waiting for it: the thread that
    /// drops the last handle (a request thread, when a configuration reload
    /// replaced its client) is never blocked by a peer that stalls. The
    /// process's exit still waits for such a worker (within the exit's
    /// budget and the drain timeout), so what it drains is not lost at exit.
    fn drop(&mut self) {
        if crate::process::forks() != self.shared.forks {
            // In the child of a fork: this worker does not exist here (the
            // one standing in for it, if any, drains on its own drop).
            return;
        }
        let shared = &*self.shared;
        if shared
            .close
            .set(Instant::now() + shared.config.drain_timeout)
            .is_ok()
        {
            shared.dropped.store(true, SeqCst);
        }
        shared.wake_worker();
    }
}

/// Whether this thread is `shared`'s own worker (its transport sending
/// through its own sender).
#[inline]
fn on_own_worker(shared: &Shared) -> bool {
    crate::process::worker_of() == shared.id
}

/// A message a transport sent through its own sender: it would feed the
/// queue it is draining, one message per batch, for ever.
#[cold]
fn fed_back() -> SendError {
    SendError::new(
        SendErrorKind::Full,
        "a message sent from this sender's own worker (its transport sending through it) was \
         dropped: it would feed itself",
    )
}

/// A message sent after the exit work closed the queues.
#[cold]
fn after_exit() -> SendError {
    SendError::new(
        SendErrorKind::Other,
        "sent after metlog's delivery at exit had run (from another thread, or an exit handler \
         registered before the client was set): not delivered",
    )
}

/// A message with a field value nested too deep for the worker.
#[cold]
fn too_deep() -> SendError {
    SendError::new(
        SendErrorKind::Encode,
        format!(
            "a field value nests deeper than {} levels; the message was not queued",
            crate::value::MAX_NESTING
        ),
    )
}

/// How long the worker sleeps between idle calls to the transport.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// After finding the queue empty the worker naps this long, a few times,
/// without asking to be woken: under load, messages gather into batches and
/// callers never pay for a wake-up.
const NAP: Duration = Duration::from_micros(200);
const NAPS: u32 = 5;

/// The worker's own state between rounds.
struct Worker<'a> {
    transport: Box<dyn Transport>,
    shared: &'a Shared,
    outcome: &'a Outcome,
    /// The buffer swapped with a shard's, and the clients it reads.
    spare: Vec<Stored>,
    clients: Vec<Arc<ClientDefaults>>,
    /// The most ever taken from a shard at once.
    most: usize,
    /// Messages handed to the transport so far.
    handed: u64,
}

fn run(transport: Box<dyn Transport>, shared: &Shared, outcome: &Outcome) {
    let max_batch = shared.config.max_batch;
    let mut worker = Worker {
        transport,
        shared,
        outcome,
        spare: Vec::new(),
        clients: Vec::new(),
        most: 0,
        handed: 0,
    };
    let mut quiet_rounds = 0;
    loop {
        // Read before taking: everything accepted before the sender was
        // dropped, or before the exit work flushed this queue (new messages
        // are refused since), is then taken in this round.
        let close = shared.close.get().copied();
        let Some(moved) = worker.round() else {
            return;
        };
        if let Some(deadline) = close {
            // What the transport holds must leave now (ZeroMQ's own queue).
            worker.with_leave(|transport, outcome| transport.close(outcome, deadline));
            worker.fail_left();
            return;
        }
        quiet_rounds = if moved > 0 { 0 } else { quiet_rounds + 1 };
        // Taking a shard moves its cache lines to this thread, and the
        // caller pays to get them back: let small batches grow first.
        if moved >= max_batch {
            continue;
        } else if quiet_rounds <= NAPS {
            std::thread::sleep(NAP);
        } else {
            worker.sleep();
        }
    }
}

impl Worker<'_> {
    /// Takes every shard once and delivers what it held; how many messages
    /// that was, or `None` when the process's exit forbids starting a write.
    fn round(&mut self) -> Option<usize> {
        let shared = self.shared;
        shared.rounds_begun.fetch_add(1, SeqCst);
        let mut moved = 0;
        for shard in 0..shared.queue.shard_count() {
            // The spare becomes the shard's buffer: room for twice the
            // largest batch so far (at least a burst's worth), allocated
            // here rather than by a caller pushing into it.
            self.spare.reserve(
                self.most
                    .saturating_mul(2)
                    .max(1_024)
                    .min(self.shared.config.capacity),
            );
            // And room for a few clients: a caller never allocates to
            // note whose its record is.
            self.clients.reserve(4);
            let taken = shared.queue.take(shard, &mut self.spare, &mut self.clients);
            if taken == 0 {
                continue;
            }
            self.most = self.most.max(taken);
            moved += taken;
            // What their senders charged, given back once they are dealt with.
            let bytes: usize = self.spare.iter().map(Stored::heap_bytes).sum();
            let delivered_all = self.deliver_taken();
            self.spare.clear();
            self.clients.clear();
            #[cfg(test)]
            shared
                .built_on_worker
                .store(crate::message::BUILT.with(std::cell::Cell::get), Relaxed);
            shared.queue.release(taken, bytes);
            notify(shared);
            delivered_all?;
        }
        shared.handed_through.store(self.handed, SeqCst);
        shared.rounds_done.fetch_add(1, SeqCst);
        Some(moved)
    }

    /// Hands what was taken to the transport, batch by batch; `None` when
    /// the process's exit work has flushed and no write may start (what is
    /// left stays counted queued).
    fn deliver_taken(&mut self) -> Option<()> {
        for items in self.spare.chunks(self.shared.config.max_batch) {
            let _delivering = crate::process::delivering(&self.shared.leave)?;
            self.outcome.open(items.len());
            self.handed += items.len() as u64;
            let batch = Batch::new(items, &self.clients);
            let (transport, outcome) = (&mut self.transport, self.outcome);
            // A panic costs the messages of the batch not reported, rather
            // than the worker.
            if panic::catch_unwind(AssertUnwindSafe(|| transport.deliver(&batch, outcome))).is_err()
            {
                let error = SendError::new(SendErrorKind::Other, "the transport panicked");
                outcome.failed(items.len().min(outcome.unreported()), &error);
            }
        }
        Some(())
    }

    /// Parks until woken or the idle tick, then lets an idle transport
    /// retry what it holds.
    fn sleep(&mut self) {
        let shared = self.shared;
        shared.sleeping.store(true, Relaxed);
        fence(SeqCst);
        if shared.queue.is_empty() && shared.close.get().is_none() {
            std::thread::park_timeout(IDLE_TICK);
        }
        shared.sleeping.store(false, Relaxed);
        if shared.queue.is_empty() {
            self.with_leave(|transport, outcome| transport.idle(outcome));
        }
    }

    /// Runs `work` on the transport if a write may start now (a panic in it
    /// is caught), then tells those waiting on the worker.
    fn with_leave(&mut self, work: impl FnOnce(&mut dyn Transport, &Outcome)) {
        if let Some(_delivering) = crate::process::delivering(&self.shared.leave) {
            let (transport, outcome) = (&mut *self.transport, self.outcome);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| work(transport, outcome)));
        }
        notify(self.shared);
    }

    /// After the last round, the transport closed: what a sender pushed
    /// while that round ran at exit (it had passed the check that refuses
    /// messages once the queues close) is counted failed — and reported —
    /// rather than left queued for ever.
    fn fail_left(&mut self) {
        let error = SendError::new(
            SendErrorKind::Other,
            "queued as the process ended, after metlog's last delivery at exit: not delivered",
        );
        // Everything the worker took it handed to the transport: the rest
        // is still in the shards.
        let left = self.shared.queue.accepted().saturating_sub(self.handed) as usize;
        self.outcome.open(left);
        self.outcome.failed(left, &error);
        notify(self.shared);
    }
}

fn notify(shared: &Shared) {
    let _guard = shared
        .progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    shared.progressed.notify_all();
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
            outcome.delivered(batch.len());
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
        sender
            .send(crate::Message::new("counter", "t").into())
            .unwrap();
        let _ = sender.flush_timeout(Duration::from_secs(5));
        sender
            .send(crate::Message::new("counter", "t").into())
            .unwrap();
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
