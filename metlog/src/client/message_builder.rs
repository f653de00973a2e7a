//! [`Counter`] and [`MessageBuilder`]: a message configured call by call, then sent.

use std::time::SystemTime;

use super::{Client, ClientRef};
use crate::record::{Body, Extra};
use crate::sampling::sampled_out;
use crate::site::Kind;
use crate::{Severity, SharedStr, Text, Value};

/// The severity, logger and field setters of [`MessageBuilder`], [`Counter`]
/// and [`Timer`](super::Timer), on the options `self.extra()` gives (`None`:
/// an inert timer, where they do nothing); `(fields)` adds the setter of
/// several fields.
macro_rules! option_setters {
    () => {
        /// The severity (default: the client's).
        pub fn severity(mut self, severity: Severity) -> Self {
            if let Some(extra) = self.extra() {
                extra.severity = Some(severity);
            }
            self
        }

        /// The logger (default: the client's).
        pub fn logger<'a>(mut self, logger: impl Into<Text<'a>>) -> Self {
            if let Some(extra) = self.extra() {
                extra.logger = Some(logger.into().into_shared());
            }
            self
        }

        /// Sets one field (a counter's or a timer's `name` and `rate` are
        /// always its own).
        pub fn field<'a>(mut self, key: impl Into<Text<'a>>, value: impl Into<Value>) -> Self {
            if let Some(extra) = self.extra() {
                extra.fields.insert(key, value);
            }
            self
        }
    };
    (fields) => {
        option_setters!();

        /// Sets several fields.
        pub fn fields<'a, I, K, V>(mut self, fields: I) -> Self
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<Text<'a>>,
            V: Into<Value>,
        {
            if let Some(extra) = self.extra() {
                extra.fields.extend(fields);
            }
            self
        }
    };
}
pub(crate) use option_setters;

/// A message of any type, being configured; made by
/// [`Client::metlog`](crate::Client::metlog) or [`metlog::metlog`](crate::metlog()).
/// Nothing is sent until [`send`](MessageBuilder::send).
#[must_use = "the message is only sent by .send()"]
pub struct MessageBuilder<'c> {
    client: ClientRef<'c>,
    kind: SharedStr,
    payload: SharedStr,
    extra: Extra,
    timestamp: Option<SystemTime>,
}

impl<'c> MessageBuilder<'c> {
    pub(crate) fn new(client: ClientRef<'c>, kind: SharedStr) -> Self {
        MessageBuilder {
            client,
            kind,
            payload: SharedStr::EMPTY,
            extra: Extra::default(),
            timestamp: None,
        }
    }

    /// The message body (default: empty).
    pub fn payload<'a>(mut self, payload: impl Into<Text<'a>>) -> Self {
        self.payload = payload.into().into_shared();
        self
    }

    option_setters!(fields);

    fn extra(&mut self) -> Option<&mut Extra> {
        Some(&mut self.extra)
    }

    /// The time the message is stamped with (default: when it is sent).
    pub fn timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Filters and sends the message.
    pub fn send(self) {
        let Some(client) = self.client.get() else {
            return;
        };
        if !client.is_active() {
            return;
        }
        let msg = client.make_message(
            self.kind,
            self.extra.logger,
            self.extra.severity,
            self.payload,
            self.extra.fields,
            self.timestamp,
        );
        client.dispatch_message(msg);
    }
}

/// A counter message being configured; made by
/// [`Client::counter`](crate::Client::counter) or
/// [`metlog::counter`](crate::counter()). Sent by [`send`](Counter::send).
///
/// The message has type `counter`, the count as its payload (`"1"` by
/// default) and fields `name` and `rate`, exactly like metlog-py's `incr`.
#[must_use = "the counter is only sent by .send()"]
pub struct Counter<'c> {
    client: ClientRef<'c>,
    name: Text<'c>,
    count: Count,
    rate: f64,
    timestamp: Option<SystemTime>,
    /// Severity, logger, fields: out of line, so the usual counter is small
    /// to build and to move.
    extra: Option<Box<Extra>>,
}

impl<'c> Counter<'c> {
    pub(crate) fn new(client: ClientRef<'c>, name: Text<'c>) -> Self {
        Counter {
            client,
            name,
            count: Count(Repr::Whole(1)),
            rate: 1.0,
            timestamp: None,
            extra: None,
        }
    }

