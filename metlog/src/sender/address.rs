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
/// each send) followed it. An IP address is used as it is. A datagram sender
/// sends to the first IPv4 address a name resolves to (else its first IPv6
/// one), as metlog-py's IPv4 `UdpSender` did — `localhost` is often `::1`
/// first, where a statsd listening on IPv4 is not; TCP tries each address
/// in turn.
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
    literal: Option<SocketAddr>,
}

impl Address {
    /// `host` (a name, an IPv4 address, or an IPv6 address with or without
    /// brackets) and `port`; refused when it could never be sent to: no
    /// host, spaces or other characters no host name has, a port in the
    /// host, port 0.
    pub fn new(host: &str, port: u16) -> io::Result<Address> {
        Address::checked(host, port).map_err(|why| invalid(&format!("{host}:{port}"), why))
    }

    /// [`new`](Address::new), saying why not.
    fn checked(host: &str, port: u16) -> Result<Address, &'static str> {
        if port == 0 {
            return Err("port 0 is no destination");
        }
        if host.is_empty() {
            return Err("no host");
        }
        if let Some(inner) = host.strip_prefix('[') {
            // `[v6]` or `[v6%scope]`, as in a URL.
            return inner
                .strip_suffix(']')
                .and_then(|_| format!("{host}:{port}").parse::<SocketAddr>().ok())
                .filter(SocketAddr::is_ipv6)
                .map(Address::from)
                .ok_or("brackets hold an IPv6 address only (a scope as a number: [fe80::1%2])");
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port).into());
        }
        if host.contains('%') && host.contains(':') {
            // An IPv6 address with a scope, without brackets.
            return Address::checked(&format!("[{host}]"), port);
        }
        if host.contains(':') {
            return Err(
                "a ':' in the host (a port belongs in the port; an IPv6 address in brackets)",
            );
        }
        // A host name's characters (RFC 1123, and the `_` some internal
        // names carry): anything else could never resolve.
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            || !host.bytes().any(|b| b.is_ascii_alphanumeric())
        {
            return Err("spaces or other characters no host name has");
        }
        Ok(Address {
            host: host.to_owned(),
            port,
            literal: None,
        })
    }

    /// The host as given (an IPv6 address without its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address, when the host is an IP address (no lookup).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.literal
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.literal {
            Some(addr) => addr.fmt(f),
            None => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl PartialEq<SocketAddr> for Address {
    fn eq(&self, other: &SocketAddr) -> bool {
        self.literal == Some(*other)
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address {
            host: addr.ip().to_string(),
            port: addr.port(),
            literal: Some(addr),
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
            return addr.to_address();
        }
        let Some((host, port)) = self.rsplit_once(':') else {
            return Err(invalid(self, "no port"));
        };
        let port = Some(port)
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| invalid(self, "the port is not a number from 1 to 65535"))?;
        if self.parse::<Ipv6Addr>().is_ok() || host.parse::<Ipv6Addr>().is_ok() {
            return Err(invalid(self, "an IPv6 address needs brackets: [::1]:8125"));
        }
        Address::checked(host, port).map_err(|why| invalid(self, why))
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
                let addr = SocketAddr::from(*self);
                if addr.port() == 0 {
                    return Err(invalid(&addr.to_string(), "port 0 is no destination"));
                }
                Ok(addr.into())
            }
        }
    )*};
}
socket_addresses!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToAddress for (&str, u16) {
    fn to_address(&self) -> io::Result<Address> {
        Address::new(self.0, self.1)
    }
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

/// How long after a failed lookup the next is tried.
const RETRY: Duration = Duration::from_secs(1);
/// How long a lookup's answer is used before it is looked up again.
const REFRESH: Duration = Duration::from_secs(60);

/// An [`Address`] as a worker resolves it: looked up when first needed,
/// retried at most once per [`RETRY`] while it fails, refreshed every
/// [`REFRESH`] (keeping the old answer when a refresh fails).
pub(crate) struct Resolver {
    pub(crate) address: Address,
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
            next_lookup: literal.is_none().then(Instant::now),
            failure: None,
        }
    }

    /// A resolver whose lookups `lookup` answers (tests).
    #[cfg(test)]
    pub(crate) fn with_lookup(address: Address, lookup: Lookup) -> Resolver {
        Resolver {
            lookup,
            ..Resolver::new(address)
        }
    }

    /// The addresses to send to now (looked up when due), or why there are
    /// none.
    pub(crate) fn addrs(&mut self) -> Result<&[SocketAddr], SendError> {
        // No clock read for an IP address (the common case, per datagram).
        let due = |due| Some(Instant::now()).filter(|now| *now >= due);
        if let Some(now) = self.next_lookup.and_then(due) {
            match (self.lookup)(&self.address.host, self.address.port) {
                Ok(found) if found.is_empty() => {
                    self.failure = Some("it resolves to no address".to_owned());
                }
                Ok(found) => {
                    self.addrs = found;
                    self.failure = None;
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

    /// The one address a datagram goes to: the first IPv4 one, else the
    /// first (see [`Address`]).
    pub(crate) fn datagram_addr(&mut self) -> Result<SocketAddr, SendError> {
        let addrs = self.addrs()?;
        Ok(addrs
            .iter()
            .copied()
            .find(SocketAddr::is_ipv4)
            .unwrap_or(addrs[0]))
    }

    /// Why there is no address to send to, if there is none because the
    /// lookup failed: ` (its name does not resolve: …)`; else nothing.
    pub(crate) fn why_unresolved(&self) -> String {
        match self.failure.as_deref().filter(|_| self.addrs.is_empty()) {
            Some(why) => format!(" (its name does not resolve: {why})"),
            None => String::new(),
        }
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
pub(crate) mod tests {
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
            ("localhost:0", "port 0"),
            ("127.0.0.1:0", "port 0"),
            ("[::1:1", "brackets"),
            ("]:1", "characters"),
            ("[]:80", "brackets"),
            ("[localhost]:80", "brackets"),
            ("localhost:8125:8125", "':' in the host"),
            ("a,b:8125", "characters"),
            ("host#x:1", "characters"),
            ("%:1", "characters"),
            (".:1", "characters"),
            ("host\u{200b}:1", "characters"),
            ("localhost:+8125", "not a number"),
            ("[fe80::1%eth0]:80", "scope as a number"),
        ] {
            let err = text.to_address().unwrap_err().to_string();
            assert!(
                err.contains(says) && err.contains(&format!("{text:?}")),
                "{text}: {err}"
            );
        }
        assert_eq!(("::1", 5).to_address().unwrap().to_string(), "[::1]:5");
        // A scope is kept.
        let scoped: SocketAddr = "[fe80::1%2]:80".parse().unwrap();
        assert_eq!(scoped.to_address().unwrap().socket_addr(), Some(scoped));
        assert_eq!(ok("[fe80::1%2]:80").socket_addr(), Some(scoped));
        assert!(("localhost:8125", 8125).to_address().is_err());
        assert_eq!(
            ("fe80::1%2", 80).to_address().unwrap().socket_addr(),
            Some(scoped)
        );
        assert_eq!(ok("under_score.internal:1").host(), "under_score.internal");
    }

    #[test]
    fn a_name_that_does_not_resolve_is_retried_not_fatal() {
        // `.invalid` never resolves (RFC 6761).
        let mut resolver = Resolver::new(Address::new("metlog-test.invalid", 1).unwrap());
        // Timed from before the lookup, which may take long on a slow
        // resolver or a busy machine.
        let before = Instant::now();
        let err = resolver.addrs().unwrap_err().to_string();
        assert!(
            err.contains("cannot resolve metlog-test.invalid:1"),
            "{err}"
        );
        // Not looked up again within the second.
        let due = resolver.next_lookup.unwrap();
        assert!(due >= before + RETRY);
        let mut local = Resolver::new(Address::new("localhost", 7).unwrap());
        let before = Instant::now();
        assert!(local.addrs().unwrap().iter().all(|a| a.ip().is_loopback()));
        assert!(local.next_lookup.unwrap() >= before + REFRESH);
        let mut literal = Resolver::new(Address::new("10.1.2.3", 7).unwrap());
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

    /// `localhost` as stock Debian resolves it: `::1` first.
    pub(crate) fn dual_stack(_: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        ])
    }

    #[test]
    fn datagrams_go_to_the_first_ipv4_address_as_metlog_pys() {
        let mut resolver = Resolver::new(Address::new("localhost", 8125).unwrap());
        resolver.lookup = dual_stack;
        assert_eq!(
            resolver.datagram_addr().unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 8125))
        );
        // TCP tries them all, in the resolver's order.
        assert_eq!(resolver.addrs().unwrap().len(), 2);
        resolver.lookup = |_, port| Ok(vec![SocketAddr::from((Ipv6Addr::LOCALHOST, port))]);
        resolver.next_lookup = Some(Instant::now());
        assert_eq!(
            resolver.datagram_addr().unwrap(),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 8125))
        );
    }

    #[test]
    fn lookups_are_retried_then_refreshed_keeping_the_last_answer() {
        let mut resolver = Resolver::new(Address::new("moving.example", 9).unwrap());
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
        assert_eq!(resolver.why_unresolved(), "");
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
