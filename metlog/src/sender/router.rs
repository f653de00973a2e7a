//! [`Router`]: a sender per message type.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::{Delivery, SendError, Sender};
use crate::site::{ClientDefaults, SiteEvent};
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
    accepted: AtomicU64,
}

impl Route {
    fn new(sender: impl Sender) -> Route {
        Route {
            sender: Box::new(sender),
            accepted: AtomicU64::new(0),
        }
    }

    fn send(&self, message: Message) -> Result<(), SendError> {
        self.sender.send(message)?;
        self.accepted.fetch_add(1, Relaxed);
        Ok(())
    }

    fn send_site(&self, event: SiteEvent, client: &ClientDefaults<'_>) -> Result<(), SendError> {
        self.sender.send_site(event, client)?;
        self.accepted.fetch_add(1, Relaxed);
        Ok(())
    }

    fn delivery(&self) -> Delivery {
        self.sender.delivery().unwrap_or(Delivery {
            delivered: self.accepted.load(Relaxed),
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

    fn all(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|(_, r)| r).chain([&self.default])
    }
}

impl Sender for Router {
    fn send(&self, message: Message) -> Result<(), SendError> {
        self.route_for(&message.kind).send(message)
    }

    fn send_site(&self, event: SiteEvent, client: &ClientDefaults<'_>) -> Result<(), SendError> {
        self.route_for(event.kind()).send_site(event, client)
    }

    /// Flushes every route (all of them, even after one fails), returning
    /// the first error.
    fn flush(&self) -> Result<(), SendError> {
        first_error(self.all().map(|r| r.sender.flush()))
    }

    fn flush_timeout(&self, timeout: Duration) -> Result<(), SendError> {
        first_error(self.all().map(|r| r.sender.flush_timeout(timeout)))
    }

    fn delivery(&self) -> Option<Delivery> {
        Some(
            self.all()
                .map(Route::delivery)
                .fold(Delivery::default(), |a, b| a + b),
        )
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
