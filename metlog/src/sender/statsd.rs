//! [`StatsdSender`]: counters, timers and gauges as statsd lines over UDP.

use std::io;

use super::address::ToAddress;
use super::background::QueuedSender;
use super::udp::{background_sender, Format, SenderOptions};
use crate::encode::statsd;
use crate::record::Record;

/// Sends `counter`, `timer` and `gauge` messages to statsd as
/// `<name>:<payload>|c` / `|ms` / `|g` (with `|@<rate>` below rate 1),
/// several lines per datagram up to the [MTU](SenderOptions::mtu) (512 bytes
/// by default).
///
/// Keys are the ones Mozilla's routers made of a metlog-py message —
/// `fields.logger` (when given) + `.` + the name, not the client's logger —
/// so a service moved from metlog-py to this crate keeps its Graphite keys;
/// [`prefix`](SenderOptions::prefix) puts the client's logger (or any text)
/// in front. Keys are cleaned as statsd itself cleans them (see
/// [`encode::statsd`](crate::encode::statsd)), so no name can inject another
/// metric. A name statsd keeps nothing of (`"!!!"`) is refused: counted
/// failed and reported, never sent as a line with no key.
///
/// Off by default, so the routers' keys stay as they were:
/// [`outcome_in_key`](SenderOptions::outcome_in_key) counts an annotated
/// function's outcomes apart (`get_user.ok`, `get_user.err`) in any statsd;
/// [`tags`](SenderOptions::tags) sends chosen fields as DogStatsD tags
/// (`requests:1|c|#route:/login`) for DogStatsD, Telegraf or statsd_exporter.
///
/// **statsd carries only metrics: route everything else elsewhere** with a
/// [`Router`](super::Router) — log lines (`info`, `warn!`, the `log`
/// bridge), exceptions, CEF and your own types. Sent to statsd they are
/// not sent: each is counted as *ignored* in
/// [`Client::stats`](crate::Client::stats), and the first is reported once
/// on stderr (see [`report`](crate::report)).
///
/// ```
/// use metlog::sender::{Router, StatsdSender, StdoutSender};
/// let statsd = StatsdSender::new("127.0.0.1:8125")?;
/// let router = Router::new(StdoutSender::new()).route(["counter", "timer", "gauge"], statsd);
/// let client = metlog::Client::builder("myapp").sender(router).build();
/// client.incr("requests");     // → "requests:1|c" to statsd
/// client.info("log lines go to stdout");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct StatsdSender(QueuedSender);

impl StatsdSender {
    /// Sends to the statsd at `addr` (e.g. `"127.0.0.1:8125"`; a host name
    /// is resolved in the background, see [`Address`](super::Address)).
    pub fn new(addr: impl ToAddress) -> io::Result<StatsdSender> {
        Self::with_options(addr, SenderOptions::default())
    }

    /// Sends to `addr` with the options' queue, [`mtu`](SenderOptions::mtu),
    /// [`prefix`](SenderOptions::prefix),
    /// [`outcome_in_key`](SenderOptions::outcome_in_key) and
    /// [`tags`](SenderOptions::tags).
    ///
    /// ```
    /// use metlog::encode::statsd::Prefix;
    /// use metlog::sender::{SenderOptions, StatsdSender};
    /// let options = SenderOptions::default().mtu(1432).prefix(Prefix::Logger);
    /// let statsd = StatsdSender::with_options("127.0.0.1:8125", options)?;
    /// # let _ = statsd;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_options(addr: impl ToAddress, options: SenderOptions) -> io::Result<StatsdSender> {
        let to = vec![addr.to_address()?];
        let queued = options.datagrams("statsd", Format::Statsd, to)?;
        Ok(StatsdSender(queued))
    }
}

/// What statsd carries: metrics.
fn is_metric(record: &Record<'_>) -> bool {
    record.is_metric_call() || statsd::metric_type(record.kind()).is_some()
}

background_sender!(StatsdSender, is_metric);
