//! `#[metlog::timer]` and `#[metlog::incr]` on every function shape and
//! every way out of a call, asserted on captured messages.

#![allow(
    clippy::unused_async,
    clippy::needless_lifetimes,
    clippy::boxed_local,
    clippy::mixed_attributes_style,
    dead_code
)]

use std::future::Future;
use std::time::Duration;

use crate::support::{block_on, poll_once, YieldOnce};
use metlog::sender::CaptureSender;
use metlog::{Client, Message, WithClient};

/// A client current on this thread for the test's duration.
struct Scope {
    capture: CaptureSender,
    _guard: metlog::DefaultGuard,
}

fn scope() -> Scope {
    let capture = CaptureSender::new();
    let client = Client::builder("test").sender(capture.clone()).build();
    let _guard = metlog::set_default(&client);
    Scope { capture, _guard }
}

impl Scope {
    fn messages(&self) -> Vec<Message> {
        self.capture.messages()
    }

    /// Exactly one message: its (type, name, outcome).
    fn only(&self) -> (String, String, String) {
        let msgs = self.capture.take();
        assert_eq!(msgs.len(), 1, "exactly one message per call: {msgs:#?}");
        let m = &msgs[0];
        (
            m.kind.to_string(),
            m.fields["name"].to_string(),
            m.fields["outcome"].to_string(),
        )
    }
}

fn timer(name: &str, outcome: &str) -> (String, String, String) {
    ("timer".into(), name.into(), outcome.into())
}

const MODULE: &str = "integration.macros"; // this module's path, `::` as `.`

fn default_name(function: &str) -> String {
    format!("{MODULE}.{function}")
}

// ---------- free functions and the ways out of a call ----------

#[metlog::timer]
fn free_fn(x: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(20));
    x + 1
}

#[test]
fn free_fn_default_name_outcome_and_elapsed() {
    let s = scope();
    assert_eq!(free_fn(1), 2);
    let msgs = s.messages();
    assert_eq!(s.only(), timer(&default_name("free_fn"), "ok"));
    let ms: u64 = msgs[0].payload.parse().unwrap();
    assert!((20..5_000).contains(&ms), "slept 20 ms, reported {ms}");
    assert_eq!(msgs[0].fields["rate"], 1.0);
    assert_eq!(msgs[0].logger, "test");
}

#[metlog::timer("early")]
fn early_return(stop: bool) -> &'static str {
    if stop {
        return "early";
    }
    "late"
}

#[test]
fn early_return_is_reported_once_as_ok() {
    let s = scope();
    assert_eq!(early_return(true), "early");
    assert_eq!(s.only(), timer("early", "ok"));
    assert_eq!(early_return(false), "late");
    assert_eq!(s.only(), timer("early", "ok"));
}

fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

#[metlog::timer("question_mark")]
fn question_mark(text: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let n = parse(text)?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n * 2)
}

#[test]
fn question_mark_and_err_returns_report_err() {
    let s = scope();
    assert_eq!(question_mark("21").unwrap(), 42);
    assert_eq!(s.only(), timer("question_mark", "ok"));
    assert!(question_mark("x").is_err());
    assert_eq!(s.only(), timer("question_mark", "err"));
    assert!(question_mark("0").is_err());
    assert_eq!(s.only(), timer("question_mark", "err"));
}

macro_rules! bail {
    ($msg:expr) => {
        return Err($msg.to_string())
    };
}

#[metlog::timer("macro_return")]
fn macro_return(fail: bool) -> Result<(), String> {
    if fail {
        bail!("failed");
    }
    Ok(())
}

#[test]
fn returns_hidden_in_macros_are_seen() {
    let s = scope();
    assert!(macro_return(true).is_err());
    assert_eq!(s.only(), timer("macro_return", "err"));
}

#[metlog::timer("io_result")]
fn io_result() -> std::io::Result<()> {
    Err(std::io::Error::other("x"))
}

type MyResult<T> = Result<T, String>;

#[metlog::incr("alias_result")]
fn alias_result() -> MyResult<u8> {
    Err("no".into())
}

#[test]
fn result_aliases_are_recognised() {
    let s = scope();
    assert!(io_result().is_err());
    assert_eq!(s.only(), timer("io_result", "err"));
    assert!(alias_result().is_err());
    assert_eq!(
        s.only(),
        ("counter".into(), "alias_result".into(), "err".into())
    );
}

