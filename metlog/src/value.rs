//! [`Value`] and [`Fields`]: a message's `fields` object.

use std::collections::HashMap;
use std::fmt;

use smallvec::SmallVec;

use crate::{SharedStr, Text};

/// One value in a message's `fields`.
///
/// Scalars are stored directly (strings as [`SharedStr`], so literals cost no
/// allocation); arrays and objects as [`serde_json::Value`]. Floats that are
/// NaN or infinite serialise as JSON `null`, so output is always valid JSON.
///
/// ```
/// use metlog::Value;
/// assert_eq!(Value::from(3), 3);
/// assert_eq!(Value::from("GET"), "GET");
/// assert_eq!(Value::from(0.5).as_f64(), Some(0.5));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer too large for `i64`.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A string.
    Str(SharedStr),
    /// An array or object.
    Json(Box<serde_json::Value>),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        ValueRef::from(self).as_f64()
    }

    /// The number as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(n) => Some(n),
            Value::U64(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// This value as a [`serde_json::Value`].
    pub fn to_json(&self) -> serde_json::Value {
        // Cannot fail: every value serialises (non-finite floats as `null`).
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `From` each type for the variant that holds it (through `From` of the
/// variant's own type).
macro_rules! from_via {
    ($variant:ident as $wide:ty: $($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(<$wide>::from(v))
            }
        }
    )*};
}
from_via!(I64 as i64: i8, i16, i32, i64, u8, u16, u32);
from_via!(F64 as f64: f32, f64);
from_via!(Bool as bool: bool);
from_via!(Str as SharedStr: &'static str, String, &String, SharedStr);

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        i64::try_from(n).map_or(Value::U64(n), Value::I64)
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::from(n as u64)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => n.as_i64().map(Value::I64).unwrap_or_else(|| {
                n.as_u64()
                    .map_or(Value::F64(n.as_f64().unwrap_or(f64::NAN)), Value::U64)
            }),
            serde_json::Value::String(s) => Value::Str(s.into()),
            other => Value::Json(Box::new(other)),
        }
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

/// `PartialEq` with each type, comparing with what `$get` reads.
macro_rules! eq_via {
    ($get:ident as $wide:ty: $($t:ty),*) => {$(
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                self.$get() == Some(<$wide>::from(*other))
            }
        }
    )*};
}
eq_via!(as_str as &str: &str);
eq_via!(as_i64 as i64: i64, i32);
eq_via!(as_f64 as f64: f64);
eq_via!(as_bool as bool: bool);

impl fmt::Display for Value {
    /// Strings as themselves, everything else as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ValueRef::from(self).fmt(f)
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ValueRef::from(self).serialize(serializer)
    }
}

/// A field value borrowed from wherever it lives — a [`Value`] in a
/// message's [`Fields`], a literal of an annotated function, a counter's name
/// in a queued record — as the encoders and filters read it through an
/// [`Envelope`](crate::Envelope).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ValueRef<'a> {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer too large for `i64`.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A string.
    Str(&'a str),
    /// An array or object.
    Json(&'a serde_json::Value),
}

impl ValueRef<'_> {
    /// The number as `f64`, if this is a number.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            ValueRef::I64(n) => Some(n as f64),
            ValueRef::U64(n) => Some(n as f64),
            ValueRef::F64(n) => Some(n),
            _ => None,
        }
    }

    /// An owned copy.
    pub(crate) fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::I64(n) => Value::I64(n),
            ValueRef::U64(n) => Value::U64(n),
            ValueRef::F64(n) => Value::F64(n),
            ValueRef::Str(s) => Value::Str(SharedStr::copy_from(s)),
            ValueRef::Json(v) => Value::Json(Box::new(v.clone())),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> ValueRef<'a> {
        match value {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::I64(n) => ValueRef::I64(*n),
            Value::U64(n) => ValueRef::U64(*n),
            Value::F64(n) => ValueRef::F64(*n),
            Value::Str(s) => ValueRef::Str(s),
            Value::Json(v) => ValueRef::Json(v),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    /// Strings as themselves, everything else as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Str(s) => f.write_str(s),
            other => f.write_str(&serde_json::to_string(other).map_err(|_| fmt::Error)?),
        }
    }
}

