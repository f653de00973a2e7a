//! Statsd lines from metlog messages, keyed as Mozilla's routers keyed them
//! (logstash-metlog's `metlog_statsd` output, metlog-router): the key is
//! `fields.logger` + `.` (when that field is there and not empty) +
//! `fields.name` — never the envelope's logger — with `::` → `.` and `:`,
//! `|`, `@` → `_` in the name, and then statsd's own clean-up of keys
//! (whitespace runs → `_`, `/` → `-`, anything outside `[A-Za-z0-9_.;=-]`
//! removed), done here so that the key sent is the key statsd keeps and no
//! name can split or forge a line. `|c` for counters, `|ms` for timers, `|g`
//! for gauges, `|@<rate>` when the rate is below 1. A name with nothing
//! statsd keeps (`"!!!"`, `""`) has no key: the message is refused (counted
//! failed, reported) rather than sent as `:1|c`.
//!
//! A gauge sets its value (`name:5|g`; a negative value as `name:0|g` then
//! `name:-5|g`, as statsd reads a sign as a change); a gauge message with
//! `fields.change = true` ([`Client::gauge_change`](crate::Client::gauge_change))
//! is statsd's change, `name:+3|g` / `name:-3|g`.
//!
//! Options, all off by default (the routers' lines, byte for byte):
//! - a prefix before every key (the client's logger, or any text): [`Prefix`];
//! - an annotated function's outcome as the last part of the key
//!   (`name.ok`, `name.err`, `name.panic`, `name.cancelled`), statsd's own
//!   way to tell them apart, which every statsd keeps:
//!   [`SenderOptions::outcome_in_key`](crate::sender::SenderOptions::outcome_in_key);
//! - fields as DogStatsD tags after the rate (`|#route:/login,method:GET`),
//!   which DogStatsD, Telegraf and Prometheus' statsd_exporter read: [`Tags`].

use crate::envelope::Payload;
use crate::value::ValueRef;
use crate::Envelope;

/// The statsd metric type of a metlog message type, if it has one.
pub(crate) fn metric_type(kind: &str) -> Option<&'static str> {
    match kind {
        "counter" => Some("c"),
        "timer" => Some("ms"),
        "gauge" => Some("g"),
        _ => None,
    }
}

/// What goes before a statsd key: nothing (the routers' keys, the
/// default), some text, or the message's logger (`myapp.requests`). A `.`
/// joins it to the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Prefix {
    /// The key as the routers made it.
    #[default]
    None,
    /// This text.
    Text(String),
    /// The message's logger (the envelope's `logger`).
    Logger,
}

/// Which fields a statsd line carries as DogStatsD tags, after the rate:
/// `requests:1|c|@0.5|#route:/login,method:GET`.
///
/// Tags are read by DogStatsD (the Datadog agent), Telegraf's statsd input
/// and Prometheus' statsd_exporter. Etsy statsd 0.9 turns them into Graphite
/// tags in the key (`requests;route=-login;method=GET`, each its own
/// series); an older Etsy statsd counts a tagged line as a bad line. To tell
/// an annotated function's outcomes apart in any statsd, put the outcome in
/// the key ([`SenderOptions::outcome_in_key`](crate::sender::SenderOptions::outcome_in_key)).
///
/// A tag is `key:value`, a string, number or boolean field (others are left
/// out). So that no tag can end the line, start another tag or metric, or
/// forge a Graphite tag, `,` `|` `#` `;`, whitespace and control characters
/// become `_` in keys and values, and `:` and `=` too in keys; a key left
/// empty is left out. The outcome put in the key by `outcome_in_key` is
/// cleaned of `;` and `=` as well. The name and `fields.logger` are keyed
/// as the routers keyed them, `;` and `=` kept — statsd 0.9 reads
/// `;k=v` in a key as a Graphite tag, as it did for metlog-py's messages:
/// a name made of untrusted input should be cleaned by the caller.
///
/// ```
/// use metlog::encode::statsd::Tags;
/// use metlog::sender::{SenderOptions, StatsdSender};
/// let options = SenderOptions::default().tags(Tags::Only(vec!["route".into(), "method".into()]));
/// let statsd = StatsdSender::with_options("127.0.0.1:8125", options)?;
/// // client.counter("requests").field("route", "/login").field("method", "GET").send()
/// // → "requests:1|c|#route:/login,method:GET"
/// # let _ = statsd;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tags {
    /// No tags: the routers' lines (the default).
    #[default]
    None,
    /// Every field but those the line already says: `name`, `rate`,
    /// `logger` (the key's namespace), a gauge's `change`, and `outcome`
    /// when it is in the key.
    All,
    /// These fields, in this order, those the message has.
    Only(Vec<String>),
}