#[metlog::timer("panics")]
fn panics(message: &str) -> u32 {
    panic!("{message}");
}

#[metlog::incr("panics_result")]
fn panics_result() -> Result<(), ()> {
    panic!("in a Result fn");
}

#[test]
fn panics_are_reported_while_unwinding_and_continue_unchanged() {
    let s = scope();
    let err = std::panic::catch_unwind(|| panics("original payload")).unwrap_err();
    assert_eq!(err.downcast_ref::<String>().unwrap(), "original payload");
    assert_eq!(s.only(), timer("panics", "panic"));
    let err = std::panic::catch_unwind(panics_result).unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "in a Result fn");
    assert_eq!(
        s.only(),
        ("counter".into(), "panics_result".into(), "panic".into())
    );
}

#[metlog::timer("called_from_drop")]
fn called_from_drop() {}

#[test]
fn a_call_made_during_unwinding_that_returns_normally_is_ok() {
    struct CallsOnDrop;
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            called_from_drop();
        }
    }
    let s = scope();
    let _ = std::panic::catch_unwind(|| {
        let _d = CallsOnDrop;
        panic!("unwinding");
    });
    assert_eq!(s.only(), timer("called_from_drop", "ok"));
}

// ---------- methods ----------

struct Account {
    balance: i64,
    name: String,
}

impl Account {
    #[metlog::timer("by_ref")]
    fn by_ref(&self) -> i64 {
        self.balance
    }

    #[metlog::timer("by_mut")]
    fn by_mut(&mut self, amount: i64) -> &mut i64 {
        self.balance += amount;
        &mut self.balance
    }

    #[metlog::timer("by_mut_result")]
    fn by_mut_result(&mut self) -> Result<&mut String, ()> {
        Ok(&mut self.name)
    }

    #[metlog::timer("by_value")]
    fn by_value(self) -> String {
        self.name
    }

    #[metlog::timer("boxed")]
    fn boxed(self: Box<Self>) -> i64 {
        self.balance
    }

    #[metlog::timer("associated")]
    fn associated(balance: i64) -> Self {
        Account {
            balance,
            name: "new".into(),
        }
    }
}

#[test]
fn every_receiver_kind() {
    let s = scope();
    let mut account = Account::associated(10);
    assert_eq!(s.only(), timer("associated", "ok"));
    assert_eq!(account.by_ref(), 10);
    assert_eq!(s.only(), timer("by_ref", "ok"));
    *account.by_mut(5) += 1;
    assert_eq!(account.balance, 16);
    assert_eq!(s.only(), timer("by_mut", "ok"));
    account.by_mut_result().unwrap().push('!');
    assert_eq!(account.name, "new!");
    assert_eq!(s.only(), timer("by_mut_result", "ok"));
    assert_eq!(Box::new(Account::associated(3)).boxed(), 3);
    let _ = s.capture.take();
    assert_eq!(account.by_value(), "new!");
    assert_eq!(s.only(), timer("by_value", "ok"));
}

trait Greeter {
    fn greet(&self, name: &str) -> String;
    fn provided(&self) -> u8 {
        7
    }
}

struct English;

impl Greeter for English {
    #[metlog::timer("trait_impl")]
    fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
}

trait WithDefault {
    #[metlog::timer("trait_default")]
    fn default_method(&self) -> u8 {
        1
    }
}
impl WithDefault for English {}

#[test]
fn trait_impl_and_default_methods() {
    let s = scope();
    assert_eq!(English.greet("ada"), "hello ada");
    assert_eq!(s.only(), timer("trait_impl", "ok"));
    assert_eq!(English.default_method(), 1);
    assert_eq!(s.only(), timer("trait_default", "ok"));
}

// ---------- generics, lifetimes, impl Trait ----------

#[metlog::timer("generic")]
fn generic<'a, T, U: Clone>(items: &'a [T], extra: U) -> (&'a T, U)
where
    T: std::fmt::Debug + 'a,
{
    (&items[0], extra.clone())
}

#[metlog::timer("generic_result")]
fn generic_result<'a, T: AsRef<str> + ?Sized>(text: &'a T) -> Result<&'a str, String> {
    Ok(text.as_ref())
}

