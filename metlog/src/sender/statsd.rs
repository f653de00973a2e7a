//! [`StatsdSender`]: counters, timers and gauges as statsd lines over UDP.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use super::background::{Background, Outcome, Owner, QueueConfig, Transport};
use super::udp::{resolve, MAX_DATAGRAM};
use super::{Delivery, SendError, SendErrorKind, Sender};
use crate::encode::statsd;
use crate::site::SiteEvent;
use crate::Message;

/// Sends `counter`, `timer` and `gauge` messages to statsd as
/// `<logger>.<name>:<payload>|c` / `|ms` / `|g` (with `|@<rate>` below rate
/// 1), several lines per datagram up to the MTU (512 bytes by default, safe
/// on any network; 1432 suits Ethernet, 8932 jumbo frames).
///
/// Names are sanitised (see [`encode::statsd`](crate::encode::statsd)) so no
/// name can inject another metric.
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
/// client.incr("requests");     // → "myapp.requests:1|c" to statsd
/// client.info("log lines go to the fallback (stdout)");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StatsdSender {
    background: Background,
    fallback: Option<Box<dyn Sender>>,
    fallback_accepted: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for StatsdSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsdSender")
            .field("background", &self.background)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

/// The default largest datagram, in bytes.
pub const DEFAULT_MTU: usize = 512;

impl StatsdSender {
    /// Sends to the statsd at `addr` (e.g. `"127.0.0.1:8125"`).
    pub fn new(addr: impl ToSocketAddrs + std::fmt::Debug) -> io::Result<StatsdSender> {
        Self::with_options(addr, DEFAULT_MTU, QueueConfig::default())
    }

    /// Sends to `addr` with datagrams of at most `mtu` bytes (a single
    /// longer line still goes alone) and the given queue.
    pub fn with_options(
        addr: impl ToSocketAddrs + std::fmt::Debug,
        mtu: usize,
        config: QueueConfig,
    ) -> io::Result<StatsdSender> {
        let addr = resolve(addr)?.remove(0);
        let bind = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let transport = StatsdTransport {
            socket: UdpSocket::bind(bind)?,
            addr,
            mtu: mtu.clamp(64, MAX_DATAGRAM),
            datagram: Vec::with_capacity(mtu),
            in_datagram: 0,
            line: Vec::with_capacity(128),
        };
        Ok(StatsdSender {
            background: Background::spawn("statsd", transport, config)?,
            fallback: None,
            fallback_accepted: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Hands messages statsd cannot carry (log lines, custom types) to
    /// `sender` instead of ignoring them.
    pub fn fallback(mut self, sender: impl Sender) -> Self {
        self.fallback = Some(Box::new(sender));
        self
    }
}

impl Sender for StatsdSender {
    fn send(&self, message: Message) -> Result<(), SendError> {
        if statsd::metric_type(&message.kind).is_some() {
            return self.background.send(message);
        }
        match &self.fallback {
            Some(fallback) => {
                fallback.send(message)?;
                self.fallback_accepted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            None => Err(SendError::unsupported(&message.kind)),
        }
    }

    /// Annotated functions make only counters and timers, which statsd
    /// carries.
    fn send_site(
        &self,
        event: crate::site::SiteEvent,
        client: &crate::site::ClientDefaults<'_>,
    ) -> Result<(), SendError> {
        self.background.send_site(event, client)
    }

    fn flush(&self) -> Result<(), SendError> {
        let ours = self.background.flush();
        let theirs = self.fallback.as_ref().map_or(Ok(()), |f| f.flush());
        ours.and(theirs)
    }

    fn flush_timeout(&self, timeout: std::time::Duration) -> Result<(), SendError> {
        let ours = self.background.flush_timeout(timeout);
        let theirs = self
            .fallback
            .as_ref()
            .map_or(Ok(()), |f| f.flush_timeout(timeout));
        ours.and(theirs)
    }

    fn delivery(&self) -> Option<Delivery> {
        let ours = self.background.delivery();
        let theirs = match &self.fallback {
            Some(fallback) => fallback.delivery().unwrap_or(Delivery {
                delivered: self
                    .fallback_accepted
                    .load(std::sync::atomic::Ordering::Relaxed),
                ..Delivery::default()
            }),
            None => Delivery::default(),
        };
        Some(ours + theirs)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

struct StatsdTransport {
    socket: UdpSocket,
    addr: SocketAddr,
    mtu: usize,
    /// Lines waiting to go out together.
    datagram: Vec<u8>,
    in_datagram: u64,
    line: Vec<u8>,
}

impl StatsdTransport {
    fn send_datagram(&mut self, outcome: &Outcome) {
        if self.in_datagram == 0 {
            return;
        }
        match self.socket.send_to(&self.datagram, self.addr) {
            Ok(_) => outcome.delivered(self.in_datagram),
            Err(e) => outcome.failed(
                self.in_datagram,
                &SendError::io(format!("cannot send to statsd at {}", self.addr), e),
            ),
        }
        self.datagram.clear();
        self.in_datagram = 0;
    }
}

impl StatsdTransport {
    /// Adds the line in `self.line` to the datagram, sending the datagram
    /// first if the line would not fit.
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
    fn takes_events(&self) -> bool {
        true
    }

    /// Counters and timers from annotated functions, written straight into
    /// lines: this is the hot path of a metrics-heavy service.
    fn deliver_events(&mut self, events: &[SiteEvent], owner: &Owner, outcome: &Outcome) {
        for event in events {
            self.line.clear();
            event.write_statsd(&owner.logger, &mut self.line);
            self.add_line(outcome);
        }
        self.send_datagram(outcome);
    }

    fn deliver(&mut self, batch: &mut Vec<Message>, outcome: &Outcome) {
        for message in batch.drain(..) {
            self.line.clear();
            if let Err(e) = statsd::write_line(&message, &mut self.line) {
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
