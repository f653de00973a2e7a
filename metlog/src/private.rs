//! Support for the macros' generated code. Not a stable API: anything here
//! may change in any release.
//!
//! `#[metlog::timer]` / `#[metlog::incr]` put a [`Site`] in a `static` inside
//! the annotated function and start a [`Guard`] as its first statement; the
//! guard sends one message when it is dropped, whichever way the function
//! ends.

use crate::clock::{self, Tick};
use std::sync::atomic::Ordering;

use crate::client::{whole_millis, ClientRef};
use crate::decorators::Decorator;
use crate::gate;
use crate::record::Body;
use crate::sampling::sampled_out;
use crate::site::{IDLE, LIVE, OUTCOME_CANCELLED, OUTCOME_OK, OUTCOME_PANIC};
use crate::{holder, Client, Severity};

// The call sites' descriptions live in `crate::site`, below the senders;
// the macros name them through here.
pub use crate::site::{FieldLit, Kind, Site, SiteState};

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

impl Site {
    /// Whether this (timer) site is disabled on `client`, from the cache.
    #[inline]
    fn timer_disabled_on(&self, client: &Client) -> bool {
        let id = client.id();
        let cached = self.state.timer_disabled.load(Ordering::Relaxed);
        if cached >> 1 == id {
            return cached & 1 == 1;
        }
        // As metlog-py's `@timeit`: a timer is also disabled by its
        // function's bare name (`timed_add`) — unless named by a bare string
        // first (`@timeit('x')`, whose check looked at that name only).
        let disabled = client.is_timer_disabled(self.name())
            || (!self.name_positional && client.is_timer_disabled(self.function));
        self.state
            .timer_disabled
            .store(id << 1 | u64::from(disabled), Ordering::Relaxed);
        disabled
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
    /// Set for timers only: counters read no clock.
    start: Option<Tick>,
    /// An index into [`OUTCOMES`], once known.
    outcome: Option<u8>,
    /// A function that *starts* while the thread unwinds (called from a
    /// `Drop`) must not be reported as panicking when it returns normally.
    was_panicking: bool,
    is_async: bool,
}

/// Starts the guard of an annotated call. Decides everything that can make
/// the call free — decorator switch, client, sampling, disabled timer —
/// inline and before reading the clock; only an enabled call leaves this
/// function.
#[inline(always)]
pub fn enter(site: &'static Site, is_async: bool) -> Guard {
    // One load decides the common idle cases: decorator off, or (for the
    // current client) no global client and no scope anywhere.
    let gate = gate::load();
    if gate & site.decorator().bit() != 0 {
        return Guard::inert();
    }
    if site.client.is_none() {
        let clients = gate & gate::ANY_CLIENT;
        if clients == 0 {
            return Guard::inert();
        }
        // Only the global client can be current: what this site learnt
        // about it holds until it is replaced.
        if clients == gate::GLOBAL_SET
            && site.state.on_global.load(Ordering::Relaxed) == holder::generation() << 2 | IDLE
        {
            return Guard::inert();
        }
    }
    if sampled_out(site.rate) {
        return Guard::inert();
    }
    enter_resolved(site, is_async)
}

/// The rest of [`enter`], out of line so the inline part stays small.
#[inline(never)]
fn enter_resolved(site: &'static Site, is_async: bool) -> Guard {
    let (client, generation) = match site.client {
        None => holder::current_with_generation(),
        Some(name) => match holder::named_client(name) {
            Some(client) => (ClientRef::Owned(client), None),
            None => (ClientRef::None, None),
        },
    };
    let Some(c) = client.get() else {
        return Guard::inert();
    };
    let idle = !c.is_active() || (site.kind == Kind::Timer && site.timer_disabled_on(c));
    if let Some(generation) = generation {
        // The global client's: learnt once per generation.
        let verdict = generation << 2 | if idle { IDLE } else { LIVE };
        if site.state.on_global.load(Ordering::Relaxed) != verdict {
            site.state.on_global.store(verdict, Ordering::Relaxed);
        }
    }
    if idle {
        return Guard::inert();
    }
    let start = match site.kind {
        Kind::Timer => Some(clock::tick()),
        Kind::Incr => None,
    };
    Guard {
        active: Some(Active {
            client,
            site,
            start,
            outcome: None,
            was_panicking: std::thread::panicking(),
            is_async,
        }),
    }
}

impl Guard {
    /// A guard that sends nothing. (A function, not a `const`: a constant
    /// would be copied whole, where this writes one discriminant.)
    #[inline(always)]
    fn inert() -> Guard {
        Guard { active: None }
    }