#[metlog::timer("impl_trait_arg")]
fn impl_trait_arg(items: impl IntoIterator<Item = u32>) -> u32 {
    items.into_iter().sum()
}

#[metlog::timer("impl_trait_return")]
fn impl_trait_return(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[metlog::timer("impl_in_result")]
fn impl_in_result(ok: bool) -> Result<impl std::fmt::Display, String> {
    if ok {
        Ok(5)
    } else {
        Err("no".into())
    }
}

/// `impl Trait` inside the `Result`, with `?` and an early `return`.
#[metlog::timer("impl_in_result_q")]
fn impl_in_result_q<'a>(
    text: &'a str,
) -> Result<impl Iterator<Item = u32> + 'a, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(None.into_iter().chain(Vec::new()));
    }
    let first: u32 = text.split(',').next().unwrap_or("").parse()?;
    Ok(Some(first).into_iter().chain(
        text.split(',')
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect::<Vec<_>>(),
    ))
}

#[metlog::timer("async_impl_in_result")]
async fn async_impl_in_result(
    text: &str,
) -> Result<impl std::fmt::Display, std::num::ParseIntError> {
    YieldOnce(false).await;
    let n: u32 = text.parse()?;
    Ok(n * 2)
}

#[test]
fn generics_lifetimes_and_impl_trait() {
    let s = scope();
    let items = [1, 2];
    assert_eq!(generic(&items, "x"), (&1, "x"));
    assert_eq!(s.only(), timer("generic", "ok"));
    assert_eq!(generic_result("abc").unwrap(), "abc");
    assert_eq!(s.only(), timer("generic_result", "ok"));
    assert_eq!(impl_trait_arg(vec![1, 2, 3]), 6);
    assert_eq!(s.only(), timer("impl_trait_arg", "ok"));
    assert_eq!(impl_trait_return(3).count(), 3);
    assert_eq!(s.only(), timer("impl_trait_return", "ok"));
    assert_eq!(impl_in_result(true).unwrap().to_string(), "5");
    assert_eq!(s.only(), timer("impl_in_result", "ok"));
    // `impl Trait` inside a Result: the `Err` is seen all the same.
    assert!(impl_in_result(false).is_err());
    assert_eq!(s.only(), timer("impl_in_result", "err"));
    assert_eq!(
        impl_in_result_q("1,2,x,3").unwrap().collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(s.only(), timer("impl_in_result_q", "ok"));
    assert!(impl_in_result_q("x,1").is_err());
    assert_eq!(s.only(), timer("impl_in_result_q", "err"));
    assert_eq!(impl_in_result_q("").unwrap().count(), 0);
    assert_eq!(s.only(), timer("impl_in_result_q", "ok"));
    assert_eq!(
        block_on(async_impl_in_result("21")).unwrap().to_string(),
        "42"
    );
    assert_eq!(s.only(), timer("async_impl_in_result", "ok"));
    assert!(block_on(async_impl_in_result("z")).is_err());
    assert_eq!(s.only(), timer("async_impl_in_result", "err"));
}

// ---------- unsafe, extern, attributes ----------

/// Doubles a value read through a raw pointer.
///
/// # Safety
/// `p` must be valid for reads.
#[metlog::timer("unsafe_fn")]
unsafe fn unsafe_fn(p: *const u32) -> u32 {
    *p * 2
}

#[metlog::timer("unsafe_result")]
unsafe fn unsafe_result(p: *const u32) -> Result<u32, ()> {
    Ok(*p)
}

#[metlog::timer("extern_c")]
extern "C" fn extern_c(x: i32) -> i32 {
    x * 3
}

/// Documented.
#[must_use = "use the value"]
#[inline]
#[metlog::timer("attributes")]
#[allow(clippy::let_and_return)]
fn with_attributes() -> u8 {
    #![allow(unused_variables)]
    let unused = 5;
    4
}

#[cfg(any())]
#[metlog::timer("configured_out")]
fn configured_out() -> u8 {
    compile_error!("never compiled")
}

#[cfg(test)]
#[metlog::timer("configured_in")]
fn configured_in() -> u8 {
    1
}

#[test]
#[allow(unsafe_code)]
fn unsafe_extern_and_attributes() {
    let s = scope();
    let x = 21;
    assert_eq!(unsafe { unsafe_fn(&x) }, 42);
    assert_eq!(s.only(), timer("unsafe_fn", "ok"));
    assert_eq!(unsafe { unsafe_result(&x) }, Ok(21));
    assert_eq!(s.only(), timer("unsafe_result", "ok"));
    assert_eq!(extern_c(2), 6);
    assert_eq!(s.only(), timer("extern_c", "ok"));
    assert_eq!(with_attributes(), 4);
    assert_eq!(s.only(), timer("attributes", "ok"));
    assert_eq!(configured_in(), 1);
    assert_eq!(s.only(), timer("configured_in", "ok"));
}

// ---------- hygiene ----------

mod hygiene {
    // A user's own `metlog` and `core` modules must not be picked up.
    #[allow(dead_code)]
    mod metlog {
        pub mod __private {}
    }
    #[allow(dead_code)]
    mod core {
        pub mod option {}
    }

    #[::metlog::timer("shadowing")]
    pub(crate) fn shadowing(__metlog_guard: u32, __metlog_ret: u32) -> Result<u32, ()> {
        #[allow(non_upper_case_globals)]
        static __METLOG_SITE: u32 = 1;
        #[allow(non_upper_case_globals, dead_code)]
        static __METLOG_STATE: u8 = 0;
        let __metlog_once = 2;
        Ok(__metlog_guard + __metlog_ret + __METLOG_SITE + __metlog_once)
    }
}

#[test]
fn users_names_do_not_collide_with_generated_ones() {
    let s = scope();
    assert_eq!(hygiene::shadowing(10, 20), Ok(33));
    assert_eq!(s.only(), timer("shadowing", "ok"));
}

// ---------- impl blocks ----------

struct Repo;

#[metlog::timer]
impl Repo {
    fn find(&self) -> Option<u8> {
        Some(1)
    }

    fn save(&self) -> Result<(), String> {
        Err("disk full".into())
    }

    #[metlog::skip]
    fn skipped(&self) {}

    #[metlog::timer("custom.name")]
    fn own_attribute(&self) {}

    const fn constant() -> u8 {
        3
    }
}

#[metlog::incr(count = 2)]
impl Greeter for Repo {
    fn greet(&self, _: &str) -> String {
        String::new()
    }
}

#[test]
fn impl_blocks_name_methods_after_the_type() {
    let s = scope();
    assert_eq!(Repo.find(), Some(1));
    assert_eq!(s.only(), timer(&format!("{MODULE}.Repo.find"), "ok"));
    assert!(Repo.save().is_err());
    assert_eq!(s.only(), timer(&format!("{MODULE}.Repo.save"), "err"));
    Repo.skipped();
    assert!(s.capture.is_empty());
    Repo.own_attribute();
    assert_eq!(
        s.only(),
        timer("custom.name", "ok"),
        "its own attribute wins, once"
    );
    assert_eq!(Repo::constant(), 3);
    assert!(s.capture.is_empty());
    Repo.greet("x");
    let m = &s.messages()[0];
    assert_eq!(m.kind, "counter");
    assert_eq!(m.payload, "2");
    assert_eq!(m.fields["name"], format!("{MODULE}.Repo.greet").as_str());
}

// ---------- incr options ----------

#[metlog::incr]
fn counted() {}

#[metlog::incr(name = "negative", count = -3, severity = 4, logger = "other", fields(k = "v", n = -1, f = 1.5, b = false))]
fn counted_with_options() {}

#[test]
fn incr_messages() {
    let s = scope();
    counted();
    let m = &s.messages()[0];
    assert_eq!(m.kind, "counter");
    assert_eq!(m.payload, "1");
    assert_eq!(m.fields["name"], default_name("counted").as_str());
    assert_eq!(m.fields["outcome"], "ok");
    s.capture.clear();
    counted_with_options();
    let m = &s.messages()[0];
    assert_eq!(m.payload, "-3");
    assert_eq!(m.severity, metlog::Severity::Warning);
    assert_eq!(m.logger, "other");
    let json = m.to_json_value();
    assert_eq!(
        json["fields"],
        serde_json::json!({"k": "v", "n": -1, "f": 1.5, "b": false, "name": "negative", "rate": 1.0, "outcome": "ok"})
    );
}

#[metlog::incr("both")]
#[metlog::timer("both")]
fn both() {}

#[metlog::timer("both")]
#[metlog::incr("both")]
fn both_the_other_way() {}

/// Stacked, the outer attribute's message goes first: the opposite of
/// metlog-py's stacked decorators, where `@incr_count @timeit` sends the
/// timer (the inner) first. `#[metlog::timer] #[metlog::incr]` gives
/// metlog-py's order for `@incr_count @timeit` (README).
#[test]
fn stacked_attributes_send_the_outer_ones_message_first() {
    let s = scope();
    both();
    let kinds: Vec<String> = s.messages().iter().map(|m| m.kind.to_string()).collect();
    assert_eq!(kinds, ["counter", "timer"]);
    let s = scope();
    both_the_other_way();
    let kinds: Vec<String> = s.messages().iter().map(|m| m.kind.to_string()).collect();
    assert_eq!(kinds, ["timer", "counter"]);
}

// ---------- runtime switches ----------

#[metlog::timer("switchable")]
fn switchable() {}

#[metlog::timer("sampled", rate = 0.25)]
fn sampled() {}

#[test]
fn disabled_timers_and_sampling() {
    let capture = CaptureSender::new();
    let client = Client::builder("t")
        .sender(capture.clone())
        .disabled_timers(["switchable"])
        .build();
    metlog::with_client(&client, || {
        switchable();
        for _ in 0..4_000 {
            sampled();
        }
    });
    let kept = capture.len();
    // Binomial(4000, 0.25): mean 1000, sd 27.
    assert!((850..=1_150).contains(&kept), "kept {kept}");
    assert!(capture.messages().iter().all(|m| m.fields["rate"] == 0.25));
}

#[metlog::timer]
fn timed_add(a: u32, b: u32) -> u32 {
    a + b
}

#[metlog::timer("named.timer")]
fn named_timed() {}

#[metlog::timer(name = "kw.timer")]
fn kw_timed() {}

/// metlog-py's `disabled_timers = timed_add` disables `@timeit` on
/// `timed_add`: a timer without a name of its own is disabled by its bare
/// function name as well as its full one; a named one, by its name only.
#[test]
fn disabled_timers_match_bare_function_names_as_metlog_py() {
    let run = |disabled: &[&str]| {
        let capture = CaptureSender::new();
        let client = Client::builder("t")
            .sender(capture.clone())
            .disabled_timers(disabled.iter().map(|d| d.to_string()))
            .build();
        metlog::with_client(&client, || {
            assert_eq!(timed_add(1, 2), 3);
            named_timed();
            kw_timed();
        });
        let mut names: Vec<String> = capture
            .messages()
            .iter()
            .map(|m| m.fields["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    // The table metlog-py 0.10.0 gave for `@timeit`, `@timeit('named.timer')`
    // and `@timeit(name='kw.timer')`; `timed_add`'s full name is this
    // module's path and its own (`integration.macros.timed_add`).
    let full = default_name("timed_add");
    let sorted = |names: &[&str]| {
        let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(run(&["timed_add"]), sorted(&["kw.timer", "named.timer"]));
    assert_eq!(run(&[&full]), sorted(&["kw.timer", "named.timer"]));
    assert_eq!(
        run(&["named_timed"]),
        sorted(&["kw.timer", &full, "named.timer"])
    );
    assert_eq!(run(&["named.timer"]), sorted(&["kw.timer", &full]));
    assert_eq!(run(&["kw_timed"]), sorted(&[&full, "named.timer"]));
    assert_eq!(run(&["kw.timer"]), sorted(&[&full, "named.timer"]));
    assert_eq!(
        run(&[&default_name("kw_timed")]),
        sorted(&["kw.timer", &full, "named.timer"])
    );
    assert!(run(&["*"]).is_empty());
}

#[test]
fn no_client_means_no_message_and_no_panic() {
    // No scope on this thread and no global client in this test binary.
    switchable();
    assert!(question_mark("x").is_err());
}

#[metlog::timer("to_named", client = "macros-named")]
fn to_named() {}

#[test]
fn named_client_option() {
    to_named(); // not registered yet: nothing, no panic
    let capture = CaptureSender::new();
    metlog::set_client(
        "macros-named",
        Client::builder("named").sender(capture.clone()).build(),
    );
    let s = scope(); // the current client is not used
    to_named();
    assert!(s.capture.is_empty());
    assert_eq!(capture.messages()[0].logger, "named");
}

// ---------- several threads ----------

#[metlog::incr("threaded")]
fn threaded() {}

#[test]
fn exactly_once_from_several_threads() {
    let capture = CaptureSender::new();
    let client = Client::builder("t").sender(capture.clone()).build();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                metlog::with_client(&client, || {
                    for _ in 0..500 {
                        threaded();
                    }
                });
            });
        }
    });
    assert_eq!(capture.len(), 2_000);
}

