//! RFC 5424 syslog messages carrying the metlog envelope.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [metlog@32473 …] MSG`:
//! the priority from the facility and the message's severity, APP-NAME from
//! the logger, MSGID from the type, chosen fields as structured data, and the
//! JSON envelope as MSG (without a BOM, which would break JSON parsers such
//! as rsyslog's mmjsonparse).

use crate::envelope::Payload;
use crate::timestamp::Rfc3339;
use crate::value::ValueRef;
use crate::Envelope;
#[cfg(test)]
use crate::Message;

/// The SD-ID of the structured-data element (32473 is the private
/// enterprise number reserved for documentation, RFC 5612).
pub(crate) const SD_ID: &str = "metlog@32473";

/// Defines [`Facility`] and its parsing, so each facility is named once:
/// its name is its variant's, in lower case (`local0`; parsed in any case).
macro_rules! facilities {
    ($($(#[$attr:meta])* $variant:ident = $code:literal,)*) => {
        /// Syslog facilities (RFC 5424 §6.2.1).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Facility {
            $($(#[$attr])* $variant = $code,)*
        }

        impl std::str::FromStr for Facility {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $(if s.eq_ignore_ascii_case(stringify!($variant)) {
                    return Ok(Facility::$variant);
                })*
                Err(format!("unknown syslog facility {s:?}"))
            }
        }
    };
}

facilities! {
    Kern = 0,
    #[default]
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    AuthPriv = 10,
    Ftp = 11,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

/// Longer field values stay out of the structured data (they are still in
/// the JSON envelope): structured data is for short, indexable values, and
/// syslog daemons cut long messages.
pub(crate) const MAX_SD_VALUE: usize = 256;

/// Which fields become structured-data parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SdFields {
    /// Every field whose value is a string, number or boolean, up to
    /// 256 bytes (the default).
    #[default]
    AllScalars,
    /// Only these fields.
    Only(Vec<String>),
    /// No structured data (`-`).
    None,
}

/// Appends one RFC 5424 message (no trailer, no framing) to `out`.
pub(crate) fn write<'a>(
    message: impl Into<Envelope<'a>>,
    facility: Facility,
    sd: &SdFields,
    out: &mut Vec<u8>,
) {
    let message = message.into();
    if let Some((line, pri, ident)) = cef_record(&message) {
        write_header(&message, pri, ident, out);
        out.extend_from_slice(b"- ");
        return out.extend_from_slice(line.as_bytes());
    }
    let pri = facility as u8 * 8 + message.severity.as_u8();
    write_header(&message, pri, message.logger, out);
    write_structured_data(&message, sd, out);
    out.push(b' ');
    crate::encode::json::write(message, out);
}

/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID ` (a space after).
fn write_header(message: &Envelope<'_>, pri: u8, app: &str, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let _ = write!(out, "<{pri}>1 {} ", Rfc3339(message.timestamp));
    push_header_field(message.hostname, 255, out);
    push_header_field(app, 48, out);
    let _ = write!(out, "{} ", message.pid);
    push_header_field(message.kind, 32, out);
}

/// Syslog's priority names as metlog-cef and the router write them, in
/// syslog's order: the position is the priority's number.
pub(crate) const PRIORITY_NAMES: [&str; 8] = [
    "EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG",
];

/// A `cef` message (metlog-cef's, or [`client.cef`](crate::Client::cef)'s)
/// is written as the router's CEF output writes it to syslog: its payload,
/// the CEF line, is the record's text, under the facility, priority and
/// ident of its `fields.cef_meta` (the router's defaults `LOCAL4`, `INFO`,
/// and the logger for the ident), with no structured data. Its line, PRI
/// and ident; `None` for any other message.
fn cef_record<'a>(message: &Envelope<'a>) -> Option<(&'a str, u8, &'a str)> {
    let line = match (message.kind, message.payload) {
        ("cef", Payload::Text(line)) => line,
        _ => return None,
    };
    let meta = match message.fields.get("cef_meta") {
        Some(ValueRef::Json(meta)) => Some(meta),
        _ => None,
    };
    let setting = |key: &str| meta.and_then(|m| m.get(key)).and_then(|v| v.as_str());
    let facility = setting("syslog_facility")
        .and_then(|f| f.trim().parse().ok())
        .unwrap_or(Facility::Local4);
    let priority = setting("syslog_priority")
        .and_then(|p| PRIORITY_NAMES.iter().position(|known| *known == p.trim()))
        .unwrap_or(6) as u8;
    let ident = setting("syslog_ident").unwrap_or(message.logger);
    Some((line, facility as u8 * 8 + priority, ident))
}

/// The most bytes a syslog message may take by default: rsyslog's default
/// `maxMessageSize` (8,096 bytes, measured: the message it receives is cut
/// there), within the 8,192 RFC 5425 says receivers should accept. A
/// receiver cuts a longer message — over TCP, rsyslog then reads the rest of
/// the frame as a message of its own, whose header is whatever text the cut
/// left there.
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 8096;

/// What the cut text of a shortened payload ends with (`[... 12345 bytes
/// cut]`): at most this many bytes.
const CUT_NOTE_MAX: usize = 32;

/// Like [`write()`], in at most `max` bytes: a longer message has its payload
/// (the text: a log line, a traceback) shortened to fit, ending with a note
/// of how much was cut, so the receiver gets one whole message. `Err` (and
/// nothing written), saying why, when even that does not fit — fields too
/// large.
pub(crate) fn write_within<'a>(
    message: impl Into<Envelope<'a>>,
    facility: Facility,
    sd: &SdFields,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let message = message.into();
    let start = out.len();
    write(message, facility, sd, out);
    let written = out.len() - start;
    if written <= max {
        return Ok(());
    }
    out.truncate(start);
    if let Payload::Text(text) = message.payload {
        // The text's room: what the rest of the message leaves, less the
        // note; the longest prefix whose encoding (JSON, or as it is in a
        // CEF record) fits it is kept.
        let cef = cef_record(&message).is_some();
        let cost: fn(char) -> usize = if cef { char::len_utf8 } else { json_len };
        let text_len: usize = text.chars().map(cost).sum();
        let rest = written - text_len;
        if let Some(room) = max.checked_sub(rest + CUT_NOTE_MAX) {
            let mut used = 0;
            let keep = text
                .char_indices()
                .find(|&(_, c)| {
                    used += cost(c);
                    used > room
                })
                .map_or(text.len(), |(at, _)| at);
            // A CEF line is not cut inside an escape (`\=`), which would
            // leave a `\` escaping the note.
            let trailing = text[..keep]
                .bytes()
                .rev()
                .take_while(|&b| b == b'\\')
                .count();
            let keep = keep - usize::from(cef && trailing % 2 == 1);
            let shortened = format!("{}[... {} bytes cut]", &text[..keep], text.len() - keep);
            let mut shorter = message;
            shorter.payload = Payload::Text(&shortened);
            write(shorter, facility, sd, out);
            if out.len() - start <= max {
                return Ok(());
            }
            out.truncate(start);
        }
    }
    Err(format!(
        "a syslog message of {written} bytes is longer than the receiver takes ({max}) even \
         with its payload cut; not sent"
    ))
}

/// The bytes `c` takes in a JSON string as the envelope's encoder writes it
/// (serde_json: `"` and `\\` and control characters escaped, the rest as
/// UTF-8).
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1f}' => 6,
        _ => c.len_utf8(),
    }
}

