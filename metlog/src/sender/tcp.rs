//! Stream delivery (TCP) with lazy connection, reconnection with backoff and
//! a bounded backlog; and [`TcpSender`] (newline-delimited JSON).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::address::{Address, Resolver, ToAddress};
use super::background::QueuedSender;
use super::transport::{Batch, Outcome, Transport};
use super::udp::{background_sender, Format, SenderOptions};
use super::{SendError, SendErrorKind};
use crate::Envelope;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a write waits for a peer that does not read...
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// ...in slices this long, between which the worker looks at the time it
/// has (the exit's, or the close's): a write begun before the exit does
/// not outlast it.
const WRITE_SLICE: Duration = Duration::from_millis(20);
/// How long a write to a peer that stopped sending is given to draw a reset.
const EOF_PROBE: Duration = Duration::from_millis(20);

/// `limit`, or the time to the nearest of `ends` and the exit's deadline
/// when that is sooner (zero once one has passed): no connect or write
/// outlasts the exit, or a closing sender's time.
fn time_left(ends: [Option<Instant>; 2], limit: Duration) -> Duration {
    let now = Instant::now();
    ends.into_iter()
        .chain([crate::process::exit_deadline()])
        .flatten()
        .map(|end| end.saturating_duration_since(now))
        .fold(limit, Duration::min)
}

/// Writes framed messages to a TCP peer, keeping them in a bounded backlog
/// while it is unreachable.
pub(crate) struct StreamTransport {
    peer: Resolver,
    /// The peer's name failing to resolve has been reported (once).
    unresolved_reported: bool,
    /// The peer has been reported unreachable, and not reachable again
    /// since.
    unreachable_reported: bool,
    options: SenderOptions,
    backlog_limit: usize,
    stream: Option<TcpStream>,
    /// The peer has stopped sending on this connection (it may still read).
    peer_eof: bool,
    /// Encoded, framed messages not yet written.
    backlog: VecDeque<Vec<u8>>,
    /// The most bytes the backlog may hold, and what it holds.
    backlog_max_bytes: usize,
    backlog_bytes: usize,
    next_attempt: Instant,
    backoff: Duration,
    /// A chunk the peer has taken part of on this connection (it stopped
    /// reading for longer than a write waits): the backlog's first entries
    /// (so many), of which bytes (so many) are out. It is finished on the
    /// same connection — a new one would carry its start twice, and the old
    /// one a cut line.
    resume: Option<(usize, usize)>,
    /// When a closing sender's time is up.
    closing: Option<Instant>,
}

/// How a chunk's write went.
enum Progress {
    /// All of it is out.
    Written,
    /// The peer stopped taking it: this much is out, the rest waits.
    Stalled(usize),
    /// The connection failed.
    Failed,
}

impl StreamTransport {
    /// At most the options' backlog of messages, and their queue's
    /// [`max_bytes`](super::QueueConfig::max_bytes), wait unsent.
    pub(crate) fn new(peer: Address, options: &SenderOptions) -> Self {
        StreamTransport {
            peer: Resolver::new(peer),
            unresolved_reported: false,
            unreachable_reported: false,
            backlog_limit: options.backlog.unwrap_or(10_000).max(1),
            backlog_max_bytes: options.queue.max_bytes,
            options: options.clone(),
            backlog_bytes: 0,
            stream: None,
            peer_eof: false,
            backlog: VecDeque::new(),
            next_attempt: Instant::now(),
            backoff: MIN_BACKOFF,
            resume: None,
            closing: None,
        }
    }

    /// Whether there is a connection to write to: the one there is, unless
    /// the peer closed it (a write would be lost into a dead socket before
    /// the error shows), or a new one. The end of what the peer sends is
    /// not a close: a peer may shut down its sending side and keep reading;
    /// it is remembered, and each write after it confirmed
    /// ([`write_confirmed`](StreamTransport::write_confirmed)).
    fn connect(&mut self) -> bool {
        if let Some(stream) = &self.stream {
            match peek_now(stream) {
                Ok(0) => self.peer_eof = true,
                // The peer sent something; we never expect data: discard it.
                Ok(_) => drop((&mut &*stream).read(&mut [0u8; 512])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => self.drop_connection(),
            }
        }
        if self.stream.is_some() {
            return true;
        }
        if Instant::now() < self.next_attempt {
            return false;
        }
        // A host name that does not resolve (yet) is a peer out of reach:
        // messages wait in the backlog.
        let addrs = match self.peer.addrs() {
            Ok(addrs) => addrs.to_vec(),
            Err(unresolved) => {
                if !std::mem::replace(&mut self.unresolved_reported, true) {
                    crate::report::report(format_args!(
                        "{unresolved}; messages wait in the backlog meanwhile"
                    ));
                }
                Vec::new()
            }
        };
        let mut error = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(
                addr,
                time_left([self.closing, None], CONNECT_TIMEOUT).max(Duration::from_millis(1)),
            ) {
                Ok(stream) => {
                    self.connected(stream);
                    return true;
                }
                Err(e) => error = Some(e),
            }
        }
        // Unreachable: said once (until it is reachable again), messages
        // wait in the backlog; try again after a growing pause.
        if let Some(error) = error {
            self.report_unreachable(&error);
        }
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        false
    }