    /// How much to add (default 1; negative to decrement): a whole number or
    /// a fraction (`2.5`, as metlog-py's `incr(name, count=2.5)`; statsd
    /// adds fractions), written into the payload as metlog-py writes it
    /// (`"3"`, `"2.5"`, `"2.0"`). A fraction that is not a finite number is
    /// not sent (counted as failed).
    ///
    /// ```
    /// # let capture = metlog::sender::CaptureSender::new();
    /// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
    /// client.counter("bytes").count(512).send();
    /// client.counter("credits").count(2.5).send();
    /// client.counter("items").count(vec![1, 2, 3].len()).send();
    /// let payloads: Vec<_> = capture.messages().into_iter().map(|m| m.payload).collect();
    /// assert_eq!(payloads, ["512", "2.5", "3"]);
    /// ```
    pub fn count(mut self, count: impl Into<Count>) -> Self {
        self.count = count.into();
        self
    }

    /// Sample rate in `[0, 1]` (default 1): [`send`](Counter::send) delivers
    /// only this fraction of calls, and writes the rate into `fields.rate`.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    option_setters!(fields);

    fn extra(&mut self) -> Option<&mut Extra> {
        Some(self.extra.get_or_insert_with(Default::default))
    }

    /// The time the message is stamped with (default: when it is sent).
    pub fn timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Samples, filters and sends the counter.
    #[inline]
    pub fn send(self) {
        let Some(client) = self.client.get() else {
            return;
        };
        if !client.is_active() || sampled_out(self.rate) {
            return;
        }
        let Repr::Whole(value) = self.count.0 else {
            let client = client.clone();
            return self.send_written(&client);
        };
        let extra = finish_extra(self.extra, &self.name, self.rate);
        client.dispatch(client.record(
            self.timestamp.unwrap_or_else(SystemTime::now),
            Body::Metric {
                kind: Kind::Incr,
                name: self.name,
                value: value as u64,
                rate: self.rate,
                extra,
            },
        ));
    }

    /// Sends a count that is not an `i64` (a fraction, a `u64` beyond
    /// `i64::MAX`) as a message with the count written out.
    #[cold]
    fn send_written(self, client: &Client) {
        let payload = match self.count.0 {
            Repr::Fraction(count) if !count.is_finite() => {
                let why = format!(
                    "counter {:?}: {count} is not a finite number",
                    self.name.as_str()
                );
                return client.refuse(why);
            }
            Repr::Fraction(count) => super::python2_float(count),
            Repr::Whole(count) => count.to_string(),
            Repr::Large(count) => count.to_string(),
        };
        let extra = finish_extra(Some(self.extra.unwrap_or_default()), &self.name, self.rate);
        let builder = MessageBuilder {
            client: ClientRef::Borrowed(client),
            kind: SharedStr::from_static("counter"),
            payload: payload.into(),
            extra: extra.map(|extra| *extra).unwrap_or_default(),
            timestamp: self.timestamp,
        };
        builder.send();
    }
}

/// How much a [`Counter`] adds: a whole number of any integer type, or a
/// fraction (`f64`, `f32`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Count(Repr);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Repr {
    Whole(i64),
    /// Beyond `i64::MAX`.
    Large(u64),
    Fraction(f64),
}

macro_rules! count_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Count {
            fn from(count: $ty) -> Count {
                Count(Repr::Whole(i64::from(count)))
            }
        }
    )*};
}
count_from!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Count {
    fn from(count: u64) -> Count {
        Count(i64::try_from(count).map_or(Repr::Large(count), Repr::Whole))
    }
}

impl From<usize> for Count {
    fn from(count: usize) -> Count {
        // usize is at most 64 bits wide on every target Rust supports.
        Count::from(count as u64)
    }
}

impl From<isize> for Count {
    fn from(count: isize) -> Count {
        Count(Repr::Whole(count as i64))
    }
}

impl From<f64> for Count {
    /// Written as Python 2 writes a float: `2.5` → `"2.5"`, `2.0` → `"2.0"`.
    fn from(count: f64) -> Count {
        Count(Repr::Fraction(count))
    }
}

impl From<f32> for Count {
    fn from(count: f32) -> Count {
        Count(Repr::Fraction(f64::from(count)))
    }
}

/// A counter's or timer's rarely used options, ready to send: their
/// fields then hold `name` and `rate` too, set where the caller's own fields
/// would have them (the caller's `name` or `rate` is replaced in place).
pub(crate) fn finish_extra(
    extra: Option<Box<Extra>>,
    name: &Text<'_>,
    rate: f64,
) -> Option<Box<Extra>> {
    let mut extra = extra?;
    extra.fields.insert("name", name.clone().into_shared());
    extra.fields.insert("rate", rate);
    Some(extra)
}
