//! [`ZmqSender`]: metlog-py's `ZmqPubSender` (feature `zmq`).

// The one `unsafe` block of the crate: the `zmq` bindings expose no setter
// for ZMQ_XPUB_NODROP, without which a PUB socket drops messages beyond its
// high-water mark silently, so they could not be counted.
#![allow(unsafe_code)]

use std::io;

use super::background::{QueueConfig, QueuedSender};
use super::transport::{Batch, Outcome, Transport};
use super::udp::background_sender;
use super::{SendError, SendErrorKind};
use crate::encode::json;

/// metlog-py's default queue length (ZeroMQ send high-water mark).
pub const DEFAULT_QUEUE_LENGTH: i32 = 1000;

/// Publishes each message as one JSON ZeroMQ message on a PUB socket that
/// connects (metlog-py's `bindstrs`) or binds to one or more endpoints.
///
/// Beyond `queue_length` messages waiting in ZeroMQ (its send high-water
/// mark), messages are dropped and counted in
/// [`Stats::dropped`](crate::Stats::dropped) — never silently, as a plain PUB
/// socket would. So are messages sent while no subscriber is there (the
/// socket is an XPUB, which hears subscriptions; subscribers see a PUB):
/// PUB/SUB delivers nothing to nobody, and says nothing about it.
///
/// ```no_run
/// let sender = metlog::sender::ZmqSender::connect(["tcp://127.0.0.1:5565"], 1000)?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("over zeromq");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ZmqSender {
    queued: QueuedSender,
}

impl ZmqSender {
    /// Connects the PUB socket to each endpoint (e.g. the router's SUB
    /// `tcp://host:port`), as metlog-py does.
    pub fn connect<I, S>(endpoints: I, queue_length: i32) -> io::Result<ZmqSender>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::open(endpoints, queue_length, false)
    }

    /// Binds the PUB socket to each endpoint, for subscribers to connect to.
    pub fn bind<I, S>(endpoints: I, queue_length: i32) -> io::Result<ZmqSender>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::open(endpoints, queue_length, true)
    }

    fn open<I, S>(endpoints: I, queue_length: i32, bind: bool) -> io::Result<ZmqSender>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| e.as_ref().to_owned())
            .collect();
        if endpoints.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no zmq endpoint given",
            ));
        }
        let transport = move || ZmqTransport::open(&endpoints, queue_length, bind);
        Ok(ZmqSender {
            queued: QueuedSender::with_factory("zmq", transport, QueueConfig::default())?,
        })
    }
}

impl ZmqTransport {
    /// A socket bound or connected to every endpoint.
    fn open(endpoints: &[String], queue_length: i32, bind: bool) -> io::Result<ZmqTransport> {
        let context = zmq::Context::new();
        // XPUB: a PUB socket that also hears subscriptions, so messages
        // nobody is subscribed to are counted as dropped, not as sent.
        let mut socket = context.socket(zmq::XPUB).map_err(zmq_error)?;
        socket.set_sndhwm(queue_length.max(1)).map_err(zmq_error)?;
        // Pending messages get a second to leave when the sender is dropped.
        socket.set_linger(1000).map_err(zmq_error)?;
        set_nodrop(&mut socket)?;
        for endpoint in endpoints {
            let result = if bind {
                socket.bind(endpoint)
            } else {
                socket.connect(endpoint)
            };
            result.map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("zmq endpoint {endpoint:?}: {e}"),
                )
            })?;
        }
        Ok(ZmqTransport {
            socket,
            _context: context,
            buf: Vec::with_capacity(512),
            topics: Vec::new(),
        })
    }
}

background_sender!(ZmqSender);

fn zmq_error(e: zmq::Error) -> io::Error {
    io::Error::other(format!("zmq: {e}"))
}

/// Makes a full PUB socket refuse (EAGAIN) instead of dropping silently.
fn set_nodrop(socket: &mut zmq::Socket) -> io::Result<()> {
    let on: std::os::raw::c_int = 1;
    // SAFETY: `as_mut_ptr` is the live socket this function borrows
    // mutably; the option value points to a c_int that outlives the call and
    // its size is passed alongside, as zmq_setsockopt requires.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as std::os::raw::c_int,
            std::ptr::addr_of!(on).cast(),
            std::mem::size_of_val(&on),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::other("zmq: cannot set ZMQ_XPUB_NODROP"))
    }
}

struct ZmqTransport {
    socket: zmq::Socket,
    _context: zmq::Context,
    buf: Vec<u8>,
    /// The topics (message prefixes) subscribed to and not withdrawn: XPUB
    /// passes each topic's first subscription and its last unsubscription.
    topics: Vec<Vec<u8>>,
}

impl ZmqTransport {
    /// Takes the subscription messages waiting on the socket.
    fn hear_subscriptions(&mut self) {
        while let Ok(message) = self.socket.recv_bytes(zmq::DONTWAIT) {
            let Some((&kind, topic)) = message.split_first() else {
                continue;
            };
            let known = self.topics.iter().position(|t| t == topic);
            match (kind, known) {
                (1, None) => self.topics.push(topic.to_vec()),
                (0, Some(at)) => {
                    self.topics.swap_remove(at);
                }
                _ => {}
            }
        }
    }

    /// Whether a subscriber takes `message`: one of the topics is a prefix
    /// of it (ZeroMQ discards the rest without a word).
    fn wanted(&self, message: &[u8]) -> bool {
        self.topics.iter().any(|topic| message.starts_with(topic))
    }
}

impl Transport for ZmqTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        self.hear_subscriptions();
        for item in batch.iter() {
            if self.topics.is_empty() {
                // Nobody to deliver to: ZeroMQ would drop it silently.
                outcome.dropped(item.ticket());
                continue;
            }
            self.buf.clear();
            json::write(item.envelope(), &mut self.buf);
            if !self.wanted(&self.buf) {
                // Subscribers, none to this message's topic: the same.
                outcome.dropped(item.ticket());
                continue;
            }
            match self.socket.send(&self.buf[..], zmq::DONTWAIT) {
                Ok(()) => outcome.delivered(item.ticket()),
                Err(zmq::Error::EAGAIN) => outcome.dropped(item.ticket()),
                Err(e) => outcome.failed(
                    item.ticket(),
                    &SendError::new(SendErrorKind::Io, format!("zmq send failed: {e}")),
                ),
            }
        }
    }

    fn idle(&mut self, _outcome: &Outcome) {
        self.hear_subscriptions();
    }
}
