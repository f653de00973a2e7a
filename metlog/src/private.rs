//! Support for the macros' generated code. Not a stable API: anything here
//! may change in any release.
//!
//! `#[metlog::timer]` / `#[metlog::incr]` put a [`Site`] in a `static` inside
//! the annotated function and start a [`Guard`] as its first statement; the
//! guard sends one message when it is dropped, whichever way the function
//! ends.

use std::time::Instant;

pub use std::sync::OnceLock;

use crate::client::{whole_millis, ClientRef};
use crate::decorators::{is_decorator_enabled, Decorator};
use crate::sampling::sampled_out;
use crate::{holder, Client, Fields, Severity, SharedStr, Value};

/// Runs a log macro's formatting against the current client, if there is one
/// and it is active (so nothing is formatted otherwise).
#[inline]
pub fn log_current(_severity: Severity, log: impl FnOnce(&Client)) {
    holder::with_current(|client| {
        if client.is_active() {
            log(client);
        }
    });
}

/// Which macro a site belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `#[metlog::timer]`: a `timer` message with the elapsed milliseconds.
    Timer,
    /// `#[metlog::incr]`: a `counter` message with the count.
    Incr,
}

/// A literal from the `fields(...)` option.
#[derive(Clone, Copy, Debug)]
pub enum FieldLit {
    /// A string.
    Str(&'static str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl From<FieldLit> for Value {
    fn from(lit: FieldLit) -> Value {
        match lit {
            FieldLit::Str(s) => Value::Str(SharedStr::from_static(s)),
            FieldLit::Int(n) => Value::I64(n),
            FieldLit::Float(n) => Value::F64(n),
            FieldLit::Bool(b) => Value::Bool(b),
        }
    }
}

/// Everything an annotated function's messages need that is known at compile
/// time; one `static` per annotated function.
#[derive(Debug)]
pub struct Site {
    /// Which macro.
    pub kind: Kind,
    /// `module_path!()` at the annotated function.
    pub module_path: &'static str,
    /// The `impl` block's type, or `""` for a free function.
    pub scope: &'static str,
    /// The function's name.
    pub function: &'static str,
    /// The `name` option, if given.
    pub name: Option<&'static str>,
    /// The `rate` option (1.0 by default).
    pub rate: f64,
    /// The `severity` option.
    pub severity: Option<u8>,
    /// The `logger` option.
    pub logger: Option<&'static str>,
    /// The `fields(...)` option.
    pub fields: &'static [(&'static str, FieldLit)],
    /// The `client` option: a named client to use instead of the current one.
    pub client: Option<&'static str>,
    /// The `count` option (1 by default; counters only).
    pub count: i64,
    /// The default name, built on first use.
    pub resolved: OnceLock<&'static str>,
}

impl Site {
    /// The metric name: the `name` option, or `module.path.[Type.]function`
    /// (built once per site and kept for the life of the process).
    pub fn name(&self) -> &'static str {
        if let Some(name) = self.name {
            return name;
        }
        self.resolved.get_or_init(|| {
            let mut name = self.module_path.replace("::", ".");
            for part in [self.scope, self.function] {
                if !part.is_empty() {
                    name.push('.');
                    name.push_str(part);
                }
            }
            // One small string per annotated function, so leaking is bounded;
            // it lets every message refer to the name without counting.
            Box::leak(name.into_boxed_str())
        })
    }

    fn decorator(&self) -> Decorator {
        match self.kind {
            Kind::Timer => Decorator::Timer,
            Kind::Incr => Decorator::Incr,
        }
    }
}

/// Sends the site's message when dropped; see [`enter`].
#[must_use]
pub struct Guard {
    active: Option<Active>,
}

struct Active {
    client: ClientRef<'static>,
    site: &'static Site,
    name: &'static str,
    /// Set for timers only: counters read no clock.
    start: Option<Instant>,
    outcome: Option<&'static str>,
    /// A function that *starts* while the thread unwinds (called from a
    /// `Drop`) must not be reported as panicking when it returns normally.
    was_panicking: bool,
    is_async: bool,
}