// ---------- async ----------

#[metlog::timer("async_fn")]
async fn async_fn(x: u32) -> u32 {
    YieldOnce(false).await;
    x + 1
}

#[metlog::timer("async_result")]
async fn async_result(text: &str) -> Result<u32, std::num::ParseIntError> {
    YieldOnce(false).await;
    let n: u32 = text.parse()?;
    if n == 0 {
        return Ok(0);
    }
    Ok(n)
}

#[metlog::timer("async_ref")]
async fn async_ref<'a>(items: &'a [u32], index: usize) -> &'a u32 {
    YieldOnce(false).await;
    &items[index]
}

#[metlog::timer("async_impl")]
async fn async_impl() -> impl std::fmt::Display {
    YieldOnce(false).await;
    "shown"
}

#[metlog::timer("returns_future")]
fn returns_future(x: u32) -> impl Future<Output = u32> {
    let y = x * 2;
    async move {
        YieldOnce(false).await;
        y
    }
}

#[test]
fn async_fns_report_once_on_completion() {
    let s = scope();
    let fut = async_fn(1);
    assert!(s.capture.is_empty(), "nothing before the first poll");
    assert_eq!(block_on(fut), 2);
    assert_eq!(s.only(), timer("async_fn", "ok"));
    assert_eq!(block_on(async_result("4")), Ok(4));
    assert_eq!(s.only(), timer("async_result", "ok"));
    assert!(block_on(async_result("x")).is_err());
    assert_eq!(s.only(), timer("async_result", "err"));
    assert_eq!(block_on(async_result("0")), Ok(0));
    assert_eq!(s.only(), timer("async_result", "ok"));
    let items = [5, 6];
    assert_eq!(*block_on(async_ref(&items, 1)), 6);
    assert_eq!(s.only(), timer("async_ref", "ok"));
    assert_eq!(block_on(async_impl()).to_string(), "shown");
    assert_eq!(s.only(), timer("async_impl", "ok"));
    let fut = returns_future(4);
    assert!(s.capture.is_empty(), "timed inside the returned future");
    assert_eq!(block_on(fut), 8);
    assert_eq!(s.only(), timer("returns_future", "ok"));
}

