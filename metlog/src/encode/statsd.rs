//! Statsd lines from metlog messages, as Mozilla's router wrote them:
//! `<logger>.<name>:<payload>|c` for counters, `|ms` for timers, `|g` for
//! gauges, with `|@<rate>` when the rate is below 1.

use crate::{Message, Value};

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
pub fn write_line(message: &Message, out: &mut Vec<u8>) -> Result<(), StatsdError> {
    let metric = metric_type(&message.kind).ok_or(StatsdError::Unsupported)?;
    let payload = message.payload.trim();
    if !is_finite_number(payload) {
        return Err(StatsdError::BadPayload(message.payload.to_string()));
    }
    let name = match message.fields.get("name") {
        Some(Value::Str(name)) => name.to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if !message.logger.is_empty() {
        push_sanitised(&message.logger, out);
        if !name.is_empty() {
            out.push(b'.');
        }
    }
    push_sanitised(&name, out);
    out.push(b':');
    out.extend_from_slice(payload.as_bytes());
    out.push(b'|');
    out.extend_from_slice(metric.as_bytes());
    if let Some(rate) = message.fields.get("rate").and_then(Value::as_f64) {
        // 0 would make statsd divide by zero; NaN and >= 1 mean "unsampled".
        if rate > 0.0 && rate < 1.0 {
            out.extend_from_slice(format!("|@{rate}").as_bytes());
        }
    }
    Ok(())
}

fn push_sanitised(text: &str, out: &mut Vec<u8>) {
    out.extend(text.bytes().map(|b| match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => b,
        _ => b'_',
    }));
}

/// A plain decimal number statsd accepts: digits, one optional leading `-`,
/// at most one `.`, and finite.
fn is_finite_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit())
        && text.parse::<f64>().is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
