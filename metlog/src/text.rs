//! [`SharedStr`]: the string type of message names, loggers and payloads.
//!
//! Most strings in a metlog message are either literals in the caller's code
//! (`"db.query"`), values shared by every message of a client (its logger, the
//! host name) or short numbers (a counter's payload). `SharedStr` stores each of
//! those without a heap allocation per message: literals by reference, shared
//! values behind an [`Arc`], short strings inline. That is what keeps the
//! caller's cost of `client.incr("x")` free of allocation.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// How many bytes a [`SharedStr`] stores inline (enough for any `i64`/`u64`).
const INLINE_CAPACITY: usize = 22;

/// An immutable string that is cheap to clone and usually needs no allocation.
///
/// Build one from a `&'static str` (free), a `String` (moved behind an `Arc`),
/// or with [`SharedStr::copy_from`] for a borrowed `&str` (copied inline when
/// short). It dereferences to `str`, compares with `&str` and `String`, and
/// serialises as a JSON string.
///
/// ```
/// use metlog::SharedStr;
/// let literal = SharedStr::from("db.query");
/// let owned = SharedStr::from(format!("shard.{}", 7));
/// assert_eq!(literal, "db.query");
/// assert_eq!(&*owned, "shard.7");
/// assert_eq!(SharedStr::from_u64(1234), "1234");
/// ```
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    Inline {
        len: u8,
        bytes: [u8; INLINE_CAPACITY],
    },
}

impl SharedStr {
    /// The empty string.
    pub const EMPTY: SharedStr = SharedStr(Repr::Static(""));

    /// A string literal, without allocation (usable in `const` items).
    pub const fn from_static(s: &'static str) -> Self {
        SharedStr(Repr::Static(s))
    }

    /// Copies a borrowed string: inline when it is short, else into an `Arc`.
    pub fn copy_from(s: &str) -> Self {
        if s.len() > INLINE_CAPACITY {
            return SharedStr(Repr::Shared(Arc::from(s)));
        }
        let mut bytes = [0u8; INLINE_CAPACITY];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        SharedStr(Repr::Inline {
            len: s.len() as u8,
            bytes,
        })
    }

    // Digits are written backwards into a buffer, then copied inline (at
    // most 21 bytes): counters' and timers' payloads are made on the
    // caller's thread, where the general formatting machinery costs several
    // times more.

    /// The decimal form of an unsigned integer, without allocation.
    pub fn from_u64(n: u64) -> Self {
        Self::copy_from(write_decimal(false, n, &mut [0u8; DECIMAL_LEN]))
    }

    /// The decimal form of a signed integer, without allocation.
    pub fn from_i64(n: i64) -> Self {
        Self::copy_from(write_decimal(
            n < 0,
            n.unsigned_abs(),
            &mut [0u8; DECIMAL_LEN],
        ))
    }

    /// The string as a `&str`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            // Only ever filled from a `&str` cut at a char boundary, so this
            // cannot fail; the fallback keeps the code free of `unsafe`.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
        }
    }
}

impl Default for SharedStr {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for SharedStr {
    fn from(s: &'static str) -> Self {
        SharedStr(Repr::Static(s))
    }
}

/// Short text inline, longer into an `Arc` (a copy either way: an `Arc`
/// keeps its count beside the text).
impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        Self::copy_from(&s)
    }
}

impl From<&String> for SharedStr {
    fn from(s: &String) -> Self {
        Self::copy_from(s)
    }
}

/// `PartialEq` between each pair of text types, comparing their text.
macro_rules! eq_as_str {
    ($($left:ty = $right:ty),*) => {$(
        impl PartialEq<$right> for $left {
            fn eq(&self, other: &$right) -> bool {
                AsRef::<str>::as_ref(self) == AsRef::<str>::as_ref(other)
            }
        }
    )*};
}
eq_as_str!(
    SharedStr = SharedStr,
    SharedStr = str,
    SharedStr = &str,
    SharedStr = String
);
eq_as_str!(str = SharedStr, &str = SharedStr);

