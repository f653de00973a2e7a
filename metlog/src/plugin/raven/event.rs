//! The Sentry event, as raven 3.1.16 builds and cuts it, and its encoding.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use serde_json::{json, Value as Json};

use super::stack::{frames, is_library};
use super::{CallSite, Exception, Raven};
use crate::Fields;

/// The Sentry event, as raven 3.1.16 builds it (the keys Sentry 5 takes).
pub(super) fn event(
    raven: &Raven,
    msg: &str,
    exception: &Exception,
    trace: backtrace::Backtrace,
    site: &CallSite,
    fields: &Fields,
    now: SystemTime,
) -> Json {
    let frames = frames(trace, site);
    let culprit = frames
        .iter()
        .rev()
        .find(|(module, function, ..)| !is_library(&format!("{module}::{function}")))
        .or(frames.last())
        .map(|(module, function, ..)| format!("{module} in {function}"));
    let frames: Vec<Json> = frames
        .into_iter()
        .map(|(module, function, file, line)| {
            json!({"filename": file, "abs_path": file, "module": module,
                   "function": function, "lineno": line})
        })
        .collect();
    let mut extra = serde_json::Map::new();
    // Room left for the three below within raven's limit.
    for (key, value) in fields.iter().take(MAX_ITEMS - 3) {
        extra.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Json::Null),
        );
    }
    extra.insert("msg".into(), msg.into());
    extra.insert("logger".into(), raven.logger.clone().into());
    extra.insert("severity".into(), (raven.severity as u8).into());
    let stamp = crate::timestamp::format_micros(now);
    let stamp = format!("{}Z", String::from_utf8_lossy(&stamp[..19]));
    let mut event = json!({
        "project": raven.project,
        "event_id": event_id(),
        "message": format!("{}: {}", exception.kind, exception.value),
        "level": 40,
        "culprit": culprit,
        "timestamp": stamp,
        "sentry.interfaces.Exception": {
            "type": exception.kind, "value": exception.value, "module": exception.module,
        },
        "sentry.interfaces.Stacktrace": {"frames": frames},
        "extra": extra,
    });
    trim(&mut event);
    event
}

/// raven's limits on what an event holds (`string_max_length`,
/// `list_max_length`): it cuts every string and list of the event to them,
/// which keeps a report within a datagram whatever the error says.
const MAX_CHARS: usize = 400;
const MAX_ITEMS: usize = 50;

/// Cuts the event as raven's `transform` does: strings to [`MAX_CHARS`]
/// characters, lists and maps to [`MAX_ITEMS`] entries.
fn trim(value: &mut Json) {
    match value {
        Json::String(text) => cut_chars(text),
        Json::Array(items) => {
            items.truncate(MAX_ITEMS);
            items.iter_mut().for_each(trim);
        }
        Json::Object(map) => {
            let past: Vec<String> = map.keys().skip(MAX_ITEMS).cloned().collect();
            for key in past {
                map.remove(&key);
            }
            map.values_mut().for_each(trim);
        }
        _ => {}
    }
}

/// The first [`MAX_CHARS`] characters of `text`.
pub(super) fn cut_chars(text: &mut String) {
    if let Some((at, _)) = text.char_indices().nth(MAX_CHARS) {
        text.truncate(at);
    }
}

/// 32 lowercase hex digits, random (std's randomly keyed hasher, fed the
/// time and a counter).
fn event_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut id = String::with_capacity(32);
    for half in 0..2u8 {
        let mut hasher = state.build_hasher();
        hasher.write_u8(half);
        hasher.write_u64(COUNTER.fetch_add(1, Relaxed));
        hasher.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let _ = write!(id, "{:016x}", hasher.finish());
    }
    id
}

/// `base64(zlib(json))`, as raven's `Client.encode`.
pub(super) fn encode(event: &Json) -> String {
    use base64::Engine as _;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut zlib, event);
    let compressed = zlib.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(compressed)
}
