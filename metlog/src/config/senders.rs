//! Sender classes by name: one table of metlog-py's dotted names and our
//! short ones, the options each takes, and how each is built.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use super::{ConfigError, ConfigErrorKind, ConfigValue, SenderConfig};
use crate::encode::syslog::{Facility, SdFields};
use crate::sender::{self, Held, QueueConfig, Sender, SenderOptions};

type Built = Result<Held, ConfigError>;

/// A sender class of the table.
pub(crate) struct Class {
    /// The short name first (the one messages use), then metlog-py's.
    names: &'static [&'static str],
    /// The options it takes; a queued sender takes [`QUEUE_OPTIONS`] too.
    options: &'static [&'static str],
    queued: bool,
    build: fn(&Options<'_>) -> Built,
}

/// Every network sender's queue options.
const QUEUE_OPTIONS: [&str; 3] = ["queue_capacity", "queue_max_bytes", "flush_timeout"];

static CLASSES: &[Class] = &[
    Class {
        names: &[
            "udp",
            "metlog.senders.UdpSender",
            "metlog.senders.udp.UdpSender",
        ],
        options: &["host", "port"],
        queued: true,
        build: udp,
    },
    Class {
        names: &["tcp"],
        options: &["host", "port", "backlog"],
        queued: true,
        build: tcp,
    },
    Class {
        names: &["statsd"],
        options: &["host", "port", "mtu", "prefix", "outcome_in_key", "tags"],
        queued: true,
        build: statsd,
    },
    Class {
        names: &["syslog"],
        options: &["transport", "host", "port", "path", "facility", "sd_fields"],
        queued: true,
        build: syslog,
    },
    Class {
        names: &[
            "zmq",
            "metlog.senders.zmq.ZmqPubSender",
            "metlog.senders.ZmqPubSender",
        ],
        options: &["bindstrs", "queue_length", "bind"],
        queued: false,
        build: zmq,
    },
    Class {
        names: &[
            "zmq_handshake",
            "metlog.senders.zmq.ZmqHandshakePubSender",
            "metlog.senders.ZmqHandshakePubSender",
        ],
        options: &[
            "connect_bind",
            "hwm",
            "handshake_bind",
            "handshake_timeout",
            "pool_size",
            "livecheck",
            "debug_stderr",
        ],
        queued: false,
        build: zmq_handshake,
    },
    Class {
        names: &[
            "stdout",
            "metlog.senders.StdOutSender",
            "metlog.senders.dev.StdOutSender",
        ],
        options: &["pretty"],
        queued: false,
        build: stdout,
    },
    Class {
        names: &[
            "file",
            "metlog.senders.FileSender",
            "metlog.senders.dev.FileSender",
        ],
        options: &["filepath", "path"],
        queued: false,
        build: file,
    },
    Class {
        names: &["capture"],
        options: &["capacity"],
        queued: false,
        build: capture,
    },
    // metlog-py's class keeps its newest 100 messages (a deque(maxlen=100)).
    Class {
        names: &[
            "metlog.senders.DebugCaptureSender",
            "metlog.senders.dev.DebugCaptureSender",
        ],
        options: &["capacity"],
        queued: false,
        build: |o| {
            let capacity = o.count("capacity", 100)?;
            Ok(Held::new(sender::CaptureSender::ring(capacity)))
        },
    },
    Class {
        names: &["log", "metlog.senders.logging.StdLibLoggingSender"],
        options: &["logger_name", "payload_types", "json_types"],
        queued: false,
        build: log,
    },
    Class {
        names: &["null"],
        options: &[],
        queued: false,
        build: |_| Ok(Held::new(sender::NullSender)),
    },
];

impl Class {
    /// The class named `name` (short or metlog-py's), if the table has it.
    pub(crate) fn named(name: &str) -> Option<&'static Class> {
        CLASSES.iter().find(|class| class.names.contains(&name))
    }

    /// Refuses an option it does not take (naming the nearest it takes).
    fn check(&self, options: &BTreeMap<String, ConfigValue>) -> Result<(), ConfigError> {
        let mut known = self.options.to_vec();
        known.extend(QUEUE_OPTIONS.iter().filter(|_| self.queued));
        super::check_options(&format!("{} sender", self.names[0]), options, &known)
    }
}

