//! [`ZmqSender`]: metlog-py's `ZmqPubSender` (feature `zmq`).

// The one `unsafe` block of the crate: the `zmq` bindings expose no setter
// for ZMQ_XPUB_NODROP, without which a PUB socket drops messages beyond its
// high-water mark silently, so they could not be counted.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use super::background::QueuedSender;
use super::transport::{Batch, Outcome, Transport};
use super::udp::{background_sender, Format, SenderOptions};
use super::{SendError, SendErrorKind};
use crate::encode::json;

/// Publishes each message as one JSON ZeroMQ message on a PUB socket that
/// connects (metlog-py's `bindstrs`) or [binds](SenderOptions::bind) to one
/// or more endpoints.
///
/// Beyond its [`backlog`](SenderOptions::backlog) of messages waiting in ZeroMQ (its send high-water
/// mark), messages are dropped and counted in
/// [`Stats::dropped`](crate::Stats::dropped) — never silently, as a plain PUB
/// socket would. So are messages no subscriber takes: the socket is an XPUB,
/// which hears subscriptions (subscribers see a PUB), and PUB/SUB delivers
/// nothing to nobody — nor a message whose topic no subscriber wants — and
/// says nothing about it. The first such drop is reported.
///
/// - A subscription is heard only once the subscriber's connection is up:
///   for the first second after the socket opens, up to the backlog of
///   messages wait for one rather than being dropped, so a short program's
///   messages reach a subscriber that is there.
/// - Subscribers share the high-water mark: one that is connected but stops
///   reading holds the others back once its share is full, and what cannot
///   be sent is counted dropped (metlog's deployments have one subscriber,
///   the router; a slow extra one shows in the counts rather than losing
///   silently). An endpoint that is down holds nothing back and queues
///   nothing: messages go only to connections that are up.
/// - ZeroMQ sends from a queue of its own, which the end of a process would
///   discard: at exit, and when the sender is dropped, the socket is closed
///   and what it holds given time to leave (the exit's and the drain's
///   deadlines).
///
/// ```no_run
/// let sender = metlog::sender::ZmqSender::new(["tcp://127.0.0.1:5565"])?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("over zeromq");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ZmqSender(QueuedSender);

impl ZmqSender {
    /// Connects the PUB socket to each endpoint (e.g. the router's SUB
    /// `tcp://host:port`), as metlog-py does.
    ///
    /// An error, never an abort, when the process cannot give ZeroMQ what
    /// it needs: about ten file descriptors (nine, and one per endpoint)
    /// and two threads. libzmq asserts — aborting the process — when it
    /// cannot make them, so the sender checks first, by taking them and
    /// giving them back; the error says how many descriptors are needed and
    /// free (`ulimit -n`). (Descriptors or threads another thread takes
    /// between the check and ZeroMQ's start can still make libzmq abort.)
    pub fn new<I, S>(endpoints: I) -> io::Result<ZmqSender>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_options(endpoints, SenderOptions::default())
    }

    /// Connects, or [binds](SenderOptions::bind), the PUB socket to each
    /// endpoint, with the options' queue and
    /// [`backlog`](SenderOptions::backlog) (its high-water mark).
    pub fn with_options<I, S>(endpoints: I, options: SenderOptions) -> io::Result<ZmqSender>
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
        let transport = move |options: &SenderOptions| ZmqTransport::open(&endpoints, options);
        let queued = options.start("zmq", Format::Json, transport)?;
        Ok(ZmqSender(queued))
    }
}

background_sender!(ZmqSender);