impl Eq for SharedStr {}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SharedStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SharedStr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SharedStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SharedStr, E> {
                Ok(SharedStr::copy_from(v))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Room for any `i64` or `u64` in decimal, sign included.
pub(crate) const DECIMAL_LEN: usize = 21;

/// `n` (negated if `negative`) in decimal, written at the end of `buf`:
/// no `core::fmt` on the hot paths that write counts and milliseconds.
pub(crate) fn write_decimal(negative: bool, mut n: u64, buf: &mut [u8; DECIMAL_LEN]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        start -= 1;
        buf[start] = b'-';
    }
    // Only ASCII digits and `-` were written.
    std::str::from_utf8(&buf[start..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_representation_reads_back_the_same_text() {
        let long = "a string that is clearly longer than the inline buffer";
        assert_eq!(SharedStr::from("lit"), "lit");
        assert_eq!(SharedStr::copy_from("short"), "short");
        assert_eq!(SharedStr::copy_from(long), long);
        assert_eq!(SharedStr::from(long.to_owned()), long);
        assert_eq!(SharedStr::from_u64(u64::MAX), u64::MAX.to_string().as_str());
        assert_eq!(SharedStr::from_i64(i64::MIN), i64::MIN.to_string().as_str());
        // Multi-byte characters survive the inline copy.
        assert_eq!(SharedStr::copy_from("héllo→"), "héllo→");
    }

    #[test]
    fn equal_text_is_equal_whatever_the_representation() {
        use std::collections::HashSet;
        let set: HashSet<SharedStr> = [SharedStr::from("x"), SharedStr::copy_from("x")]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains("x"));
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<SharedStr>() <= 24);
    }
}

/// Text of any lifetime, as every metlog API that takes a name, a logger, a
/// field key or log text accepts it: a literal, a `&str` borrowed from a
/// `String` or from configuration, a `&String`, a `String`, a `Cow` or a
/// [`SharedStr`].
///
/// Borrowed text is copied only where it has to outlive the call: into the
/// queue of a background sender, inline when it is at most
/// 30 bytes long (no allocation), into one
/// allocation when longer. Owned text (`String`, `SharedStr`) is moved, never
/// copied.
///
/// ```
/// # let client = metlog::Client::builder("app").sender(metlog::sender::NullSender).build();
/// let route = String::from("/login");
/// client.incr(route.as_str());          // borrowed: copied into the queue
/// client.incr(&route);                  // the same
/// client.incr(format!("shard.{}", 7));  // owned: moved
/// client.incr("requests");              // a literal
/// ```
#[derive(Clone, Debug)]
pub enum Text<'a> {
    /// Borrowed for the duration of the call.
    Borrowed(&'a str),
    /// Owned (or static) text.
    Shared(SharedStr),
}

impl Text<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Shared(s) => s,
        }
    }

    /// Owned text: borrowed text is copied ([`SharedStr::copy_from`]).
    pub fn into_shared(self) -> SharedStr {
        match self {
            Text::Borrowed(s) => SharedStr::copy_from(s),
            Text::Shared(s) => s,
        }
    }
}

impl<'a> From<&'a str> for Text<'a> {
    #[inline]
    fn from(s: &'a str) -> Self {
        Text::Borrowed(s)
    }
}

impl<'a> From<&'a String> for Text<'a> {
    #[inline]
    fn from(s: &'a String) -> Self {
        Text::Borrowed(s)
    }
}

impl<'a> From<&'a SharedStr> for Text<'a> {
    #[inline]
    fn from(s: &'a SharedStr) -> Self {
        Text::Shared(s.clone())
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text::Shared(s.into())
    }
}

impl From<SharedStr> for Text<'_> {
    #[inline]
    fn from(s: SharedStr) -> Self {
        Text::Shared(s)
    }
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text::Borrowed(s),
            Cow::Owned(s) => Text::Shared(s.into()),
        }
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
