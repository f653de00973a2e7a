//! Datagram delivery (UDP, Unix datagram sockets), [`UdpSender`], and the
//! [`SenderOptions`] every network sender is built with.

use std::io;
use std::net::{SocketAddr, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
#[cfg(unix)]
use std::path::PathBuf;

use super::address::{Address, Resolver, ToAddress};
use super::background::{QueueConfig, QueuedSender};
#[cfg(target_os = "linux")]
use super::sendmmsg::send_each;
use super::transport::{Batch, Outcome, Transport};
use super::{SendError, SendErrorKind};
use crate::encode::json;
use crate::encode::statsd::{self, Prefix, Tags};
use crate::encode::syslog::{self, Facility, SdFields};
use crate::Envelope;

/// The largest UDP payload over IPv4 (65,535 − 8 − 20).
const MAX_DATAGRAM: usize = 65_507;

/// How a network sender is built: its queue, and the options of each
/// protocol — a sender reads those of its own and ignores the others.
///
/// ```
/// use std::time::Duration;
/// use metlog::encode::syslog::{Facility, SdFields};
/// use metlog::sender::{QueueConfig, SenderOptions, SyslogSender, TcpSender};
/// let queue = QueueConfig::default()
///     .capacity(100_000)                          // messages waiting at most
///     .block_when_full(Duration::from_millis(1)); // instead of dropping at once
/// let tcp = TcpSender::with_options("127.0.0.1:5170", SenderOptions::default().queue(queue).backlog(50_000))?;
/// let options = SenderOptions::default()
///     .facility(Facility::Local0)
///     .structured_data(SdFields::Only(vec!["name".into(), "rate".into()]));
/// let syslog = SyslogSender::udp("127.0.0.1:514", options)?;
/// # let _ = (tcp, syslog);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SenderOptions {
    pub(crate) queue: QueueConfig,
    pub(crate) backlog: Option<usize>,
    mtu: usize,
    statsd: statsd::Style,
    facility: Facility,
    sd: SdFields,
    max_message: usize,
    pub(crate) bind: bool,
    /// What the sender writes of each message (set by the sender).
    pub(crate) format: Format,
}

/// What a transport writes of each message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The JSON envelope; newline-delimited on a stream.
    Json,
    /// statsd lines, several per datagram up to the MTU.
    Statsd,
    /// RFC 5424; octet-counted on a stream (RFC 6587).
    Syslog,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            queue: QueueConfig::default(),
            backlog: None,
            mtu: 512,
            statsd: statsd::Style::default(),
            facility: Facility::default(),
            sd: SdFields::default(),
            max_message: syslog::DEFAULT_MAX_MESSAGE,
            bind: false,
            format: Format::Json,
        }
    }
}