/// How a statsd sender writes its lines (its [`SenderOptions`](crate::sender::SenderOptions)).
#[derive(Clone, Debug, Default)]
pub(crate) struct Style {
    pub(crate) prefix: Prefix,
    pub(crate) outcome_in_key: bool,
    pub(crate) tags: Tags,
}

/// Appends the statsd line of `message` (no newline) to `out`, keyed as the
/// routers keyed it (see the [module](self)); or says why it has none.
#[cfg(test)]
pub(crate) fn write_line<'a>(
    message: impl Into<Envelope<'a>>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    write_line_with(message, &Style::default(), out)
}

/// Like [`write_line`], written as `style` says.
pub(crate) fn write_line_with<'a>(
    message: impl Into<Envelope<'a>>,
    style: &Style,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let message = message.into();
    let metric = metric_type(message.kind).ok_or("not a counter, timer or gauge")?;
    let change = metric == "g" && message.fields.get("change") == Some(ValueRef::Bool(true));
    message.payload.with_str(|payload| {
        let payload = payload.trim();
        if matches!(message.payload, Payload::Text(_)) && !is_finite_number(payload) {
            return Err(format!("payload {payload:?} is not a finite number"));
        }
        let negative = match message.payload {
            Payload::Text(_) => payload.parse::<f64>().is_ok_and(|n| n < 0.0),
            Payload::I64(n) => n < 0,
            Payload::U64(_) => false,
        };
        if metric == "ms" && negative {
            let why = "is negative, which statsd refuses as a bad line";
            return Err(format!("timer {payload:?} {why}"));
        }
        let start = out.len();
        write_key(&message, style, out).inspect_err(|_| out.truncate(start))?;
        let key = start..out.len();
        let sign = match payload.as_bytes().first() {
            // statsd reads a gauge's sign as a change ("+5": up by 5): a
            // change is signed, a value is not ...
            Some(b'+' | b'-') => "",
            _ if change => "+",
            _ => "",
        };
        let payload = match payload.strip_prefix('+') {
            Some(unsigned) if metric == "g" && !change => unsigned,
            _ => payload,
        };
        if metric == "g" && !change && negative {
            // ... and a negative value is set by zeroing first, in the same
            // datagram.
            write_rest(&message, style, ["0", ""], metric, out);
            out.push(b'\n');
            out.extend_from_within(key);
        }
        write_rest(&message, style, [sign, payload], metric, out);
        Ok(())
    })
}

/// Writes `<prefix>.<namespace>.<name>[.<outcome>]` (empty parts before the
/// name left out), mapped and cleaned as the routers and statsd would; or
/// says why the name makes no key.
fn write_key(message: &Envelope<'_>, style: &Style, out: &mut Vec<u8>) -> Result<(), String> {
    let prefix = match &style.prefix {
        Prefix::None => "",
        Prefix::Text(text) => text.as_str(),
        Prefix::Logger => message.logger,
    };
    let namespace = match message.fields.get("logger") {
        Some(ValueRef::Str(logger)) => logger,
        _ => "",
    };
    // Each part cleaned on its own: a `.` ends the ones before the name, so
    // no run of whitespace spans two.
    for part in [prefix, namespace].into_iter().filter(|p| !p.is_empty()) {
        push_statsd_key(part, out);
        out.push(b'.');
    }
    let name: std::borrow::Cow<'_, str> = match message.fields.get("name") {
        Some(ValueRef::Str(name)) => name.into(),
        Some(other) => other.to_string().into(),
        None => "".into(),
    };
    let start = out.len();
    if name.bytes().all(is_key_byte) {
        // Nearly every name: nothing to map or clean.
        out.extend_from_slice(name.as_bytes());
    } else {
        // The routers' mapping, of the name only; then statsd's clean-up.
        push_statsd_key(&name.replace("::", ".").replace([':', '|', '@'], "_"), out);
    }
    if out.len() == start {
        let shown: String = name.chars().take(64).collect();
        return Err(format!(
            "the name {shown:?} has no character statsd keeps in a key"
        ));
    }
    if let (true, Some(ValueRef::Str(outcome))) =
        (style.outcome_in_key, message.fields.get("outcome"))
    {
        out.push(b'.');
        let before = out.len();
        // Not the routers' key, so not bound by it: a field's value gets
        // no `;k=v` Graphite tag into the key (statsd 0.9 reads one).
        push_statsd_key(&outcome.replace([';', '='], "_"), out);
        if out.len() == before {
            out.pop();
        }
    }
    Ok(())
}