/// Every option a class of the table takes (for "did you mean").
pub(crate) fn all_options() -> impl Iterator<Item = &'static str> {
    let options = CLASSES
        .iter()
        .flat_map(|class| class.options.iter().copied());
    options.chain(QUEUE_OPTIONS)
}

/// A user-registered sender class: builds a sender from its options.
pub type SenderFactory = fn(&BTreeMap<String, ConfigValue>) -> Result<Box<dyn Sender>, String>;

static CUSTOM: RwLock<BTreeMap<String, SenderFactory>> = RwLock::new(BTreeMap::new());

/// Makes a sender class of your own available to configuration files as
/// `class = <name>`; its options are passed as they are (not checked).
pub fn register_sender(name: impl Into<String>, factory: SenderFactory) {
    let mut custom = CUSTOM.write().unwrap_or_else(PoisonError::into_inner);
    custom.insert(name.into(), factory);
}

/// Builds the sender `config` describes.
pub(crate) fn build(config: &SenderConfig) -> Built {
    let (class, options) = (config.class.as_str(), &config.options);
    if let Some(known) = Class::named(class) {
        known.check(options)?;
        let class = known.names[0];
        return (known.build)(&Options { class, options });
    }
    let custom = CUSTOM.read().unwrap_or_else(PoisonError::into_inner);
    let Some(&factory) = custom.get(class) else {
        let message = format!(
            "unknown sender class {class:?}; expected one of udp, tcp, statsd, syslog, zmq, stdout, \
             file, capture, log, null, a metlog-py class name such as metlog.senders.UdpSender, or \
             a class registered with metlog::config::register_sender"
        );
        return Err(ConfigError::new(ConfigErrorKind::UnknownProvider, message).at_key("class"));
    };
    drop(custom); // (A factory may register a class.)
    let sender = factory(options).map_err(|e| sender_error(class, e))?;
    Ok(Held::new(sender))
}

fn sender_error(class: &str, e: impl std::fmt::Display) -> ConfigError {
    let message = format!("cannot create the {class} sender: {e}");
    ConfigError::new(ConfigErrorKind::Sender, message)
}

/// Options for one sender, with helpers that produce precise errors.
struct Options<'a> {
    class: &'a str,
    options: &'a BTreeMap<String, ConfigValue>,
}

