//! Statsd lines from metlog messages, as Mozilla's router wrote them:
//! `<logger>.<name>:<payload>|c` for counters, `|ms` for timers, `|g` for
//! gauges, with `|@<rate>` when the rate is below 1.

use crate::envelope::Payload;
use crate::value::ValueRef;
use crate::Envelope;

/// The statsd metric type of a metlog message type, if it has one.
pub fn metric_type(kind: &str) -> Option<&'static str> {
    match kind {
        "counter" => Some("c"),
        "timer" => Some("ms"),
        "gauge" => Some("g"),
        _ => None,
    }
}

/// Why a message has no statsd line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsdError {
    /// Not a counter, timer or gauge.
    Unsupported,
    /// The payload is not a finite number.
    BadPayload(String),
}

impl std::fmt::Display for StatsdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsdError::Unsupported => f.write_str("not a counter, timer or gauge"),
            StatsdError::BadPayload(p) => write!(f, "payload {p:?} is not a finite number"),
        }
    }
}

impl std::error::Error for StatsdError {}

/// Appends the statsd line of `message` (no newline) to `out`.
///
/// The metric name is `<logger>.<name>` (just `<name>` when the logger is
/// empty), with every character other than ASCII letters, digits, `.`, `_`
/// and `-` replaced by `_`: no name can smuggle in a `:`, `|`, `@`, newline
/// or space, and so no name can inject another metric.
///
/// ```
/// use metlog::{encode::statsd, Message};
/// let mut msg = Message::new("counter", "myapp");
/// msg.payload = "3".into();
/// msg.fields.insert("name", "hits|evil\nx:1|c");
/// msg.fields.insert("rate", 0.5);
/// let mut line = Vec::new();
/// statsd::write_line(&msg, &mut line).unwrap();
/// assert_eq!(line, b"myapp.hits_evil_x_1_c:3|c|@0.5");
/// ```
pub fn write_line<'a>(
    message: impl Into<Envelope<'a>>,
    out: &mut Vec<u8>,
) -> Result<(), StatsdError> {
    let message = message.into();
    let metric = metric_type(message.kind).ok_or(StatsdError::Unsupported)?;
    let rate = message.fields.get("rate").and_then(|rate| rate.as_f64());
    let write = |name: &str, out: &mut Vec<u8>| {
        message.payload.with_str(|payload| {
            let payload = payload.trim();
            if !matches!(message.payload, Payload::Text(_)) || is_finite_number(payload) {
                if metric == "g" && payload.starts_with('-') {
                    // statsd reads a signed gauge as a change ("-5": down
                    // by 5): a negative value is set by zeroing first, in
                    // the same datagram.
                    write_parts(message.logger, name, "0", metric, rate, out);
                    out.push(b'\n');
                }
                write_parts(message.logger, name, payload, metric, rate, out);
                Ok(())
            } else {
                Err(StatsdError::BadPayload(payload.to_owned()))
            }
        })
    };
    match message.fields.get("name") {
        Some(ValueRef::Str(name)) => write(name, out),
        Some(other) => write(&other.to_string(), out),
        None => write("", out),
    }
}

/// Writes `<logger>.<name>:<payload>|<metric>[|@<rate>]`, sanitising the
/// logger and name; `payload` must already be a valid number.
fn write_parts(
    logger: &str,
    name: &str,
    payload: &str,
    metric: &str,
    rate: Option<f64>,
    out: &mut Vec<u8>,
) {
    if !logger.is_empty() {
        push_sanitised(logger, out);
        if !name.is_empty() {
            out.push(b'.');
        }
    }
    push_sanitised(name, out);
    out.push(b':');
    out.extend_from_slice(payload.as_bytes());
    out.push(b'|');
    out.extend_from_slice(metric.as_bytes());
    if let Some(rate) = rate {
        // 0 would make statsd divide by zero; NaN and >= 1 mean "unsampled".
        if rate > 0.0 && rate < 1.0 {
            use std::io::Write as _;
            let _ = write!(out, "|@{rate}");
        }
    }
}

fn push_sanitised(text: &str, out: &mut Vec<u8>) {
    let safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    // Names are nearly always clean already: copy them whole.
    if text.bytes().all(safe) {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.extend(text.bytes().map(|b| if safe(b) { b } else { b'_' }));
    }
}

/// An optional `-`, then digits with at most one `.` among them, and a
/// finite value.
fn is_finite_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let mut seen_digit = false;
    let mut seen_dot = false;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot => seen_dot = true,
            _ => return false,
        }
    }
    // Plain decimals this short are always finite; only longer ones can
    // overflow to infinity, so only they are parsed.
    seen_digit && (digits.len() <= 300 || text.parse::<f64>().is_ok_and(f64::is_finite))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    fn line(
        kind: &str,
        logger: &str,
        name: &str,
        payload: &str,
        rate: f64,
    ) -> Result<String, StatsdError> {
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
            "app.hits:1|c"
        );
        assert_eq!(
            line("timer", "app", "db.q", "12", 0.25).unwrap(),
            "app.db.q:12|ms|@0.25"
        );
        assert_eq!(
            line("gauge", "", "mem", "1024.5", 1.0).unwrap(),
            "mem:1024.5|g"
        );
        assert_eq!(
            line("counter", "app", "neg", "-3", 0.0).unwrap(),
            "app.neg:-3|c"
        );
        // A negative gauge is a value, not a decrement: zeroed first.
        assert_eq!(
            line("gauge", "app", "temp", "-5", 1.0).unwrap(),
            "app.temp:0|g\napp.temp:-5|g"
        );
    }

    #[test]
    fn hostile_names_cannot_inject() {
        let l = line("counter", "a:b|c", "x\ny:1|c\r@ z\0]", "1", 1.0).unwrap();
        assert_eq!(l, "a_b_c.x_y_1_c___z__:1|c");
        assert_eq!(l.matches(':').count(), 1);
        assert_eq!(l.matches('|').count(), 1);
    }

    #[test]
    fn bad_payloads_and_types_are_refused() {
        assert_eq!(
            line("oldstyle", "a", "n", "1", 1.0),
            Err(StatsdError::Unsupported)
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
                matches!(
                    line("counter", "a", "n", bad, 1.0),
                    Err(StatsdError::BadPayload(_))
                ),
                "{bad:?}"
            );
        }
        // Long enough to overflow an f64: refused; just short enough: kept.
        let huge = "9".repeat(400);
        assert!(line("counter", "a", "n", &huge, 1.0).is_err());
        let big = "9".repeat(300);
        assert!(line("counter", "a", "n", &big, 1.0).is_ok());
    }
}