/// Writes `:<payload>|<metric>[|@<rate>][|#<tags>]`; `payload` (its parts
/// one after the other) must already be a valid number.
fn write_rest(
    message: &Envelope<'_>,
    style: &Style,
    payload: [&str; 2],
    metric: &str,
    out: &mut Vec<u8>,
) {
    out.push(b':');
    for part in payload {
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'|');
    out.extend_from_slice(metric.as_bytes());
    if let Some(rate) = message.fields.get("rate").and_then(|rate| rate.as_f64()) {
        // 0 would make statsd divide by zero; NaN and >= 1 mean "unsampled".
        if rate > 0.0 && rate < 1.0 {
            use std::io::Write as _;
            let _ = write!(out, "|@{rate}");
        }
    }
    match &style.tags {
        Tags::None => {}
        Tags::All => {
            let own = |key: &str| match key {
                "name" | "rate" | "logger" => true,
                "change" => metric == "g",
                "outcome" => style.outcome_in_key,
                _ => false,
            };
            let fields = message.fields.iter().filter(|(key, _)| !own(key));
            write_tags(fields, out);
        }
        Tags::Only(keys) => {
            let fields = keys
                .iter()
                .map(|key| (key.as_str(), message.fields.get(key)));
            write_tags(fields.filter_map(|(key, value)| Some((key, value?))), out);
        }
    }
}

/// Writes `|#key:value,…` of the scalar `fields` (nothing when there is
/// none), each cleaned as [`Tags`] says.
fn write_tags<'a>(fields: impl Iterator<Item = (&'a str, ValueRef<'a>)>, out: &mut Vec<u8>) {
    let mut first = true;
    for (key, value) in fields {
        let value: std::borrow::Cow<'_, str> = match value {
            ValueRef::Str(text) => text.into(),
            ValueRef::Null | ValueRef::Json(_) => continue,
            scalar => scalar.to_string().into(),
        };
        let start = out.len();
        out.extend_from_slice(if first { b"|#" } else { b"," });
        let key_start = out.len();
        push_tag_text(key, true, out);
        if out.len() == key_start {
            out.truncate(start);
            continue;
        }
        out.push(b':');
        push_tag_text(&value, false, out);
        first = false;
    }
}

