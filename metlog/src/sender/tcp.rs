//! Stream delivery (TCP) with lazy connection, reconnection with backoff and
//! a bounded backlog; and [`TcpSender`] (newline-delimited JSON).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::background::{Background, Outcome, Owner, QueueConfig, Transport};
use super::udp::{background_sender, resolve, Encoder};
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::encode::json;
use crate::site::SiteEvent;
use crate::Message;

/// How messages are delimited on the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `MSG\n` (NDJSON; also RFC 6587 non-transparent framing).
    Newline,
    /// `LEN SP MSG` (RFC 6587 octet counting, for syslog over TCP).
    OctetCount,
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes framed messages to a TCP peer, keeping them in a bounded backlog
/// while it is unreachable.
pub(crate) struct StreamTransport {
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) encode: Encoder,
    pub(crate) framing: Framing,
    pub(crate) backlog_limit: usize,
    /// Whether annotated functions' events are written as the JSON
    /// envelope directly (the encoder is the JSON one, newline-framed).
    pub(crate) json_events: bool,
    stream: Option<TcpStream>,
    /// Encoded, framed messages not yet written.
    backlog: VecDeque<Vec<u8>>,
    /// The most bytes the backlog may hold, and what it holds.
    backlog_max_bytes: usize,
    backlog_bytes: usize,
    next_attempt: Instant,
    backoff: Duration,
    out: Vec<u8>,
}

impl StreamTransport {
    /// `backlog`: at most this many messages and bytes wait unsent.
    pub(crate) fn new(
        addrs: Vec<SocketAddr>,
        encode: Encoder,
        framing: Framing,
        (backlog_limit, backlog_max_bytes): (usize, usize),
    ) -> Self {
        StreamTransport {
            addrs,
            encode,
            framing,
            backlog_limit: backlog_limit.max(1),
            backlog_max_bytes,
            backlog_bytes: 0,
            json_events: false,
            stream: None,
            backlog: VecDeque::new(),
            next_attempt: Instant::now(),
            backoff: MIN_BACKOFF,
            out: Vec::new(),
        }
    }

    fn connect(&mut self) -> bool {
        if self.stream.is_some() {
            if self.peer_closed() {
                self.stream = None;
            } else {
                return true;
            }
        }
        if Instant::now() < self.next_attempt {
            return false;
        }
        for addr in &self.addrs {
            if let Ok(stream) = TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
                let _ = stream.set_nodelay(true);
                // A peer that stops reading blocks this worker at most this
                // long per write; the caller is never blocked (the queue
                // fills and drops instead).
                let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                self.stream = Some(stream);
                self.backoff = MIN_BACKOFF;
                return true;
            }
        }
        // Unreachable: messages wait in the backlog (and are reported only
        // if they are lost); try again after a growing pause.
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        false
    }

    /// Whether the peer has closed the connection (so a write would be lost
    /// into a dead socket before the error shows).
    fn peer_closed(&self) -> bool {
        let Some(stream) = &self.stream else {
            return true;
        };
        if stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut probe = [0u8; 1];
        let closed = match stream.peek(&mut probe) {
            Ok(0) => true,
            Ok(_) => {
                // The peer sent something; we never expect data: discard it.
                let mut sink = [0u8; 512];
                let _ = (&mut &*stream).read(&mut sink);
                false
            }
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        let _ = stream.set_nonblocking(false);
        closed
    }

    fn frame(&mut self, message: &Message) -> Result<Vec<u8>, SendError> {
        self.out.clear();
        (self.encode)(message, &mut self.out)?;
        let mut framed = Vec::with_capacity(self.out.len() + 8);
        match self.framing {
            Framing::Newline => {
                framed.extend_from_slice(&self.out);
                framed.push(b'\n');
            }
            Framing::OctetCount => {
                framed.extend_from_slice(format!("{} ", self.out.len()).as_bytes());
                framed.extend_from_slice(&self.out);
            }
        }
        Ok(framed)
    }

    /// Writes as much of the backlog as the connection takes, in large
    /// writes; an entry leaves the backlog only once written.
    fn write_backlog(&mut self) -> u64 {
        let mut written = 0;
        while !self.backlog.is_empty() {
            if !self.connect() {
                break;
            }
            let mut chunk = Vec::new();
            let mut count = 0;
            for entry in &self.backlog {
                if !chunk.is_empty() && chunk.len() + entry.len() > 256 * 1024 {
                    break;
                }
                chunk.extend_from_slice(entry);
                count += 1;
            }
            let Some(stream) = self.stream.as_mut() else {
                break;
            };
            if stream.write_all(&chunk).is_err() {
                // Unknown how much arrived: the chunk stays and is sent again
                // on a new connection (the peer may see one line cut short).
                self.stream = None;
                break;
            }
            self.backlog.drain(..count);
            self.backlog_bytes -= chunk.len();
            written += count as u64;
        }
        written
    }

    /// Keeps `framed` for when the peer takes it, dropping the oldest (or
    /// `framed` itself, when it alone exceeds the byte ceiling) to stay
    /// within the backlog's bounds in messages and bytes.
    fn push(&mut self, framed: Vec<u8>, outcome: &Outcome) {
        let full = |t: &Self| {
            t.backlog.len() >= t.backlog_limit
                || t.backlog_bytes + framed.len() > t.backlog_max_bytes
        };
        let mut dropped = 0;
        while full(self) {
            let Some(oldest) = self.backlog.pop_front() else {
                break;
            };
            self.backlog_bytes -= oldest.len();
            dropped += 1;
        }
        let too_big = framed.len() > self.backlog_max_bytes;
        if too_big {
            dropped += 1;
        } else {
            self.backlog_bytes += framed.len();
            self.backlog.push_back(framed);
        }
        if dropped > 0 {
            outcome.failed(
                dropped,
                &SendError::new(
                    SendErrorKind::Io,
                    format!(
                        "peer {:?} unreachable and the backlog ({} messages, {} bytes at most) is \
                         full; the oldest was dropped",
                        self.addrs, self.backlog_limit, self.backlog_max_bytes
                    ),
                ),
            );
        }
    }
}