/// An integer, or text that is one.
fn integer(v: &ConfigValue) -> Option<i64> {
    match v {
        ConfigValue::Int(i) => Some(*i),
        ConfigValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Options<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(ConfigErrorKind::InvalidValue, message).at_key(key)
    }

    /// The sender, or why it could not be created.
    fn boxed<S: Sender + 'static>(&self, sender: std::io::Result<S>) -> Built {
        Ok(Held::new(sender.map_err(|e| sender_error(self.class, e))?))
    }

    /// Option `key` converted by `convert`, or an error saying what was
    /// `expected`.
    fn get<T>(
        &self,
        key: &str,
        convert: impl Fn(&ConfigValue) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(v) = self.options.get(key) else {
            return Ok(None);
        };
        let found = format!("expected {expected}, found {} ({v})", v.type_name());
        convert(v).map(Some).ok_or_else(|| self.invalid(key, found))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.get(key, ConfigValue::as_string, "text")
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        self.get(key, ConfigValue::as_string_list, "a list of names")
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        let value = self.get(key, ConfigValue::as_bool, "true or false")?;
        Ok(value.unwrap_or(false))
    }

    /// Option `key`, converted by `convert`, within `range`.
    fn ranged<T: PartialOrd + std::fmt::Debug>(
        &self,
        key: &str,
        convert: impl Fn(&ConfigValue) -> Option<T>,
        expected: &str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key, convert, expected)? {
            Some(n) if !range.contains(&n) => {
                Err(self.invalid(key, format!("{n:?} is out of range {range:?}")))
            }
            value => Ok(value),
        }
    }

    fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        self.ranged(key, integer, "an integer", min..=max)
    }

    /// `key` as a count from 1 to 2^30, or `default`.
    fn count(&self, key: &str, default: usize) -> Result<usize, ConfigError> {
        Ok(self.int(key, 1, 1 << 30)?.map_or(default, |n| n as usize))
    }

    fn ports(&self) -> Result<Vec<u16>, ConfigError> {
        let one = |v: &ConfigValue| {
            let port = integer(v).and_then(|n| u16::try_from(n).ok());
            port.ok_or_else(|| {
                self.invalid("port", format!("expected a port number 0-65535, found {v}"))
            })
        };
        let needs = format!("the {} sender needs a port", self.class);
        let port = self
            .options
            .get("port")
            .ok_or_else(|| self.invalid("port", needs))?;
        let ports = match port {
            ConfigValue::List(items) => items.iter().map(one).collect::<Result<_, _>>()?,
            v => vec![one(v)?],
        };
        if ports.is_empty() {
            return Err(self.invalid("port", "no port given"));
        }
        Ok(ports)
    }

    /// The hosts (at least one: `127.0.0.1` when none is configured).
    fn hosts(&self) -> Result<Vec<String>, ConfigError> {
        let hosts = self.strings("host")?;
        let hosts = hosts.unwrap_or_else(|| vec!["127.0.0.1".to_owned()]);
        if hosts.is_empty() || hosts.iter().any(|h| h.trim().is_empty()) {
            let message = "empty: give a host name or address (or leave the key out for 127.0.0.1)";
            return Err(self.invalid("host", message));
        }
        Ok(hosts)
    }

    /// The first host and the first port: where a stream sender connects.
    fn address(&self) -> Result<(String, u16), ConfigError> {
        Ok((self.hosts()?.remove(0), self.ports()?[0]))
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
        // An integer, a number, or text that is one.
        let seconds = |v: &ConfigValue| v.as_string()?.trim().parse().ok();
        match self.ranged("flush_timeout", seconds, "seconds", 0.0..=3600.0)? {
            Some(secs) => Ok(queue.flush_timeout(Duration::from_secs_f64(secs))),
            None => Ok(queue),
        }
    }
}

fn udp(o: &Options<'_>) -> Built {
    let options = SenderOptions::default().queue(o.queue()?);
    o.boxed(sender::UdpSender::to_hosts(o.hosts()?, o.ports()?, options))
}

fn tcp(o: &Options<'_>) -> Built {
    let address = o.address()?;
    let queue = o.queue()?;
    let options = SenderOptions::default().queue(queue);
    let options = options.backlog(o.count("backlog", 10_000)?);
    o.boxed(sender::TcpSender::with_options(address, options))
}

fn statsd(o: &Options<'_>) -> Built {
    use crate::encode::statsd::{Prefix, Tags};
    let address = o.address()?;
    let mut options = SenderOptions::default().queue(o.queue()?);
    if let Some(mtu) = o.int("mtu", 64, 65_507)? {
        options = options.mtu(mtu as usize);
    }
    if let Some(text) = o.string("prefix")?.filter(|text| !text.is_empty()) {
        options = options.prefix(Prefix::Text(text));
    }
    options = options.outcome_in_key(o.bool("outcome_in_key")?);
    if let Some(fields) = o.strings("tags")? {
        options = options.tags(match fields.as_slice() {
            [one] if one == "all" => Tags::All,
            [one] if one == "none" => Tags::None,
            _ => Tags::Only(fields),
        });
    }
    o.boxed(sender::StatsdSender::with_options(address, options))
}

