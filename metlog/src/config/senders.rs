//! Sender classes by name: metlog-py's dotted names and our short ones.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ConfigError, ConfigErrorKind, ConfigValue};
use crate::encode::syslog::{Facility, SdFields};
use crate::sender::{self, QueueConfig, Sender};

/// The canonical short name of a sender class.
pub(crate) fn canonical(class: &str) -> Option<&'static str> {
    Some(match class {
        "udp" | "metlog.senders.UdpSender" | "metlog.senders.udp.UdpSender" => "udp",
        "tcp" => "tcp",
        "statsd" => "statsd",
        "syslog" => "syslog",
        "zmq" | "metlog.senders.zmq.ZmqPubSender" | "metlog.senders.ZmqPubSender" => "zmq",
        "metlog.senders.zmq.ZmqHandshakePubSender" | "metlog.senders.ZmqHandshakePubSender" => {
            "zmq_handshake"
        }
        "stdout" | "metlog.senders.StdOutSender" | "metlog.senders.dev.StdOutSender" => "stdout",
        "file" | "metlog.senders.FileSender" | "metlog.senders.dev.FileSender" => "file",
        "capture"
        | "metlog.senders.DebugCaptureSender"
        | "metlog.senders.dev.DebugCaptureSender" => "capture",
        "log" | "metlog.senders.logging.StdLibLoggingSender" => "log",
        "null" => "null",
        _ => return None,
    })
}

/// The options each sender class takes.
pub(crate) fn known_options(class: &str) -> &'static [&'static str] {
    match class {
        "udp" => &[
            "host",
            "port",
            "queue_capacity",
            "queue_max_bytes",
            "flush_timeout",
        ],
        "tcp" => &[
            "host",
            "port",
            "backlog",
            "queue_capacity",
            "queue_max_bytes",
            "flush_timeout",
        ],
        "statsd" => &[
            "host",
            "port",
            "mtu",
            "prefix",
            "queue_capacity",
            "queue_max_bytes",
            "flush_timeout",
        ],
        "syslog" => &[
            "transport",
            "host",
            "port",
            "path",
            "facility",
            "sd_fields",
            "queue_capacity",
            "queue_max_bytes",
            "flush_timeout",
        ],
        "zmq" => &["bindstrs", "queue_length", "bind"],
        "zmq_handshake" => &[
            "connect_bind",
            "hwm",
            "handshake_bind",
            "handshake_timeout",
            "pool_size",
            "livecheck",
            "debug_stderr",
        ],
        "stdout" => &["pretty"],
        "file" => &["filepath", "path"],
        "capture" => &["capacity"],
        "log" => &["logger_name", "payload_types", "json_types"],
        _ => &[],
    }
}

/// A user-registered sender class: builds a sender from its options.
pub type SenderFactory = fn(&BTreeMap<String, ConfigValue>) -> Result<Box<dyn Sender>, String>;

fn custom() -> &'static std::sync::RwLock<std::collections::HashMap<String, SenderFactory>> {
    static CUSTOM: std::sync::OnceLock<
        std::sync::RwLock<std::collections::HashMap<String, SenderFactory>>,
    > = std::sync::OnceLock::new();
    CUSTOM.get_or_init(Default::default)
}

/// Makes a sender class of your own available to configuration files as
/// `class = <name>`; its options are passed as they are (not checked).
pub fn register_sender(name: impl Into<String>, factory: SenderFactory) {
    custom()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(name.into(), factory);
}

/// Options for one sender, with helpers that produce precise errors.
pub(crate) struct Options<'a> {
    class: &'a str,
    options: &'a BTreeMap<String, ConfigValue>,
}

