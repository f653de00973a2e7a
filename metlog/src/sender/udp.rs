//! Datagram delivery (UDP, Unix datagram sockets) and [`UdpSender`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
#[cfg(unix)]
use std::path::PathBuf;

use super::address::{Address, Resolver, ToAddress};
use super::background::{QueueConfig, QueuedSender};
use super::transport::{Batch, Outcome, Transport};
use super::{SendError, SendErrorKind};
use crate::encode::json;
use crate::Envelope;

/// The largest UDP payload over IPv4 (65,535 − 8 − 20).
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// Turns one message into one datagram's (or stream entry's) bytes.
pub(crate) type Encoder = Box<dyn Fn(&Envelope<'_>, &mut Vec<u8>) -> Result<(), SendError> + Send>;

pub(crate) fn json_encoder() -> Encoder {
    Box::new(|message, out| {
        json::write(message, out);
        Ok(())
    })
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

/// A worker's UDP sockets, one per address family, bound when first needed
/// (which family a host name needs is known only once it resolves).
#[derive(Default)]
pub(crate) struct UdpSockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl UdpSockets {
    /// Binds the socket for `destinations`' family now, for what is known
    /// at once: an IP address (so a failure to bind is a build error).
    pub(crate) fn for_literals(destinations: &[Address]) -> io::Result<UdpSockets> {
        let mut sockets = UdpSockets::default();
        for addr in destinations.iter().filter_map(Address::socket_addr) {
            sockets.to(addr)?;
        }
        Ok(sockets)
    }

    /// The socket to send to `addr` from.
    pub(crate) fn to(&mut self, addr: SocketAddr) -> io::Result<&UdpSocket> {
        let (slot, any) = if addr.is_ipv4() {
            (&mut self.v4, "0.0.0.0:0")
        } else {
            (&mut self.v6, "[::]:0")
        };
        if slot.is_none() {
            *slot = Some(UdpSocket::bind(any)?);
        }
        Ok(slot.as_ref().expect("bound above"))
    }
}

impl Datagrams {
    pub(crate) fn udp(destinations: &[Address]) -> io::Result<Datagrams> {
        Ok(Datagrams::Udp {
            sockets: UdpSockets::for_literals(destinations)?,
            destinations: destinations.iter().cloned().map(Resolver::new).collect(),
            partly_reported: vec![false; destinations.len()],
        })
    }

    fn send(&mut self, datagram: &[u8]) -> Result<(), SendError> {
        match self {
            Datagrams::Udp {
                sockets,
                destinations,
                partly_reported,
            } => {
                // Sent when any destination took it (metlog-py sent to each
                // in turn); a destination failing beside others that work
                // is reported once rather than failing what they received.
                let mut taken = false;
                let mut failed = Vec::new();
                for (at, destination) in destinations.iter_mut().enumerate() {
                    let sent = match destination.datagram_addr() {
                        Ok(addr) => sockets
                            .to(addr)
                            .and_then(|socket| socket.send_to(datagram, addr))
                            .map(drop)
                            .map_err(|e| SendError::io(format!("cannot send to udp {addr}"), e)),
                        Err(unresolved) => Err(unresolved),
                    };
                    match sent {
                        Ok(()) => taken = true,
                        Err(e) => failed.push((at, e)),
                    }
                }
                if !taken {
                    return failed.into_iter().next().map_or(Ok(()), |(_, e)| Err(e));
                }
                for (at, e) in failed {
                    if !std::mem::replace(&mut partly_reported[at], true) {
                        crate::report::report(format_args!(
                            "{e}; messages still go to the other destinations (counted sent)"
                        ));
                    }
                }
                Ok(())
            }
            #[cfg(unix)]
            Datagrams::Unix { socket, path } => socket
                .send_to(datagram, &*path)
                .map(drop)
                .map_err(|e| SendError::io(format!("cannot send to unix {}", path.display()), e)),
        }
    }
}

/// One message per datagram.
pub(crate) struct DatagramTransport {
    pub(crate) datagrams: Datagrams,
    pub(crate) encode: Encoder,
    /// A batch's datagrams, one after another, ...
    pub(crate) buf: Vec<u8>,
    /// ... each ending here.
    pub(crate) ends: Vec<usize>,
}

impl DatagramTransport {
    pub(crate) fn new(datagrams: Datagrams, encode: Encoder) -> DatagramTransport {
        DatagramTransport {
            datagrams,
            encode,
            buf: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
        }
    }

    /// Encodes one message after the others, unless it fails or is too big.
    fn encode(&mut self, message: &Envelope<'_>, outcome: &Outcome) {
        let start = self.buf.len();
        if let Err(e) = (self.encode)(message, &mut self.buf) {
            self.buf.truncate(start);
            outcome.failed(1, &e);
            return;
        }
        let size = self.buf.len() - start;
        if size > MAX_DATAGRAM {
            self.buf.truncate(start);
            let e = SendError::new(
                SendErrorKind::Encode,
                format!(
                    "a {size}-byte message does not fit in one datagram (at most {MAX_DATAGRAM} \
                     bytes); it was not sent rather than truncated"
                ),
            );
            outcome.failed(1, &e);
            return;
        }
        self.ends.push(self.buf.len());
    }

    fn send_encoded(&mut self, outcome: &Outcome) {
        let mut start = 0;
        let datagrams: Vec<&[u8]> = self
            .ends
            .iter()
            .map(|&end| {
                let datagram = &self.buf[start..end];
                start = end;
                datagram
            })
            .collect();
        match &mut self.datagrams {
            #[cfg(target_os = "linux")]
            Datagrams::Udp {
                sockets,
                destinations,
                ..
            } if destinations.len() == 1 => {
                let destination = match destinations[0].datagram_addr() {
                    Ok(addr) => addr,
                    Err(unresolved) => {
                        outcome.failed(datagrams.len(), &unresolved);
                        return self.clear();
                    }
                };
                let describe = || format!("cannot send to udp {destination}");
                match sockets.to(destination) {
                    Ok(socket) => {
                        super::sendmmsg::send_each(socket, destination, &datagrams, |_, result| {
                            match result {
                                Ok(()) => outcome.delivered(1),
                                Err(e) => outcome.failed(1, &SendError::io(describe(), e)),
                            }
                        });
                    }
                    Err(e) => {
                        outcome.failed(datagrams.len(), &SendError::io(describe(), e));
                    }
                }
            }
            datagrams_to => {
                for datagram in datagrams {
                    match datagrams_to.send(datagram) {
                        Ok(()) => outcome.delivered(1),
                        Err(e) => outcome.failed(1, &e),
                    }
                }
            }
        }
        self.clear();
    }

    fn clear(&mut self) {
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
pub struct UdpSender {
    pub(crate) queued: QueuedSender,
    destinations: Vec<Address>,
}

impl UdpSender {
    /// Sends to `addr` (e.g. `"127.0.0.1:5565"`, `"logstash1:5565"` or a
    /// `SocketAddr`; a host name is resolved in the background, see
    /// [`Address`]).
    pub fn new(addr: impl ToAddress) -> io::Result<UdpSender> {
        Self::with_queue(addr, QueueConfig::default())
    }

    /// Sends to `addr`, queuing as `config` says.
    pub fn with_queue(addr: impl ToAddress, config: QueueConfig) -> io::Result<UdpSender> {
        Self::spawn(vec![addr.to_address()?], config)
    }

    /// metlog-py's host and port lists: hosts and ports are zipped; with more
    /// hosts than ports the last port is repeated, extra ports are ignored.
    ///
    /// ```
    /// let sender = metlog::sender::UdpSender::to_hosts(["127.0.0.1", "127.0.0.2"], [5565])?;
    /// assert_eq!(sender.destinations().len(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn to_hosts<H, P>(hosts: H, ports: P) -> io::Result<UdpSender>
    where
        H: IntoIterator,
        H::Item: AsRef<str>,
        P: IntoIterator<Item = u16>,
    {
        Self::to_hosts_with_queue(hosts, ports, QueueConfig::default())
    }

    /// [`to_hosts`](Self::to_hosts), queuing as `config` says.
    pub fn to_hosts_with_queue<H, P>(
        hosts: H,
        ports: P,
        config: QueueConfig,
    ) -> io::Result<UdpSender>
    where
        H: IntoIterator,
        H::Item: AsRef<str>,
        P: IntoIterator<Item = u16>,
    {
        let hosts: Vec<String> = hosts.into_iter().map(|h| h.as_ref().to_owned()).collect();
        let ports: Vec<u16> = ports.into_iter().collect();
        let destinations = zip_hosts_ports(&hosts, &ports)?;
        Self::spawn(destinations, config)
    }

    fn spawn(destinations: Vec<Address>, config: QueueConfig) -> io::Result<UdpSender> {
        let to = destinations.clone();
        let transport = move || Ok(DatagramTransport::new(Datagrams::udp(&to)?, json_encoder()));
        Ok(UdpSender {
            queued: QueuedSender::with_factory("udp", transport, config)?,
            destinations,
        })
    }

    /// The addresses messages are sent to.
    pub fn destinations(&self) -> &[Address] {
        &self.destinations
    }
}

/// Zips hosts with ports the way metlog-py does.
pub(crate) fn zip_hosts_ports(hosts: &[String], ports: &[u16]) -> io::Result<Vec<Address>> {
    let Some(&last_port) = ports.last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no port given"));
    };
    if hosts.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no host given"));
    }
    let mut destinations = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let port = ports.get(i).copied().unwrap_or(last_port);
        destinations.push((host.as_str(), port).to_address()?);
    }
    Ok(destinations)
}

/// Implements `Sender` for a type whose field `queued` is the
/// [`QueuedSender`] doing its work.
macro_rules! background_sender {
    ($($ty:ty),*) => {$(
        impl $crate::sender::Sender for $ty {
            #[inline]
            fn send(&self, record: $crate::Record<'_>) -> Result<(), $crate::sender::SendError> {
                $crate::sender::Sender::send(&self.queued, record)
            }
            fn flush(&self) -> Result<(), $crate::sender::SendError> {
                $crate::sender::Sender::flush(&self.queued)
            }
            fn flush_timeout(
                &self,
                timeout: std::time::Duration,
            ) -> Result<(), $crate::sender::SendError> {
                $crate::sender::Sender::flush_timeout(&self.queued, timeout)
            }
            fn delivery(&self) -> Option<$crate::sender::Delivery> {
                $crate::sender::Sender::delivery(&self.queued)
            }
        }
    )*};
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
        datagrams.send(b"hits:1|c").unwrap();
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hits:1|c");
    }
}
