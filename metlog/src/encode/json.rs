//! The JSON envelope, one object per message.

use crate::Message;

/// Appends `message` as one line of compact JSON (no newline) to `out`.
///
/// Cannot fail for a `Message`: every part serialises (non-finite floats become
/// `null`), and writing to a `Vec` does no I/O.
pub fn write(message: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, message).is_err() {
        // Unreachable for our types; never leave half an object behind.
        out.truncate(start);
    }
}

/// Appends `message` as indented, human-oriented JSON (several lines, no final
/// newline) to `out`.
pub fn write_pretty(message: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer_pretty(&mut *out, message).is_err() {
        out.truncate(start);
    }
}
