//! Background delivery: a bounded queue in front of a worker thread that
//! encodes and transmits, so the caller never waits for I/O.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Delivery, SendError, SendErrorKind};
use crate::Message;

/// The worker side of a background sender: turns batches of messages into
/// I/O. Implemented by each network sender's transport.
pub(crate) trait Transport: Send + 'static {
    /// Delivers (or keeps for later) a batch, reporting each message's fate
    /// through `outcome`. Messages it keeps (a backlog while disconnected)
    /// are reported when they are finally delivered or dropped.
    fn deliver(&mut self, batch: &mut Vec<Message>, outcome: &Outcome);

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
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "metlog: {} failed to deliver: {error}; further failures are only counted \
                 (see Client::stats)",
                self.shared.name
            );
        }
    }
}

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
    block_when_full: Option<Duration>,
    flush_timeout: Duration,
    drain_timeout: Duration,
    max_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 65_536,
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
        self.capacity = capacity.max(1);
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

#[derive(Debug)]
struct Shared {
    name: &'static str,
    accepted: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    error_reported: AtomicBool,
    /// Signalled whenever the worker has finished a batch.
    progress: Mutex<()>,
    progressed: Condvar,
}

impl Shared {
    fn settled(&self) -> u64 {
        self.delivered.load(Relaxed) + self.failed.load(Relaxed) + self.dropped.load(Relaxed)
    }
}

/// The queue and worker behind every network sender.
#[derive(Debug)]
pub(crate) struct Background {
    queue: Option<SyncSender<Message>>,
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
        let (queue, receiver) = mpsc::sync_channel(config.capacity);
        let (done_tx, done) = mpsc::channel();
        let shared = Arc::new(Shared {
            name,
            accepted: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            error_reported: AtomicBool::new(false),
            progress: Mutex::new(()),
            progressed: Condvar::new(),
        });
        let outcome = Outcome {
            shared: shared.clone(),
        };
        let max_batch = config.max_batch;
        let drain_timeout = config.drain_timeout;
        let worker = std::thread::Builder::new()
            .name(format!("metlog-{name}"))
            .spawn(move || {
                run(transport, &receiver, &outcome, max_batch, drain_timeout);
                let _ = done_tx.send(());
            })?;
        Ok(Background {
            queue: Some(queue),
            shared,
            config,
            done: Mutex::new(Some(done)),
            worker: Some(worker),
        })
    }

    /// Queues a message without waiting (or waiting up to the configured
    /// time for room).
    pub(crate) fn send(&self, message: Message) -> Result<(), SendError> {
        let Some(queue) = &self.queue else {
            return Err(SendError::closed());
        };
        let mut message = message;
        let deadline = self.config.block_when_full.map(|t| Instant::now() + t);
        loop {
            match queue.try_send(message) {
                Ok(()) => {
                    self.shared.accepted.fetch_add(1, Relaxed);
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => match deadline {
                    Some(deadline) if Instant::now() < deadline => {
                        message = back;
                        std::thread::yield_now();
                    }
                    _ => return Err(SendError::full()),
                },
                Err(TrySendError::Disconnected(_)) => return Err(SendError::closed()),
            }
        }
    }

    /// Waits until everything accepted so far is delivered or failed.
    pub(crate) fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        let target = self.shared.accepted.load(Relaxed);
        let deadline = Instant::now() + timeout;
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

    pub(crate) fn delivery(&self) -> Delivery {
        // Read the settled counts first: a message settles after it is
        // accepted, so `queued` never goes negative.
        let delivered = self.shared.delivered.load(Relaxed);
        let failed = self.shared.failed.load(Relaxed);
        let dropped = self.shared.dropped.load(Relaxed);
        let accepted = self.shared.accepted.load(Relaxed);
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
    /// Closes the queue and lets the worker drain it, waiting at most the
    /// drain timeout.
    fn drop(&mut self) {
        drop(self.queue.take());
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

fn run(
    mut transport: impl Transport,
    receiver: &Receiver<Message>,
    outcome: &Outcome,
    max_batch: usize,
    drain_timeout: Duration,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        match receiver.recv_timeout(IDLE_TICK) {
            Ok(message) => batch.push(message),
            Err(RecvTimeoutError::Timeout) => {
                guarded(outcome, 0, || transport.idle(outcome));
                notify(outcome);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let size = batch.len() as u64;
        guarded(outcome, size, || transport.deliver(&mut batch, outcome));
        batch.clear();
        notify(outcome);
    }
    let deadline = Instant::now() + drain_timeout;
    guarded(outcome, 0, || transport.close(outcome, deadline));
    notify(outcome);
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
