//! The JSON envelope, one object per message.

use crate::envelope::ENV_VERSION;
use crate::value::ValueRef;
use crate::Envelope;

/// Appends a message (a [`Message`](crate::Message), or any
/// [`Envelope`]) as one line of compact JSON (no newline) to `out`.
///
/// Cannot fail: every part serialises (non-finite floats become `null`),
/// and writing to a `Vec` does no I/O.
///
/// Written directly rather than through serde (every network message of a
/// queued sender is encoded here, on its worker): the same bytes as serde's
/// writing of the envelope through [`to_writer`] — `write_is_serdes_encoding`
/// and the hostile-input tests compare them — in about half the time.
///
/// U+2028, U+2029 and U+0085 are escaped (`\u2028`), as metlog-py's
/// `json.dumps` escapes them: raw, they end a line for readers that split
/// on every Unicode line break (Python's `splitlines`), cutting a record.
pub(crate) fn write<'a>(message: impl Into<Envelope<'a>>, out: &mut Vec<u8>) {
    let message = message.into();
    out.extend_from_slice(b"{\"type\":");
    string(message.kind, out);
    out.extend_from_slice(b",\"timestamp\":\"");
    out.extend_from_slice(&crate::timestamp::format_micros(message.timestamp));
    out.extend_from_slice(b"\",\"logger\":");
    string(message.logger, out);
    out.extend_from_slice(b",\"severity\":");
    number(u64::from(message.severity.as_u8()), out);
    out.extend_from_slice(b",\"payload\":");
    message.payload.with_str(|payload| string(payload, out));
    out.extend_from_slice(b",\"fields\":{");
    for (at, (key, value)) in message.fields.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        string(key, out);
        out.push(b':');
        match value {
            ValueRef::Str(text) => string(text, out),
            ValueRef::I64(n) if n >= 0 => number(n as u64, out),
            ValueRef::U64(n) => number(n, out),
            // Floats, negative numbers, nested JSON: serde's own writing.
            other => to_writer(out, &other),
        }
    }
    out.extend_from_slice(b"},\"env_version\":\"");
    out.extend_from_slice(ENV_VERSION.as_bytes());
    out.extend_from_slice(b"\",\"metlog_pid\":");
    number(u64::from(message.pid), out);
    out.extend_from_slice(b",\"metlog_hostname\":");
    string(message.hostname, out);
    out.push(b'}');
}

/// A JSON string: copied as it is when nothing in it needs escaping (the
/// line breaks `write_json` escapes begin with bytes 0xC2 and 0xE2).
fn string(text: &str, out: &mut Vec<u8>) {
    let plain = |b: u8| b >= 0x20 && !matches!(b, b'"' | b'\\' | 0xC2 | 0xE2);
    if text.bytes().all(plain) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        to_writer(out, text);
    }
}

pub(crate) use crate::value::write_json as to_writer;

fn number(n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; crate::text::DECIMAL_LEN];
    out.extend_from_slice(crate::text::write_decimal(false, n, &mut digits).as_bytes());
}

/// Appends a message as indented, human-oriented JSON (several lines, no
/// final newline) to `out`.
pub(crate) fn write_pretty<'a>(message: impl Into<Envelope<'a>>, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer_pretty(&mut *out, &message.into()).is_err() {
        out.truncate(start);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Message, Severity};

    /// `Message::to_json` (which knows no encoder) and this encoder write the
    /// same bytes.
    #[test]
    fn write_is_serdes_encoding() {
        let mut message = Message::new("oldstyle", "app\u{1}\"é");
        message.payload = "\\ \u{7f} \u{2028}".into();
        for (key, value) in [
            ("s", crate::Value::from("plain")),
            ("e", "tab\there".into()),
            ("neg", (-3).into()),
            ("big", u64::MAX.into()),
            ("f", 0.1.into()),
            ("whole", 2.0.into()),
            ("nan", f64::INFINITY.into()),
            ("b", true.into()),
            ("null", crate::Value::Null),
            ("json", serde_json::json!({"a": [1, "x\n"]}).into()),
            ("\"key\"", 0.into()),
        ] {
            message.fields.insert(key, value);
        }
        let mut fast = Vec::new();
        super::write(&message, &mut fast);
        let mut serde = Vec::new();
        super::to_writer(&mut serde, &crate::Envelope::from(&message));
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(serde).unwrap()
        );
    }

    /// U+0085, U+2028 and U+2029 are escaped wherever they are — payload,
    /// logger, a field's key, text nested in a field — so that a reader
    /// splitting on every Unicode line break (Python's `splitlines`) sees
    /// one record; the JSON still reads back to the same text.
    #[test]
    fn unicode_line_breaks_are_escaped() {
        let breaks = "a\u{85}b\u{2028}c\u{2029}d é";
        let mut message = Message::new("oldstyle", breaks);
        message.payload = breaks.into();
        message.fields.insert(breaks, breaks);
        message
            .fields
            .insert("nested", serde_json::json!({ breaks: [breaks] }));
        for text in [message.to_json(), {
            let mut out = Vec::new();
            super::write(&message, &mut out);
            String::from_utf8(out).unwrap()
        }] {
            let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
            assert_eq!(text.split(is_break).count(), 1, "one line: {text}");
            assert!(text.contains(r"a\u0085b\u2028c\u2029d é"), "{text}");
            let back = Message::from_json(&text).unwrap();
            assert_eq!((&*back.payload, &*back.logger), (breaks, breaks));
            assert_eq!(back.fields[breaks], breaks);
            assert_eq!(
                back.fields["nested"].to_json(),
                serde_json::json!({ breaks: [breaks] })
            );
        }
    }

    #[test]
    fn to_json_is_this_encoding() {
        let mut message = Message::new("oldstyle", "app");
        message.severity = Severity::Warning;
        message.payload = "pay\"load\n".into();
        message.fields.insert("k", "v");
        message.fields.insert("n", f64::NAN);
        message.fields.insert("i", -3);
        let mut out = Vec::new();
        super::write(&message, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), message.to_json());
    }
}
