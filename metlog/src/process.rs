//! The process around the client: work at exit, and life after `fork()`.
//!
//! - Exit: the C runtime runs `atexit` handlers on every way out of a
//!   program — returning from `main`, `std::process::exit`, a panic in
//!   `main` — while its other threads (the senders' workers) still run.
//! - Re-entry: what this thread is in the middle of ([`Within`]), in one
//!   thread-local, so that metlog reached again from its own code on the
//!   same thread (a sender that logs through the `log` bridge, a report
//!   handler that sends, a panic while reporting a panic) stops instead of
//!   recursing.
//! - Fork: the child of a `fork()` has only the thread that forked; the
//!   senders' worker threads are gone and their queues may be held by
//!   threads that do not exist there. A `pthread_atfork` handler counts
//!   forks and notes the child's process id, so background senders start
//!   over in the child (see `QueuedSender`) and messages carry the child's
//!   `metlog_pid`.

// The FFI calls of this module: registering handlers with the C runtime
// (`atexit`, `pthread_atfork` have no safe wrapper in std).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long delivery at exit may take, for all clients and senders together:
/// stuck ones must not add up.
pub(crate) const EXIT_BUDGET: Duration = Duration::from_secs(5);

/// How long the exit waits for a write in progress once the budget is spent
/// (a stuck sender has been reported by then).
pub(crate) const EXIT_WRITE_GRACE: Duration = Duration::from_millis(50);

/// Work done at exit, in this order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ExitWork {
    /// Flush the clients that outlive `main` (global, named): their senders,
    /// queued or not.
    Clients = 0,
    /// Flush every background queue still alive (a local client's, when the
    /// process ends by `std::process::exit` and never drops it).
    Queues = 1,
}

/// What runs at exit, by [`ExitWork`] (each set once); every piece gets the
/// deadline of the whole exit.
static AT_EXIT: [OnceLock<fn(Instant)>; 2] = [OnceLock::new(), OnceLock::new()];

/// Set while the exit work runs.
static IN_EXIT_WORK: AtomicBool = AtomicBool::new(false);

/// When the exit work must be done, once it has begun.
static EXIT_DEADLINE: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

/// The time the exit work must be done by, once the process is exiting
/// (`None` before, and in the child of a fork made since).
pub(crate) fn exit_deadline() -> Option<Instant> {
    if !in_exit_work() {
        return None;
    }
    *EXIT_DEADLINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `work` when the process exits, in its [`ExitWork`] place (the first
/// `work` given for a place: later calls do nothing).
pub(crate) fn on_exit(place: ExitWork, work: fn(Instant)) {
    let _ = AT_EXIT[place as usize].set(work);
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        #[cfg(unix)]
        // SAFETY: `at_exit` is an `extern "C" fn()` with no arguments that
        // never unwinds (it catches every panic), as `atexit` requires;
        // registering has no other precondition.
        let _ = unsafe { libc::atexit(at_exit) };
    });
}

/// Whether the exit work is running (a flush timing out now is reported by
/// it).
pub(crate) fn in_exit_work() -> bool {
    IN_EXIT_WORK.load(Ordering::SeqCst)
}

#[cfg(unix)]
extern "C" fn at_exit() {
    // Unwinding out of an `extern "C"` function aborts: nothing may.
    let _ = std::panic::catch_unwind(|| run_exit_work(|| ()));
}

/// The last flush guard's flush: when it began, and when it ended (`None`
/// while it runs).
static GUARD_FLUSH: std::sync::Mutex<Option<(Instant, Option<Instant>)>> =
    std::sync::Mutex::new(None);

/// A flush guard whose flush ended at most this long before the exit began
/// was dropped as `main` ended: the exit's budget counts from its start.
const GUARD_GAP: Duration = Duration::from_secs(1);

/// A flush guard begins its flush: the time it may take when the exit work
/// is running (what is left of the exit's budget), `None` otherwise (its
/// sender's own flush timeout).
pub(crate) fn guard_flush_begins() -> Option<Duration> {
    if let Some(deadline) = exit_deadline() {
        return Some(deadline.saturating_duration_since(Instant::now()));
    }
    // Never waited for (a fork's child may meet it held): a note missed
    // costs only the exit's sharing of the budget.
    if let Ok(mut last) = GUARD_FLUSH.try_lock() {
        *last = Some((Instant::now(), None));
    }
    None
}