impl Options<'_> {
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::new(ConfigErrorKind::InvalidValue, message).at_key(key)
    }

    fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.options.get(key)
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_string().map(Some).ok_or_else(|| {
                self.invalid(key, format!("expected text, found {} ({v})", v.type_name()))
            }),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_string_list()
                .map(Some)
                .ok_or_else(|| self.invalid(key, format!("expected a list of names, found {v}"))),
        }
    }

    fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let value = match self.get(key) {
            None => return Ok(None),
            Some(ConfigValue::Int(i)) => *i,
            Some(ConfigValue::Str(s)) if s.trim().parse::<i64>().is_ok() => {
                s.trim().parse().unwrap_or_default()
            }
            Some(v) => {
                return Err(self.invalid(
                    key,
                    format!("expected an integer, found {} ({v})", v.type_name()),
                ))
            }
        };
        if !(min..=max).contains(&value) {
            return Err(self.invalid(key, format!("{value} is out of range {min}..={max}")));
        }
        Ok(Some(value))
    }

    fn ports(&self) -> Result<Vec<u16>, ConfigError> {
        let one = |v: &ConfigValue| -> Result<u16, ConfigError> {
            let n = match v {
                ConfigValue::Int(i) => Some(*i),
                ConfigValue::Str(s) => s.trim().parse().ok(),
                _ => None,
            };
            n.and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
                self.invalid("port", format!("expected a port number 0-65535, found {v}"))
            })
        };
        let ports: Vec<u16> = match self.get("port") {
            None => {
                return Err(self.invalid("port", format!("the {} sender needs a port", self.class)))
            }
            Some(ConfigValue::List(items)) => items.iter().map(one).collect::<Result<_, _>>()?,
            Some(v) => vec![one(v)?],
        };
        if ports.is_empty() {
            return Err(self.invalid("port", "no port given".to_owned()));
        }
        Ok(ports)
    }

    /// The hosts (at least one: `127.0.0.1` when none is configured).
    fn hosts(&self) -> Result<Vec<String>, ConfigError> {
        let hosts = self
            .strings("host")?
            .unwrap_or_else(|| vec!["127.0.0.1".to_owned()]);
        if hosts.is_empty() || hosts.iter().any(|h| h.trim().is_empty()) {
            return Err(self.invalid(
                "host",
                "empty: give a host name or address (or leave the key out for 127.0.0.1)"
                    .to_owned(),
            ));
        }
        Ok(hosts)
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(ConfigValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.invalid(key, format!("expected true or false, found {v}"))),
        }
    }

    fn queue(&self) -> Result<QueueConfig, ConfigError> {
        let mut queue = QueueConfig::default();
        if let Some(capacity) = self.int("queue_capacity", 1, 1 << 30)? {
            queue = queue.capacity(capacity as usize);
        }
        // At least 64 KiB, at most 64 GiB.
        if let Some(bytes) = self.int("queue_max_bytes", 1 << 16, 1 << 36)? {
            queue = queue.max_bytes(bytes as usize);
        }
        if let Some(v) = self.get("flush_timeout") {
            let secs = match v {
                ConfigValue::Int(i) => *i as f64,
                ConfigValue::Float(f) => *f,
                ConfigValue::Str(s) => s.parse().map_err(|_| {
                    self.invalid("flush_timeout", format!("expected seconds, found {v}"))
                })?,
                _ => {
                    return Err(
                        self.invalid("flush_timeout", format!("expected seconds, found {v}"))
                    )
                }
            };
            if !(0.0..=3600.0).contains(&secs) {
                return Err(self.invalid(
                    "flush_timeout",
                    format!("{secs} s is out of range 0..=3600"),
                ));
            }
            queue = queue.flush_timeout(Duration::from_secs_f64(secs));
        }
        Ok(queue)
    }
}

fn sender_error(class: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(
        ConfigErrorKind::Sender,
        format!("cannot create the {class} sender: {e}"),
    )
}

