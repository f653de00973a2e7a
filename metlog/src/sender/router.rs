//! [`Router`]: a sender per message type.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::{Delivery, SendError, Sender};
use crate::record::Record;

/// Sends each message to the sender routed for its type, or to the default
/// one: the usual Mozilla deployment — counters and timers to statsd,
/// everything else to syslog — in one process, without a router daemon.
///
/// ```
/// use metlog::sender::{CaptureSender, Router};
/// let metrics = CaptureSender::new();
/// let logs = CaptureSender::new();
/// let router = Router::new(logs.clone()).route(["counter", "timer"], metrics.clone());
/// let client = metlog::Client::builder("app").sender(router).build();
/// client.incr("hits");
/// client.info("hello");
/// assert_eq!((metrics.len(), logs.len()), (1, 1));
/// ```
///
/// Flushing a router flushes its routes at once, on at most 16 threads
/// however many routes it has, within one wait: `flush_timeout(t)` takes at
/// most `t` for all of them; `flush` lets each route wait its own flush
/// timeout, and once one route has waited and failed, the routes not yet
/// begun get no longer.
pub struct Router {
    routes: Vec<(Vec<String>, Route)>,
    default: Route,
}

struct Route {
    sender: Box<dyn Sender>,
    /// For a sender that does not count its deliveries (it delivers when
    /// `send` returns): what it accepted, and from whom.
    accepted: Option<Accepted>,
}

/// What a synchronous route accepted, and who sent it (in this process:
/// the child of a `fork()` counts from zero, as a client does).
#[derive(Default)]
struct Accepted {
    count: AtomicU64,
    sent_by: AtomicU64,
    forks: AtomicU64,
}

impl Accepted {
    /// The counts, reset first in the child of a fork.
    #[inline]
    fn here(&self) -> &Accepted {
        let forks = crate::process::forks();
        if self.forks.load(Relaxed) != forks {
            self.count.store(0, SeqCst);
            self.sent_by.store(super::queue::NO_CLIENT, SeqCst);
            self.forks.store(forks, SeqCst);
        }
        self
    }

    /// Notes that `client` sent through the route (see `Delivery::sent_by`).
    #[cold]
    fn note(&self, client: u64) {
        let _ = self
            .sent_by
            .fetch_update(SeqCst, SeqCst, |now| Some(super::sent_by_both(now, client)));
    }
}

impl Route {
    fn new(sender: impl Sender) -> Route {
        Route {
            accepted: sender.delivery().is_none().then(Accepted::default),
            sender: Box::new(sender),
        }
    }

    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        let client = record.client_id().0;
        self.sender.send(record)?;
        if let Some(accepted) = self.accepted.as_ref().map(Accepted::here) {
            // Who sent, noted before the count: a reader that sees the
            // count sees the sender.
            if accepted.sent_by.load(Relaxed) != client {
                accepted.note(client);
            }
            accepted.count.fetch_add(1, SeqCst);
        }
        Ok(())
    }

    fn delivery(&self) -> Delivery {
        match self.accepted.as_ref().map(Accepted::here) {
            // The count before who sent: a message counted was noted.
            Some(accepted) => Delivery {
                delivered: accepted.count.load(SeqCst),
                sent_by: accepted.sent_by.load(SeqCst),
                ..Delivery::default()
            },
            None => self.sender.delivery().unwrap_or_default(),
        }
    }
}

impl Router {
    /// A router sending every type to `default` until routes are added.
    pub fn new(default: impl Sender) -> Router {
        Router {
            routes: Vec::new(),
            default: Route::new(default),
        }
    }

    /// Sends messages of these `types` to `sender` (the first route naming
    /// a type wins).
    pub fn route<I, S>(mut self, types: I, sender: impl Sender) -> Router
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let types = types.into_iter().map(Into::into).collect();
        self.routes.push((types, Route::new(sender)));
        self
    }

    fn route_for(&self, kind: &str) -> &Route {
        self.routes
            .iter()
            .find(|(types, _)| types.iter().any(|t| t == kind))
            .map_or(&self.default, |(_, route)| route)
    }

    fn all(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|(_, r)| r).chain([&self.default])
    }
}