#[metlog::timer("slow_async")]
async fn slow_async() {
    YieldOnce(false).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
}

/// The wait before the first poll is long, the work short: a timer started
/// when the future was made reports at least the wait, one started at the
/// first poll the work, however much longer a busy machine makes it. (The
/// wait was 50 ms, and the work had to be timed under 50 ms.)
#[tokio::test]
async fn async_timer_covers_first_poll_to_completion() {
    let s = scope();
    let fut = slow_async();
    tokio::time::sleep(Duration::from_secs(2)).await; // not counted: not polled yet
    fut.await;
    let ms: u64 = s.messages()[0].payload.parse().unwrap();
    assert!((30..2_000).contains(&ms), "30 ms of work, reported {ms}");
}

#[test]
fn a_dropped_future_reports_cancelled() {
    let s = scope();
    let mut fut = Box::pin(async_fn(1));
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(s.only(), timer("async_fn", "cancelled"));
    // Dropped before the first poll: the body never ran, nothing to report.
    drop(async_fn(1));
    assert!(s.capture.is_empty());
}

#[metlog::timer("async_panic")]
async fn async_panic() {
    YieldOnce(false).await;
    panic!("async boom");
}

#[test]
fn async_panics_are_reported() {
    let s = scope();
    let result = std::panic::catch_unwind(|| block_on(async_panic()));
    assert!(result.is_err());
    assert_eq!(s.only(), timer("async_panic", "panic"));
}