    /// Takes a new connection to the peer (saying so when the peer had
    /// been reported unreachable).
    fn connected(&mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        // A peer that stops reading blocks this worker a slice at a time
        // (see `write_confirmed`); the caller is never blocked (the queue
        // fills and drops instead).
        let _ = stream.set_write_timeout(Some(WRITE_SLICE));
        self.stream = Some(stream);
        self.peer_eof = false;
        self.backoff = MIN_BACKOFF;
        if std::mem::replace(&mut self.unreachable_reported, false) {
            crate::report::report(format_args!(
                "peer {} reachable again; delivering the {} message(s) kept meanwhile",
                self.peer.address,
                self.backlog.len()
            ));
        }
    }

    /// Says once — at the first failed attempt, not per message — that the
    /// peer cannot be reached and messages wait for it meanwhile.
    fn report_unreachable(&mut self, error: &io::Error) {
        if std::mem::replace(&mut self.unreachable_reported, true) {
            return;
        }
        crate::report::report(format_args!(
            "peer {} unreachable ({error}); messages wait in the backlog ({} messages, {} bytes \
             at most; beyond, the oldest are dropped) and connecting is retried",
            self.peer.address, self.backlog_limit, self.backlog_max_bytes
        ));
    }

    /// The message's bytes framed: `MSG\n` (NDJSON; also RFC 6587
    /// non-transparent framing), or for syslog `LEN SP MSG` (RFC 6587 octet
    /// counting).
    fn frame(&self, message: &Envelope<'_>) -> Result<Vec<u8>, SendError> {
        let mut framed = Vec::with_capacity(256);
        self.options.encode(message, &mut framed)?;
        if self.options.format == Format::Syslog {
            let len = framed.len().to_string() + " ";
            framed.splice(..0, len.into_bytes());
        } else {
            framed.push(b'\n');
        }
        Ok(framed)
    }

    /// Gives up the connection: a chunk it had taken part of is sent whole
    /// on the next (the peer is gone; what it got of it, TCP cannot tell).
    fn drop_connection(&mut self) {
        self.stream = None;
        self.resume = None;
    }

    /// Writes as much of the backlog as the connection takes, in large
    /// writes; an entry leaves the backlog (reported delivered) only once
    /// written.
    fn write_backlog(&mut self, outcome: &Outcome) {
        while !self.backlog.is_empty() && self.connect() {
            let (count, from) = self.resume.take().unwrap_or_else(|| (self.chunk_len(), 0));
            let entries: Vec<&[u8]> = self.backlog.range(..count).map(Vec::as_slice).collect();
            let chunk = entries.concat();
            match self.write_confirmed(&chunk, from) {
                Progress::Written => {
                    self.backlog.drain(..count);
                    outcome.delivered(count);
                    self.backlog_bytes -= chunk.len();
                }
                Progress::Stalled(written) => {
                    // Finished on this connection when the peer reads again.
                    self.resume = Some((count, written));
                    break;
                }
                Progress::Failed => {
                    // Unknown how much arrived: the chunk stays and is sent
                    // again on a new connection (the peer may see one line
                    // cut short on the old one).
                    self.drop_connection();
                    break;
                }
            }
        }
    }

    /// How many of the backlog's first entries make the next chunk (about
    /// 256 KiB, at least one).
    fn chunk_len(&self) -> usize {
        let mut bytes = 0;
        let fits = |entry: &&Vec<u8>| {
            bytes += entry.len();
            bytes <= 256 * 1024
        };
        self.backlog.iter().take_while(fits).count().max(1)
    }

    /// Writes `chunk` from byte `from` on; whether it reached a peer that
    /// reads. After the peer stopped sending, a peer that closed altogether
    /// answers a write with a reset: waited for briefly, so a chunk it drops
    /// is sent again rather than counted as delivered.
    fn write_confirmed(&mut self, chunk: &[u8], from: usize) -> Progress {
        let ends = [Some(Instant::now() + WRITE_TIMEOUT), self.closing];
        let Some(stream) = self.stream.as_mut() else {
            return Progress::Failed;
        };
        let mut slice = WRITE_SLICE;
        let mut at = from;
        let progress = loop {
            if at == chunk.len() {
                break Progress::Written;
            }
            // The time to the nearest end, looked at before each write: the
            // exit may have begun since this write did.
            let left = time_left(ends, WRITE_SLICE);
            if left.is_zero() {
                break Progress::Stalled(at);
            }
            if left != slice {
                slice = left.max(Duration::from_millis(1));
                let _ = stream.set_write_timeout(Some(slice));
            }
            match stream.write(&chunk[at..]) {
                Ok(0) => break Progress::Failed,
                Ok(n) => at += n,
                // Interrupted, or a slice's timeout: a peer alive but not
                // reading.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break Progress::Failed,
            }
        };
        if slice != WRITE_SLICE {
            let _ = stream.set_write_timeout(Some(WRITE_SLICE));
        }
        if !matches!(progress, Progress::Written) {
            return progress;
        }
        if !self.peer_eof {
            return Progress::Written;
        }
        std::thread::sleep(EOF_PROBE);
        let reset = stream.take_error().ok().flatten().is_some()
            || matches!(peek_now(stream), Err(e) if e.kind() != io::ErrorKind::WouldBlock);
        if reset {
            Progress::Failed
        } else {
            Progress::Written
        }
    }