/// Builds the sender `class` from `options`; returns it with its type name.
pub(crate) fn build(
    class: &str,
    options: &BTreeMap<String, ConfigValue>,
) -> Result<(Box<dyn Sender>, &'static str), ConfigError> {
    let Some(name) = canonical(class) else {
        let factory = custom()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(class)
            .copied();
        return match factory {
            Some(factory) => factory(options)
                .map(|s| (s, "custom sender"))
                .map_err(|e| sender_error(class, e)),
            None => Err(ConfigError::new(
                ConfigErrorKind::UnknownProvider,
                format!(
                    "unknown sender class {class:?}; expected one of udp, tcp, statsd, syslog, zmq, \
                     stdout, file, capture, log, null, a metlog-py class name such as \
                     metlog.senders.UdpSender, or a class registered with metlog::config::register_sender"
                ),
            )
            .at_key("class")),
        };
    };
    let known = known_options(name);
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            return Err(ConfigError::new(
                ConfigErrorKind::UnknownKey,
                format!(
                    "unknown option for the {name} sender (expected {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .at_key(key));
        }
    }
    let o = Options {
        class: name,
        options,
    };
    let boxed: (Box<dyn Sender>, &'static str) = match name {
        "udp" => {
            let s = sender::UdpSender::to_hosts_with_queue(o.hosts()?, o.ports()?, o.queue()?)
                .map_err(|e| sender_error(name, e))?;
            (Box::new(s), "UdpSender")
        }
        "tcp" | "statsd" => {
            let host = o.hosts()?.remove(0);
            let port = o.ports()?[0];
            let queue = o.queue()?;
            if name == "tcp" {
                let backlog = o
                    .int("backlog", 1, 1 << 30)?
                    .map_or(sender::DEFAULT_BACKLOG, |b| b as usize);
                let s = sender::TcpSender::with_options((host.as_str(), port), queue, backlog)
                    .map_err(|e| sender_error(name, e))?;
                (Box::new(s), "TcpSender")
            } else {
                let mtu = o
                    .int("mtu", 64, 65_507)?
                    .map_or(sender::DEFAULT_MTU, |m| m as usize);
                let prefix = match o.string("prefix")? {
                    Some(text) if !text.is_empty() => crate::encode::statsd::Prefix::Text(text),
                    _ => crate::encode::statsd::Prefix::None,
                };
                let s = sender::StatsdSender::with_options((host.as_str(), port), mtu, queue)
                    .map_err(|e| sender_error(name, e))?
                    .prefix(prefix);
                (Box::new(s), "StatsdSender")
            }
        }
        "syslog" => {
            let mut config = sender::SyslogConfig::default().queue(o.queue()?);
            if let Some(facility) = o.string("facility")? {
                let facility: Facility = facility
                    .parse()
                    .map_err(|e: String| o.invalid("facility", e))?;
                config = config.facility(facility);
            }
            if let Some(fields) = o.strings("sd_fields")? {
                let sd = match fields.as_slice() {
                    [one] if one == "all" => SdFields::AllScalars,
                    [one] if one == "none" => SdFields::None,
                    _ => SdFields::Only(fields),
                };
                config = config.structured_data(sd);
            }
            let transport = o.string("transport")?.unwrap_or_else(|| "udp".to_owned());
            let s = match transport.as_str() {
                "udp" | "tcp" => {
                    let host = o.hosts()?.remove(0);
                    let port = o.ports()?[0];
                    let addr = (host.as_str(), port);
                    if transport == "udp" {
                        sender::SyslogSender::udp(addr, config)
                    } else {
                        sender::SyslogSender::tcp(addr, config)
                    }
                }
                #[cfg(unix)]
                "unix" => sender::SyslogSender::unix(
                    o.string("path")?.unwrap_or_else(|| "/dev/log".to_owned()),
                    config,
                ),
                other => {
                    return Err(o.invalid(
                        "transport",
                        format!("expected udp, tcp or unix, found {other:?}"),
                    ))
                }
            }
            .map_err(|e| sender_error(name, e))?;
            (Box::new(s), "SyslogSender")
        }
        "zmq" => build_zmq(&o)?,
        "zmq_handshake" => build_zmq_handshake(&o)?,
        "stdout" => {
            let s = if o.bool("pretty")?.unwrap_or(false) {
                sender::StdoutSender::pretty()
            } else {
                sender::StdoutSender::new()
            };
            (Box::new(s), "StdoutSender")
        }
        "file" => {
            let path = match (o.string("filepath")?, o.string("path")?) {
                (Some(p), _) | (None, Some(p)) => p,
                (None, None) => {
                    return Err(o.invalid("filepath", "the file sender needs a filepath".into()))
                }
            };
            let s = sender::FileSender::open(&path).map_err(|e| sender_error(name, e))?;
            (Box::new(s), "FileSender")
        }
        "capture" => {
            let capacity = o
                .int("capacity", 1, 1 << 30)?
                .map_or(sender::CaptureSender::DEFAULT_CAPACITY, |c| c as usize);
            (
                Box::new(sender::CaptureSender::with_capacity(capacity)),
                "CaptureSender",
            )
        }
        "log" => {
            let mut s = sender::LogSender::new();
            if let Some(target) = o.string("logger_name")? {
                s = s.target(target);
            }
            if let Some(types) = o.strings("payload_types")? {
                s = s.payload_types(types);
            }
            if let Some(types) = o.strings("json_types")? {
                s = s.json_types(types);
            }
            (Box::new(s), "LogSender")
        }
        _ => (Box::new(sender::NullSender), "NullSender"),
    };
    Ok(boxed)
}

#[cfg(feature = "zmq")]
fn build_zmq(o: &Options<'_>) -> Result<(Box<dyn Sender>, &'static str), ConfigError> {
    let endpoints = o.strings("bindstrs")?.ok_or_else(|| {
        o.invalid(
            "bindstrs",
            "the zmq sender needs bindstrs (endpoints)".into(),
        )
    })?;
    let queue_length = o
        .int("queue_length", 1, i64::from(i32::MAX))?
        .unwrap_or(1000) as i32;
    let s = if o.bool("bind")?.unwrap_or(false) {
        sender::ZmqSender::bind(endpoints, queue_length)
    } else {
        sender::ZmqSender::connect(endpoints, queue_length)
    }
    .map_err(|e| sender_error("zmq", e))?;
    Ok((Box::new(s), "ZmqSender"))
}

/// metlog-py's `ZmqHandshakePubSender`: a publisher connected to
/// `connect_bind` with `hwm` messages queued. Its handshake (a REQ/REP ping
/// to `handshake_bind`, after which metlog-py wrote messages to stderr while
/// the router did not answer) is not made: ZeroMQ here queues nothing for a
/// subscriber that is down and counts what it drops, so that option and its
/// pool's are accepted, reported once, and left unused.
#[cfg(feature = "zmq")]
fn build_zmq_handshake(o: &Options<'_>) -> Result<(Box<dyn Sender>, &'static str), ConfigError> {
    let endpoint = o.string("connect_bind")?.ok_or_else(|| {
        o.invalid(
            "connect_bind",
            "ZmqHandshakePubSender needs connect_bind (the endpoint to publish to)".into(),
        )
    })?;
    let hwm = o.int("hwm", 1, i64::from(i32::MAX))?.unwrap_or(200) as i32;
    let unused: Vec<&str> = [
        "handshake_bind",
        "handshake_timeout",
        "pool_size",
        "livecheck",
        "debug_stderr",
    ]
    .into_iter()
    .filter(|key| o.options.contains_key(*key))
    .collect();
    if !unused.is_empty() {
        crate::report::report(format_args!(
            "ZmqHandshakePubSender: publishing to {endpoint} without metlog-py's handshake; \
             option(s) {} left unused (messages a down subscriber cannot take are counted \
             dropped, see Client::stats)",
            unused.join(", ")
        ));
    }
    let s = sender::ZmqSender::connect([endpoint], hwm).map_err(|e| sender_error("zmq", e))?;
    Ok((Box::new(s), "ZmqSender"))
}

#[cfg(not(feature = "zmq"))]
fn build_zmq_handshake(o: &Options<'_>) -> Result<(Box<dyn Sender>, &'static str), ConfigError> {
    build_zmq(o)
}

#[cfg(not(feature = "zmq"))]
fn build_zmq(_: &Options<'_>) -> Result<(Box<dyn Sender>, &'static str), ConfigError> {
    Err(ConfigError::new(
        ConfigErrorKind::UnknownProvider,
        "the zmq sender needs metlog's `zmq` cargo feature",
    )
    .at_key("class"))
}