impl SenderOptions {
    /// The background queue (every network sender).
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.queue = queue;
        self
    }

    /// Messages held for a peer that cannot take them yet: a TCP sender's
    /// backlog while the peer is unreachable (default 10,000; the oldest
    /// are dropped, counted failed), ZeroMQ's send high-water mark
    /// (default 1,000).
    pub fn backlog(mut self, messages: usize) -> Self {
        self.backlog = Some(messages);
        self
    }

    /// statsd: the largest datagram, in bytes (default 512, safe on any
    /// network; 1432 suits Ethernet, 8932 jumbo frames); a single longer
    /// line still goes alone.
    pub fn mtu(mut self, bytes: usize) -> Self {
        self.mtu = bytes.clamp(64, MAX_DATAGRAM);
        self
    }

    /// statsd: what goes before every key, joined by a `.`: nothing (the
    /// routers' keys, the default), [`Prefix::Logger`] for the client's
    /// logger (`myapp.requests`), or [`Prefix::Text`].
    pub fn prefix(mut self, prefix: Prefix) -> Self {
        self.statsd.prefix = prefix;
        self
    }

    /// statsd: an annotated function's outcome as the last part of its key
    /// (default off): `#[metlog::incr]` on `get_user` counts
    /// `get_user.ok`, `get_user.err`, `get_user.panic` and
    /// `get_user.cancelled` apart, in any statsd. Only messages with an
    /// `outcome` field (an annotated function's) change; sum the keys
    /// (Graphite's `sumSeries(get_user.*)`) for the total the routers' key
    /// held.
    ///
    /// ```
    /// use metlog::sender::{SenderOptions, StatsdSender};
    /// let options = SenderOptions::default().outcome_in_key(true);
    /// let statsd = StatsdSender::with_options("127.0.0.1:8125", options)?;
    /// # let _ = statsd;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn outcome_in_key(mut self, on: bool) -> Self {
        self.statsd.outcome_in_key = on;
        self
    }

    /// statsd: which fields go as DogStatsD tags (`|#route:/login`; default
    /// none, the routers' lines). For DogStatsD, Telegraf and
    /// statsd_exporter; see [`Tags`] for what Etsy statsd does with them.
    pub fn tags(mut self, tags: Tags) -> Self {
        self.statsd.tags = tags;
        self
    }

    /// syslog: the facility (default `user`).
    pub fn facility(mut self, facility: Facility) -> Self {
        self.facility = facility;
        self
    }

    /// syslog: which fields become structured data (default: every scalar
    /// field).
    pub fn structured_data(mut self, sd: SdFields) -> Self {
        self.sd = sd;
        self
    }

    /// syslog: the most bytes a message may take, as the receiver accepts
    /// (default 8,096: rsyslog's `maxMessageSize`). A longer message has its
    /// payload cut to fit (see the syslog encoder); one that cannot fit
    /// even so is counted failed. Raise it with the receiver's limit, never
    /// above: a receiver cuts what is longer, and over TCP reads the rest
    /// as a message of its own.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// ZeroMQ: bind the endpoints, for subscribers to connect to, rather
    /// than connect to them (the default, metlog-py's).
    pub fn bind(mut self, bind: bool) -> Self {
        self.bind = bind;
        self
    }

    /// Appends what the format writes of `message` to `out`.
    pub(crate) fn encode(
        &self,
        message: &Envelope<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let encode_error = |e: String| SendError::new(SendErrorKind::Encode, e);
        match self.format {
            Format::Json => {
                json::write(message, out);
                Ok(())
            }
            Format::Statsd => statsd::write_line_with(message, &self.statsd, out)
                .map_err(|e| encode_error(format!("no statsd line: {e}"))),
            Format::Syslog => {
                syslog::write_within(message, self.facility, &self.sd, self.max_message, out)
                    .map_err(|too_long| encode_error(too_long.to_string()))
            }
        }
    }

    /// A queued sender named `name` writing `format`, whose transport
    /// `make` makes from these options (again in the child of a fork).
    pub(crate) fn start<T: Transport>(
        mut self,
        name: &str,
        format: Format,
        make: impl Fn(&SenderOptions) -> io::Result<T> + Send + Sync + 'static,
    ) -> io::Result<QueuedSender> {
        self.format = format;
        let queue = self.queue.clone();
        QueuedSender::with_factory(name, move || make(&self), queue)
    }

    /// A queued sender of datagrams to `destinations`.
    pub(crate) fn datagrams(
        self,
        name: &str,
        format: Format,
        to: Vec<Address>,
    ) -> io::Result<QueuedSender> {
        self.start(name, format, move |options| {
            Ok(DatagramTransport::new(Datagrams::udp(&to)?, options))
        })
    }
}

/// Where datagrams go.
pub(crate) enum Datagrams {
    Udp {
        sockets: UdpSockets,
        destinations: Vec<Resolver>,
        /// Each destination's failure while others took the message has
        /// been reported (once per destination).
        partly_reported: Vec<bool>,
    },
    #[cfg(unix)]
    Unix { socket: UnixDatagram, path: PathBuf },
}

/// A worker's UDP sockets, one per address family (IPv4, IPv6), bound when
/// first needed (which family a host name needs is known only once it
/// resolves).
pub(crate) type UdpSockets = [Option<UdpSocket>; 2];

