//! Sample-rate decisions, made before any other work on the caller's thread.

/// Whether a call with sample `rate` should be skipped.
///
/// metlog-py's rule: with `rate < 1`, skip when a uniform draw in `[0, 1)` is
/// `>= rate`; so `rate <= 0` always skips and `rate >= 1` (or NaN) never does.
/// The draw uses `fastrand`'s thread-local generator: no lock, no shared state.
#[inline]
pub(crate) fn sampled_out(rate: f64) -> bool {
    rate < 1.0 && fastrand::f64() >= rate
}
