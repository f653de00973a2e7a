//! [`Router`]: a sender per message type.

use std::time::Duration;

use super::accepted::Accepted;
use super::{Delivery, SendError, Sender};
use crate::record::{ClientId, Record};
use crate::Message;

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
    /// Messages accepted by a sender that keeps no delivery counts of its
    /// own (they are delivered when accepted).
    accepted: Accepted,
    /// Whether the sender keeps counts of its own ([`Sender::delivery`]),
    /// asked once: then nothing is counted here on the way.
    sender_counts: bool,
}

impl Route {
    fn new(sender: impl Sender) -> Route {
        Route {
            sender_counts: sender.delivery().is_some(),
            sender: Box::new(sender),
            accepted: Accepted::default(),
        }
    }

    fn send(&self, message: Message) -> Result<(), SendError> {
        self.sender.send(message)?;
        if !self.sender_counts {
            self.accepted.add(None);
        }
        Ok(())
    }

    fn send_record(&self, record: Record<'_>) -> Result<(), SendError> {
        let client = record.client;
        self.sender.send_record(record)?;
        if !self.sender_counts {
            self.accepted.add(Some(client));
        }
        Ok(())
    }

    /// The route's counts: its sender's, or (when it keeps none) what it
    /// accepted.
    fn delivery(&self, client: Option<ClientId>) -> Delivery {
        let counted = match client {
            Some(client) => self.sender.delivery_for(client),
            None => self.sender.delivery(),
        };
        counted.unwrap_or(Delivery {
            delivered: client.map_or_else(|| self.accepted.total(), |c| self.accepted.of(c)),
            ..Delivery::default()
        })
    }
}

impl Router {
    /// Routes everything to `default` until [`route`](Router::route) says
    /// otherwise.
    pub fn new(default: impl Sender) -> Router {
        Router {
            routes: Vec::new(),
            default: Route::new(default),
        }
    }

    /// Sends messages of the listed types to `sender` (the first matching
    /// route wins).
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

    /// The routes' counts together. A sender that keeps its own counts and
    /// serves several routes (the same `Arc` twice) is counted once.
    fn sum(&self, client: Option<ClientId>) -> Delivery {
        let mut seen = Vec::new();
        let mut total = Delivery::default();
        for route in self.all() {
            if route.sender_counts {
                if let Some(any) = route.sender.as_any() {
                    let identity = std::ptr::from_ref(any).cast::<()>();
                    if seen.contains(&identity) {
                        continue;
                    }
                    seen.push(identity);
                }
            }
            total = total + route.delivery(client);
        }
        total
    }

    fn all(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|(_, r)| r).chain([&self.default])
    }
}

impl Sender for Router {
    fn send(&self, message: Message) -> Result<(), SendError> {
        self.route_for(&message.kind).send(message)
    }

    fn send_record(&self, record: Record<'_>) -> Result<(), SendError> {
        self.route_for(record.kind()).send_record(record)
    }

    /// Flushes every route at once, so the wait is the longest route's own
    /// flush timeout, not their sum; an error names every route that failed.
    fn flush(&self) -> Result<(), SendError> {
        let senders: Vec<&dyn Sender> = self.all().map(|r| &*r.sender).collect();
        flush_together(&senders, |sender| sender.flush())
    }

    /// Flushes every route at once, each within `timeout` (so all of them
    /// within it: a stuck route neither adds to the wait nor takes the time
    /// of the others); an error names every route that failed.
    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        let senders: Vec<&dyn Sender> = self.all().map(|r| &*r.sender).collect();
        flush_together(&senders, |sender| sender.flush_timeout(timeout))
    }

    fn delivery(&self) -> Option<Delivery> {
        Some(self.sum(None))
    }

    fn delivery_for(&self, client: ClientId) -> Option<Delivery> {
        Some(self.sum(Some(client)))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Runs `flush` on every sender at once (a thread each but the first, which
/// runs here; inline when no thread can be had), and gathers the errors.
pub(crate) fn flush_together(
    senders: &[&dyn Sender],
    flush: impl Fn(&dyn Sender) -> Result<(), SendError> + Sync,
) -> Result<(), SendError> {
    let Some((first, rest)) = senders.split_first() else {
        return Ok(());
    };
    let flush = &flush;
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter()
            .map(|&sender| {
                std::thread::Builder::new()
                    .name("metlog-flush".into())
                    .spawn_scoped(scope, move || flush(sender))
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
        every_error(results.into_iter())
    })
}

/// `Ok`, or one error saying what each failed result said (of the first's
/// kind).
pub(crate) fn every_error(
    results: impl Iterator<Item = Result<(), SendError>>,
) -> Result<(), SendError> {
    let errors: Vec<SendError> = results.filter_map(Result::err).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().expect("one error")),
        _ => {
            let text = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            Err(SendError::new(errors[0].kind(), text))
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
