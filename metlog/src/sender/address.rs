//! Where network senders send: [`Address`], resolved on the sender's worker
//! so that building a client never waits for (or fails on) DNS.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{SendError, SendErrorKind};

/// A host and port a network sender sends to. A host name is looked up on
/// the sender's background thread — when the first message goes out, again
/// at most once a second while it does not resolve (the messages meanwhile
/// are counted failed, or kept in a TCP sender's backlog), and every minute
/// once it does, so a moved host is followed as metlog-py (which resolved at
/// each send) followed it. An IP address is used as it is.
///
/// Built from `"host:port"`, `"[v6]:port"`, a [`SocketAddr`], or a
/// `(host, port)` pair — see [`ToAddress`].
///
/// ```
/// use metlog::sender::ToAddress;
/// let address = "metrics.internal:8125".to_address()?;
/// assert_eq!((address.host(), address.port()), ("metrics.internal", 8125));
/// assert_eq!(address.to_string(), "metrics.internal:8125");
/// assert!("no-port".to_address().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    host: String,
    port: u16,
    ip: Option<IpAddr>,
}

impl Address {
    /// `host` (a name or an IP address) and `port`.
    pub fn new(host: impl Into<String>, port: u16) -> Address {
        let host = host.into();
        // `[::1]` as a host, as in a URL.
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host);
        let ip = bare.parse().ok();
        Address {
            host: match ip {
                Some(_) => bare.to_owned(),
                None => host,
            },
            port,
            ip,
        }
    }

    /// The host as given (without the brackets of an IPv6 address).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address, when the host is an IP address (no lookup).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip.map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(IpAddr::V6(_)) => write!(f, "[{}]:{}", self.host, self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl PartialEq<SocketAddr> for Address {
    fn eq(&self, other: &SocketAddr) -> bool {
        self.socket_addr() == Some(*other)
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address {
            host: addr.ip().to_string(),
            port: addr.port(),
            ip: Some(addr.ip()),
        }
    }
}

/// What network senders accept as where to send: `"host:port"` text
/// (`&str`, `String`), a [`SocketAddr`] (or its V4/V6 forms), an
/// [`Address`], and `(host, port)` pairs whose host is text or an IP
/// address. Text without a port, or with one that is not a number up to
/// 65535, is refused with an error saying so; the host is not looked up
/// here (see [`Address`]).
pub trait ToAddress {
    /// The address.
    fn to_address(&self) -> io::Result<Address>;
}

fn invalid(text: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid address {text:?}: {why} (expected host:port, such as 127.0.0.1:8125)"),
    )
}

impl ToAddress for str {
    fn to_address(&self) -> io::Result<Address> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(addr.into());
        }
        let Some((host, port)) = self.rsplit_once(':') else {
            return Err(invalid(self, "no port"));
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid(self, "the port is not a number from 0 to 65535"))?;
        if host.contains(':') && !host.starts_with('[') {
            return Err(invalid(self, "an IPv6 address needs brackets: [::1]:8125"));
        }
        check_host(host).map_err(|_| invalid(self, "no host, or spaces in it"))?;
        Ok(Address::new(host, port))
    }
}

impl ToAddress for String {
    fn to_address(&self) -> io::Result<Address> {
        self.as_str().to_address()
    }
}

impl ToAddress for Address {
    fn to_address(&self) -> io::Result<Address> {
        Ok(self.clone())
    }
}

macro_rules! socket_addresses {
    ($($ty:ty),*) => {$(
        impl ToAddress for $ty {
            fn to_address(&self) -> io::Result<Address> {
                Ok(SocketAddr::from(*self).into())
            }
        }
    )*};
}
socket_addresses!(SocketAddr, SocketAddrV4, SocketAddrV6);

macro_rules! ip_pairs {
    ($($ty:ty),*) => {$(
        impl ToAddress for ($ty, u16) {
            fn to_address(&self) -> io::Result<Address> {
                Ok(SocketAddr::from((IpAddr::from(self.0), self.1)).into())
            }
        }
    )*};
}
ip_pairs!(IpAddr, Ipv4Addr, Ipv6Addr);

impl ToAddress for (&str, u16) {
    fn to_address(&self) -> io::Result<Address> {
        check_host(self.0)?;
        Ok(Address::new(self.0, self.1))
    }
}

/// A host name is refused here only when it could never resolve.
fn check_host(host: &str) -> io::Result<()> {
    if host.is_empty() {
        return Err(invalid(host, "no host"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(host, "spaces in the host"));
    }
    Ok(())
}

impl ToAddress for (String, u16) {
    fn to_address(&self) -> io::Result<Address> {
        (self.0.as_str(), self.1).to_address()
    }
}

impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> io::Result<Address> {
        (**self).to_address()
    }
}

/// Looks a host and port up (the system's resolver; tests swap it).
type Lookup = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("address", &self.address)
            .field("addrs", &self.addrs)
            .field("failure", &self.failure)
            .finish()
    }
}

/// How long after a failed lookup the next is tried.
const RETRY: Duration = Duration::from_secs(1);
/// How long a lookup's answer is used before it is looked up again.
const REFRESH: Duration = Duration::from_secs(60);

/// An [`Address`] as a worker resolves it: looked up when first needed,
/// retried at most once per [`RETRY`] while it fails, refreshed every
/// [`REFRESH`] (keeping the old answer when a refresh fails).
pub(crate) struct Resolver {
    address: Address,
    lookup: Lookup,
    addrs: Vec<SocketAddr>,
    /// When to look up next (`None`: never, an IP address).
    next_lookup: Option<Instant>,
    /// Why the last lookup failed.
    failure: Option<String>,
}