/// The socket of `sockets` to send to `addr` from.
fn socket_to(sockets: &mut UdpSockets, addr: SocketAddr) -> io::Result<&UdpSocket> {
    let slot = &mut sockets[usize::from(addr.is_ipv6())];
    if slot.is_none() {
        let any = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        *slot = Some(UdpSocket::bind(any)?);
    }
    Ok(slot.as_ref().expect("bound above"))
}

impl Datagrams {
    pub(crate) fn udp(destinations: &[Address]) -> io::Result<Datagrams> {
        // The sockets for what is known at once, an IP address, are bound
        // now (so a failure to bind is a build error).
        let mut sockets = UdpSockets::default();
        for addr in destinations.iter().filter_map(Address::socket_addr) {
            socket_to(&mut sockets, addr)?;
        }
        Ok(Datagrams::Udp {
            sockets,
            destinations: destinations.iter().cloned().map(Resolver::new).collect(),
            partly_reported: vec![false; destinations.len()],
        })
    }

    /// Sends `datagrams`: which of them went out, and the first error.
    /// Over UDP a datagram is sent when any destination took it (metlog-py
    /// sent to each in turn); a destination failing beside others that
    /// work is reported once rather than failing what they received.
    fn send_all(&mut self, datagrams: &[&[u8]]) -> (Vec<bool>, Option<SendError>) {
        let mut taken = vec![false; datagrams.len()];
        let mut first_error = None;
        match self {
            Datagrams::Udp {
                sockets,
                destinations,
                partly_reported,
            } => {
                let mut failures = Vec::new();
                for (destination, reported) in destinations.iter_mut().zip(partly_reported) {
                    let (mut error, mut failed) = (None, Vec::new());
                    let sent = destination.datagram_addr().and_then(|addr| {
                        let why = |e| SendError::io(format!("cannot send to udp {addr}"), e);
                        let socket = socket_to(sockets, addr).map_err(why)?;
                        send_each(socket, addr, datagrams, |i, sent| match sent {
                            Ok(()) => taken[i] = true,
                            Err(e) => {
                                error.get_or_insert_with(|| why(e));
                                failed.push(i);
                            }
                        });
                        Ok(())
                    });
                    if let Err(e) = sent {
                        error = Some(e);
                        failed = (0..datagrams.len()).collect();
                    }
                    failures.extend(error.map(|error| (reported, error, failed)));
                }
                for (reported, error, failed) in failures {
                    if failed.iter().any(|&i| taken[i]) && !std::mem::replace(reported, true) {
                        crate::report::report(format_args!(
                            "{error}; messages still go to the other destinations (counted sent)"
                        ));
                    }
                    first_error.get_or_insert(error);
                }
            }
            #[cfg(unix)]
            Datagrams::Unix { socket, path } => {
                for (i, datagram) in datagrams.iter().enumerate() {
                    match socket.send_to(datagram, &*path) {
                        Ok(_) => taken[i] = true,
                        Err(e) => {
                            let why = format!("cannot send to unix {}", path.display());
                            first_error.get_or_insert(SendError::io(why, e));
                        }
                    }
                }
            }
        }
        (taken, first_error)
    }
}

/// Sends each of `datagrams` to `addr`, calling `done(i, result)` for each.
#[cfg(not(target_os = "linux"))]
fn send_each(
    socket: &UdpSocket,
    addr: SocketAddr,
    datagrams: &[&[u8]],
    mut done: impl FnMut(usize, io::Result<()>),
) {
    for (i, datagram) in datagrams.iter().enumerate() {
        done(i, socket.send_to(datagram, addr).map(drop));
    }
}

/// One message per datagram, or (statsd) lines packed into datagrams up to
/// the MTU.
pub(crate) struct DatagramTransport {
    datagrams: Datagrams,
    options: SenderOptions,
    /// A batch's datagrams, one after another, ...
    buf: Vec<u8>,
    /// ... each ending here and holding this many messages.
    ends: Vec<(usize, usize)>,
}

impl DatagramTransport {
    pub(crate) fn new(datagrams: Datagrams, options: &SenderOptions) -> DatagramTransport {
        DatagramTransport {
            datagrams,
            options: options.clone(),
            buf: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
        }
    }

