//! Senders: where messages go once the client has built and filtered them.
//!
//! A [`Sender`] has one required method, [`send`](Sender::send), and a defaulted
//! [`flush`](Sender::flush). The client never lets a sender's failure reach the
//! caller: an `Err` (or even a panic) is counted in
//! [`Client::stats`](crate::Client::stats) and reported once on stderr.
//!
//! | sender | delivers to | typical use |
//! |---|---|---|
//! | [`CaptureSender`] | memory, typed | tests: assert on what was sent |
//! | [`StdoutSender`] | stdout, one JSON object per line | development, containers |
//! | [`StreamSender`] | any `io::Write` | pipes, buffers, custom sinks |
//! | [`FileSender`] | a file, appended | local logs |
//! | [`NullSender`] | nowhere | benchmarks, switching output off |
//! | [`UdpSender`] | JSON datagrams (metlog-py's wire) | a metlog/Heka router |
//! | [`TcpSender`] | newline-delimited JSON over TCP | Logstash, Vector, syslog-ng |
//! | [`StatsdSender`] | statsd lines over UDP | statsd, Graphite |
//! | [`SyslogSender`] | RFC 5424 over UDP, TCP, Unix | rsyslog, syslog-ng |
//! | [`LogSender`] | the `log` crate | an existing logging setup |
//! | `ZmqSender` (feature `zmq`) | ZeroMQ PUB | metlog's original router transport |
//! | [`Router`] | a sender per message type | metrics to statsd, the rest to syslog |
//! | [`from_fn`] | a closure | adapting to anything else |
//!
//! The network senders and [`StdoutSender`] deliver from a background
//! thread behind a bounded queue ([`QueueConfig`]): the caller never waits
//! for I/O, even when the output stalls; a full queue drops
//! (counted in [`Stats::dropped`](crate::Stats::dropped)); [`Client::flush`](crate::Client::flush)
//! waits for the queue; dropping the sender drains it (within a deadline).
//!
//! Every call reaches its sender as one compact [`Record`], and so does a
//! whole [`Message`] (`Record::from(message)`): the network senders store it
//! in their queue as it is and encode it on their worker thread, reading it
//! in place through its [`Envelope`](crate::Envelope); a sender that wants a
//! whole message takes it with [`Record::into_message`]. A transport of your
//! own gets the queue by implementing [`Transport`] and running in a
//! [`QueuedSender`].
//!
//! ```
//! use metlog::sender::{SendError, Sender};
//! use metlog::Record;
//!
//! struct Stderr;
//! impl Sender for Stderr {
//!     fn send(&self, record: Record<'_>) -> Result<(), SendError> {
//!         eprintln!("{}", record.into_message().to_json());
//!         Ok(())
//!     }
//! }
//! let client = metlog::Client::builder("app").sender(Stderr).build();
//! client.incr("started");
//! ```

pub mod address;
pub mod background;
pub mod capture;
pub mod error;
pub mod log_sender;
pub mod null;
pub(crate) mod queue;
pub mod router;
#[cfg(target_os = "linux")]
mod sendmmsg;
pub mod statsd;
pub mod stream;
pub mod syslog;
pub mod tcp;
pub mod transport;
pub mod udp;
#[cfg(feature = "zmq")]
pub mod zmq;

use std::sync::Arc;

use crate::Record;

pub use address::{Address, ToAddress};
pub use background::{QueueConfig, QueuedSender};

pub use capture::CaptureSender;
pub use error::{SendError, SendErrorKind};
pub use log_sender::LogSender;
pub use null::NullSender;
pub use router::Router;
pub use statsd::StatsdSender;
pub use stream::{FileSender, StdoutSender, StreamSender};
pub use syslog::SyslogSender;
pub use tcp::TcpSender;
pub use transport::{Batch, Outcome, Transport};
pub use udp::{SenderOptions, UdpSender};
#[cfg(feature = "zmq")]
pub use zmq::ZmqSender;

use crate::Message;