/// Starts the guard of an annotated call. Decides everything that can make
/// the call free — decorator switch, client, disabled timer, sampling —
/// before reading the clock.
#[inline]
pub fn enter(site: &'static Site, is_async: bool) -> Guard {
    if !is_decorator_enabled(site.decorator()) {
        return Guard { active: None };
    }
    let client = match site.client {
        Some(name) => match holder::named_client(name) {
            Some(client) => ClientRef::Owned(client),
            None => ClientRef::None,
        },
        None => holder::current_ref(),
    };
    enter_with(client, site, is_async)
}

#[inline]
fn enter_with(client: ClientRef<'static>, site: &'static Site, is_async: bool) -> Guard {
    let Some(c) = client.get() else {
        return Guard { active: None };
    };
    if !c.is_active() {
        return Guard { active: None };
    }
    let name = site.name();
    if site.kind == Kind::Timer && c.is_timer_disabled(name) {
        return Guard { active: None };
    }
    if sampled_out(site.rate) {
        return Guard { active: None };
    }
    let start = match site.kind {
        Kind::Timer => Some(Instant::now()),
        Kind::Incr => None,
    };
    Guard {
        active: Some(Active {
            client,
            site,
            name,
            start,
            outcome: None,
            was_panicking: std::thread::panicking(),
            is_async,
        }),
    }
}

impl Guard {
    /// Records how the call ended (`ok` or `err`, from [`outcome_of`]).
    #[inline]
    pub fn complete(&mut self, outcome: &'static str) {
        if let Some(active) = &mut self.active {
            active.outcome = Some(outcome);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        let outcome = match active.outcome {
            Some(outcome) => outcome,
            None if std::thread::panicking() && !active.was_panicking => "panic",
            None if active.is_async => "cancelled",
            None => "ok",
        };
        let Some(client) = active.client.get() else {
            return;
        };
        let site = active.site;
        let (kind, payload) = match active.start {
            Some(start) => ("timer", SharedStr::from_u64(whole_millis(start.elapsed()))),
            None => ("counter", SharedStr::from_i64(site.count)),
        };
        let mut fields = Fields::new();
        for (key, value) in site.fields {
            fields.insert(SharedStr::from_static(key), *value);
        }
        fields.insert("name", SharedStr::from_static(active.name));
        fields.insert("rate", site.rate);
        fields.insert("outcome", SharedStr::from_static(outcome));
        let message = client.make_message(
            SharedStr::from_static(kind),
            site.logger.map(SharedStr::from_static),
            site.severity.map(Severity::from),
            payload,
            fields,
            None,
        );
        client.dispatch(message);
    }
}

/// Moved into the closure that runs a `Result`-returning body, making it
/// `FnOnce` so the body may return borrows of the arguments it owns.
#[derive(Debug)]
pub struct OnceToken;

impl OnceToken {
    /// Consumes the token.
    #[inline(always)]
    pub fn consume(self) {}
}

/// Wraps a return value to ask whether it is an `Err` (see [`outcome_of`]).
pub struct OutcomeProbe<'a, T>(pub &'a T);

/// Chosen by method resolution when the probed value is a `Result`.
pub trait ResultOutcome {
    /// `"ok"` or `"err"`.
    fn metlog_outcome(&self) -> &'static str;
}

impl<T, E> ResultOutcome for OutcomeProbe<'_, Result<T, E>> {
    #[inline]
    fn metlog_outcome(&self) -> &'static str {
        if self.0.is_ok() {
            "ok"
        } else {
            "err"
        }
    }
}

/// The fallback for any other value: `"ok"`.
pub trait AnyOutcome {
    /// Always `"ok"`.
    fn metlog_outcome(&self) -> &'static str;
}

impl<T> AnyOutcome for &OutcomeProbe<'_, T> {
    #[inline]
    fn metlog_outcome(&self) -> &'static str {
        "ok"
    }
}

/// `"err"` for an `Err`, `"ok"` for anything else, without knowing the type
/// in the macro: `outcome_of!(&value)` expands to a method call that
/// resolves to [`ResultOutcome`] for results and [`AnyOutcome`] otherwise.
#[doc(hidden)]
#[macro_export]
macro_rules! __outcome_of {
    ($value:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{AnyOutcome as _, ResultOutcome as _};
        (&$crate::__private::OutcomeProbe($value)).metlog_outcome()
    }};
}
pub use crate::__outcome_of as outcome_of;