fn syslog(o: &Options<'_>) -> Built {
    let mut config = SenderOptions::default().queue(o.queue()?);
    if let Some(facility) = o.string("facility")? {
        let facility: Result<Facility, String> = facility.parse();
        config = config.facility(facility.map_err(|e| o.invalid("facility", e))?);
    }
    if let Some(fields) = o.strings("sd_fields")? {
        config = config.structured_data(match fields.as_slice() {
            [one] if one == "all" => SdFields::AllScalars,
            [one] if one == "none" => SdFields::None,
            _ => SdFields::Only(fields),
        });
    }
    let transport = o.string("transport")?.unwrap_or_else(|| "udp".to_owned());
    o.boxed(match transport.as_str() {
        "udp" => sender::SyslogSender::udp(o.address()?, config),
        "tcp" => sender::SyslogSender::tcp(o.address()?, config),
        #[cfg(unix)]
        "unix" => {
            let path = o.string("path")?.unwrap_or_else(|| "/dev/log".to_owned());
            sender::SyslogSender::unix(path, config)
        }
        other => {
            let message = format!("expected udp, tcp or unix, found {other:?}");
            return Err(o.invalid("transport", message));
        }
    })
}

fn stdout(o: &Options<'_>) -> Built {
    Ok(Held::new(if o.bool("pretty")? {
        sender::StdoutSender::pretty()
    } else {
        sender::StdoutSender::new()
    }))
}

fn file(o: &Options<'_>) -> Built {
    let path = o.string("filepath")?.or(o.string("path")?);
    let path = path.ok_or_else(|| o.invalid("filepath", "the file sender needs a filepath"))?;
    o.boxed(sender::FileSender::open(&path))
}

fn capture(o: &Options<'_>) -> Built {
    let capacity = o.count("capacity", sender::CaptureSender::DEFAULT_CAPACITY)?;
    Ok(Held::new(sender::CaptureSender::with_capacity(capacity)))
}

fn log(o: &Options<'_>) -> Built {
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
    Ok(Held::new(s))
}

#[cfg(feature = "zmq")]
fn zmq(o: &Options<'_>) -> Built {
    let endpoints = o.strings("bindstrs")?;
    let needs = "the zmq sender needs bindstrs (endpoints)";
    let endpoints = endpoints.ok_or_else(|| o.invalid("bindstrs", needs))?;
    let queue_length = o
        .int("queue_length", 1, i64::from(i32::MAX))?
        .unwrap_or(1000) as usize;
    let options = SenderOptions::default()
        .backlog(queue_length)
        .bind(o.bool("bind")?);
    o.boxed(sender::ZmqSender::with_options(endpoints, options))
}

/// metlog-py's `ZmqHandshakePubSender`: a publisher connected to
/// `connect_bind` with `hwm` messages queued. Its handshake (a REQ/REP ping
/// to `handshake_bind`, after which metlog-py wrote messages to stderr while
/// the router did not answer) is not made: ZeroMQ here queues nothing for a
/// subscriber that is down and counts what it drops, so that option and its
/// pool's are accepted, reported once, and left unused.
#[cfg(feature = "zmq")]
fn zmq_handshake(o: &Options<'_>) -> Built {
    let needs = "ZmqHandshakePubSender needs connect_bind (the endpoint to publish to)";
    let endpoint = o.string("connect_bind")?;
    let endpoint = endpoint.ok_or_else(|| o.invalid("connect_bind", needs))?;
    let hwm = o.int("hwm", 1, i64::from(i32::MAX))?.unwrap_or(200) as usize;
    // The class's other options (those it does not take are refused).
    let unused = o
        .options
        .keys()
        .filter(|key| !["connect_bind", "hwm"].contains(&key.as_str()));
    let unused: Vec<&str> = unused.map(String::as_str).collect();
    if !unused.is_empty() {
        crate::report::report(format_args!(
            "ZmqHandshakePubSender: publishing to {endpoint} without metlog-py's handshake; \
             option(s) {} left unused (messages a down subscriber cannot take are counted \
             dropped, see Client::stats)",
            unused.join(", ")
        ));
    }
    let s = sender::ZmqSender::with_options([endpoint], SenderOptions::default().backlog(hwm));
    Ok(Held::new(s.map_err(|e| sender_error("zmq", e))?))
}

#[cfg(not(feature = "zmq"))]
use self::zmq as zmq_handshake;

#[cfg(not(feature = "zmq"))]
fn zmq(_: &Options<'_>) -> Built {
    let message = "the zmq sender needs metlog's `zmq` cargo feature";
    Err(ConfigError::new(ConfigErrorKind::UnknownProvider, message).at_key("class"))
}