trait Store {
    async fn load(&self, key: u32) -> Result<u32, String>;
}

struct MemStore;

impl Store for MemStore {
    #[metlog::timer("native_async_trait")]
    async fn load(&self, key: u32) -> Result<u32, String> {
        YieldOnce(false).await;
        if key == 0 {
            return Err("missing".into());
        }
        Ok(key)
    }
}

#[test]
fn async_fn_in_traits() {
    let s = scope();
    assert_eq!(block_on(MemStore.load(3)), Ok(3));
    assert_eq!(s.only(), timer("native_async_trait", "ok"));
    assert!(block_on(MemStore.load(0)).is_err());
    assert_eq!(s.only(), timer("native_async_trait", "err"));
}

#[async_trait::async_trait]
trait Remote {
    async fn fetch(&self, key: u32) -> Result<String, String>;
    async fn ping(&self);
}

struct Api;

#[async_trait::async_trait]
impl Remote for Api {
    // #[async_trait] runs first and turns this into a fn returning
    // `Box::pin(async move { … })`; the timer goes inside that future.
    #[metlog::timer("async_trait_inner")]
    async fn fetch(&self, key: u32) -> Result<String, String> {
        YieldOnce(false).await;
        if key == 0 {
            return Err("none".into());
        }
        Ok(key.to_string())
    }