/// `text` with what could end a DogStatsD tag, tag list or line as `_`:
/// `,` `|` `#`, `;` (Graphite's tag separator, which Etsy statsd 0.9 makes
/// of tags), whitespace and control characters; in a key, `:` and `=`
/// too (statsd 0.9 writes a tag as `;key=value`).
fn push_tag_text(text: &str, key: bool, out: &mut Vec<u8>) {
    let breaks = |c: char| {
        matches!(c, ',' | '|' | '#' | ';')
            || (key && matches!(c, ':' | '='))
            || c.is_whitespace()
            || c.is_control()
            || js_whitespace(c)
    };
    if !text.contains(breaks) {
        return out.extend_from_slice(text.as_bytes());
    }
    let mut buf = [0; 4];
    for c in text.chars() {
        let c = if breaks(c) { '_' } else { c };
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// `key` as Etsy statsd keeps it (`stats.js`, `sanitizeKeyName`): each run
/// of whitespace (JavaScript's `\s`) → `_`, `/` → `-`, every character
/// outside `[A-Za-z0-9_.;=-]` removed. What remains cannot split a line.
fn push_statsd_key(key: &str, out: &mut Vec<u8>) {
    // Keys are nearly always clean already: copy them whole.
    if key.bytes().all(is_key_byte) {
        out.extend_from_slice(key.as_bytes());
        return;
    }
    let mut in_space = false;
    for c in key.chars() {
        if js_whitespace(c) {
            if !in_space {
                out.push(b'_');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        match c {
            '/' => out.push(b'-'),
            c if c.is_ascii() && is_key_byte(c as u8) => out.push(c as u8),
            _ => {}
        }
    }
}

/// A byte statsd keeps in a key as it is (statsd 0.9's `;` and `=`, for
/// Graphite's tags, too; an older statsd drops them itself, as it did from
/// the routers' keys).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b';' | b'=')
}

/// JavaScript's `\s`: its WhiteSpace and LineTerminator characters, which
/// are Rust's `char::is_whitespace` (Unicode White_Space) but for U+0085,
/// and with U+FEFF.
fn js_whitespace(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// A finite number as statsd reads it (JavaScript's `Number`): an
/// optional sign, digits with at most one `.` among them, and an optional
/// exponent (`1e+20`, as Python 2 writes large floats).
fn is_finite_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let mantissa_ok = mantissa.bytes().any(|b| b.is_ascii_digit())
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && mantissa.bytes().filter(|&b| b == b'.').count() <= 1;
    let exponent_ok =
        exponent.is_none_or(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()));
    // Plain decimals this short are always finite; only longer ones, or
    // ones with an exponent, can overflow to infinity, so only they are
    // parsed.
    let short_plain = exponent.is_none() && mantissa.len() <= 300;
    mantissa_ok && exponent_ok && (short_plain || text.parse::<f64>().is_ok_and(f64::is_finite))
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_of_write_line() {
        use crate::{encode::statsd, Message};
        let mut msg = Message::new("counter", "myapp");
        msg.payload = "3".into();
        msg.fields.insert("name", "db::query|evil\nx:1|c");
        msg.fields.insert("rate", 0.5);
        let mut line = Vec::new();
        statsd::write_line(&msg, &mut line).unwrap();
        assert_eq!(line, b"db.query_evil_x_1_c:3|c|@0.5");
    }

    #[test]
    fn example_of_write_line_with_a_prefix() {
        use crate::{
            encode::statsd::{self, Prefix},
            Message,
        };
        let mut msg = Message::new("counter", "myapp");
        msg.payload = "1".into();
        msg.fields.insert("name", "requests");
        let mut line = Vec::new();
        let style = statsd::Style {
            prefix: Prefix::Logger,
            ..Default::default()
        };
        statsd::write_line_with(&msg, &style, &mut line).unwrap();
        assert_eq!(line, b"myapp.requests:1|c");
    }

    use super::*;
    use crate::Message;

    fn line(
        kind: &str,
        logger: &str,
        name: &str,
        payload: &str,
        rate: f64,
    ) -> Result<String, String> {
        let mut msg = Message::new(kind.to_owned(), logger.to_owned());
        msg.payload = payload.to_owned().into();
        msg.fields.insert("name", name.to_owned());
        msg.fields.insert("rate", rate);
        let mut out = Vec::new();
        write_line(&msg, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn counters_timers_gauges() {
        assert_eq!(
            line("counter", "app", "hits", "1", 1.0).unwrap(),
            "hits:1|c"
        );
        assert_eq!(
            line("timer", "app", "db.q", "12", 0.25).unwrap(),
            "db.q:12|ms|@0.25"
        );
        assert_eq!(
            line("gauge", "", "mem", "1024.5", 1.0).unwrap(),
            "mem:1024.5|g"
        );
        assert_eq!(
            line("counter", "app", "neg", "-3", 0.0).unwrap(),
            "neg:-3|c"
        );
        // A negative gauge is a value, not a decrement: zeroed first.
        assert_eq!(
            line("gauge", "app", "temp", "-5", 1.0).unwrap(),
            "temp:0|g\ntemp:-5|g"
        );
    }

    /// The routers' keys: `fields.logger` (not the envelope's logger) and
    /// the name, `::` → `.`, `:|@` → `_`; then what statsd itself keeps.
    #[test]
    fn keys_are_the_routers() {
        let keyed = |name: &str, namespace: Option<&str>, prefix: &Prefix| {
            let mut msg = Message::new("counter", "myapp");
            msg.payload = "1".into();
            msg.fields.insert("name", name.to_owned());
            if let Some(namespace) = namespace {
                msg.fields.insert("logger", namespace.to_owned());
            }
            let mut out = Vec::new();
            let style = Style {
                prefix: prefix.clone(),
                ..Default::default()
            };
            write_line_with(&msg, &style, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let none = &Prefix::None;
        assert_eq!(keyed("requests", None, none), "requests:1|c");
        assert_eq!(keyed("x", Some("nsfield"), none), "nsfield.x:1|c");
        assert_eq!(keyed("x", Some(""), none), "x:1|c");
        assert_eq!(keyed("a:b|c@d e/f::gé", None, none), "a_b_c_d_e-f.g:1|c");
        assert_eq!(
            keyed("Foo::Bar:baz|qux@host", Some("fl"), none),
            "fl.Foo.Bar_baz_qux_host:1|c"
        );
        assert_eq!(keyed("a \t\n b\u{a0}\u{feff}c", None, none), "a_b_c:1|c");
        assert_eq!(keyed("x\u{85}y", None, none), "xy:1|c");
        assert_eq!(
            keyed("requests", None, &Prefix::Logger),
            "myapp.requests:1|c"
        );
        assert_eq!(
            keyed("requests", Some("ns"), &Prefix::Text("svc 1".into())),
            "svc_1.ns.requests:1|c"
        );
    }

    #[test]
    fn hostile_names_cannot_inject() {
        let l = line("counter", "a:b|c", "x\ny:1|c\r@ z\0]", "1", 1.0).unwrap();
        assert_eq!(l, "x_y_1_c___z:1|c");
        assert_eq!(l.matches(':').count(), 1);
        assert_eq!(l.matches('|').count(), 1);
    }

    #[test]
    fn bad_payloads_and_types_are_refused() {
        assert_eq!(
            line("oldstyle", "a", "n", "1", 1.0),
            Err("not a counter, timer or gauge".into())
        );
        for bad in [
            "",
            "x",
            "1|c",
            "1\nfoo:1|c",
            "NaN",
            "inf",
            "1e400",
            "1.2.3",
            "-",
            ".",
        ] {
            assert!(
                line("counter", "a", "n", bad, 1.0)
                    .is_err_and(|e| e.ends_with("is not a finite number")),
                "{bad:?}"
            );
        }
        for bad in [
            "1e", "e5", "1e+", "1e5.5", "--1", "1e999", "+-1", "1e+-2", "0x10",
        ] {
            assert!(line("timer", "a", "n", bad, 1.0).is_err(), "{bad:?}");
        }
        // Python 2's way with large and small floats, which statsd reads.
        for (good, written) in [
            ("1e+20", "n:1e+20|ms"),
            ("1e-05", "n:1e-05|ms"),
            ("2.5E3", "n:2.5E3|ms"),
        ] {
            assert_eq!(line("timer", "a", "n", good, 1.0).unwrap(), written);
        }
        // statsd counts a negative timer a bad line: refused here, said why.
        assert_eq!(
            line("timer", "a", "n", "-1.5", 1.0),
            Err("timer \"-1.5\" is negative, which statsd refuses as a bad line".into())
        );
        assert!(line("timer", "a", "n", "-0", 1.0).is_ok());
        assert_eq!(line("counter", "a", "n", "-3", 1.0).unwrap(), "n:-3|c");
        // A gauge sets: "+5" would be read as "up by 5".
        assert_eq!(line("gauge", "a", "n", "+5", 1.0).unwrap(), "n:5|g");
        assert_eq!(line("gauge", "a", "n", "-5", 1.0).unwrap(), "n:0|g\nn:-5|g");
        // Long enough to overflow an f64: refused; just short enough: kept.
        let huge = "9".repeat(400);
        assert!(line("counter", "a", "n", &huge, 1.0).is_err());
        let big = "9".repeat(300);
        assert!(line("counter", "a", "n", &big, 1.0).is_ok());
    }

    /// A message of `kind` named `name` with `payload` and `fields`.
    fn msg_with(kind: &str, name: &str, payload: &str, fields: &[(&str, Value)]) -> Message {
        let mut msg = Message::new(kind.to_owned(), "app".to_owned());
        msg.payload = payload.to_owned().into();
        msg.fields.insert("name", name.to_owned());
        for (key, value) in fields {
            msg.fields.insert(*key, value.clone());
        }
        msg
    }

    fn styled(msg: &Message, style: &Style) -> Result<String, String> {
        let mut out = Vec::new();
        write_line_with(msg, style, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    use crate::Value;

    /// One DogStatsD metric as its format defines it (written from the
    /// format, not from the encoder): `name:value|type[|@rate][|#k:v,…]`.
    #[derive(Debug, PartialEq)]
    struct Dog {
        name: String,
        value: String,
        kind: String,
        rate: Option<f64>,
        tags: Vec<(String, String)>,
    }

    /// Parses one DogStatsD line; `Err` says why it is not exactly one metric.
    fn parse_dogstatsd(line: &str) -> Result<Dog, String> {
        if line.contains(['\n', '\r']) {
            return Err("more than one line".into());
        }
        let mut sections = line.split('|');
        let head = sections.next().ok_or("empty")?;
        let (name, value) = head.split_once(':').ok_or("no ':' after the name")?;
        if name.is_empty() || value.contains(':') {
            return Err(format!("no name, or several values: {head:?}"));
        }
        value
            .parse::<f64>()
            .map_err(|e| format!("value {value:?}: {e}"))?;
        let kind = sections.next().ok_or("no type")?;
        if !["c", "ms", "g", "h", "s", "d"].contains(&kind) {
            return Err(format!("type {kind:?}"));
        }
        let (mut rate, mut tags) = (None, None);
        for section in sections {
            if let Some(r) = section
                .strip_prefix('@')
                .filter(|_| rate.is_none() && tags.is_none())
            {
                rate = Some(r.parse::<f64>().map_err(|e| format!("rate {r:?}: {e}"))?);
            } else if let Some(list) = section.strip_prefix('#').filter(|_| tags.is_none()) {
                let parsed: Result<Vec<_>, String> = list
                    .split(',')
                    .map(|tag| match tag.split_once(':') {
                        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                        _ => Err(format!("tag {tag:?} is not key:value")),
                    })
                    .collect();
                tags = Some(parsed?);
            } else {
                return Err(format!("section {section:?}"));
            }
        }
        Ok(Dog {
            name: name.into(),
            value: value.into(),
            kind: kind.into(),
            rate,
            tags: tags.unwrap_or_default(),
        })
    }

    #[test]
    fn the_outcome_goes_in_the_key_when_asked() {
        let on = Style {
            outcome_in_key: true,
            ..Style::default()
        };
        for outcome in ["ok", "err", "panic", "cancelled"] {
            let msg = msg_with(
                "counter",
                "svc.get_user",
                "1",
                &[("outcome", outcome.into())],
            );
            assert_eq!(
                styled(&msg, &on).unwrap(),
                format!("svc.get_user.{outcome}:1|c")
            );
            // Off (the default): the routers' key, whatever the outcome.
            assert_eq!(styled(&msg, &Style::default()).unwrap(), "svc.get_user:1|c");
        }
        // Cleaned as a key; one with nothing statsd keeps adds nothing.
        let odd = msg_with("timer", "t", "5", &[("outcome", "a b:|\n".into())]);
        assert_eq!(styled(&odd, &on).unwrap(), "t.a_b_:5|ms");
        let empty = msg_with("timer", "t", "5", &[("outcome", "!!".into())]);
        assert_eq!(styled(&empty, &on).unwrap(), "t:5|ms");
        // No Graphite tag forged through the outcome.
        let forged = msg_with("timer", "t", "5", &[("outcome", "x;admin=true".into())]);
        assert_eq!(styled(&forged, &on).unwrap(), "t.x_admin_true:5|ms");
        // No outcome field: the key as it was.
        assert_eq!(
            styled(&msg_with("counter", "n", "1", &[]), &on).unwrap(),
            "n:1|c"
        );
        // An annotated function's record carries its outcome without a map.
        let site_style = Style {
            prefix: Prefix::Text("svc".into()),
            outcome_in_key: true,
            tags: Tags::All,
        };
        let fields = crate::envelope::FieldsView::metric(&[], "get_user", 1.0, Some("err"));
        let base = msg_with("counter", "x", "1", &[]);
        let envelope = Envelope {
            payload: Payload::I64(1),
            fields,
            ..base.envelope()
        };
        let mut out = Vec::new();
        write_line_with(envelope, &site_style, &mut out).unwrap();
        assert_eq!(out, b"svc.get_user.err:1|c");
    }

    #[test]
    fn tags_are_dogstatsd_after_the_rate() {
        let fields = [
            ("route", Value::from("/login")),
            ("method", "GET".into()),
            ("rate", 0.5.into()),
            ("logger", "ns".into()),
            ("status", 200.into()),
            ("cached", false.into()),
            ("outcome", "ok".into()),
            ("nested", serde_json::json!({"a": 1}).into()),
        ];
        let msg = msg_with("counter", "http.requests", "1", &fields);
        let only = Style {
            tags: Tags::Only(vec!["method".into(), "missing".into(), "route".into()]),
            ..Style::default()
        };
        assert_eq!(
            styled(&msg, &only).unwrap(),
            "ns.http.requests:1|c|@0.5|#method:GET,route:/login"
        );
        let all = Style {
            tags: Tags::All,
            ..Style::default()
        };
        assert_eq!(
            styled(&msg, &all).unwrap(),
            "ns.http.requests:1|c|@0.5|#route:/login,method:GET,status:200,cached:false,outcome:ok"
        );
        let both = Style {
            tags: Tags::All,
            outcome_in_key: true,
            ..Style::default()
        };
        let line = styled(&msg, &both).unwrap();
        assert_eq!(
            line,
            "ns.http.requests.ok:1|c|@0.5|#route:/login,method:GET,status:200,cached:false"
        );
        let parsed = parse_dogstatsd(&line).unwrap();
        assert_eq!(parsed.name, "ns.http.requests.ok");
        assert_eq!(parsed.rate, Some(0.5));
        assert_eq!(parsed.tags.len(), 4);
        // No field to tag: no `|#`.
        let bare = msg_with("counter", "n", "1", &[]);
        assert_eq!(styled(&bare, &all).unwrap(), "n:1|c");
        // A negative gauge's two lines carry the tags each.
        let gauge = msg_with("gauge", "t", "-2", &[("room", "a".into())]);
        assert_eq!(
            styled(&gauge, &all).unwrap(),
            "t:0|g|#room:a\nt:-2|g|#room:a"
        );
    }

    #[test]
    fn hostile_tags_cannot_break_the_line() {
        let fields = [
            ("a,b|c#d;e:f g", Value::from("x,y|z#w;v:u\n\r\tevil:1|c")),
            (":", "empty key once cleaned? no: it is `_`".into()),
            ("", "an empty key is left out".into()),
            ("k", "".into()),
            ("x=y", "a tag key's = would make statsd 0.9's ;x=y=…".into()),
        ];
        let msg = msg_with("counter", "n", "1", &fields);
        let all = Style {
            tags: Tags::All,
            ..Style::default()
        };
        let line = styled(&msg, &all).unwrap();
        assert_eq!(
            line,
            "n:1|c|#a_b_c_d_e_f_g:x_y_z_w_v:u___evil:1_c,_:empty_key_once_cleaned?_no:_it_is_`_`,k:,\
             x_y:a_tag_key's_=_would_make_statsd_0.9's__x=y=…"
        );
        let parsed = parse_dogstatsd(&line).unwrap();
        assert_eq!(parsed.tags.len(), 4, "{parsed:?}");
        assert_eq!(parsed.tags[0].1, "x_y_z_w_v:u___evil:1_c");
    }

    #[test]
    fn a_gauge_change_is_signed_and_a_value_is_set() {
        let change = |payload: &str| {
            let msg = msg_with("gauge", "conns", payload, &[("change", true.into())]);
            styled(&msg, &Style::default())
        };
        assert_eq!(change("+3").unwrap(), "conns:+3|g");
        assert_eq!(change("-3").unwrap(), "conns:-3|g");
        assert_eq!(change("3").unwrap(), "conns:+3|g");
        assert_eq!(change("+0").unwrap(), "conns:+0|g");
        assert!(change("+x").is_err());
        // `change` other than `true` is a value.
        let set = msg_with("gauge", "conns", "-3", &[("change", "true".into())]);
        assert_eq!(
            styled(&set, &Style::default()).unwrap(),
            "conns:0|g\nconns:-3|g"
        );
    }

    #[test]
    fn a_name_statsd_keeps_nothing_of_is_refused() {
        for name in ["", "!!!", "é漢", "\u{85}"] {
            for prefix in [Prefix::None, Prefix::Logger] {
                let mut msg = msg_with("counter", name, "1", &[("logger", "ns".into())]);
                if name.is_empty() {
                    msg.fields.remove("name");
                }
                let style = Style {
                    prefix,
                    ..Style::default()
                };
                let mut out = b"kept".to_vec();
                let why = write_line_with(&msg, &style, &mut out).unwrap_err();
                assert!(
                    why.contains("has no character statsd keeps in a key"),
                    "{why}"
                );
                assert_eq!(out, b"kept", "nothing written");
            }
        }
        // A name that is cleaned but keeps something is sent as before.
        assert_eq!(line("counter", "a", "é!x", "1", 1.0).unwrap(), "x:1|c");
    }

    /// What a field becomes as a tag, from [`Tags`]' documentation.
    fn tag_text(text: &str, key: bool) -> String {
        text.chars()
            .map(|c| {
                let breaks = ",|#;".contains(c)
                    || (key && (c == ':' || c == '='))
                    || c.is_whitespace()
                    || c.is_control()
                    || c == '\u{feff}';
                if breaks {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    }

    fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just(",".to_owned()),
            Just("|#".to_owned()),
            Just("|@0.1".to_owned()),
            Just(":".to_owned()),
            Just(";".to_owned()),
            Just("\n".to_owned()),
            Just("\r".to_owned()),
            Just("\u{2028}".to_owned()),
            Just("\u{feff}".to_owned()),
            Just("x:1|c".to_owned()),
            "[a-z]{1,4}",
            any::<String>(),
        ];
        prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 1_000,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever the name and fields: one metric, the key the untagged
        /// line has, and each field a tag as documented (or refused: a name
        /// statsd keeps nothing of).
        #[test]
        fn tagged_lines_parse_to_one_metric(
            name in hostile_text(),
            fields in proptest::collection::vec((hostile_text(), hostile_text()), 0..4),
            outcome_in_key in proptest::bool::ANY,
        ) {
            let mut msg = msg_with("counter", &name, "2", &[("rate", 0.25.into())]);
            for (key, value) in &fields {
                if ["name", "rate", "logger", "change"].contains(&key.as_str()) {
                    continue;
                }
                msg.fields.insert(key.clone(), value.clone());
            }
            let plain = Style { outcome_in_key, ..Style::default() };
            let all = Style { tags: Tags::All, outcome_in_key, ..Style::default() };
            let (Ok(untagged), Ok(tagged)) = (styled(&msg, &plain), styled(&msg, &all)) else {
                proptest::prop_assert!(styled(&msg, &all).is_err());
                return Ok(());
            };
            let dog = parse_dogstatsd(&tagged).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(format!("{tagged:?}: {e}"))
            })?;
            let expected: Vec<(String, String)> = msg
                .fields
                .iter()
                .filter(|(key, _)| !["name", "rate", "logger"].contains(key))
                .filter(|(key, _)| !(outcome_in_key && *key == "outcome"))
                .filter_map(|(key, value)| {
                    let key = tag_text(key, true);
                    (!key.is_empty()).then(|| (key, tag_text(value.as_str().unwrap(), false)))
                })
                .collect();
            proptest::prop_assert_eq!(&dog.name, untagged.split(':').next().unwrap());
            proptest::prop_assert_eq!(dog.value.as_str(), "2");
            proptest::prop_assert_eq!(dog.kind.as_str(), "c");
            proptest::prop_assert_eq!(dog.rate, Some(0.25));
            proptest::prop_assert_eq!(dog.tags, expected);
        }
    }
}
