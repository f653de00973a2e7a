//! Sample-rate decisions, made before any other work on the caller's thread.
//!
//! A tiny per-thread wyrand generator in a `const`-initialised thread-local:
//! no lock, no shared state, no lazy-initialisation check on the hot path
//! beyond one compare. Sampling needs speed and independence between
//! threads, not cryptographic quality.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// Whether a call with sample `rate` should be skipped.
///
/// metlog-py's rule: with `rate < 1`, skip when a uniform draw in `[0, 1)` is
/// `>= rate`; so `rate <= 0` always skips and `rate >= 1` (or NaN) never does.
#[inline(always)]
pub(crate) fn sampled_out(rate: f64) -> bool {
    // Compared as integers: for the macros' constant rates the threshold
    // folds at compile time, leaving one generator step and a compare.
    rate < 1.0 && next_u64() >= threshold(rate)
}

/// `rate` scaled to the generator's range: a draw below it is kept.
#[inline(always)]
fn threshold(rate: f64) -> u64 {
    // `as` saturates: rates <= 0 (and below) give 0, so every draw skips.
    (rate * 18_446_744_073_709_551_616.0) as u64
}

/// A uniform draw in `[0, 1)` with 53 random bits.
#[cfg(test)]
fn draw_unit() -> f64 {
    (next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[inline(always)]
fn next_u64() -> u64 {
    STATE
        .try_with(|state| {
            let mut s = state.get();
            if s == 0 {
                s = seed();
            }
            // wyrand
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            state.set(s);
            let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
            (t as u64) ^ ((t >> 64) as u64)
        })
        // The thread-local is gone only while the thread exits: keep the call.
        .unwrap_or(0)
}

/// A different seed per thread (std's per-process random keys, the thread
/// id, the process id and the time), never 0.
#[cold]
fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    hasher.write_u64(now);
    hasher.write_u32(std::process::id());
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    hasher.finish() | 1
}

/// In the child of a fork, on the thread that forked (the only one there):
/// its generator would go on exactly as the parent's, and every child of a
/// parent would keep and skip the same calls. The next draw seeds anew.
/// Async-signal-safe: one store to a `const` thread-local.
pub(crate) fn reseed_after_fork() {
    let _ = STATE.try_with(|state| state.set(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_enough() {
        let n = 100_000;
        let mut buckets = [0u32; 10];
        for _ in 0..n {
            let x = draw_unit();
            assert!((0.0..1.0).contains(&x));
            buckets[(x * 10.0) as usize] += 1;
        }
        // Each bucket expects 10,000 (sd ~95).
        assert!(
            buckets.iter().all(|&b| (9_500..10_500).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn threads_get_different_streams() {
        let a = std::thread::spawn(next_u64).join().unwrap();
        let b = std::thread::spawn(next_u64).join().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn edges_follow_metlog_py() {
        assert!(!sampled_out(1.0));
        assert!(!sampled_out(f64::NAN));
        assert!(!sampled_out(2.0));
        assert!((0..1000).all(|_| sampled_out(0.0)));
        assert!((0..1000).all(|_| sampled_out(-1.0)));
    }
}
