//! What a thread's panics leave for `#[metlog::capture_stack]`: the panic
//! hook keeps each panic's stack; the attribute finds among them the one it
//! caught, and remembers what it reported.

use std::cell::RefCell;
use std::panic::Location;

use super::CallSite;

thread_local! {
    /// What this thread's panics left for `#[metlog::capture_stack]`.
    static PANICS: RefCell<ThreadPanics> = const {
        RefCell::new(ThreadPanics { kept: Vec::new(), plugin_reported: Vec::new(), resumed: Vec::new() })
    };
}

/// How many panics a thread keeps for `#[metlog::capture_stack]`.
const KEPT_PANICS: usize = 8;

struct ThreadPanics {
    /// The latest panics, as the hook saw them (the newest last): more
    /// than the last one, as a `Drop` may catch a panic of its own while
    /// the thread unwinds from another. `seen` is taken once reported.
    kept: Vec<(PanicKey, Option<SeenPanic>)>,
    /// The latest panics the panics plugin reported to Sentry.
    plugin_reported: Vec<PanicKey>,
    /// The payloads annotated calls reported and resumed (the newest
    /// last, at most [`MAX_RESUMED`]), by key and box: the calls they
    /// unwind through next catch the same box.
    resumed: Vec<(u64, usize)>,
}

/// How many resumed payloads a thread remembers (`Drop`s may report many
/// while one unwinds).
const MAX_RESUMED: usize = 256;

/// What tells a panic from another: its message, and where the text lives.
/// A formatted message's `String` moves from the hook to the unwinding
/// payload, buffer and all, so such a panic is told apart exactly; two
/// panics with the same fixed text (`unwrap()` on `None`) are not.
#[derive(PartialEq, Hash)]
struct PanicKey {
    message: String,
    text_at: usize,
}

impl PanicKey {
    /// A digest, for remembering many.
    fn id(&self) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(self)
    }

    fn of(payload: &(dyn std::any::Any + Send)) -> PanicKey {
        let text_at = if let Some(text) = payload.downcast_ref::<String>() {
            text.as_ptr() as usize
        } else if let Some(text) = payload.downcast_ref::<&'static str>() {
            text.as_ptr() as usize
        } else {
            0
        };
        PanicKey {
            message: crate::client::panic_message(payload).to_owned(),
            text_at,
        }
    }
}

/// Adds `item` to a list of at most `limit`, the oldest forgotten.
fn push_bounded<T>(list: &mut Vec<T>, item: T, limit: usize) {
    if list.len() == limit {
        list.remove(0);
    }
    list.push(item);
}

/// A panic, as the hook saw it: its message, where, and the stack then.
pub(crate) struct SeenPanic {
    pub(super) message: String,
    pub(super) site: CallSite,
    pub(super) trace: backtrace::Backtrace,
}

impl SeenPanic {
    /// Reads a panic in a panic hook (the stack unresolved: resolving it
    /// waits for the report).
    pub(crate) fn new(info: &std::panic::PanicHookInfo<'_>) -> SeenPanic {
        let message = crate::client::panic_message(info.payload()).to_owned();
        let site = match info.location() {
            Some(location) => CallSite::caller(location),
            None => CallSite::caller(Location::caller()),
        };
        SeenPanic {
            message,
            site,
            trace: crate::process::walking_stack(backtrace::Backtrace::new_unresolved),
        }
    }
}

/// Installs, once, the panic hook that keeps each panic of a thread for
/// `#[metlog::capture_stack]` (chaining to the hook installed before).
pub(crate) fn keep_panics() {
    // Not a `Once`: a thread finding it under way goes on rather than
    // waiting (a fork's child would copy a `Once` running for ever).
    static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !INSTALLED.swap(true, std::sync::atomic::Ordering::AcqRel) {
        // Under the lock forks wait for: a fork while std's hook lock is
        // held for writing would leave the child's every panic waiting.
        crate::process::walking_stack(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let kept = (PanicKey::of(info.payload()), Some(SeenPanic::new(info)));
                let _ = PANICS.try_with(|panics| {
                    push_bounded(&mut panics.borrow_mut().kept, kept, KEPT_PANICS);
                });
                previous(info);
            }));
        });
    }
}

