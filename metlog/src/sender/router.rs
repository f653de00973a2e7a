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

    /// Flushes every route (all of them, even after one fails), returning
    /// the first error.
    fn flush(&self) -> Result<(), SendError> {
        first_error(self.all().map(|r| r.sender.flush()))
    }

    /// Flushes every route within `timeout` for all of them together (a
    /// stuck route must not make the wait a multiple of it); an error names
    /// every route that failed.
    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        let deadline = std::time::Instant::now() + timeout;
        every_error(self.all().map(|r| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            r.sender.flush_timeout(left)
        }))
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

fn first_error(results: impl Iterator<Item = Result<(), SendError>>) -> Result<(), SendError> {
    let mut first = Ok(());
    for result in results {
        if first.is_ok() {
            first = result;
        }
    }
    first
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