/// A flush guard's flush has ended (see [`guard_flush_begins`]).
pub(crate) fn guard_flush_ended() {
    if let Ok(mut last) = GUARD_FLUSH.try_lock() {
        if let Some((_, ended)) = last.as_mut() {
            *ended = Some(Instant::now());
        }
    }
}

/// When the exit work must be done: [`EXIT_BUDGET`] from now, or from the
/// start of a flush guard's flush still running or just ended — a guard
/// dropped at the end of `main` and the exit after it share one budget.
fn exit_work_deadline() -> Instant {
    let now = Instant::now();
    let guard = GUARD_FLUSH.try_lock().ok().and_then(|last| *last);
    let start = match guard {
        Some((began, None)) => began,
        Some((began, Some(ended))) if now.saturating_duration_since(ended) <= GUARD_GAP => began,
        _ => now,
    };
    start + EXIT_BUDGET
}

/// Where this process's exit work is: the forks the process had been
/// through when it began (a fork's child has not begun its own), shifted
/// left by two, and [`BEGUN`] or [`DONE`].
static EXIT_WORK: AtomicU64 = AtomicU64::new(0);
const BEGUN: u64 = 1;
const DONE: u64 = 2;

/// The exit work, once per process, then `then`. The first of the C
/// runtime's exit and a termination signal ([`deliver_on_signals`]) runs
/// it; the other, coming while it runs, waits for it to finish rather than
/// letting the process end under it (a cut line, messages lost unsaid).
fn run_exit_work(then: impl FnOnce()) {
    let this = forks() << 2;
    let now = EXIT_WORK.load(Ordering::SeqCst);
    let begun_here = now & !3 == this && now & 3 != 0;
    if !begun_here
        && EXIT_WORK
            .compare_exchange(now, this | BEGUN, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        let _ = std::panic::catch_unwind(exit_work);
        // Before it is marked done: a signal's `then` ends the process
        // while the other path still waits.
        then();
        EXIT_WORK.store(this | DONE, Ordering::SeqCst);
        return;
    }
    // Begun by another thread: bounded, in case that thread is stuck.
    let deadline = Instant::now() + EXIT_BUDGET + Duration::from_secs(1);
    while EXIT_WORK.load(Ordering::SeqCst) == this | BEGUN && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    then();
}

fn exit_work() {
    let deadline = exit_work_deadline();
    *EXIT_DEADLINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(deadline);
    IN_EXIT_WORK.store(true, Ordering::SeqCst);
    for work in &AT_EXIT {
        if let Some(work) = work.get() {
            let _ = std::panic::catch_unwind(|| work(deadline));
        }
    }
}

/// Delivers what the clients queued when the process is asked to stop —
/// SIGTERM (systemd, Docker, Kubernetes) or SIGINT (Ctrl-C) — then ends it
/// as the signal would have: killed by that signal, so the exit status a
/// supervisor sees is unchanged. Call it once at startup, after setting up
/// the clients or before; later calls do nothing.
///
/// Without it, such a signal ends the process at once and what was queued
/// is lost (the exit work of [`set_global_client`](crate::set_global_client)
/// runs only when the process exits by itself). With it, delivery takes
/// what the exit takes — at most 5 s for all clients together — on a thread
/// of its own: the signal handler only wakes that thread, so whatever the
/// signal interrupts (a thread holding a lock, an allocation) is left to
/// finish. A second signal during the delivery ends the process at once.
/// A signal that comes while the process is already exiting (`main`
/// returned) lets that delivery finish. In the child of a `fork()`, which
/// has no delivery thread, the signals act as they would without this
/// call — unless the child calls it again, for a thread of its own.
///
/// It replaces the default action of SIGTERM and SIGINT; a program that
/// handles them itself (a graceful shutdown) should not call it, but flush
/// its clients ([`Client::flush`](crate::Client::flush)) as it shuts down.
///
/// ```no_run
/// metlog::set_global_client(metlog::Client::builder("svc").build()).unwrap();
/// metlog::deliver_on_signals()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub fn deliver_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::{flag, iterator::Signals, low_level};

    // The process whose thread delivers (0: none): a fork's child that
    // calls this again gets a thread of its own.
    static DELIVERED_BY: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let before = DELIVERED_BY.load(Ordering::SeqCst);
    if before == pid
        || DELIVERED_BY
            .compare_exchange(before, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return Ok(());
    }
    watch_forks();
    let signals = [SIGTERM, SIGINT];
    // Set by the first signal: the next one takes the default action.
    let stopping = Arc::new(AtomicBool::new(false));
    let registered = (|| {
        for signal in signals {
            // SAFETY: the action runs in the signal handler and calls only
            // async-signal-safe functions: `getpid`, an atomic load, and
            // signal-hook's `emulate_default_handler` (documented as
            // async-signal-safe).
            unsafe {
                low_level::register(signal, move || {
                    if std::process::id() != DELIVERED_BY.load(Ordering::SeqCst) {
                        let _ = low_level::emulate_default_handler(signal);
                    }
                })?;
            }
            flag::register_conditional_default(signal, Arc::clone(&stopping))?;
            flag::register(signal, Arc::clone(&stopping))?;
        }
        let mut pending = Signals::new(signals)?;
        std::thread::Builder::new()
            .name("metlog-signals".into())
            .spawn(move || {
                if let Some(signal) = pending.forever().next() {
                    run_exit_work(|| {
                        let _ = low_level::emulate_default_handler(signal);
                        // Not reached: the default action of both ends the
                        // process.
                        std::process::exit(128 + signal);
                    });
                }
            })
            .map(drop)
    })();
    if registered.is_err() {
        DELIVERED_BY.store(before, Ordering::SeqCst);
    }
    registered
}