/// The panics plugin reported this panic (in its hook, on the panicking
/// thread): `#[metlog::capture_stack]` leaves it be.
pub(crate) fn reported_by_plugin(info: &std::panic::PanicHookInfo<'_>) {
    let key = PanicKey::of(info.payload());
    let _ = PANICS.try_with(|panics| {
        push_bounded(&mut panics.borrow_mut().plugin_reported, key, KEPT_PANICS);
    });
}

/// Forgets this thread's panics: an annotated call starting (not while
/// unwinding) is past them.
pub(crate) fn forget_panics() {
    let _ = PANICS.try_with(|panics| {
        let mut panics = panics.borrow_mut();
        panics.kept.clear();
        panics.plugin_reported.clear();
        // A box may be reused by a new panic of the same fixed text.
        panics.resumed.clear();
    });
}

/// The panic `#[metlog::capture_stack]` caught (`payload`), unless it is
/// reported already (by the panics plugin, or an annotated call it unwound
/// from): the newest unreported one the hook saw like it, else (another
/// hook replaced metlog's) the panic as seen from `site`. Marked reported.
pub(crate) fn claim_panic(
    payload: &(dyn std::any::Any + Send),
    site: CallSite,
) -> Option<SeenPanic> {
    let key = PanicKey::of(payload);
    let resumed = (key.id(), address_of(payload));
    let found = PANICS.try_with(|panics| {
        let mut panics = panics.borrow_mut();
        if panics.plugin_reported.contains(&key) {
            return Some(None);
        }
        let reported =
            panics.kept.iter().any(|(k, _)| *k == key) || panics.resumed.contains(&resumed);
        let unreported = panics
            .kept
            .iter_mut()
            .rev()
            .find(|(k, seen)| *k == key && seen.is_some());
        match unreported {
            // Unreported: a new panic, also in a box a reported one left.
            Some((_, seen)) => Some(seen.take()),
            None if reported => Some(None),
            None => None,
        }
    });
    if let Ok(Some(seen)) = found {
        return seen;
    }
    Some(SeenPanic {
        message: key.message,
        site,
        trace: crate::process::walking_stack(backtrace::Backtrace::new_unresolved),
    })
}

/// An annotated call reported `payload` and resumes it.
pub(crate) fn resumed(payload: &(dyn std::any::Any + Send)) {
    let resumed = (PanicKey::of(payload).id(), address_of(payload));
    let _ = PANICS.try_with(|panics| {
        push_bounded(&mut panics.borrow_mut().resumed, resumed, MAX_RESUMED);
    });
}

/// Where a payload's box is: the same box unwinds on when resumed.
fn address_of(payload: &(dyn std::any::Any + Send)) -> usize {
    std::ptr::from_ref(payload).cast::<()>() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> CallSite {
        CallSite::caller(Location::caller())
    }

    /// A payload an annotated call reported and resumed is known by its box
    /// and text; a new panic whose box takes the old one's place is not it
    /// (attack: taken for it by the box alone, and lost).
    #[test]
    fn a_new_panic_in_a_reported_ones_box_is_reported() {
        let mut payload: Box<dyn std::any::Any + Send> = Box::new(String::from("first 1"));
        resumed(&*payload);
        assert!(
            claim_panic(&*payload, site()).is_none(),
            "the same panic, resumed"
        );
        *payload.downcast_mut::<String>().unwrap() = String::from("second 2");
        let claimed = claim_panic(&*payload, site()).expect("a new panic");
        assert_eq!(claimed.message, "second 2");
    }
}