impl Sender for Router {
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        self.route_for(record.kind()).send(record)
    }

    fn flush(&self) -> Result<(), SendError> {
        flush_together(self.all(), None)
    }

    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        flush_together(self.all(), Some(timeout))
    }

    /// The sum over the routes, a queue serving several counted once.
    fn delivery(&self) -> Option<Delivery> {
        let mut seen = std::collections::HashSet::new();
        let deliveries = self.all().map(Route::delivery);
        let counted =
            deliveries.filter(|delivery| delivery.queue == 0 || seen.insert(delivery.queue));
        Some(counted.fold(Delivery::default(), |total, delivery| total + delivery))
    }
}

/// How many threads a router's flush uses at most, its caller's among them:
/// the routes' flushes mostly wait, and a router of tens of thousands of
/// routes must not start a thread for each.
const FLUSH_THREADS: usize = 16;

/// Runs every route's flush on a few threads at once (the caller's, and
/// others up to [`FLUSH_THREADS`], each taking the next route not yet
/// flushed), all within one wait: with `timeout`, each route gets what is
/// left of it; without (each route its own flush timeout), once a route's
/// flush has waited and failed, the routes not yet begun get only until
/// then. `Ok`,
/// or one error saying what each failure said (of the first's kind).
fn flush_together<'a>(
    routes: impl Iterator<Item = &'a Route>,
    timeout: Option<Duration>,
) -> Result<(), SendError> {
    let pool = Pool {
        senders: routes.map(|route| &*route.sender).collect(),
        next: AtomicUsize::new(0),
        started: Instant::now(),
        cutoff: AtomicU64::new(timeout.map_or(u64::MAX, nanos)),
        own_timeouts: timeout.is_none(),
    };
    // A flush from a queue's own worker (its transport flushing a client
    // that sends through it) is refused at once, not waited for: the
    // threads flushing for this one work for the same queue.
    let worker = crate::process::worker_of();
    let helpers = pool.senders.len().min(FLUSH_THREADS) - 1;
    let mut failures = std::thread::scope(|scope| {
        let pool = &pool;
        let others: Vec<_> = (0..helpers)
            .filter_map(|_| {
                let builder = std::thread::Builder::new().name("metlog-flush".into());
                // No thread to be had: fewer do the work.
                let helper = builder.spawn_scoped(scope, move || {
                    crate::process::mark_own_thread();
                    crate::process::set_worker_of(worker);
                    pool.work()
                });
                helper.ok()
            })
            .collect();
        let mut failures = pool.work();
        for other in others {
            // `work` catches the routes' panics: it does not panic itself.
            failures.extend(other.join().unwrap_or_default());
        }
        failures
    });
    // In the routes' order.
    failures.sort_by_key(|(route, _)| *route);
    let mut errors: Vec<SendError> = failures.into_iter().map(|(_, error)| error).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Err(SendError::new(errors[0].kind(), text.join("; ")))
        }
    }
}

/// The routes a router's flush works through (see [`flush_together`]).
struct Pool<'a> {
    senders: Vec<&'a dyn Sender>,
    /// The next route to flush.
    next: AtomicUsize,
    started: Instant,
    /// Nanoseconds after `started` by which a flush must end (`u64::MAX`:
    /// each route's own timeout).
    cutoff: AtomicU64,
    /// No timeout was given: each route flushes with its own.
    own_timeouts: bool,
}

/// A failed flush that took this long had waited for its timeout.
const WAITED: Duration = Duration::from_millis(10);

impl Pool<'_> {
    /// Flushes routes until none is left; the failures, by route.
    fn work(&self) -> Vec<(usize, SendError)> {
        let mut failures = Vec::new();
        loop {
            let route = self.next.fetch_add(1, SeqCst);
            let Some(&sender) = self.senders.get(route) else {
                return failures;
            };
            let began = Instant::now();
            let cutoff = self.cutoff.load(SeqCst);
            let flush = || match cutoff {
                u64::MAX => sender.flush(),
                cutoff => {
                    let elapsed = nanos(self.started.elapsed());
                    sender.flush_timeout(Duration::from_nanos(cutoff.saturating_sub(elapsed)))
                }
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(flush))
                .unwrap_or_else(|_| {
                    Err(SendError::new(
                        super::SendErrorKind::Other,
                        "a flush panicked",
                    ))
                });
            if let Err(error) = result {
                // Each route its own timeout, and one ran out (it waited,
                // not refused at once): the time of one wait is spent, the
                // routes not yet begun get no more.
                if self.own_timeouts && began.elapsed() >= WAITED {
                    let now = nanos(self.started.elapsed());
                    let _ = self.cutoff.fetch_min(now, SeqCst);
                }
                failures.push((route, error));
            }
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX - 1)
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self.routes.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
