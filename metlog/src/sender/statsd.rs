//! [`StatsdSender`]: counters, timers and gauges as statsd lines over UDP.

use std::io;

use super::address::{Resolver, ToAddress};
use super::background::{QueueConfig, QueuedSender};
use super::transport::{Batch, Outcome, Transport};
use super::udp::{UdpSockets, MAX_DATAGRAM};
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::encode::statsd::{self, Prefix};
use crate::record::Record;
use std::sync::{Arc, PoisonError, RwLock};

/// Sends `counter`, `timer` and `gauge` messages to statsd as
/// `<name>:<payload>|c` / `|ms` / `|g` (with `|@<rate>` below rate 1),
/// several lines per datagram up to the MTU (512 bytes by default, safe on
/// any network; 1432 suits Ethernet, 8932 jumbo frames).
///
/// Keys are the ones Mozilla's routers made of a metlog-py message —
/// `fields.logger` (when given) + `.` + the name, not the client's logger —
/// so a service moved from metlog-py to this crate keeps its Graphite keys;
/// [`prefix`](StatsdSender::prefix) puts the client's logger (or any text)
/// in front. Keys are cleaned as statsd itself cleans them (see
/// [`encode::statsd`](crate::encode::statsd)), so no name can inject another
/// metric.
///
/// **statsd carries only metrics: route everything else elsewhere** with a
/// [`Router`](super::Router) — log lines (`info`, `warn!`, the `log`
/// bridge), exceptions, CEF and your own types. Sent to statsd they are
/// not sent: each is counted as *ignored* in
/// [`Client::stats`](crate::Client::stats), and the first is reported once
/// on stderr (see [`report`](crate::report)).
///
/// ```
/// use metlog::sender::{Router, StatsdSender, StdoutSender};
/// let statsd = StatsdSender::new("127.0.0.1:8125")?;
/// let router = Router::new(StdoutSender::new()).route(["counter", "timer", "gauge"], statsd);
/// let client = metlog::Client::builder("myapp").sender(router).build();
/// client.incr("requests");     // → "requests:1|c" to statsd
/// client.info("log lines go to stdout");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StatsdSender {
    /// What goes before every key (shared with the transport).
    prefix: Arc<RwLock<Prefix>>,
    queued: QueuedSender,
}

impl std::fmt::Debug for StatsdSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsdSender")
            .field("queued", &self.queued)
            .finish()
    }
}

/// The default largest datagram, in bytes.
pub(crate) const DEFAULT_MTU: usize = 512;

impl StatsdSender {
    /// Sends to the statsd at `addr` (e.g. `"127.0.0.1:8125"`; a host name
    /// is resolved in the background, see [`Address`](super::Address)).
    pub fn new(addr: impl ToAddress) -> io::Result<StatsdSender> {
        Self::with_options(addr, DEFAULT_MTU, QueueConfig::default())
    }

    /// Sends to `addr` with datagrams of at most `mtu` bytes (a single
    /// longer line still goes alone) and the given queue.
    pub fn with_options(
        addr: impl ToAddress,
        mtu: usize,
        config: QueueConfig,
    ) -> io::Result<StatsdSender> {
        let addr = addr.to_address()?;
        let prefix = Arc::new(RwLock::new(Prefix::None));
        let shared_prefix = prefix.clone();
        let transport = move || {
            Ok(StatsdTransport {
                prefix: shared_prefix.clone(),
                sockets: UdpSockets::for_literals(std::slice::from_ref(&addr))?,
                to: Resolver::new(addr.clone()),
                mtu: mtu.clamp(64, MAX_DATAGRAM),
                datagram: Vec::with_capacity(mtu),
                in_datagram: 0,
                line: Vec::with_capacity(128),
            })
        };
        Ok(StatsdSender {
            prefix,
            queued: QueuedSender::with_factory("statsd", transport, config)?,
        })
    }

    /// What goes before every key, joined by a `.`: nothing (the routers'
    /// keys, the default), [`Prefix::Logger`] for the client's logger
    /// (`myapp.requests`), or [`Prefix::Text`].
    ///
    /// ```
    /// use metlog::encode::statsd::Prefix;
    /// let statsd = metlog::sender::StatsdSender::new("127.0.0.1:8125")?.prefix(Prefix::Logger);
    /// # let _ = statsd;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn prefix(self, prefix: Prefix) -> Self {
        *self.prefix.write().unwrap_or_else(PoisonError::into_inner) = prefix;
        self
    }
}

impl Sender for StatsdSender {
    #[inline]
    fn send(&self, record: Record<'_>) -> Result<(), SendError> {
        if record.is_metric_call() || statsd::metric_type(record.kind()).is_some() {
            return self.queued.send(record);
        }
        Err(SendError::unsupported(record.kind()))
    }

    fn flush(&self) -> Result<(), SendError> {
        self.queued.flush()
    }

    fn flush_timeout(&self, timeout: std::time::Duration) -> Result<(), SendError> {
        self.queued.flush_timeout(timeout)
    }

    fn delivery(&self) -> Option<Delivery> {
        self.queued.delivery()
    }
}

struct StatsdTransport {
    /// The sender's (set after the transport is made; read per batch).
    prefix: Arc<RwLock<Prefix>>,
    sockets: UdpSockets,
    to: Resolver,
    mtu: usize,
    /// Lines so far, newline-separated, ...
    datagram: Vec<u8>,
    /// ... of this many messages.
    in_datagram: usize,
    line: Vec<u8>,
}

impl StatsdTransport {
    fn send_datagram(&mut self, outcome: &Outcome) {
        if self.in_datagram == 0 {
            return;
        }
        let sent = self.to.datagram_addr().and_then(|addr| {
            self.sockets
                .to(addr)
                .and_then(|socket| socket.send_to(&self.datagram, addr))
                .map_err(|e| SendError::io(format!("cannot send to statsd at {addr}"), e))
        });
        match sent {
            Ok(_) => outcome.delivered(self.in_datagram),
            Err(error) => outcome.failed(self.in_datagram, &error),
        }
        self.datagram.clear();
        self.in_datagram = 0;
    }

    /// Adds the line in `line` to the datagram (sending the datagram first
    /// when the line would not fit).
    fn add_line(&mut self, outcome: &Outcome) {
        if self.line.len() > MAX_DATAGRAM {
            outcome.failed(
                1,
                &SendError::new(SendErrorKind::Encode, "statsd line longer than a datagram"),
            );
            return;
        }
        let needed = self.line.len() + usize::from(!self.datagram.is_empty());
        if self.datagram.len() + needed > self.mtu {
            self.send_datagram(outcome);
        }
        if !self.datagram.is_empty() {
            self.datagram.push(b'\n');
        }
        self.datagram.extend_from_slice(&self.line);
        self.in_datagram += 1;
    }
}

impl Transport for StatsdTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        let prefix = self
            .prefix
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for message in batch.iter() {
            self.line.clear();
            if let Err(e) = statsd::write_line_prefixed(message, &prefix, &mut self.line) {
                outcome.failed(
                    1,
                    &SendError::new(SendErrorKind::Encode, format!("no statsd line: {e}")),
                );
                continue;
            }
            self.add_line(outcome);
        }
        // The end of a batch: the queue is empty for now, send what we have.
        self.send_datagram(outcome);
    }
}
