//! Annotated code compiles without a single warning under strict lints: the
//! generated code must not trip the user's lint settings. `cargo test`
//! checks rustc's lints (a warning fails the build under `deny(warnings)`),
//! `cargo clippy --all-targets` in CI checks `clippy::pedantic`.
//!
//! `one_liners` keeps every body shape on one line as written (rustfmt
//! would spread them over three, where rustc's `unused_braces` lint does
//! not look): a one-line body nested in the generated one drew that warning
//! at the user's line before the macros marked its braces as generated.
#![deny(warnings, unused_qualifications, clippy::pedantic)]
#![deny(missing_docs, rust_2018_idioms, unused_results)]

use std::fmt::Display;

use crate::support;

/// Sync, no result.
#[metlog::timer]
pub fn plain(x: u32) -> u32 {
    x + 1
}

/// Sync, result.
///
/// # Errors
/// When `x` is zero.
#[metlog::incr(name = "hygiene.result", count = 2, rate = 0.5)]
pub fn result(x: u32) -> Result<u32, String> {
    if x == 0 {
        return Err("zero".to_owned());
    }
    Ok(x)
}

/// Async with `?`.
///
/// # Errors
/// When the text is not a number.
#[metlog::timer(severity = metlog::Severity::Notice, fields(kind = "async"))]
pub async fn async_result(text: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = text.parse()?;
    Ok(n)
}

/// Async returning `impl Trait`.
#[metlog::timer]
pub async fn async_impl() -> impl Display {
    "x"
}

/// A type with instrumented methods.
#[derive(Debug, Default)]
pub struct Service {
    calls: u64,
}

#[metlog::timer]
impl Service {
    /// By reference.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// By mutable reference.
    pub fn bump(&mut self) -> &mut u64 {
        self.calls += 1;
        &mut self.calls
    }

    /// Skipped.
    #[metlog::skip]
    pub fn skipped(&self) {}
}

/// Every body shape, on one line, through both macros: free functions,
/// inherent and trait methods, sync and async.
#[rustfmt::skip]
#[allow(clippy::unused_async)] // async bodies without an await are the point
pub mod one_liners {
    use std::fmt::Display;

    /// `{ x + 1 }`
    #[metlog::timer] #[must_use] pub fn add(x: u32) -> u32 { x + 1 }
    /// `{ 42 }`
    #[metlog::incr] #[must_use] pub fn answer() -> u32 { 42 }
    /// `{ true }`
    #[metlog::timer] #[must_use] pub fn yes() -> bool { true }
    /// `{ "n" }`
    #[metlog::incr] #[must_use] pub fn name() -> &'static str { "n" }
    /// `{ x }`
    #[metlog::timer] #[must_use] pub fn same(x: u64) -> u64 { x }
    /// `{ }`
    #[metlog::incr] pub fn nothing() { }
    /// `{ () }`
    #[metlog::timer] pub fn unit() { () }
    /// `{ if … }`
    #[metlog::timer] #[must_use] pub fn branch(x: bool) -> u8 { if x { 1 } else { 2 } }
    /// `{ match … }`
    #[metlog::incr] #[must_use] pub fn choose(x: Option<u8>) -> u8 { match x { Some(n) => n + 1, None => 0 } }
    /// `{ return … }`
    #[metlog::timer] #[must_use] pub fn early() -> u8 { return 7; }
    /// `{ Some(…) }`
    #[metlog::incr] #[must_use] pub fn some() -> Option<u8> { Some(1) }
    /// `{ Ok(…) }`
    ///
    /// # Errors
    /// Never.
    #[metlog::timer] pub fn ok() -> Result<u8, String> { Ok(1) }
    /// `{ Err(…) }`
    ///
    /// # Errors
    /// Always.
    #[metlog::incr] pub fn err() -> Result<u8, String> { Err(String::new()) }
    /// `{ "x" }` as `impl Display`
    #[metlog::timer] #[must_use] pub fn shown() -> impl Display { "x" }
    /// `{ x.len() }` with a generic
    #[metlog::incr] #[must_use] pub fn len<T: AsRef<str>>(x: T) -> usize { x.as_ref().len() }
    /// `{ 42 }`, async
    #[metlog::timer] pub async fn answer_async() -> u32 { 42 }
    /// `{ x + 1 }`, async
    #[metlog::incr] pub async fn add_async(x: u32) -> u32 { x + 1 }
    /// `{ }`, async
    #[metlog::timer] pub async fn nothing_async() { }
    /// `{ Ok(…) }`, async
    ///
    /// # Errors
    /// Never.
    #[metlog::incr] pub async fn ok_async() -> Result<u8, String> { Ok(1) }
    /// `{ async { 1 } }`: a future built by a plain fn
    #[metlog::timer] pub fn future() -> impl std::future::Future<Output = u8> { async { 1 } }

