//! [`SyslogSender`]: RFC 5424 over UDP, TCP or a Unix socket.

use std::io;
#[cfg(unix)]
use std::path::Path;

use super::address::ToAddress;
use super::background::QueuedSender;
use super::tcp::StreamTransport;
use super::udp::{background_sender, Format, SenderOptions};

/// Sends each message as an RFC 5424 syslog message: priority from the
/// facility and the message's severity, APP-NAME from the logger, PROCID the
/// pid, MSGID the type, fields as structured data (`[metlog@32473 …]`,
/// escaped), and the JSON envelope as MSG (no BOM); facility, fields and
/// size as the [`SenderOptions`] say. See
/// [`encode::syslog`](crate::encode::syslog) for the exact format.
///
/// A `cef` message (from [`client.cef`](crate::Client::cef), or
/// metlog-cef's read back) is written as the router's CEF output writes it:
/// its CEF line as MSG, under the facility, priority and ident of its
/// `fields.cef_meta` (defaults `LOCAL4`, `INFO` and the logger, the
/// router's), whatever this sender's facility.
///
/// ```
/// use metlog::sender::{SenderOptions, SyslogSender};
/// let udp = SyslogSender::udp("127.0.0.1:514", SenderOptions::default())?;
/// let tcp = SyslogSender::tcp("127.0.0.1:514", SenderOptions::default())?; // octet counting
/// # #[cfg(unix)] { let _unix = SyslogSender::unix("/dev/log", SenderOptions::default()); }
/// # let _ = (udp, tcp);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SyslogSender(QueuedSender);

impl SyslogSender {
    /// One message per UDP datagram.
    pub fn udp(addr: impl ToAddress, options: SenderOptions) -> io::Result<SyslogSender> {
        let to = vec![addr.to_address()?];
        let queued = options.datagrams("syslog-udp", Format::Syslog, to)?;
        Ok(SyslogSender(queued))
    }

    /// TCP with RFC 6587 octet-counting framing (`LEN SP MSG`), connected on
    /// first use, reconnecting with backoff, with a
    /// [backlog](SenderOptions::backlog) while the peer is away.
    pub fn tcp(addr: impl ToAddress, options: SenderOptions) -> io::Result<SyslogSender> {
        let peer = addr.to_address()?;
        let transport = move |options: &_| Ok(StreamTransport::new(peer.clone(), options));
        let queued = options.start("syslog-tcp", Format::Syslog, transport)?;
        Ok(SyslogSender(queued))
    }

    /// A Unix datagram socket, such as the local syslog daemon's `/dev/log`.
    #[cfg(unix)]
    pub fn unix(path: impl AsRef<Path>, options: SenderOptions) -> io::Result<SyslogSender> {
        use super::udp::{DatagramTransport, Datagrams};
        let path = path.as_ref().to_path_buf();
        let transport = move |options: &SenderOptions| {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            let unix = Datagrams::Unix {
                socket,
                path: path.clone(),
            };
            Ok(DatagramTransport::new(unix, options))
        };
        let queued = options.start("syslog-unix", Format::Syslog, transport)?;
        Ok(SyslogSender(queued))
    }
}

background_sender!(SyslogSender);