    /// Encodes one message after the others, unless it fails or is too big.
    fn encode(&mut self, message: &Envelope<'_>, outcome: &Outcome) {
        let start = self.buf.len();
        let encoded = self.options.encode(message, &mut self.buf);
        let size = self.buf.len() - start;
        let too_big = || {
            let why = format!(
                "a {size}-byte message does not fit in one datagram (at most {MAX_DATAGRAM} \
                 bytes); it was not sent rather than truncated"
            );
            SendError::new(SendErrorKind::Encode, why)
        };
        let fits = encoded.and_then(|()| (size <= MAX_DATAGRAM).then_some(()).ok_or_else(too_big));
        if let Err(e) = fits {
            self.buf.truncate(start);
            return outcome.failed(1, &e);
        }
        // statsd lines share a datagram, newline-separated, while it stays
        // within the MTU.
        let packing = self.options.format == Format::Statsd;
        let open = self.ends.len().checked_sub(2).map_or(0, |i| self.ends[i].0);
        match self.ends.last_mut() {
            Some((end, n)) if packing && start - open + 1 + size <= self.options.mtu => {
                self.buf.insert(start, b'\n');
                *end = self.buf.len();
                *n += 1;
            }
            _ => self.ends.push((self.buf.len(), 1)),
        }
    }

    fn send_encoded(&mut self, outcome: &Outcome) {
        let mut start = 0;
        let datagrams: Vec<&[u8]> = self
            .ends
            .iter()
            .map(|&(end, _)| {
                let datagram = &self.buf[start..end];
                start = end;
                datagram
            })
            .collect();
        let (taken, error) = self.datagrams.send_all(&datagrams);
        let count = |sent: bool| {
            let messages = self.ends.iter().zip(&taken).filter(|&(_, &t)| t == sent);
            messages.map(|(&(_, n), _)| n).sum()
        };
        outcome.delivered(count(true));
        if let Some(error) = error {
            outcome.failed(count(false), &error);
        }
        self.buf.clear();
        self.ends.clear();
    }
}

impl Transport for DatagramTransport {
    fn deliver(&mut self, batch: &Batch<'_>, outcome: &Outcome) {
        for message in batch.iter() {
            self.encode(&message, outcome);
            // Bounded memory whatever the messages' sizes.
            if self.buf.len() >= 1 << 20 {
                self.send_encoded(outcome);
            }
        }
        // The end of a batch: the queue is empty for now, send what we have.
        self.send_encoded(outcome);
    }
}

/// Sends each message as one JSON datagram to one or several destinations
/// (metlog-py's `UdpSender`), from a background thread.
///
/// A message larger than a datagram can carry (65,507 bytes) is counted as
/// failed with that reason, never truncated into invalid JSON.
///
/// ```
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let sender = metlog::sender::UdpSender::new(receiver.local_addr()?)?;
/// let client = metlog::Client::builder("app").sender(sender).build();
/// client.incr("hits");
/// client.flush();
/// let mut buf = [0; 65_536];
/// let n = receiver.recv(&mut buf)?;
/// let msg = metlog::Message::from_json(std::str::from_utf8(&buf[..n]).unwrap()).unwrap();
/// assert_eq!(msg.kind, "counter");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UdpSender(pub(crate) QueuedSender, Vec<Address>);

impl UdpSender {
    /// Sends to `addr` (e.g. `"127.0.0.1:5565"`, `"logstash1:5565"` or a
    /// `SocketAddr`; a host name is resolved in the background, see
    /// [`Address`]).
    pub fn new(addr: impl ToAddress) -> io::Result<UdpSender> {
        Self::with_options(addr, SenderOptions::default())
    }

    /// Sends to `addr`, queuing as `options` say.
    pub fn with_options(addr: impl ToAddress, options: SenderOptions) -> io::Result<UdpSender> {
        Self::to_all(vec![addr.to_address()?], options)
    }