/// Set by the exit work once it has delivered what it could: from then on
/// background workers start no further write, so the process cannot end in
/// the middle of one and leave a peer half a line.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Set once the exit work has flushed the queues and is closing their
/// transports: a message queued from then on (by another thread, or an exit
/// handler that runs after metlog's) would never leave.
static QUEUES_CLOSED: AtomicBool = AtomicBool::new(false);

/// Marks the queues closed for the rest of the process (see
/// [`queues_closed`]).
pub(crate) fn close_queues() {
    QUEUES_CLOSED.store(true, Ordering::SeqCst);
}

/// Whether the exit work has closed the background queues: what is sent
/// now is refused (counted, reported), not queued to be lost in silence.
#[inline]
pub(crate) fn queues_closed() -> bool {
    QUEUES_CLOSED.load(Ordering::Relaxed)
}

/// Background workers handing messages to their transport right now.
static DELIVERING: AtomicUsize = AtomicUsize::new(0);

/// A worker's leave to write, held while it hands messages to its transport
/// (see [`delivering`]).
pub(crate) struct Delivering {
    slot: Arc<LeaveSlot>,
}

/// One worker's leave, as the exit work counts it: idle, held (counted in
/// `DELIVERING`), or given up — the worker's sender was dropped and gave up
/// waiting for it (stuck in a lookup or a write): the exit does not wait
/// for it a second time.
#[derive(Debug, Default)]
pub(crate) struct LeaveSlot(AtomicU8);

const IDLE: u8 = 0;
const HELD: u8 = 1;
const GIVEN_UP: u8 = 2;

impl LeaveSlot {
    /// Whether its worker was given up on.
    pub(crate) fn given_up(&self) -> bool {
        self.0.load(Ordering::SeqCst) == GIVEN_UP
    }