impl Transport for StreamTransport {
    fn takes_events(&self) -> bool {
        self.json_events && matches!(self.framing, Framing::Newline)
    }

    fn deliver_events(&mut self, events: &[SiteEvent], owner: &Owner, outcome: &Outcome) {
        for event in events {
            let mut framed = Vec::with_capacity(384);
            event.write_json(&owner.logger, owner.severity, &mut framed);
            framed.push(b'\n');
            self.push(framed, outcome);
        }
        outcome.delivered(self.write_backlog());
    }

    fn deliver(&mut self, batch: &mut Vec<Message>, outcome: &Outcome) {
        for message in batch.drain(..) {
            match self.frame(&message) {
                Ok(framed) => self.push(framed, outcome),
                Err(e) => outcome.failed(1, &e),
            }
        }
        outcome.delivered(self.write_backlog());
    }

    fn idle(&mut self, outcome: &Outcome) {
        outcome.delivered(self.write_backlog());
    }

    fn close(&mut self, outcome: &Outcome, deadline: Instant) {
        while !self.backlog.is_empty() && Instant::now() < deadline {
            outcome.delivered(self.write_backlog());
            if !self.backlog.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(stream) = &mut self.stream {
            let _ = stream.flush();
        }
        let left = self.backlog.len() as u64;
        if left > 0 {
            outcome.failed(
                left,
                &SendError::new(
                    SendErrorKind::Io,
                    format!("peer {:?} unreachable at shutdown", self.addrs),
                ),
            );
        }
    }
}

/// Sends newline-delimited JSON over TCP from a background thread.
///
/// Connects on first use, reconnects with exponential backoff (50 ms up to
/// 5 s) after the peer goes away, and meanwhile keeps up to `backlog`
/// messages (10,000 by default; the oldest are dropped, counted as failed)
/// which it delivers once reconnected. Writes are batched.
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let sender = metlog::sender::TcpSender::new(listener.local_addr()?)?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.info("over tcp");
/// let (mut conn, _) = listener.accept()?;
/// let mut line = String::new();
/// std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut conn), &mut line)?;
/// assert_eq!(metlog::Message::from_json(line.trim_end()).unwrap().payload, "over tcp");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpSender {
    background: Background,
}

/// Messages kept while the peer is unreachable, by default.
pub const DEFAULT_BACKLOG: usize = 10_000;

impl TcpSender {
    /// Sends to `addr`; resolved now, connected on first use.
    pub fn new(addr: impl ToSocketAddrs + std::fmt::Debug) -> io::Result<TcpSender> {
        Self::with_options(addr, QueueConfig::default(), DEFAULT_BACKLOG)
    }

    /// Sends to `addr` with the given queue and backlog size.
    pub fn with_options(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        config: QueueConfig,
        backlog: usize,
    ) -> io::Result<TcpSender> {
        let encode: Encoder = Box::new(|message, out| {
            json::write(message, out);
            Ok(())
        });
        let limits = (backlog, config.max_bytes_value());
        let mut transport = StreamTransport::new(resolve(addr)?, encode, Framing::Newline, limits);
        transport.json_events = true;
        Ok(TcpSender {
            background: Background::spawn("tcp", transport, config)?,
        })
    }
}

background_sender!(TcpSender);