impl ZmqTransport {
    /// A socket bound or connected to every endpoint.
    fn open(endpoints: &[String], options: &SenderOptions) -> io::Result<ZmqTransport> {
        let queue_length = options.backlog.unwrap_or(1000).clamp(1, i32::MAX as usize);
        let bind = options.bind;
        check_resources(endpoints.len())?;
        let context = zmq::Context::new();
        // XPUB: a PUB socket that also hears subscriptions, so messages
        // nobody is subscribed to are counted as dropped, not as sent.
        let mut socket = context.socket(zmq::XPUB).map_err(zmq_error)?;
        socket.set_sndhwm(queue_length as i32).map_err(zmq_error)?;
        // Pending messages get a second to leave when the sender is dropped.
        socket.set_linger(1000).map_err(zmq_error)?;
        set_nodrop(&mut socket)?;
        if !bind {
            // Queue only to connections that are up: an endpoint that is
            // down (a router restarting) would otherwise get a queue of its
            // own, up to the high-water mark of messages of any size, and
            // once it was full (no-drop) hold back every other subscriber.
            socket.set_immediate(true).map_err(zmq_error)?;
        }
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
            socket: Some(socket),
            context: Some(context),
            buf: Vec::with_capacity(512),
            topics: Vec::new(),
            opened: Instant::now(),
            waiting: VecDeque::new(),
            queue_length,
            unheard_reported: Cell::new(false),
            unwanted_reported: Cell::new(false),
        })
    }
}

/// The descriptors a context and its socket take: the context's mailbox,
/// the reaper's and the I/O thread's mailbox and epoll, the socket's
/// mailbox (and, measured with ZeroMQ 4.3.4, three more); one more per
/// endpoint (its TCP socket).
const DESCRIPTORS: usize = 9;

/// The threads a context starts: its reaper and one I/O thread.
const THREADS: usize = 2;

/// The stack of a thread libzmq starts (glibc's default, with the usual
/// 8 MiB `ulimit -s`).
const THREAD_STACK: usize = 8 << 20;