    /// Its worker is no longer waited for at exit (its sender's drop gave
    /// up on it): a leave it holds now, or takes later, is not counted.
    pub(crate) fn give_up(&self) {
        if self.0.swap(GIVEN_UP, Ordering::SeqCst) == HELD {
            DELIVERING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        HELD_HERE.with(|held| held.set(held.get() - 1));
        // Given back here unless the worker was given up meanwhile (which
        // gave it back then).
        if self
            .slot
            .0
            .compare_exchange(HELD, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            DELIVERING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

thread_local! {
    /// Leaves held by this thread: a transport that exits the process from
    /// its own worker must not wait for itself.
    static HELD_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Leave for the background worker of `slot` to write (hand messages to its
/// transport, or let it do its idle work) until the returned value is
/// dropped; `None` once the process is exiting and its exit work has
/// flushed.
#[inline]
pub(crate) fn delivering(slot: &Arc<LeaveSlot>) -> Option<Delivering> {
    // Announce first, then look: paired with `stop_deliveries`, which sets
    // the flag and then counts, either this sees the flag or that sees this
    // worker (both sequentially consistent). A given-up worker is not
    // counted (nor waited for).
    DELIVERING.fetch_add(1, Ordering::SeqCst);
    if slot
        .0
        .compare_exchange(IDLE, HELD, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // Given up: not counted. (Counted first, then marked held, so that
        // `give_up` takes back only a count that was made.)
        DELIVERING.fetch_sub(1, Ordering::SeqCst);
    }
    HELD_HERE.with(|held| held.set(held.get() + 1));
    let leave = Delivering { slot: slot.clone() };
    (!EXITING.load(Ordering::SeqCst)).then_some(leave)
}

/// At exit, after the flush: no worker starts another write, and this waits
/// (until `deadline`) for those in the middle of one. `false` when one was
/// still writing at the deadline.
pub(crate) fn stop_deliveries(deadline: Instant) -> bool {
    EXITING.store(true, Ordering::SeqCst);
    let own = HELD_HERE.try_with(std::cell::Cell::get).unwrap_or(0);
    while DELIVERING.load(Ordering::SeqCst) > own {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Forks this process has been through (0 in the original process).
static FORKS: AtomicU64 = AtomicU64::new(0);

/// This process's id, as of the last fork (0: not read yet).
static PID: AtomicU32 = AtomicU32::new(0);

/// How many forks made this process (each child counts one more than its
/// parent had at the time).
#[inline]
pub(crate) fn forks() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// This process's id, also in the child of a fork.
#[inline]
pub(crate) fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Starts counting forks (once per process; before any background sender
/// exists, so none misses one), and holding [`ForkLock`]s across them.
pub(crate) fn watch_forks() {
    #[cfg(unix)]
    {
        // 0: not yet; DONE; else the id of the process whose thread is
        // registering. Not a `Once`: a fork's child would copy it mid-run
        // and wait for ever; here a child finding its parent's id
        // registers itself.
        const DONE: u32 = u32::MAX;
        static WATCHING: AtomicU32 = AtomicU32::new(0);
        let state = WATCHING.load(Ordering::Acquire);
        if state == DONE {
            return;
        }
        let me = std::process::id();
        let mut seen = state;
        loop {
            if seen == DONE {
                return;
            }
            if seen == me {
                // Another thread here registers: wait for it, so no thread
                // goes on to make what a fork must not copy half made.
                std::thread::yield_now();
                seen = WATCHING.load(Ordering::Acquire);
                continue;
            }
            match WATCHING.compare_exchange(seen, me, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        {
            // SAFETY: the three are `extern "C" fn()`s that never unwind.
            // `in_child` runs in the child of a multithreaded fork, where
            // only async-signal-safe work is sound: it stores to atomics,
            // calls `getpid`, and releases the locks this same thread took
            // in `before_fork` (an atomic store and at most a futex wake).
            // Registering has no other precondition.
            let _ =
                unsafe { libc::pthread_atfork(Some(before_fork), Some(in_parent), Some(in_child)) };
        }
        WATCHING.store(DONE, Ordering::Release);
    }
}

/// A process-wide lock of the crate that a fork must not copy while another
/// thread holds it: that thread does not exist in the child, which would
/// wait for it for ever (at its exit, flushing the named clients; in its
/// own `get_client`). The thread that forks takes each (in this order, the
/// only order in which they are ever nested: none is) and releases it on
/// both sides.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ForkLock {
    /// The named-client registry.
    NamedClients = 0,
    /// The list of live background queues.
    LiveQueues = 1,
}

/// How to take each [`ForkLock`]: the guard, kept until after the fork.
type Take = fn() -> Box<dyn std::any::Any>;
static FORK_LOCKS: [OnceLock<Take>; 2] = [const { OnceLock::new() }; 2];

/// This process's host name (read once) and id (also after a fork).
pub(crate) struct Identity {
    pub(crate) hostname: &'static str,
}

impl Identity {
    /// The process id: the child's in the child of a fork.
    #[inline]
    pub(crate) fn pid(&self) -> u32 {
        pid()
    }
}

/// This process's identity, made once. A fork waits until it is made (its
/// handler makes it, or waits for the thread making it): the child of a
/// fork made meanwhile would wait for it for ever (seen: 1 in 300).
pub(crate) fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    if let Some(identity) = IDENTITY.get() {
        return identity;
    }
    // The fork handler first: a fork from now on makes it before forking.
    watch_forks();
    IDENTITY.get_or_init(|| {
        Identity {
            // Leaked once per process so every message can refer to it
            // without a reference count (no shared cache line written per
            // message).
            hostname: Box::leak(
                gethostname::gethostname()
                    .to_string_lossy()
                    .into_owned()
                    .into_boxed_str(),
            ),
        }
    })
}

/// Held while one of our threads walks or reads the stack.
static STACK_WALKS: Mutex<()> = Mutex::new(());

/// Runs `walk`, which walks the stack or resolves a backtrace (std's
/// `Backtrace`, the `backtrace` crate). Each holds a process-wide lock while
/// it does: a fork while another thread walks would leave the child's
/// first panic waiting for ever, its hook walking the stack too. So walks
/// take this lock, which the forking thread holds across the fork.
pub(crate) fn walking_stack<R>(walk: impl FnOnce() -> R) -> R {
    watch_forks();
    thread_local! {
        static WALKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    // A panic inside a walk (its hook walks again) must not wait for itself.
    if WALKING.try_with(|walking| walking.replace(true)) != Ok(false) {
        return walk();
    }
    struct Walked;
    impl Drop for Walked {
        fn drop(&mut self) {
            let _ = WALKING.try_with(|walking| walking.set(false));
        }
    }
    let _walked = Walked;
    let _walking = STACK_WALKS.lock().unwrap_or_else(PoisonError::into_inner);
    walk()
}

thread_local! {
    /// The guards the forking thread holds across the fork.
    static HELD_ACROSS_FORK: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Held by the forking thread from its first fork handler to its last:
/// registering a [`ForkLock`] waits for a fork under way, so no lock is
/// first taken between a fork's handler and the fork itself.
static FORKING: Mutex<()> = Mutex::new(());

/// Makes `lock` one the forking thread holds across a fork; `take` locks it
/// and returns the guard. Call it before the lock is first taken.
pub(crate) fn hold_across_fork(lock: ForkLock, take: Take) {
    let slot = &FORK_LOCKS[lock as usize];
    if slot.get().is_none() {
        watch_forks();
        let _forking = FORKING.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = slot.set(take);
    }
}

#[cfg(unix)]
extern "C" fn before_fork() {
    let _ = std::panic::catch_unwind(|| {
        // Made (or waited for) here, not registered on first use: a thread
        // beginning to make them after this handler ran would leave them
        // half made in the child. The clock's calibration takes long.
        identity();
        crate::clock::calibrate();
        let _ = HELD_ACROSS_FORK.try_with(|held| {
            let mut held = held.borrow_mut();
            // Registered twice (a child that registered again what its
            // parent had registered just before the fork): once is enough.
            if !held.is_empty() {
                return;
            }
            held.push(Box::new(
                FORKING.lock().unwrap_or_else(PoisonError::into_inner),
            ));
            for take in FORK_LOCKS.iter().filter_map(OnceLock::get) {
                held.push(take());
            }
            // Always, for the same reason: no walk begins until the fork.
            held.push(Box::new(
                STACK_WALKS.lock().unwrap_or_else(PoisonError::into_inner),
            ));
        });
    });
}

/// Releases what [`before_fork`] took, the last taken first.
#[cfg(unix)]
fn release_fork_locks() {
    let _ = HELD_ACROSS_FORK.try_with(|held| {
        let mut held = held.borrow_mut();
        while held.pop().is_some() {}
    });
}

#[cfg(unix)]
extern "C" fn in_parent() {
    let _ = std::panic::catch_unwind(release_fork_locks);
}

#[cfg(unix)]
extern "C" fn in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
    PID.store(std::process::id(), Ordering::SeqCst);
    crate::sampling::reseed_after_fork();
    // A new process, running: whatever the parent's exit had begun is not
    // this one's (a fork from an exit handler, or while another thread
    // exited), and the leaves its workers held are held by no thread here
    // (but this one's own, which it gives back itself).
    IN_EXIT_WORK.store(false, Ordering::SeqCst);
    QUEUES_CLOSED.store(false, Ordering::SeqCst);
    EXITING.store(false, Ordering::SeqCst);
    let own = HELD_HERE.try_with(std::cell::Cell::get).unwrap_or(0);
    DELIVERING.store(own, Ordering::SeqCst);
    let _ = std::panic::catch_unwind(release_fork_locks);
}

/// What a thread may be in the middle of; see [`inside`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Within {
    /// A bridge (`log`, `tracing`) handing a record to metlog.
    Bridge = 1,
    /// A report handler ([`crate::report::set_handler`]).
    ReportHandler = 2,
    /// The panics plugin's report of a panic (its own thread).
    PanicReport = 4,
    /// One of metlog's own threads (a sender's worker, a router's flush,
    /// the panics plugin's report, the process plugin's reporter), for all
    /// of its life.
    OwnThread = 8,
}

/// Marks this thread as one of metlog's own, for good (see
/// [`Within::OwnThread`]).
pub(crate) fn mark_own_thread() {
    std::mem::forget(inside(Within::OwnThread));
}

/// What this thread is doing, as the re-entry guards read it.
struct ThisThread {
    /// [`Within`] bits.
    within: std::cell::Cell<u8>,
    /// The outermost client dispatching on this thread, and how deep.
    dispatching: std::cell::Cell<(u64, u32)>,
    /// On a background sender's worker: the id of its queue (0 elsewhere).
    worker_of: std::cell::Cell<u64>,
}

thread_local! {
    static THIS_THREAD: ThisThread = const {
        ThisThread {
            within: std::cell::Cell::new(0),
            dispatching: std::cell::Cell::new((0, 0)),
            worker_of: std::cell::Cell::new(0),
        }
    };
}

/// Marks this thread as the worker of queue `id`.
pub(crate) fn set_worker_of(id: u64) {
    let _ = THIS_THREAD.try_with(|this| this.worker_of.set(id));
}

/// The id of the queue this thread works for (0: none).
#[inline]
pub(crate) fn worker_of() -> u64 {
    THIS_THREAD
        .try_with(|this| this.worker_of.get())
        .unwrap_or(0)
}

/// How many clients deep a message may be sent from inside another's
/// sender or filter, on one thread.
pub(crate) const MAX_DISPATCH_DEPTH: u32 = 4;

/// This thread's place in a client's dispatch; restores the previous one
/// when dropped.
pub(crate) struct Dispatch {
    previous: (u64, u32),
}

impl Dispatch {
    /// `None` when client `id` is already the outermost one dispatching on
    /// this thread (its sender or filter sends through it again), or
    /// dispatches are nested [`MAX_DISPATCH_DEPTH`] deep.
    #[inline]
    pub(crate) fn enter(id: u64) -> Option<Dispatch> {
        THIS_THREAD
            .try_with(|this| {
                let (outer, depth) = this.dispatching.get();
                if depth > 0 && (outer == id || depth >= MAX_DISPATCH_DEPTH) {
                    return None;
                }
                this.dispatching
                    .set((if depth == 0 { id } else { outer }, depth + 1));
                Some(Dispatch {
                    previous: (outer, depth),
                })
            })
            // A thread-local destructor sending on the thread's way out:
            // no dispatch can be under way. (Built only then: a spare
            // guard's drop would reset the state.)
            .unwrap_or_else(|_| Some(Dispatch { previous: (0, 0) }))
    }
}

impl Drop for Dispatch {
    #[inline]
    fn drop(&mut self) {
        let _ = THIS_THREAD.try_with(|this| this.dispatching.set(self.previous));
    }
}

/// Marks this thread as inside `what` until the guard drops; `None` when it
/// already is (or is exiting: a thread-local destructor), so the caller
/// does not go in again.
pub(crate) fn inside(what: Within) -> Option<Inside> {
    let bit = what as u8;
    THIS_THREAD
        .try_with(|this| {
            let now = this.within.get();
            (now & bit == 0).then(|| {
                this.within.set(now | bit);
                Inside(bit)
            })
        })
        .ok()
        .flatten()
}

/// Whether this thread is inside `what` (or exiting).
pub(crate) fn is_inside(what: Within) -> bool {
    THIS_THREAD
        .try_with(|this| this.within.get() & what as u8 != 0)
        .unwrap_or(true)
}

/// Leaves what [`inside`] entered when dropped.
pub(crate) struct Inside(u8);

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = THIS_THREAD.try_with(|this| this.within.set(this.within.get() & !self.0));
    }
}