    #[metlog::incr("async_trait_ping")]
    async fn ping(&self) {}
}

struct Api2;

#[metlog::timer]
#[async_trait::async_trait]
impl Remote for Api2 {
    async fn fetch(&self, key: u32) -> Result<String, String> {
        Ok(key.to_string())
    }
    async fn ping(&self) {}
}

#[test]
fn async_trait_methods_time_the_future_not_its_construction() {
    let s = scope();
    let fut = Api.fetch(7);
    assert!(
        s.capture.is_empty(),
        "constructing the future reports nothing"
    );
    assert_eq!(block_on(fut), Ok("7".into()));
    assert_eq!(s.only(), timer("async_trait_inner", "ok"));
    assert!(block_on(Api.fetch(0)).is_err());
    assert_eq!(s.only(), timer("async_trait_inner", "err"));
    block_on(Api.ping());
    assert_eq!(
        s.only(),
        ("counter".into(), "async_trait_ping".into(), "ok".into())
    );

    let fut = Api2.fetch(1);
    assert!(s.capture.is_empty());
    assert_eq!(block_on(fut), Ok("1".into()));
    assert_eq!(s.only(), timer(&format!("{MODULE}.Api2.fetch"), "ok"));
}

// ---------- other attribute macros around ours ----------

#[tracing::instrument]
#[metlog::timer("under_tracing")]
fn under_tracing(x: u32) -> u32 {
    x
}

#[metlog::timer("over_tracing")]
#[tracing::instrument]
async fn over_tracing(x: u32) -> Result<u32, String> {
    YieldOnce(false).await;
    Ok(x)
}

#[test]
fn works_with_tracing_instrument_either_side() {
    let s = scope();
    assert_eq!(under_tracing(3), 3);
    assert_eq!(s.only(), timer("under_tracing", "ok"));
    assert_eq!(block_on(over_tracing(4)), Ok(4));
    assert_eq!(s.only(), timer("over_tracing", "ok"));
}

#[metlog::incr("tokio_test_below")]
#[tokio::test]
async fn tokio_test_below_ours() {
    // The counter covers the whole test function, reported when it ends.
    YieldOnce(false).await;
}

#[tokio::test]
#[metlog::timer("tokio_test_above")]
async fn tokio_test_above_ours() {
    YieldOnce(false).await;
}