/// Checks that ZeroMQ can have the descriptors and threads a context and
/// socket for `endpoints` need, by taking them and giving them back: where
/// it cannot, libzmq asserts, aborting the process (ZeroMQ 4.3: an epoll
/// descriptor or a thread it cannot make). A descriptor or thread taken by
/// another thread between the check and ZeroMQ's use still aborts it.
fn check_resources(endpoints: usize) -> io::Result<()> {
    let needed = DESCRIPTORS + endpoints;
    let mut held = Vec::with_capacity(needed);
    for _ in 0..needed {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            // No /dev/null to count with: nothing is known.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "zmq: {needed} file descriptors needed, {} free ({e}; raise `ulimit -n` \
                         or close descriptors): ZeroMQ would abort the process without them",
                        held.len()
                    ),
                ))
            }
        }
    }
    drop(held);
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
    let mut threads = Vec::with_capacity(THREADS);
    let mut refused = None;
    for _ in 0..THREADS {
        let wait = wait.clone();
        let started = std::thread::Builder::new()
            .name("metlog-zmq-check".into())
            .stack_size(THREAD_STACK)
            .spawn(move || drop(wait.lock().map(|w| w.recv())));
        match started {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    drop(release);
    for thread in threads {
        let _ = thread.join();
    }
    match refused {
        None => Ok(()),
        Some(e) => Err(io::Error::new(
            e.kind(),
            format!(
                "zmq: cannot start the {THREADS} threads ZeroMQ needs ({e}): ZeroMQ would \
                 abort the process without them"
            ),
        )),
    }
}

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

/// How long after the socket opens messages wait for a first subscription
/// rather than being dropped: ZeroMQ hears one only once the subscriber's
/// connection is up (a few milliseconds on a LAN), and a short program's
/// messages would otherwise all go to nobody.
const FIRST_SUBSCRIPTION_WAIT: Duration = Duration::from_secs(1);

struct ZmqTransport {
    /// Both closed in [`Transport::close`] (the socket first: dropping the
    /// context waits, up to the socket's linger, for what it still holds).
    socket: Option<zmq::Socket>,
    context: Option<zmq::Context>,
    buf: Vec<u8>,
    /// The topics (message prefixes) subscribed to and not withdrawn: XPUB
    /// passes each topic's first subscription and its last unsubscription.
    topics: Vec<Vec<u8>>,
    opened: Instant,
    /// Messages (encoded) waiting for the first subscription, at most
    /// `queue_length` of them, for at most [`FIRST_SUBSCRIPTION_WAIT`].
    waiting: VecDeque<Vec<u8>>,
    queue_length: usize,
    /// Whether dropping for want of a subscriber has been reported.
    unheard_reported: Cell<bool>,
    /// Whether dropping for want of a subscriber to the message's topic has
    /// been reported.
    unwanted_reported: Cell<bool>,
}

impl ZmqTransport {
    /// Takes the subscription messages waiting on the socket.
    fn hear_subscriptions(&mut self) {
        let Some(socket) = &self.socket else {
            return;
        };
        while let Ok(message) = socket.recv_bytes(zmq::DONTWAIT) {
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

    /// Sends (or drops) `message` now that there are subscribers.
    fn publish(&self, message: &[u8], outcome: &Outcome) {
        let Some(socket) = &self.socket else {
            return outcome.dropped(1);
        };
        // A subscriber takes it when one of the topics is a prefix of it;
        // else ZeroMQ would discard it silently.
        if !self.topics.iter().any(|topic| message.starts_with(topic)) {
            outcome.dropped(1);
            if !self.unwanted_reported.replace(true) {
                crate::report::report(format_args!(
                    "zmq: no subscriber takes some messages (their topic matches no \
                     subscription): they are dropped, and counted in Stats::dropped"
                ));
            }
            return;
        }
        let mut sent = socket.send(message, zmq::DONTWAIT);
        // At exit, what is queued goes out within the exit's time rather
        // than beyond the high-water mark at once: the burst the process
        // leaves behind waits for a subscriber's queue to have room.
        if let Some(deadline) = crate::process::exit_deadline() {
            while sent == Err(zmq::Error::EAGAIN) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                sent = socket.send(message, zmq::DONTWAIT);
            }
        }
        match sent {
            Ok(()) => outcome.delivered(1),
            Err(zmq::Error::EAGAIN) => outcome.dropped(1),
            Err(e) => outcome.failed(
                1,
                &SendError::new(SendErrorKind::Io, format!("zmq send failed: {e}")),
            ),
        }
    }

    /// Nobody to deliver to: dropped (ZeroMQ would drop it silently),
    /// counted, and reported the first time.
    fn unheard(&self, outcome: &Outcome) {
        outcome.dropped(1);
        if !self.unheard_reported.replace(true) {
            crate::report::report(format_args!(
                "zmq: no subscriber (none is subscribed, and the first {FIRST_SUBSCRIPTION_WAIT:?} \
                 after the socket opened is over): messages are dropped until one subscribes, \
                 and counted in Stats::dropped"
            ));
        }
    }

    /// Whether messages may still wait for a first subscription.
    fn may_wait(&self) -> bool {
        self.opened.elapsed() < FIRST_SUBSCRIPTION_WAIT
    }

    /// Sends what waited for a first subscription, once there is one; drops
    /// it once the wait is over.
    fn settle_waiting(&mut self, outcome: &Outcome) {
        if !self.topics.is_empty() {
            for message in std::mem::take(&mut self.waiting) {
                self.publish(&message, outcome);
            }
        } else if !self.may_wait() {
            for _ in std::mem::take(&mut self.waiting) {
                self.unheard(outcome);
            }
        }
    }
}

impl Transport for ZmqTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        self.idle(outcome);
        for envelope in batch.iter() {
            self.buf.clear();
            json::write(envelope, &mut self.buf);
            if !self.topics.is_empty() {
                self.publish(&self.buf, outcome);
            } else if self.may_wait() && self.waiting.len() < self.queue_length {
                self.waiting.push_back(self.buf.clone());
            } else {
                self.unheard(outcome);
            }
        }
    }

    fn idle(&mut self, outcome: &Outcome) {
        self.hear_subscriptions();
        self.settle_waiting(outcome);
    }

    /// Lets what waits for a first subscription have it (until the wait is
    /// over or `deadline`), then closes the socket and waits, until
    /// `deadline`, for ZeroMQ to send what it still holds.
    fn close(&mut self, outcome: &Outcome, deadline: Instant) {
        while !self.waiting.is_empty() && Instant::now() < deadline {
            self.idle(outcome);
            if !self.waiting.is_empty() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        for _ in std::mem::take(&mut self.waiting) {
            self.unheard(outcome);
        }
        if let Some(socket) = self.socket.take() {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = socket.set_linger(i32::try_from(left.as_millis()).unwrap_or(i32::MAX));
            drop(socket);
        }
        // Terminating the context waits for the socket's pending messages.
        drop(self.context.take());
    }
}