    /// Why messages were lost: the peer unreachable, and `then`.
    fn unreachable(&self, then: &str) -> SendError {
        let (peer, why) = (&self.peer.address, self.peer.why_unresolved());
        let message = format!("peer {peer} unreachable{why}{then}");
        SendError::new(SendErrorKind::Io, message)
    }

    /// Why a message was dropped from the backlog.
    fn backlog_full(&self) -> SendError {
        self.unreachable(&format!(
            " and the backlog ({} messages, {} bytes at most) is full; the oldest was dropped",
            self.backlog_limit, self.backlog_max_bytes
        ))
    }

    /// Keeps `framed` for when the peer takes it, dropping the oldest (or
    /// `framed` itself, when it alone exceeds the byte ceiling) to stay
    /// within the backlog's bounds in messages and bytes.
    fn push(&mut self, framed: Vec<u8>, outcome: &Outcome) {
        let full = |t: &Self| {
            t.backlog.len() >= t.backlog_limit
                || t.backlog_bytes + framed.len() > t.backlog_max_bytes
        };
        // A chunk the peer has taken part of is not given up: the oldest
        // after it go first, and if there are none, this one.
        let in_flight = self.resume.map_or(0, |(entries, _)| entries);
        while full(self) {
            let Some(oldest) = self.backlog.remove(in_flight) else {
                break;
            };
            self.backlog_bytes -= oldest.len();
            outcome.failed(1, &self.backlog_full());
        }
        if full(self) || framed.len() > self.backlog_max_bytes {
            outcome.failed(1, &self.backlog_full());
        } else {
            self.backlog_bytes += framed.len();
            self.backlog.push_back(framed);
        }
    }
}

impl Transport for StreamTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        for message in batch.iter() {
            match self.frame(&message) {
                Ok(framed) => self.push(framed, outcome),
                Err(e) => outcome.failed(1, &e),
            }
        }
        self.write_backlog(outcome);
    }

    fn idle(&mut self, outcome: &Outcome) {
        self.write_backlog(outcome);
    }

    fn close(&mut self, outcome: &Outcome, deadline: Instant) {
        // A peer that stopped reading holds a write no longer than the time
        // left.
        self.closing = Some(deadline);
        while !self.backlog.is_empty() && Instant::now() < deadline {
            self.write_backlog(outcome);
            if !self.backlog.is_empty() {
                // Not past the deadline: the exit waits for this worker
                // only a moment beyond it.
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(20)));
            }
        }
        outcome.failed(self.backlog.len(), &self.unreachable(" at shutdown"));
        self.backlog.clear();
    }
}

/// Sends newline-delimited JSON over TCP from a background thread.
///
/// Connects on first use, reconnects with exponential backoff (50 ms up to
/// 5 s) after the peer goes away, and meanwhile keeps up to
/// [`backlog`](SenderOptions::backlog) messages (10,000 by default; the oldest are dropped, counted as failed)
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
pub struct TcpSender(pub(crate) QueuedSender);

impl TcpSender {
    /// Sends to `addr`, connected on first use (a host name is resolved
    /// then, in the background: see [`Address`]).
    pub fn new(addr: impl ToAddress) -> io::Result<TcpSender> {
        Self::with_options(addr, SenderOptions::default())
    }

    /// Sends to `addr` with the options' queue and
    /// [`backlog`](SenderOptions::backlog).
    pub fn with_options(addr: impl ToAddress, options: SenderOptions) -> io::Result<TcpSender> {
        let peer = addr.to_address()?;
        let transport = move |options: &_| Ok(StreamTransport::new(peer.clone(), options));
        let queued = options.start("tcp", Format::Json, transport)?;
        Ok(TcpSender(queued))
    }
}

/// What the peer sent, peeked at without waiting: `Ok(0)` when it has
/// stopped sending, `WouldBlock` when it sent nothing.
fn peek_now(stream: &TcpStream) -> io::Result<usize> {
    stream.set_nonblocking(true)?;
    let peeked = stream.peek(&mut [0u8; 1]);
    let _ = stream.set_nonblocking(false);
    peeked
}

background_sender!(TcpSender);
