//! [`SyslogSender`]: RFC 5424 over UDP, TCP or a Unix socket.

use std::io;
#[cfg(unix)]
use std::path::Path;

use super::address::ToAddress;
use super::background::{QueueConfig, QueuedSender};
use super::tcp::{Framing, StreamTransport, DEFAULT_BACKLOG};
use super::udp::{background_sender, DatagramTransport, Datagrams, Encoder};
use super::{SendError, SendErrorKind};

use crate::encode::syslog::{self, Facility, SdFields};
use crate::Envelope;

/// How syslog messages are written: facility and structured-data fields.
///
/// ```
/// use metlog::encode::syslog::{Facility, SdFields};
/// use metlog::sender::SyslogConfig;
/// let config = SyslogConfig::default()
///     .facility(Facility::Local0)
///     .structured_data(SdFields::Only(vec!["name".into(), "rate".into()]));
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct SyslogConfig {
    facility: Facility,
    sd: SdFields,
    queue: QueueConfig,
    max_message: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            facility: Facility::default(),
            sd: SdFields::default(),
            queue: QueueConfig::default(),
            max_message: syslog::DEFAULT_MAX_MESSAGE,
        }
    }
}

impl SyslogConfig {
    /// The most bytes a message may take, as the receiver accepts (default
    /// 8,096: rsyslog's
    /// `maxMessageSize`). A longer message has its payload cut to fit (see
    /// the syslog encoder); one that cannot fit even so is counted
    /// failed. Raise it with the receiver's limit, never above: a receiver
    /// cuts what is longer, and over TCP reads the rest as a message of its
    /// own.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The facility (default `user`).
    pub fn facility(mut self, facility: Facility) -> Self {
        self.facility = facility;
        self
    }

    /// Which fields become structured data (default: every scalar field).
    pub fn structured_data(mut self, sd: SdFields) -> Self {
        self.sd = sd;
        self
    }

    /// The background queue.
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.queue = queue;
        self
    }

    fn encoder(&self) -> Encoder {
        let facility = self.facility;
        let sd = self.sd.clone();
        let max = self.max_message;
        Box::new(move |message: &Envelope<'_>, out: &mut Vec<u8>| {
            syslog::write_within(message, facility, &sd, max, out)
                .map_err(|too_long| SendError::new(SendErrorKind::Encode, too_long.to_string()))
        })
    }
}

/// Sends each message as an RFC 5424 syslog message: priority from the
/// facility and the message's severity, APP-NAME from the logger, PROCID the
/// pid, MSGID the type, fields as structured data (`[metlog@32473 …]`,
/// escaped), and the JSON envelope as MSG (no BOM). See
/// [`encode::syslog`](crate::encode::syslog) for the exact format.
///
/// A `cef` message (from [`client.cef`](crate::Client::cef), or
/// metlog-cef's read back) is written as the router's CEF output writes it:
/// its CEF line as MSG, under the facility, priority and ident of its
/// `fields.cef_meta` (defaults `LOCAL4`, `INFO` and the logger, the
/// router's), whatever this sender's facility.
///
/// ```
/// use metlog::sender::{SyslogConfig, SyslogSender};
/// let udp = SyslogSender::udp("127.0.0.1:514", SyslogConfig::default())?;
/// let tcp = SyslogSender::tcp("127.0.0.1:514", SyslogConfig::default())?; // octet counting
/// # #[cfg(unix)] { let _unix = SyslogSender::unix("/dev/log", SyslogConfig::default()); }
/// # let _ = (udp, tcp);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SyslogSender {
    queued: QueuedSender,
}

impl SyslogSender {
    /// One message per UDP datagram.
    pub fn udp(addr: impl ToAddress, config: SyslogConfig) -> io::Result<SyslogSender> {
        let destination = [addr.to_address()?];
        let queue = config.queue.clone();
        let transport = move || {
            Ok(DatagramTransport::new(
                Datagrams::udp(&destination)?,
                config.encoder(),
            ))
        };
        Ok(SyslogSender {
            queued: QueuedSender::with_factory("syslog-udp", transport, queue)?,
        })
    }

    /// TCP with RFC 6587 octet-counting framing (`LEN SP MSG`), connected on
    /// first use, reconnecting with backoff, with a backlog of
    /// 10,000 messages while the peer is away.
    pub fn tcp(addr: impl ToAddress, config: SyslogConfig) -> io::Result<SyslogSender> {
        let addr = addr.to_address()?;
        let queue = config.queue.clone();
        let transport = move || {
            Ok(StreamTransport::new(
                addr.clone(),
                config.encoder(),
                Framing::OctetCount,
                (DEFAULT_BACKLOG, config.queue.max_bytes_value()),
            ))
        };
        Ok(SyslogSender {
            queued: QueuedSender::with_factory("syslog-tcp", transport, queue)?,
        })
    }

    /// A Unix datagram socket, such as the local syslog daemon's `/dev/log`.
    #[cfg(unix)]
    pub fn unix(path: impl AsRef<Path>, config: SyslogConfig) -> io::Result<SyslogSender> {
        let path = path.as_ref().to_path_buf();
        let queue = config.queue.clone();
        let transport = move || {
            Ok(DatagramTransport::new(
                Datagrams::Unix {
                    socket: std::os::unix::net::UnixDatagram::unbound()?,
                    path: path.clone(),
                },
                config.encoder(),
            ))
        };
        Ok(SyslogSender {
            queued: QueuedSender::with_factory("syslog-unix", transport, queue)?,
        })
    }
}

background_sender!(SyslogSender);