    /// Records how the call ended (`ok` or `err`, from [`outcome_of`]).
    #[inline]
    pub fn complete(&mut self, outcome: &'static str) {
        if let Some(active) = &mut self.active {
            active.outcome = Some(u8::from(outcome == "err"));
        }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.active.is_some() {
            self.send();
        }
    }
}

impl Guard {
    /// Builds and dispatches the message: out of line, so the inert guard's
    /// drop is a single test.
    #[inline(never)]
    fn send(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        let outcome = match active.outcome {
            Some(outcome) => outcome,
            None if std::thread::panicking() && !active.was_panicking => OUTCOME_PANIC,
            None if active.is_async => OUTCOME_CANCELLED,
            None => OUTCOME_OK,
        };
        let Some(client) = active.client.get() else {
            return;
        };
        // A timer reads the clock twice in all: at the start and here; the
        // timestamp is derived from the second reading.
        let (millis, at) = match active.start {
            Some(start) => {
                let end = clock::tick();
                (whole_millis(clock::elapsed(start, end)), clock::wall(end))
            }
            None => (0, clock::now()),
        };
        client.dispatch(client.record(
            at,
            Body::Site {
                site: active.site,
                millis,
                outcome,
            },
        ));
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

/// The future returned by an annotated function whose body can return one of
/// several boxed futures: timed, like an `async fn`, from its first poll to
/// completion (`cancelled` if dropped before), its output asked for its
/// outcome by `outcome` (the macro's probe, where the type is known).
pub struct Timed<F: std::future::Future> {
    future: F,
    site: &'static Site,
    guard: Option<Guard>,
    outcome: fn(&F::Output) -> &'static str,
}

impl<F: std::future::Future> Timed<F> {
    /// Wraps `future`; nothing is measured before the first poll.
    pub fn new(site: &'static Site, future: F, outcome: fn(&F::Output) -> &'static str) -> Self {
        Timed {
            future,
            site,
            guard: None,
            outcome,
        }
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for Timed<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.get_mut();
        let site = this.site;
        let guard = this.guard.get_or_insert_with(|| enter(site, true));
        let output = std::task::ready!(std::pin::Pin::new(&mut this.future).poll(cx));
        guard.complete((this.outcome)(&output));
        // Sends now, not when the finished future is dropped.
        this.guard = None;
        std::task::Poll::Ready(output)
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

#[cfg(test)]
mod tests {
    /// The macros write `__private` items into users' code, and this module
    /// may change in any release: `metlog` must take its own release's
    /// macros and no other (a newer `metlog-macros` beside an older
    /// `metlog` would not compile).
    #[test]
    fn the_macros_crate_is_pinned_to_this_release() {
        let manifest = include_str!("../../Cargo.toml");
        let line = manifest
            .lines()
            .find(|line| line.starts_with("metlog-macros ="))
            .expect("metlog-macros in [workspace.dependencies]");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            line.contains(&format!("version = \"={version}\"")),
            "not pinned to ={version}: {line}"
        );
    }
}

/// `#[metlog::capture_stack]`'s support (feature `raven`).
#[cfg(feature = "raven")]
pub use capture::*;

#[cfg(feature = "raven")]
mod capture {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use crate::plugin::raven::{self, CallSite};
    use crate::{holder, Client, Fields};

    /// The function `#[metlog::capture_stack]` annotates.
    pub struct CaptureSite {
        /// Its name.
        pub function: &'static str,
        /// `module_path!()` where it is.
        pub module: &'static str,
        /// The named client it reports to (`client = "…"`), else the current.
        pub client: Option<&'static str>,
    }

    impl CaptureSite {
        fn with_client(&self, f: impl FnOnce(&Client)) {
            match self.client {
                None => {
                    holder::with_current(f);
                }
                Some(name) => match holder::named_client(name) {
                    Some(client) => f(&client),
                    // A panic or error for Sentry would vanish unsaid.
                    None => {
                        static SAID: std::sync::atomic::AtomicBool =
                            std::sync::atomic::AtomicBool::new(false);
                        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            crate::report::report(format_args!(
                                "#[metlog::capture_stack(client = {name:?})] in {}: no client \
                                 of that name is set, so a panic or error it caught was not \
                                 sent (metlog::set_client); said once",
                                self.function
                            ));
                        }
                    }
                },
            }
        }

        fn call_site(&self) -> CallSite {
            CallSite {
                file: self.module.to_owned(),
                line: 0,
                module: self.module.to_owned(),
                function: self.function.to_owned(),
            }
        }
    }

    /// Runs the body of a function `#[metlog::capture_stack]` annotates:
    /// a panic is reported, then goes on unwinding (the same payload).
    #[inline]
    pub fn capture_call<R>(site: &'static CaptureSite, body: impl FnOnce() -> R) -> R {
        start();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(value) => value,
            Err(payload) => caught(site, payload),
        }
    }

    /// Runs an annotated `async fn`'s body, as [`capture_call`] runs a
    /// function's, poll by poll.
    pub fn capture_future<F: Future>(site: &'static CaptureSite, body: F) -> CaptureFuture<F> {
        CaptureFuture { body, site }
    }

    pin_project_lite::pin_project! {
        /// An annotated `async fn`'s body (see [`capture_future`]).
        pub struct CaptureFuture<F> {
            #[pin]
            body: F,
            site: &'static CaptureSite,
        }
    }

    impl<F: Future> Future for CaptureFuture<F> {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let this = self.project();
            // Each poll may run on another thread: each starts afresh.
            start();
            let body = this.body;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body.poll(cx))) {
                Ok(poll) => poll,
                Err(payload) => caught(this.site, payload),
            }
        }
    }

    /// An annotated call starts: past the thread's earlier panics, unless
    /// it runs in a `Drop` while one unwinds.
    fn start() {
        raven::keep_panics();
        if !std::thread::panicking() {
            raven::forget_panics();
        }
    }

    /// Reports the panic `payload` of an annotated call (unless an annotated
    /// call inside reported it, or the panics plugin did), then lets it
    /// unwind on.
    #[cold]
    fn caught(site: &'static CaptureSite, payload: Box<dyn std::any::Any + Send>) -> ! {
        if let Some(seen) = raven::claim_panic(&*payload, site.call_site()) {
            site.with_client(|client| {
                if let Some(message) = raven::panic_message(client, seen) {
                    client.dispatch_message(message);
                }
            });
        }
        // After the report: a sender may run annotated code of its own.
        raven::resumed(&*payload);
        std::panic::resume_unwind(payload)
    }

    /// Wraps a returned error to report it (see [`CaptureError`]).
    pub struct ErrProbe<'a, T: ?Sized>(pub &'a T);

    /// Chosen by method resolution when the error is a `std::error::Error`.
    pub trait CaptureError {
        /// Sends the error's `sentry` message.
        fn metlog_capture(&self, site: &'static CaptureSite);
    }

    impl<T: std::error::Error + ?Sized> CaptureError for ErrProbe<'_, T> {
        fn metlog_capture(&self, site: &'static CaptureSite) {
            capture_error(site, self.0);
        }
    }

    /// The fallback for what derefs to one: `anyhow::Error`, `Box<dyn Error>`.
    pub trait CaptureDerefError {
        /// Sends the error's `sentry` message.
        fn metlog_capture(&self, site: &'static CaptureSite);
    }

    impl<T, U> CaptureDerefError for &ErrProbe<'_, T>
    where
        T: std::ops::Deref<Target = U> + ?Sized,
        U: std::error::Error + ?Sized,
    {
        fn metlog_capture(&self, site: &'static CaptureSite) {
            capture_error(site, &**self.0);
        }
    }

    fn capture_error<E: std::error::Error + ?Sized>(site: &'static CaptureSite, error: &E) {
        let trace = crate::process::walking_stack(backtrace::Backtrace::new_unresolved);
        site.with_client(|client| {
            let made =
                client.raven_error_message(&"", error, trace, &site.call_site(), Fields::new());
            if let Some(message) = made {
                client.dispatch_message(message);
            }
        });
    }
}