#[metlog::incr("on_runtime")]
async fn on_runtime(i: u32) -> Result<u32, String> {
    tokio::task::yield_now().await;
    if i % 10 == 0 {
        Err("tenth".into())
    } else {
        Ok(i)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_on_a_multi_threaded_runtime() {
    let capture = CaptureSender::new();
    let client = Client::builder("rt").sender(capture.clone()).build();
    let tasks: Vec<_> = (0..200)
        .map(|i| tokio::spawn(on_runtime(i).with_client(&client)))
        .collect();
    for task in tasks {
        let _ = task.await.unwrap();
    }
    let msgs = capture.messages();
    assert_eq!(msgs.len(), 200);
    let errs = msgs.iter().filter(|m| m.fields["outcome"] == "err").count();
    assert_eq!(errs, 20);
}

/// The outcome does not depend on how the return type is spelled: an alias
/// of `Result` reports `err` from a sync function as from an async one.
type Fallible = Result<u32, String>;

#[metlog::incr("alias.sync")]
fn alias_sync(fail: bool) -> Fallible {
    if fail {
        Err("no".into())
    } else {
        Ok(1)
    }
}

#[metlog::incr("alias.async")]
async fn alias_async(fail: bool) -> Fallible {
    if fail {
        Err("no".into())
    } else {
        Ok(1)
    }
}

#[test]
fn a_result_alias_reports_err_sync_and_async() {
    let capture = CaptureSender::new();
    let client = Client::builder("app").sender(capture.clone()).build();
    metlog::with_client(&client, || {
        let _ = alias_sync(true);
        let _ = alias_sync(false);
        let _ = block_on(alias_async(true));
        let _ = block_on(alias_async(false));
    });
    let outcomes: Vec<(String, String)> = capture
        .messages()
        .iter()
        .map(|m| {
            (
                m.fields["name"].as_str().unwrap().to_owned(),
                m.fields["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("alias.sync", "err"),
        ("alias.sync", "ok"),
        ("alias.async", "err"),
        ("alias.async", "ok"),
    ];
    assert_eq!(
        outcomes,
        expected.map(|(n, o)| (n.to_owned(), o.to_owned())).to_vec()
    );
}

/// A function returning one of two boxed futures, one by an early
/// `return`: whichever it returns is timed from its first poll to
/// completion, as an `async fn` is, and an `Err` output is seen.
#[metlog::timer("boxed.early")]
fn boxed_early(
    early: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, String>> + Send>> {
    if early {
        return Box::pin(async {
            YieldOnce(false).await;
            std::thread::sleep(std::time::Duration::from_millis(30));
            Err("early".to_owned())
        });
    }
    Box::pin(async { Ok(2) })
}

/// The `futures` crate's alias, with a borrow.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[metlog::incr("boxed.alias")]
fn boxed_alias(text: &str, early: bool) -> BoxFuture<'_, usize> {
    if early {
        return Box::pin(async move { text.len() });
    }
    Box::pin(async move { text.len() * 2 })
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn a_boxed_future_returned_early_is_timed_when_it_runs() {
    let capture = CaptureSender::new();
    let client = Client::builder("app").sender(capture.clone()).build();
    metlog::with_client(&client, || {
        let early = assert_send(boxed_early(true));
        let late = boxed_early(false);
        assert!(capture.is_empty(), "nothing before the first poll");
        assert_eq!(block_on(early), Err("early".to_owned()));
        assert_eq!(block_on(late), Ok(2));
        let never_polled = boxed_early(true);
        drop(never_polled);
        let mut cancelled = boxed_early(true);
        assert!(poll_once(cancelled.as_mut()).is_pending());
        drop(cancelled);
        assert_eq!(block_on(boxed_alias("abc", true)), 3);
        assert_eq!(block_on(boxed_alias("abc", false)), 6);
    });
    let messages = capture.messages();
    let seen: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m.fields["name"].as_str().unwrap(),
                m.fields["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("boxed.early", "err"),
            ("boxed.early", "ok"),
            ("boxed.early", "cancelled"),
            ("boxed.alias", "ok"),
            ("boxed.alias", "ok"),
        ]
    );
    let millis: f64 = messages[0].payload.parse().unwrap();
    assert!(millis >= 30.0, "timed while it ran: {millis} ms");
}

/// `#[track_caller]` keeps working: `Location::caller()` inside the
/// annotated function is its caller's line, not the function's own.
#[metlog::incr("tracked")]
#[track_caller]
fn tracked() -> Result<u32, String> {
    Ok(std::panic::Location::caller().line())
}

#[test]
fn track_caller_reports_the_callers_location() {
    let line = line!() + 1;
    let reported = tracked().unwrap();
    assert_eq!(reported, line);
}