/// Delivers messages.
///
/// Implementations must be cheap to call from any thread: `send` runs on the
/// thread that made the message unless a queuing sender moves it elsewhere.
pub trait Sender: Send + Sync + 'static {
    /// Delivers (or queues) one message: a client's call, or a whole
    /// [`Message`] (`Record::from(message)`).
    ///
    /// Return an error rather than panic: the client counts it (see
    /// [`SendErrorKind`] for which counter) and carries on.
    fn send(&self, record: Record<'_>) -> Result<(), SendError>;

    /// Pushes out anything buffered. The default does nothing.
    fn flush(&self) -> Result<(), SendError> {
        Ok(())
    }

    /// Like [`flush`](Sender::flush), giving up after `timeout`. Senders that
    /// deliver in the background wait at most that long; the default calls
    /// `flush`.
    fn flush_timeout(&self, timeout: std::time::Duration) -> Result<(), SendError> {
        let _ = timeout;
        self.flush()
    }

    /// For senders that deliver after `send` returns (a background queue):
    /// what became of the messages they accepted, from every client that
    /// sends through them. `None` (the default) means a message accepted
    /// by `send` is delivered.
    ///
    /// A sender answers `Some` always or never: the client asks once, when
    /// it is built, whether to count sent messages itself.
    fn delivery(&self) -> Option<Delivery> {
        None
    }

    /// A short name for reports and [`Client::sender_name`](crate::Client::sender_name):
    /// by default the sender's type without its path or parameters
    /// (`UdpSender`); `Box` and `Arc` give the name of what they hold.
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

/// A sender as a client holds it: shared, and also as `Any`, so that
/// [`Client::sender_as`](crate::Client::sender_as) can hand back the
/// concrete type (e.g. the `CaptureSender` a configuration file asked for).
pub(crate) struct Held {
    pub(crate) sender: Arc<dyn Sender>,
    pub(crate) any: Arc<dyn std::any::Any + Send + Sync>,
    pub(crate) name: &'static str,
}

impl Held {
    pub(crate) fn new<S: Sender>(sender: S) -> Held {
        let name = sender.name();
        let sender = Arc::new(sender);
        Held {
            sender: sender.clone(),
            any: sender,
            name,
        }
    }
}

impl std::ops::Deref for Held {
    type Target = dyn Sender;
    fn deref(&self) -> &(dyn Sender + 'static) {
        &*self.sender
    }
}

/// `metlog::sender::stream::StreamSender<std::io::Stderr>` → `StreamSender`.
fn short_type_name(full: &'static str) -> &'static str {
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

/// What a sender that delivers in the background did with the messages it
/// accepted; see [`Sender::delivery`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Delivery {
    /// Handed to the transport (written to the socket).
    pub delivered: u64,
    /// Lost to transport errors, or too large for it.
    pub failed: u64,
    /// Refused by the transport for lack of room (e.g. ZeroMQ's high-water
    /// mark).
    pub dropped: u64,
    /// Accepted but not yet delivered, failed or dropped.
    pub queued: u64,
    /// Of a type this sender does not carry (e.g. a log line to statsd).
    pub ignored: u64,
    /// Who sent them: [`NO_CLIENT`](queue::NO_CLIENT) yet, one client's id,
    /// or [`MANY_CLIENTS`](queue::MANY_CLIENTS). A client's stats include
    /// the sender's counts only when it is the one.
    pub(crate) sent_by: u64,
    /// The queue counted, when one alone is (a router sums a queue serving
    /// several routes once); 0 otherwise.
    pub(crate) queue: u64,
}

/// Who sent the messages of two senders together (see [`Delivery::sent_by`]).
pub(crate) fn sent_by_both(a: u64, b: u64) -> u64 {
    match (a, b) {
        (queue::NO_CLIENT, other) | (other, queue::NO_CLIENT) => other,
        (a, b) if a == b => a,
        _ => queue::MANY_CLIENTS,
    }
}

impl std::ops::Add for Delivery {
    type Output = Delivery;
    fn add(self, other: Delivery) -> Delivery {
        Delivery {
            delivered: self.delivered + other.delivered,
            failed: self.failed + other.failed,
            dropped: self.dropped + other.dropped,
            queued: self.queued + other.queued,
            ignored: self.ignored + other.ignored,
            sent_by: sent_by_both(self.sent_by, other.sent_by),
            // Still one queue's counts when the other side counted nothing
            // (a router of one queue, nested in another router that also
            // routes to that queue, sums it once).
            queue: match (self.queue, other.queue) {
                (a, b) if a == b => a,
                (a, _) if other == Delivery::default() => a,
                (_, b) if self == Delivery::default() => b,
                _ => 0,
            },
        }
    }
}

macro_rules! forward_sender {
    ($($ptr:ident),*) => {$(
        impl<S: Sender + ?Sized> Sender for $ptr<S> {
            fn send(&self, record: Record<'_>) -> Result<(), SendError> {
                (**self).send(record)
            }
            fn flush(&self) -> Result<(), SendError> {
                (**self).flush()
            }
            fn flush_timeout(&self, timeout: std::time::Duration) -> Result<(), SendError> {
                (**self).flush_timeout(timeout)
            }
            fn delivery(&self) -> Option<Delivery> {
                (**self).delivery()
            }
            fn name(&self) -> &'static str {
                (**self).name()
            }
        }
    )*};
}
forward_sender!(Arc, Box);

/// A sender made from a closure.
///
/// ```
/// use std::sync::mpsc;
/// let (tx, rx) = mpsc::channel();
/// let tx = std::sync::Mutex::new(tx);
/// let sender = metlog::sender::from_fn(move |msg| {
///     tx.lock().unwrap().send(msg).map_err(|_| metlog::sender::SendError::closed())
/// });
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("x");
/// assert_eq!(rx.recv().unwrap().kind, "counter");
/// ```
pub fn from_fn<F>(f: F) -> impl Sender
where
    F: Fn(Message) -> Result<(), SendError> + Send + Sync + 'static,
{
    FnSender(f)
}

/// The sender returned by [`from_fn`].
struct FnSender<F>(F);

impl<F> Sender for FnSender<F>
where
    F: Fn(Message) -> Result<(), SendError> + Send + Sync + 'static,
{
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        (self.0)(record.into_message())
    }
}