impl serde::Serialize for ValueRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            ValueRef::Null => serializer.serialize_unit(),
            ValueRef::Bool(b) => serializer.serialize_bool(b),
            ValueRef::I64(n) => serializer.serialize_i64(n),
            ValueRef::U64(n) => serializer.serialize_u64(n),
            // JSON has no NaN or infinity; metlog-py would fail on them, we
            // write null rather than an invalid document.
            ValueRef::F64(n) if !n.is_finite() => serializer.serialize_unit(),
            ValueRef::F64(n) => serializer.serialize_f64(n),
            ValueRef::Str(s) => serializer.serialize_str(s),
            ValueRef::Json(v) => v.serialize(serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Value::from)
    }
}

/// Entries kept inline before `Fields` allocates: counters and timers carry
/// `name`, `rate` and, from the macros, `outcome`.
const INLINE_FIELDS: usize = 3;

/// A message's `fields`: string keys to [`Value`]s, in insertion order.
///
/// Inserting an existing key replaces its value in place. Up to three entries
/// are stored without a heap allocation.
///
/// ```
/// use metlog::Fields;
/// let mut fields = Fields::new();
/// fields.insert("name", "db.query");
/// fields.insert("rate", 1.0);
/// assert_eq!(fields["name"], "db.query");
/// assert_eq!(fields.get("rate").and_then(|v| v.as_f64()), Some(1.0));
/// assert_eq!(fields.keys().collect::<Vec<_>>(), ["name", "rate"]);
/// ```
#[derive(Clone, Default)]
pub struct Fields {
    entries: SmallVec<[(SharedStr, Value); INLINE_FIELDS]>,
    /// Past [`INDEX_FROM`] entries: where each live key is. A scan is
    /// fastest for the few fields a message usually has, but 100,000 keys
    /// read from JSON would make inserting quadratic. Removing a key takes
    /// it out of the index and leaves its entry in place (rather than
    /// shifting every later entry, and its position): an entry is live
    /// while its key's position is its own, and the dead ones are swept out
    /// once they are half of all, so removal stays O(1) amortised. Boxed so
    /// the usual message, with no index, stays a pointer's size larger
    /// rather than a `HashMap`'s.
    #[allow(clippy::box_collection)] // boxed on purpose, as said above
    index: Option<Box<HashMap<SharedStr, usize>>>,
}

/// Past this many entries, keys are found through an index, not a scan.
const INDEX_FROM: usize = 16;

impl Fields {
    /// No fields.
    pub const fn new() -> Self {
        Fields {
            entries: SmallVec::new_const(),
            index: None,
        }
    }