    /// Methods, the whole impl annotated.
    #[derive(Debug, Default)]
    pub struct Counter(pub u32);

    #[metlog::timer]
    impl Counter {
        /// `{ self.0 }`
        #[must_use] pub fn get(&self) -> u32 { self.0 }
        /// `{ Self(0) }`
        #[must_use] pub fn zero() -> Self { Self(0) }
        /// `{ self.0 += 1 }`
        pub fn bump(&mut self) { self.0 += 1 }
        /// `{ self.0 }`, async
        pub async fn get_async(&self) -> u32 { self.0 }
    }

    /// A trait, implemented with annotated one-liners.
    pub trait Source {
        /// One value.
        fn value(&self) -> u32;
        /// Always true.
        fn ready(&self) -> bool;
    }

    impl Source for Counter {
        #[metlog::incr] fn value(&self) -> u32 { self.0 }
        #[metlog::timer] fn ready(&self) -> bool { true }
    }

    /// The same, the whole trait impl annotated.
    #[derive(Debug)]
    pub struct Fixed;

    #[metlog::incr]
    impl Source for Fixed {
        fn value(&self) -> u32 { 3 }
        fn ready(&self) -> bool { false }
    }
}

#[test]
fn one_line_bodies_run_as_written() {
    use one_liners::{Counter, Fixed, Source};
    let capture = metlog::sender::CaptureSender::new();
    let client = metlog::Client::builder("hygiene")
        .sender(capture.clone())
        .build();
    let _scope = metlog::set_default(&client);
    assert_eq!(one_liners::add(1), 2);
    assert_eq!(one_liners::answer(), 42);
    assert!(one_liners::yes());
    assert_eq!(one_liners::name(), "n");
    assert_eq!(one_liners::same(9), 9);
    one_liners::nothing();
    one_liners::unit();
    assert_eq!(one_liners::branch(false), 2);
    assert_eq!(one_liners::choose(Some(5)), 6);
    assert_eq!(one_liners::early(), 7);
    assert_eq!(one_liners::some(), Some(1));
    assert_eq!(one_liners::ok(), Ok(1));
    assert!(one_liners::err().is_err());
    assert_eq!(one_liners::shown().to_string(), "x");
    assert_eq!(one_liners::len("abc"), 3);
    assert_eq!(support::block_on(one_liners::answer_async()), 42);
    assert_eq!(support::block_on(one_liners::add_async(1)), 2);
    support::block_on(one_liners::nothing_async());
    assert_eq!(support::block_on(one_liners::ok_async()), Ok(1));
    assert_eq!(support::block_on(one_liners::future()), 1);
    let mut counter = Counter::zero();
    counter.bump();
    assert_eq!(counter.get(), 1);
    assert_eq!(support::block_on(counter.get_async()), 1);
    assert_eq!(counter.value(), 1);
    assert!(counter.ready());
    assert_eq!(Fixed.value(), 3);
    assert!(!Fixed.ready());
    // One message per call: 20 functions, 4 methods, 4 trait methods.
    assert_eq!(capture.len(), 28);
}

#[test]
fn strict_lints_accept_the_generated_code() {
    let mut service = Service::default();
    *service.bump() += 1;
    assert_eq!(service.calls(), 2);
    service.skipped();
    assert_eq!(plain(1), 2);
    assert!(result(0).is_err());
}
