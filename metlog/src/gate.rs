//! One word that tells an instrumented call, with a single load, whether it
//! can have anything to do: which decorators are switched off, whether a
//! global client is set, how many thread-local scopes are live.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `#[metlog::timer]` switched off process-wide.
pub(crate) const TIMER_OFF: usize = 1;
/// `#[metlog::incr]` switched off process-wide.
pub(crate) const INCR_OFF: usize = 2;
/// A global client is set.
pub(crate) const GLOBAL_SET: usize = 4;
/// One live thread-local scope (the count starts at this bit).
pub(crate) const SCOPE_ONE: usize = 8;
/// The bits that say a client may be current.
pub(crate) const ANY_CLIENT: usize = !(TIMER_OFF | INCR_OFF);

static GATE: AtomicUsize = AtomicUsize::new(0);

#[inline(always)]
pub(crate) fn load() -> usize {
    GATE.load(Ordering::Relaxed)
}

pub(crate) fn set(bits: usize) {
    GATE.fetch_or(bits, Ordering::SeqCst);
}

pub(crate) fn clear(bits: usize) {
    GATE.fetch_and(!bits, Ordering::SeqCst);
}

/// Replaces the decorator bits, keeping the rest.
pub(crate) fn set_decorators(bits: usize) {
    let _ = GATE.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |g| {
        Some(g & !(TIMER_OFF | INCR_OFF) | bits)
    });
}

pub(crate) fn scope_entered() {
    GATE.fetch_add(SCOPE_ONE, Ordering::SeqCst);
}

pub(crate) fn scope_left() {
    GATE.fetch_sub(SCOPE_ONE, Ordering::SeqCst);
}