impl Resolver {
    pub(crate) fn new(address: Address) -> Resolver {
        let literal = address.socket_addr();
        Resolver {
            address,
            lookup: system_lookup,
            addrs: literal.into_iter().collect(),
            next_lookup: if literal.is_some() {
                None
            } else {
                Some(Instant::now())
            },
            failure: None,
        }
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// The addresses to send to now (looked up when due), or why there are
    /// none.
    pub(crate) fn addrs(&mut self) -> Result<&[SocketAddr], SendError> {
        let now = Instant::now();
        if self.next_lookup.is_some_and(|due| now >= due) {
            match (self.lookup)(&self.address.host, self.address.port) {
                Ok(found) => {
                    if found.is_empty() {
                        self.failure = Some("it resolves to no address".to_owned());
                    } else {
                        self.addrs = found;
                        self.failure = None;
                    }
                }
                Err(e) => self.failure = Some(e.to_string()),
            }
            let wait = if self.failure.is_some() && self.addrs.is_empty() {
                RETRY
            } else {
                REFRESH
            };
            self.next_lookup = Some(now + wait);
        }
        if self.addrs.is_empty() {
            return Err(self.unresolved());
        }
        Ok(&self.addrs)
    }

    /// Why there is no address to send to, if there is none because the
    /// lookup failed.
    pub(crate) fn unresolved_because(&self) -> Option<&str> {
        self.failure.as_deref().filter(|_| self.addrs.is_empty())
    }

    /// The error for messages that could not go out for want of an address.
    pub(crate) fn unresolved(&self) -> SendError {
        SendError::new(
            SendErrorKind::Io,
            format!(
                "cannot resolve {}: {}; retrying at most once a second",
                self.address,
                self.failure.as_deref().unwrap_or("not looked up yet")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_addresses_parse_or_say_what_is_wrong() {
        let ok = |text: &str| text.to_address().unwrap();
        assert_eq!(
            ok("127.0.0.1:8125").socket_addr(),
            Some(([127, 0, 0, 1], 8125).into())
        );
        assert_eq!(
            ok("[::1]:9").socket_addr(),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(ok("[::1]:9").to_string(), "[::1]:9");
        let named = ok("logstash1:5565");
        assert_eq!(
            (named.host(), named.port(), named.socket_addr()),
            ("logstash1", 5565, None)
        );
        for (text, says) in [
            ("logstash1", "no port"),
            ("host:http", "not a number"),
            ("host:70000", "not a number"),
            (":80", "no host"),
            ("::1:80", "brackets"),
            ("a b:80", "spaces"),
            ("a\tb:80", "spaces"),
        ] {
            let err = text.to_address().unwrap_err().to_string();
            assert!(
                err.contains(says) && err.contains(&format!("{text:?}")),
                "{text}: {err}"
            );
        }
        assert_eq!(("::1", 5).to_address().unwrap().to_string(), "[::1]:5");
    }

    #[test]
    fn a_name_that_does_not_resolve_is_retried_not_fatal() {
        // `.invalid` never resolves (RFC 6761).
        let mut resolver = Resolver::new(Address::new("metlog-test.invalid", 1));
        let err = resolver.addrs().unwrap_err().to_string();
        assert!(
            err.contains("cannot resolve metlog-test.invalid:1"),
            "{err}"
        );
        // Not looked up again within the second.
        let due = resolver.next_lookup.unwrap();
        assert!(due > Instant::now() + RETRY / 2);
        let mut local = Resolver::new(Address::new("localhost", 7));
        assert!(local.addrs().unwrap().iter().all(|a| a.ip().is_loopback()));
        assert!(local.next_lookup.unwrap() > Instant::now() + REFRESH / 2);
        let mut literal = Resolver::new(Address::new("10.1.2.3", 7));
        assert_eq!(
            literal.addrs().unwrap(),
            [SocketAddr::from(([10, 1, 2, 3], 7))]
        );
        assert_eq!(literal.next_lookup, None);
    }

    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

    /// Fails twice, then answers 192.0.2.1, then 192.0.2.2, then fails.
    fn flaky(_: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match LOOKUPS.fetch_add(1, SeqCst) {
            0 | 1 => Err(io::Error::other("temporary failure in name resolution")),
            2 => Ok(vec![([192, 0, 2, 1], port).into()]),
            3 => Ok(vec![([192, 0, 2, 2], port).into()]),
            _ => Err(io::Error::other("gone")),
        }
    }

    #[test]
    fn lookups_are_retried_then_refreshed_keeping_the_last_answer() {
        let mut resolver = Resolver::new(Address::new("moving.example", 9));
        resolver.lookup = flaky;
        let due_now = |r: &mut Resolver| r.next_lookup = Some(Instant::now());
        assert!(resolver
            .addrs()
            .unwrap_err()
            .to_string()
            .contains("temporary failure"));
        // Within the retry pause: no second lookup.
        assert!(resolver.addrs().is_err());
        assert_eq!(LOOKUPS.load(SeqCst), 1);
        due_now(&mut resolver);
        assert!(resolver.addrs().is_err());
        due_now(&mut resolver);
        assert_eq!(
            resolver.addrs().unwrap(),
            [SocketAddr::from(([192, 0, 2, 1], 9))]
        );
        assert_eq!(resolver.unresolved_because(), None);
        // Refreshed when due: the host moved.
        due_now(&mut resolver);
        assert_eq!(
            resolver.addrs().unwrap(),
            [SocketAddr::from(([192, 0, 2, 2], 9))]
        );
        // A failed refresh keeps the last answer.
        due_now(&mut resolver);
        assert_eq!(
            resolver.addrs().unwrap(),
            [SocketAddr::from(([192, 0, 2, 2], 9))]
        );
        assert_eq!(LOOKUPS.load(SeqCst), 5);
    }
}