    /// metlog-py's host and port lists: hosts and ports are zipped; with more
    /// hosts than ports the last port is repeated, extra ports are ignored.
    ///
    /// ```
    /// use metlog::sender::{SenderOptions, UdpSender};
    /// let sender = UdpSender::to_hosts(["127.0.0.1", "127.0.0.2"], [5565], SenderOptions::default())?;
    /// assert_eq!(sender.destinations().len(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_hosts<H, P>(hosts: H, ports: P, options: SenderOptions) -> io::Result<UdpSender>
    where
        H: IntoIterator,
        H::Item: AsRef<str>,
        P: IntoIterator<Item = u16>,
    {
        let ports: Vec<u16> = ports.into_iter().collect();
        let Some(&last_port) = ports.last() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no port given"));
        };
        let destinations = (hosts.into_iter().enumerate())
            .map(|(i, host)| (host.as_ref(), *ports.get(i).unwrap_or(&last_port)).to_address())
            .collect::<io::Result<Vec<Address>>>()?;
        if destinations.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no host given"));
        }
        Self::to_all(destinations, options)
    }

    fn to_all(destinations: Vec<Address>, options: SenderOptions) -> io::Result<UdpSender> {
        let queued = options.datagrams("udp", Format::Json, destinations.clone())?;
        Ok(UdpSender(queued, destinations))
    }

    /// The addresses messages are sent to.
    pub fn destinations(&self) -> &[Address] {
        &self.1
    }
}

/// Implements `Sender` for a type whose first field is the
/// [`QueuedSender`] doing its work; `accepts`, when given, says which
/// records it takes (the others are refused as unsupported).
macro_rules! background_sender {
    ($ty:ty $(, $accepts:path)?) => {
        impl $crate::sender::Sender for $ty {
            #[inline]
            fn send(&self, record: $crate::Record<'_>) -> Result<(), $crate::sender::SendError> {
                $(if !$accepts(&record) {
                    return Err($crate::sender::SendError::unsupported(record.kind()));
                })?
                $crate::sender::Sender::send(&self.0, record)
            }
            fn flush(&self) -> Result<(), $crate::sender::SendError> {
                $crate::sender::Sender::flush(&self.0)
            }
            fn flush_timeout(
                &self,
                timeout: std::time::Duration,
            ) -> Result<(), $crate::sender::SendError> {
                $crate::sender::Sender::flush_timeout(&self.0, timeout)
            }
            fn delivery(&self) -> Option<$crate::sender::Delivery> {
                $crate::sender::Sender::delivery(&self.0)
            }
        }
    };
}
pub(crate) use background_sender;

background_sender!(UdpSender);

#[cfg(test)]
mod tests {
    use super::*;

    /// A name that resolves to `::1` first, then `127.0.0.1` (stock
    /// Debian's `localhost`): the datagram goes to the IPv4 address, where
    /// a statsd listens.
    #[test]
    fn a_dual_stack_name_is_sent_to_over_ipv4() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let port = receiver.local_addr().unwrap().port();
        let address = Address::new("localhost", port).unwrap();
        let mut datagrams = Datagrams::Udp {
            sockets: UdpSockets::default(),
            destinations: vec![Resolver::with_lookup(
                address,
                super::super::address::tests::dual_stack,
            )],
            partly_reported: vec![false],
        };
        let (taken, error) = datagrams.send_all(&[b"hits:1|c"]);
        assert_eq!(taken, [true]);
        assert!(error.is_none());
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hits:1|c");
    }

    /// A destination failing before one that takes the datagram: sent,
    /// and the failing one noted as reported.
    #[test]
    fn a_failing_first_destination_does_not_fail_what_a_later_one_took() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let nowhere = Address::new("nowhere.invalid", 9).unwrap();
        let mut datagrams = Datagrams::Udp {
            sockets: UdpSockets::default(),
            destinations: vec![
                Resolver::with_lookup(nowhere, |_, _| Err(io::Error::other("no such name"))),
                Resolver::new(receiver.local_addr().unwrap().into()),
            ],
            partly_reported: vec![false, false],
        };
        let (taken, error) = datagrams.send_all(&[b"a", b"b"]);
        assert_eq!(taken, [true, true]);
        assert!(error.unwrap().to_string().contains("no such name"));
        let Datagrams::Udp {
            partly_reported, ..
        } = datagrams
        else {
            unreachable!()
        };
        assert_eq!(partly_reported, [true, false]);
    }
}