    /// Sets `key` to `value`, replacing (in place) any earlier value of `key`.
    pub fn insert<'k>(&mut self, key: impl Into<Text<'k>>, value: impl Into<Value>) {
        let key = key.into().into_shared();
        let value = value.into();
        match self.position(&key) {
            Some(at) => self.entries[at].1 = value,
            None => self.push_unique(key, value),
        }
    }

    /// Appends an entry whose key the caller knows is not present yet (the
    /// macros' fixed keys), skipping the duplicate search.
    #[inline]
    pub(crate) fn push_unique(&mut self, key: SharedStr, value: Value) {
        debug_assert!(self.get(&key).is_none(), "duplicate field {key:?}");
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_FROM {
            self.reindex();
        }
    }

    /// Where the live entry of `key` is in `entries`.
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// Sweeps out removed entries, then indexes what is left (or drops the
    /// index when few are left).
    fn reindex(&mut self) {
        if let Some(index) = self.index.take() {
            let mut at = 0;
            self.entries.retain(|(key, _)| {
                at += 1;
                index.get(key) == Some(&(at - 1))
            });
        }
        self.index = (self.entries.len() > INDEX_FROM).then(|| {
            let positions = self.entries.iter().enumerate();
            Box::new(positions.map(|(at, (k, _))| (k.clone(), at)).collect())
        });
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|at| &self.entries[at].1)
    }

    /// Removes `key`, returning its value; later entries keep their order.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let Some(index) = &mut self.index else {
            let at = self.position(key)?;
            return Some(self.entries.remove(at).1);
        };
        let at = index.remove(key)?;
        let value = std::mem::replace(&mut self.entries[at].1, Value::Null);
        let live = index.len();
        if self.entries.len() - live > live || live <= INDEX_FROM {
            self.reindex();
        }
        Some(value)
    }

    /// About how many bytes the entries hold: keys, values, and a word or
    /// two per entry (nested JSON walked without recursion, so any depth
    /// is counted safely).
    pub(crate) fn heap_bytes(&self) -> usize {
        const ENTRY: usize = std::mem::size_of::<(SharedStr, Value)>();
        // The entries' storage as allocated, and the index's (a key and a
        // position per entry, plus the table's control bytes).
        const INDEXED: usize = std::mem::size_of::<(SharedStr, usize)>() + 8;
        let mut total = ENTRY * self.entries.capacity();
        if self.index.is_some() {
            total += INDEXED * self.entries.len();
        }
        for (key, value) in &self.entries {
            total += key.len();
            match value {
                Value::Str(s) => total += s.len(),
                Value::Json(json) => total += json_bytes(json),
                _ => {}
            }
        }
        total
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.index
            .as_ref()
            .map_or(self.entries.len(), |index| index.len())
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        let live = move |at, key| self.index.as_ref().is_none_or(|i| i.get(key) == Some(&at));
        let entries = self.entries.iter().enumerate();
        entries
            .filter(move |(at, (key, _))| live(*at, key))
            .map(|(_, (k, v))| (k.as_str(), v))
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// The fields as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// How deep a field value may nest (arrays and objects) and still be
/// queued: encoding and dropping nested values recurse, and a background
/// sender's worker thread must not run out of stack on what a caller built.
/// 100 keeps the whole envelope within the 128 levels JSON readers such as
/// serde_json (and `Message::from_json`) accept.
pub(crate) const MAX_NESTING: usize = 100;

impl Fields {
    /// Whether any value nests deeper than [`MAX_NESTING`] (walked without
    /// recursion; only array and object values are looked at): whether a
    /// node lies below a non-empty array or object at a depth past it.
    pub(crate) fn nests_too_deep(&self) -> bool {
        self.iter().any(|(_, value)| match value {
            Value::Json(json) => json_nodes(json).any(|(_, depth)| depth > MAX_NESTING + 1),
            _ => false,
        })
    }
}

/// Every node of `root` with its depth (the root's is 1), walked with a
/// stack rather than recursion, so any depth is safe.
fn json_nodes(root: &serde_json::Value) -> impl Iterator<Item = (&serde_json::Value, usize)> + '_ {
    let mut stack = vec![(root, 1usize)];
    std::iter::from_fn(move || {
        let (value, depth) = stack.pop()?;
        match value {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|c| (c, depth + 1))),
            _ => {}
        }
        Some((value, depth))
    })
}

/// About how many bytes a JSON value holds: its strings and keys, and a
/// word or two per node.
fn json_bytes(root: &serde_json::Value) -> usize {
    const NODE: usize = std::mem::size_of::<serde_json::Value>();
    json_nodes(root)
        .map(|(value, _)| match value {
            serde_json::Value::String(s) => NODE + s.len(),
            serde_json::Value::Object(map) => NODE + map.keys().map(String::len).sum::<usize>(),
            _ => NODE,
        })
        .sum()
}

/// Equal when the same keys have the same values in the same order.
impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;

    /// The value of `key`; panics when it is absent, like `HashMap`'s index.
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no field {key:?} in {self:?}"),
        }
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'k, K: Into<Text<'k>>, V: Into<Value>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        fields.extend(iter);
        fields
    }
}

impl<'k, K: Into<Text<'k>>, V: Into<Value>> Extend<(K, V)> for Fields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl serde::Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut fields = Fields::new();
                while let Some((k, v)) = map.next_entry::<SharedStr, Value>()? {
                    fields.insert(k, v);
                }
                Ok(fields)
            }
            // metlog-py clients may send `null` for an absent fields dict.
            fn visit_unit<E: serde::de::Error>(self) -> Result<Fields, E> {
                Ok(Fields::new())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Compact JSON of `value` through serde, with [`LineSafe`]'s escapes.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, LineSafe);
    if value.serialize(&mut serializer).is_err() {
        out.truncate(start);
    }
}

