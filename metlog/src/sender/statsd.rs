//! [`StatsdSender`]: counters, timers and gauges as statsd lines over UDP.

use std::io;

use super::accepted::Accepted;
use super::address::{Resolver, ToAddress};
use super::background::{QueueConfig, QueuedSender};
use super::transport::{Batch, Outcome, Ticket, Transport};
use super::udp::{UdpSockets, MAX_DATAGRAM};
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::encode::statsd::{self, Prefix};
use crate::record::{ClientDefaults, ClientId, Record};
use crate::Message;
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
/// **statsd carries only metrics: give the sender a fallback for everything
/// else** — log lines (`info`, `warn!`, the `log` bridge), exceptions, CEF
/// and your own types. Without one they are not sent: each is counted as
/// *ignored* in [`Client::stats`](crate::Client::stats), and the first is
/// reported once on stderr (see [`report`](crate::report)). A
/// [`Router`](super::Router) does the same per message type.
///
/// ```
/// use metlog::sender::{StatsdSender, StdoutSender};
/// let statsd = StatsdSender::new("127.0.0.1:8125")?.fallback(StdoutSender::new());
/// let client = metlog::Client::builder("myapp").sender(statsd).build();
/// client.incr("requests");     // → "requests:1|c" to statsd
/// client.info("log lines go to the fallback (stdout)");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StatsdSender {
    /// What goes before every key (shared with the transport).
    prefix: Arc<RwLock<Prefix>>,
    queued: QueuedSender,
    fallback: Option<Box<dyn Sender>>,
    fallback_accepted: Accepted,
    /// Whether the fallback keeps no counts of its own, so its accepted
    /// messages are counted here.
    fallback_counts: bool,
}

impl std::fmt::Debug for StatsdSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsdSender")
            .field("queued", &self.queued)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

/// The default largest datagram, in bytes.
pub const DEFAULT_MTU: usize = 512;

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
                in_datagram: Vec::new(),
                line: Vec::with_capacity(128),
            })
        };
        Ok(StatsdSender {
            prefix,
            queued: QueuedSender::with_factory("statsd", transport, config)?,
            fallback: None,
            fallback_accepted: Accepted::default(),
            fallback_counts: false,
        })
    }

    /// The statsd queue and the fallback, if any.
    fn parts(&self) -> Vec<&dyn Sender> {
        let mut parts: Vec<&dyn Sender> = vec![&self.queued];
        parts.extend(self.fallback.as_deref());
        parts
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

    /// Hands messages statsd cannot carry (log lines, custom types) to
    /// `sender` instead of ignoring them.
    pub fn fallback(mut self, sender: impl Sender) -> Self {
        self.fallback_counts = sender.delivery().is_none();
        self.fallback = Some(Box::new(sender));
        self
    }
}

impl StatsdSender {
    /// Counts a message the fallback accepted, when it keeps no counts.
    fn count_fallback(&self, client: Option<&Arc<ClientDefaults>>) {
        if self.fallback_counts {
            self.fallback_accepted.add(client);
        }
    }

    /// The fallback's counts (when it keeps none: what it accepted).
    fn fallback_delivery(&self, client: Option<ClientId>) -> Delivery {
        let Some(fallback) = &self.fallback else {
            return Delivery::default();
        };
        let counted = match client {
            Some(client) => fallback.delivery_for(client),
            None => fallback.delivery(),
        };
        counted.unwrap_or(Delivery {
            delivered: client.map_or_else(
                || self.fallback_accepted.total(),
                |client| self.fallback_accepted.of(client),
            ),
            ..Delivery::default()
        })
    }
}

impl Sender for StatsdSender {
    fn send(&self, message: Message) -> Result<(), SendError> {
        if statsd::metric_type(&message.kind).is_some() {
            return self.queued.send(message);
        }
        let Some(fallback) = &self.fallback else {
            return Err(SendError::unsupported(&message.kind));
        };
        fallback.send(message)?;
        self.count_fallback(None);
        Ok(())
    }

    #[inline]
    fn send_record(&self, record: Record<'_>) -> Result<(), SendError> {
        if record.is_metric_call() || statsd::metric_type(record.kind()).is_some() {
            return self.queued.send_record(record);
        }
        let Some(fallback) = &self.fallback else {
            return Err(SendError::unsupported(record.kind()));
        };
        let client = record.client;
        fallback.send_record(record)?;
        self.count_fallback(Some(client));
        Ok(())
    }

    /// Flushes the statsd queue and the fallback at once (the wait is the
    /// longer of their flush timeouts, not the sum).
    fn flush(&self) -> Result<(), SendError> {
        super::router::flush_together(&self.parts(), |sender| sender.flush())
    }

    /// Flushes the statsd queue and the fallback at once, each within
    /// `timeout`.
    fn flush_timeout(&self, timeout: std::time::Duration) -> Result<(), SendError> {
        super::router::flush_together(&self.parts(), |sender| sender.flush_timeout(timeout))
    }

    fn delivery(&self) -> Option<Delivery> {
        let ours = self.queued.delivery().unwrap_or_default();
        Some(ours + self.fallback_delivery(None))
    }

    fn delivery_for(&self, client: ClientId) -> Option<Delivery> {
        let ours = self.queued.delivery_for(client).unwrap_or_default();
        Some(ours + self.fallback_delivery(Some(client)))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
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
    /// ... one per message here.
    in_datagram: Vec<Ticket>,
    line: Vec<u8>,
}

impl StatsdTransport {
    fn send_datagram(&mut self, outcome: &Outcome) {
        if self.in_datagram.is_empty() {
            return;
        }
        let sent = self.to.datagram_addr().and_then(|addr| {
            self.sockets
                .to(addr)
                .and_then(|socket| socket.send_to(&self.datagram, addr))
                .map_err(|e| SendError::io(format!("cannot send to statsd at {addr}"), e))
        });
        match sent {
            Ok(_) => {
                for &ticket in &self.in_datagram {
                    outcome.delivered(ticket);
                }
            }
            Err(error) => {
                for &ticket in &self.in_datagram {
                    outcome.failed(ticket, &error);
                }
            }
        }
        self.datagram.clear();
        self.in_datagram.clear();
    }

    /// Adds the line in `line` to the datagram (sending the datagram first
    /// when the line would not fit).
    fn add_line(&mut self, ticket: Ticket, outcome: &Outcome) {
        if self.line.len() > MAX_DATAGRAM {
            outcome.failed(
                ticket,
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
        self.in_datagram.push(ticket);
    }
}

impl Transport for StatsdTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        let prefix = self
            .prefix
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for item in batch.iter() {
            self.line.clear();
            if let Err(e) = statsd::write_line_prefixed(item.envelope(), &prefix, &mut self.line) {
                outcome.failed(
                    item.ticket(),
                    &SendError::new(SendErrorKind::Encode, format!("no statsd line: {e}")),
                );
                continue;
            }
            self.add_line(item.ticket(), outcome);
        }
        // The end of a batch: the queue is empty for now, send what we have.
        self.send_datagram(outcome);
    }
}