/// The first `max` bytes of `text`, each outside PRINTUSASCII (33–126) or
/// in `also` as `_`.
fn printable<'t>(text: &'t str, max: usize, also: &'t [u8]) -> impl Iterator<Item = u8> + 't {
    text.bytes().take(max).map(|b| {
        if (33..=126).contains(&b) && !also.contains(&b) {
            b
        } else {
            b'_'
        }
    })
}

/// PRINTUSASCII only, at most `max` bytes, `-` when empty; then a space.
fn push_header_field(text: &str, max: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend(printable(text, max, b""));
    if out.len() == start {
        out.push(b'-');
    }
    out.push(b' ');
}

fn write_structured_data(message: &Envelope<'_>, sd: &SdFields, out: &mut Vec<u8>) {
    let wanted = |key: &str| match sd {
        SdFields::AllScalars => true,
        SdFields::Only(keys) => keys.iter().any(|k| k == key),
        SdFields::None => false,
    };
    let mut params = Vec::new();
    for (key, value) in message.fields.iter() {
        if !wanted(key) || matches!(value, ValueRef::Null | ValueRef::Json(_)) {
            continue;
        }
        // A string as itself, a number or boolean as JSON.
        let text = value.to_string();
        if text.len() > MAX_SD_VALUE {
            continue;
        }
        // SD-NAME: PRINTUSASCII except `=`, space, `]`, `"`, 1–32 bytes.
        // Names are cut and cleaned (`k=` and `k]` both become `k_`): each
        // is written once, the first field's value (every field is in the
        // JSON envelope anyway).
        let mut name: Vec<u8> = printable(key, 32, b"= ]\"").collect();
        if name.is_empty() {
            name.push(b'_');
        }
        if params.iter().any(|(written, _)| *written == name) {
            continue;
        }
        params.push((name, text));
    }
    if params.is_empty() {
        out.push(b'-');
        return;
    }
    out.push(b'[');
    out.extend_from_slice(SD_ID.as_bytes());
    for (name, value) in params {
        out.push(b' ');
        out.extend_from_slice(&name);
        out.extend_from_slice(b"=\"");
        for b in value.bytes() {
            // RFC 5424 §6.3.3: '"', '\' and ']' must be escaped (ASCII, so
            // never a byte within a multi-byte character).
            if matches!(b, b'"' | b'\\' | b']') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_of_write() {
        use crate::encode::syslog::{self, Facility, SdFields};
        use crate::Message;
        let mut msg = Message::new("oldstyle", "my app");
        msg.payload = "hello".into();
        msg.fields.insert("path", "/a]\"b\\");
        let mut out = Vec::new();
        syslog::write(&msg, Facility::Local0, &SdFields::AllScalars, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("<134>1 ")); // local0 (16) * 8 + informational (6)
        assert!(text.contains(" my_app ")); // APP-NAME: printable ASCII, no spaces
        assert!(text.contains(r#"[metlog@32473 path="/a\]\"b\\"]"#));
        assert!(text.contains('{') && text.ends_with('}')); // the JSON envelope
    }

    #[test]
    fn example_of_write_within() {
        use crate::encode::syslog::{self, Facility, SdFields};
        use crate::Message;
        let mut msg = Message::new("oldstyle", "app");
        msg.payload = "x".repeat(20_000).into();
        let mut out = Vec::new();
        syslog::write_within(&msg, Facility::User, &SdFields::None, 8096, &mut out).unwrap();
        assert!(out.len() <= 8096);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(" bytes cut]\",\"fields\""), "{text}");
    }

    use super::*;

    #[test]
    fn header_fields_are_sanitised_and_bounded() {
        let mut msg = Message::new("a type with spaces", "");
        msg.hostname = "h".repeat(300).into();
        msg.severity = crate::Severity::Error;
        let mut out = Vec::new();
        write(&msg, Facility::User, &SdFields::None, &mut out);
        let text = String::from_utf8(out).unwrap();
        let parts: Vec<&str> = text.splitn(8, ' ').collect();
        assert_eq!(parts[0], "<11>1");
        assert_eq!(parts[2].len(), 255);
        assert_eq!(parts[3], "-", "empty APP-NAME is NILVALUE");
        assert_eq!(parts[5], "a_type_with_spaces");
        assert_eq!(parts[6], "-");
        assert!(parts[7].starts_with('{'));
    }

    #[test]
    fn structured_data_escapes_and_selects() {
        let mut msg = Message::new("t", "l");
        msg.fields.insert("q", "a\"b\\c]d");
        msg.fields.insert("bad key=]", 1);
        msg.fields.insert("list", serde_json::json!([1]));
        let mut out = Vec::new();
        write(&msg, Facility::User, &SdFields::AllScalars, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#"[metlog@32473 q="a\"b\\c\]d" bad_key__="1"]"#),
            "{text}"
        );
        let mut out = Vec::new();
        write(
            &msg,
            Facility::User,
            &SdFields::Only(vec!["q".into()]),
            &mut out,
        );
        assert!(!String::from_utf8(out).unwrap().contains("bad_key"));
    }

    /// The JSON envelope a syslog message carries as MSG.
    fn envelope_of(out: &[u8]) -> serde_json::Value {
        let text = std::str::from_utf8(out).unwrap();
        serde_json::from_str(&text[text.find(" {").unwrap() + 1..]).unwrap()
    }

    #[test]
    fn a_message_over_the_limit_has_its_payload_cut_to_fit() {
        // Text whose JSON is longer than itself (escapes) and multi-byte
        // characters at every possible cut.
        let unit = "é\"\u{1}\n€";
        for len in [7_000, 8_000, 8_096, 8_200, 20_000, 100_000] {
            for shift in 0..4 {
                let mut msg = Message::new("oldstyle", "app");
                msg.payload = ("x".repeat(shift) + &unit.repeat(len / unit.len())).into();
                msg.fields.insert("name", "n");
                let mut out = Vec::new();
                write_within(&msg, Facility::User, &SdFields::AllScalars, 8_096, &mut out).unwrap();
                assert!(out.len() <= 8_096, "{len}+{shift}: {} bytes", out.len());
                let mut whole = Vec::new();
                write(&msg, Facility::User, &SdFields::AllScalars, &mut whole);
                let payload = envelope_of(&out)["payload"].as_str().unwrap().to_owned();
                if whole.len() <= 8_096 {
                    assert_eq!(out, whole, "a message that fits is written as it is");
                    continue;
                }
                let (kept, note) = payload.rsplit_once("[... ").unwrap();
                assert!(msg.payload.starts_with(kept));
                let cut: usize = note.strip_suffix(" bytes cut]").unwrap().parse().unwrap();
                assert_eq!(kept.len() + cut, msg.payload.len());
                // Not cut more than needed: the note's room, and one character.
                assert!(out.len() > 8_096 - CUT_NOTE_MAX - 6, "{}", out.len());
            }
        }
    }

    fn cef_message(meta: serde_json::Value, line: &str) -> Message {
        let mut msg = Message::new("cef", "accounts");
        msg.payload = line.to_owned().into();
        msg.fields.insert("cef_meta", crate::Value::from(meta));
        msg
    }

    #[test]
    fn a_cef_message_is_its_line_under_its_syslog_settings() {
        let line = "Jan 18 19:58:24 h CEF:0|v|p|1|s|n|5|cs1Label=requestClientApplication é";
        let unset = serde_json::json!({"syslog_options": null, "syslog_facility": null,
            "syslog_ident": null, "syslog_priority": null});
        let mut out = Vec::new();
        write(
            &cef_message(unset, line),
            Facility::User,
            &SdFields::AllScalars,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        // The router's defaults: local4 (20) * 8 + info (6), the logger.
        assert!(text.starts_with("<166>1 "), "{text}");
        assert!(
            text.ends_with(&format!(" accounts {} cef - {line}", std::process::id())),
            "{text}"
        );

        let set = serde_json::json!({"syslog_options": "PID", "syslog_facility": "KERN",
            "syslog_ident": "ident", "syslog_priority": "EMERG"});
        let mut out = Vec::new();
        write(
            &cef_message(set, line),
            Facility::User,
            &SdFields::AllScalars,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("<0>1 "), "{text}");
        assert!(text.contains(" ident "), "{text}");

        // Cut to fit as it is written: raw text, not JSON.
        let long = format!("{line} msg={}", "\"".repeat(10_000));
        let mut out = Vec::new();
        let meta = serde_json::json!({"syslog_facility": "LOCAL0"});
        write_within(
            &cef_message(meta, &long),
            Facility::User,
            &SdFields::None,
            8_096,
            &mut out,
        )
        .unwrap();
        assert!(
            out.len() <= 8_096 && out.len() > 8_096 - CUT_NOTE_MAX - 4,
            "{}",
            out.len()
        );
        assert!(String::from_utf8(out).unwrap().ends_with(" bytes cut]"));

        // Never inside an escape: at every cut, the kept text ends with an
        // even run of backslashes.
        let escapes = format!("{line} msg={}", "\\=".repeat(4_000));
        for max in 300..340 {
            let meta = serde_json::json!({});
            let mut out = Vec::new();
            write_within(
                &cef_message(meta, &escapes),
                Facility::User,
                &SdFields::None,
                max,
                &mut out,
            )
            .unwrap();
            let text = String::from_utf8(out).unwrap();
            let kept = text.rsplit_once("[... ").unwrap().0;
            let backslashes = kept.bytes().rev().take_while(|&b| b == b'\\').count();
            assert_eq!(backslashes % 2, 0, "{max}: {text}");
        }

        // Another type, or a payload that is not text: the JSON envelope.
        let mut other = cef_message(serde_json::json!({}), line);
        other.kind = "cefx".into();
        let mut out = Vec::new();
        write(&other, Facility::User, &SdFields::None, &mut out);
        assert!(envelope_of(&out)["payload"] == line);
    }

    #[test]
    fn a_message_that_cannot_fit_is_refused() {
        let mut msg = Message::new("oldstyle", "app");
        msg.fields.insert("big", "y".repeat(10_000));
        let mut out = b"kept".to_vec();
        let error =
            write_within(&msg, Facility::User, &SdFields::None, 8_096, &mut out).unwrap_err();
        assert_eq!(out, b"kept", "nothing written");
        assert!(
            error.contains("longer than the receiver takes (8096)"),
            "{error}"
        );
        assert!(error.to_string().contains("not sent"), "{error}");
    }

    #[test]
    fn structured_data_names_are_written_once() {
        let mut msg = Message::new("t", "l");
        msg.fields.insert("k=", "first");
        msg.fields.insert("k]", "second");
        let long = "x".repeat(40);
        msg.fields.insert(format!("{long}a"), "third");
        msg.fields.insert(format!("{long}b"), "fourth");
        let mut out = Vec::new();
        write(&msg, Facility::User, &SdFields::AllScalars, &mut out);
        let text = String::from_utf8(out).unwrap();
        let sd = &text[text.find('[').unwrap()..=text.find(']').unwrap()];
        let name = "x".repeat(32);
        assert_eq!(
            sd,
            format!("[metlog@32473 k_=\"first\" {name}=\"third\"]"),
            "{text}"
        );
        // The JSON envelope still carries every field.
        assert!(text.contains("second") && text.contains("fourth"));
    }
}