/// serde_json's compact format, escaping the characters that end a line
/// for Unicode-aware readers but not for JSON: U+0085, U+2028, U+2029.
struct LineSafe;

impl serde_json::ser::Formatter for LineSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut written = 0;
        for (at, c) in fragment.char_indices() {
            if matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
                writer.write_all(&fragment.as_bytes()[written..at])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                written = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[written..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields against a plain model (a Vec of pairs, searched linearly)
    /// through inserts, replacements and removals on both sides of the
    /// index threshold: same values, same order.
    #[test]
    fn the_index_agrees_with_a_linear_model_across_the_threshold() {
        let mut fields = Fields::new();
        let mut model: Vec<(String, i64)> = Vec::new();
        // A fixed pseudo-random walk (xorshift), so every run is the same.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let (mut crossings, mut above) = (0, false);
        for step in 0..20_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 64);
            // Phases of mostly inserting and mostly removing, so the size
            // crosses the threshold both ways, many times.
            let removing_phase = (step / 500) % 2 == 1;
            if (x % 5 == 0) != removing_phase {
                let expected = model
                    .iter()
                    .position(|(k, _)| *k == key)
                    .map(|at| model.remove(at).1);
                assert_eq!(fields.remove(&key).and_then(|v| v.as_i64()), expected);
            } else {
                fields.insert(key.clone(), step);
                match model.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = step,
                    None => model.push((key, step)),
                }
            }
            assert_eq!(fields.len(), model.len());
            assert_eq!(
                fields.index.is_some(),
                model.len() > INDEX_FROM,
                "at step {step}"
            );
            crossings += usize::from((model.len() > INDEX_FROM) != above);
            above = model.len() > INDEX_FROM;
        }
        assert!(
            crossings > 10,
            "the walk crossed the threshold {crossings} times"
        );
        let got: Vec<(String, i64)> = fields
            .iter()
            .map(|(k, v)| (k.to_owned(), v.as_i64().unwrap()))
            .collect();
        assert_eq!(got, model);
        for (k, v) in &model {
            assert_eq!(fields[k.as_str()].as_i64(), Some(*v));
        }
        assert!(fields.get("absent").is_none());
    }

    /// Many distinct keys, as a big JSON object brings: inserted and read
    /// back through the index (a scan per insert made this quadratic).
    #[test]
    fn a_hundred_thousand_keys_are_indexed() {
        let json = format!(
            "{{{}}}",
            (0..100_000)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let fields: Fields = serde_json::from_str(&json).unwrap();
        assert_eq!(fields.len(), 100_000);
        assert!(fields.index.is_some());
        assert_eq!(fields["k99999"].as_i64(), Some(99_999));
        assert_eq!(fields.keys().nth(12_345), Some("k12345"));
    }

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut f: Fields = [("a", 1), ("b", 2)].into_iter().collect();
        f.insert("a", "x");
        assert_eq!(f.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(f["a"], "x");
        assert_eq!(f.remove("a"), Some(Value::from("x")));
        assert!(!f.contains_key("a"));
    }

    #[test]
    fn serialises_in_order_with_json_types() {
        let mut f = Fields::new();
        f.insert("s", "v");
        f.insert("i", -3);
        f.insert("u", u64::MAX);
        f.insert("f", 1.0);
        f.insert("nan", f64::NAN);
        f.insert("b", true);
        f.insert("n", Option::<i32>::None);
        f.insert("list", serde_json::json!([1, "two"]));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"s":"v","i":-3,"u":18446744073709551615,"f":1.0,"nan":null,"b":true,"n":null,"list":[1,"two"]}"#
        );
    }

    #[test]
    fn deserialises_preserving_order_and_types() {
        let f: Fields = serde_json::from_str(r#"{"z":1,"a":"s","m":2.5,"o":{"k":[]}}"#).unwrap();
        assert_eq!(f.keys().collect::<Vec<_>>(), ["z", "a", "m", "o"]);
        assert_eq!(f["z"], Value::I64(1));
        assert_eq!(f["m"], 2.5);
        assert_eq!(f["o"].to_json(), serde_json::json!({"k": []}));
    }
}
