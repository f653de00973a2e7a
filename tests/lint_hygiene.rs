//! Annotated code compiles without a single warning under strict lints: the
//! generated code must not trip the user's lint settings.
#![deny(warnings, unused_qualifications, clippy::pedantic)]
#![deny(missing_docs, rust_2018_idioms, unused_results)]

use std::fmt::Display;

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

#[test]
fn strict_lints_accept_the_generated_code() {
    let mut service = Service::default();
    *service.bump() += 1;
    assert_eq!(service.calls(), 2);
    service.skipped();
    assert_eq!(plain(1), 2);
    assert!(result(0).is_err());
}
