//! [`Router`]: a sender per message type.

use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

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
        flush_together(self.all(), |sender| sender.flush())
    }

    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        flush_together(self.all(), |sender| sender.flush_timeout(timeout))
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

/// Runs `flush` on every route's sender at once (a thread each but the
/// first, which runs here; inline when no thread can be had); `Ok`, or one
/// error saying what each failure said (of the first's kind).
fn flush_together<'a>(
    routes: impl Iterator<Item = &'a Route>,
    flush: impl Fn(&dyn Sender) -> Result<(), SendError> + Sync,
) -> Result<(), SendError> {
    let senders: Vec<&dyn Sender> = routes.map(|route| &*route.sender).collect();
    let (first, rest) = senders.split_first().expect("a router has a default route");
    let flush = &flush;
    // A flush from a queue's own worker (its transport flushing a client
    // that sends through it) is refused at once, not waited for: the
    // threads flushing for this one work for the same queue.
    let worker = crate::process::worker_of();
    let results = std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter()
            .map(|&sender| {
                std::thread::Builder::new()
                    .name("metlog-flush".into())
                    .spawn_scoped(scope, move || {
                        crate::process::mark_own_thread();
                        crate::process::set_worker_of(worker);
                        flush(sender)
                    })
                    .map_err(|_| sender)
            })
            .collect();
        let mut results = vec![flush(*first)];
        for other in others {
            results.push(match other {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    Err(SendError::new(
                        super::SendErrorKind::Other,
                        "a flush panicked",
                    ))
                }),
                Err(sender) => flush(sender),
            });
        }
        results
    });
    let mut errors: Vec<SendError> = results.into_iter().filter_map(Result::err).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Err(SendError::new(errors[0].kind(), text.join("; ")))
        }
    }
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
