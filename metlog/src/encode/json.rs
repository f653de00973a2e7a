//! The JSON envelope, one object per message.

use crate::Envelope;

/// Appends a message (a [`Message`](crate::Message), or any
/// [`Envelope`]) as one line of compact JSON (no newline) to `out`.
///
/// Cannot fail: every part serialises (non-finite floats become `null`),
/// and writing to a `Vec` does no I/O.
pub(crate) fn write<'a>(message: impl Into<Envelope<'a>>, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, &message.into()).is_err() {
        // Unreachable for our types; never leave half an object behind.
        out.truncate(start);
    }
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
