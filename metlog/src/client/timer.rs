//! [`Timer`]: a guard that sends a timer message when dropped.

use std::time::Duration;

use crate::clock::{self, Tick};

use super::message_builder::{finish_extra, option_setters};
use super::{whole_millis, ClientRef};
use crate::record::{Body, Extra};
use crate::sampling::sampled_out;
use crate::site::Kind;
use crate::{Severity, Text, Value};

/// Measures a scope and sends a `timer` message when dropped; made by
/// [`Client::timer`](crate::Client::timer) or [`metlog::timer`](crate::timer()).
///
/// The message has type `timer`, the elapsed whole milliseconds as payload
/// and fields `name` and `rate`. Builder-style methods configure it; a timer
/// that is disabled, sampled out or has no client is inert and costs next to
/// nothing.
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// let timer = client.timer("render").field("template", "index");
/// // ... work ...
/// let elapsed = timer.stop(); // send now and get the measured time
/// assert!(elapsed.is_some());
///
/// let timer = client.timer("aborted");
/// timer.cancel(); // send nothing
/// # assert_eq!(capture.len(), 1);
/// ```
#[must_use = "a Timer measures until it is dropped; `let _ = ` would drop it at once, \
              bind it to a named variable such as `_timer`"]
pub struct Timer<'c> {
    state: Option<Running<'c>>,
}

struct Running<'c> {
    client: ClientRef<'c>,
    name: Text<'c>,
    start: Tick,
    rate: f64,
    /// Severity, logger, fields: out of line, so the usual guard is small.
    extra: Option<Box<Extra>>,
}

impl<'c> Timer<'c> {
    /// Starts a timer, unless there is nothing to report to.
    #[inline]
    pub(crate) fn start(client: ClientRef<'c>, name: Text<'c>) -> Self {
        let live = client
            .get()
            .is_some_and(|c| c.is_active() && !c.is_timer_disabled(name.as_str()));
        if !live {
            return Timer::inert();
        }
        Timer {
            state: Some(Running {
                client,
                name,
                start: clock::tick(),
                rate: 1.0,
                extra: None,
            }),
        }
    }

    /// A timer that does nothing.
    pub const fn inert() -> Timer<'static> {
        Timer { state: None }
    }

    /// Whether the timer will send a message.
    pub fn is_running(&self) -> bool {
        self.state.is_some()
    }

    /// Sample rate in `[0, 1]`: the timer is kept with this probability
    /// (decided now) and the rate is written into `fields.rate`.
    pub fn rate(mut self, rate: f64) -> Self {
        if let Some(state) = &mut self.state {
            if sampled_out(rate) {
                self.state = None;
            } else {
                state.rate = rate;
            }
        }
        self
    }

    option_setters!();

    fn extra(&mut self) -> Option<&mut Extra> {
        let state = self.state.as_mut()?;
        Some(state.extra.get_or_insert_with(Default::default))
    }

    /// Sets one extra field on a timer already bound to a variable (e.g. the
    /// outcome of the timed work).
    pub fn set_field<'a>(&mut self, key: impl Into<Text<'a>>, value: impl Into<Value>) {
        if let Some(extra) = self.extra() {
            extra.fields.insert(key, value);
        }
    }

    /// Time since the timer started, if it is running.
    pub fn elapsed(&self) -> Option<Duration> {
        self.state
            .as_ref()
            .map(|s| clock::elapsed(s.start, clock::tick()))
    }

    /// Sends the message now and returns the measured time (`None` for an
    /// inert timer).
    pub fn stop(mut self) -> Option<Duration> {
        self.finish()
    }

    /// Stops the timer without sending anything.
    pub fn cancel(mut self) {
        self.state = None;
    }

    fn finish(&mut self) -> Option<Duration> {
        let end = clock::tick();
        // Read in place: moving the running state out first costs the hot
        // path a copy of it.
        let state = self.state.as_mut()?;
        let elapsed = clock::elapsed(state.start, end);
        if let Some(client) = state.client.get() {
            let name = std::mem::replace(&mut state.name, Text::Borrowed(""));
            let extra = finish_extra(state.extra.take(), &name, state.rate);
            client.dispatch(client.record(
                clock::wall(end),
                Body::Metric {
                    kind: Kind::Timer,
                    name,
                    value: whole_millis(elapsed),
                    rate: state.rate,
                    extra,
                },
            ));
        }
        self.state = None;
        Some(elapsed)
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for Timer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Some(s) => f
                .debug_struct("Timer")
                .field("name", &s.name)
                .field("elapsed", &clock::elapsed(s.start, clock::tick()))
                .field("rate", &s.rate)
                .finish(),
            None => f.write_str("Timer(inert)"),
        }
    }
}
