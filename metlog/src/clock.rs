//! The caller's clock: moments read from the CPU's time-stamp counter
//! (`quanta`, about 12 ns where the system's clock call takes about 30),
//! turned into wall-clock time through a per-thread anchor that a real
//! wall-clock reading renews every [`ANCHOR_LIFE`]. A timer reads the
//! counter twice (start, end) and the wall clock not at all, a counter once.
//! Where no usable counter exists, quanta reads the system's monotonic
//! clock instead. A step of the wall clock (set by hand or by NTP) shows in
//! a thread's timestamps at its anchor's next renewal, within 2 ms.

use std::cell::Cell;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a per-thread anchor is trusted before the wall clock is read
/// again, in nanoseconds: short enough that the counter's drift against the
/// wall clock stays under a microsecond (15 ppm measured here; 500 ppm, the
/// most NTP slews a clock, gives 1 us), long enough that a thread calling
/// every millisecond or more often reads the wall clock once per call or less.
const ANCHOR_LIFE: u64 = 2_000_000;

static CLOCK: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);

/// A moment read from the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tick(u64);

/// Calibrates the counter now (under a millisecond, once per process)
/// rather than in the first call that reads it.
pub(crate) fn calibrate() {
    LazyLock::force(&CLOCK);
}

/// Now.
#[inline]
pub(crate) fn tick() -> Tick {
    Tick(CLOCK.raw())
}

/// The time from `start` to `end` (zero if `end` is earlier).
#[inline]
pub(crate) fn elapsed(start: Tick, end: Tick) -> Duration {
    Duration::from_nanos(CLOCK.delta_as_nanos(start.0, end.0))
}

#[cfg(test)]
thread_local! {
    /// Wall-clock readings this thread made for its anchor.
    static RENEWALS: Cell<u64> = const { Cell::new(0) };
}

thread_local! {
    /// A moment and the wall-clock time then (0: none yet).
    static ANCHOR: Cell<(u64, SystemTime)> = const { Cell::new((0, UNIX_EPOCH)) };
}

/// The wall-clock time of `at` (a moment just read on this thread).
#[inline]
pub(crate) fn wall(at: Tick) -> SystemTime {
    ANCHOR
        .try_with(|anchor| {
            let (then, wall) = anchor.get();
            if then != 0 && at.0 >= then {
                let since = CLOCK.delta_as_nanos(then, at.0);
                if since < ANCHOR_LIFE {
                    return wall + Duration::from_nanos(since);
                }
            }
            renew(anchor, at)
        })
        .unwrap_or_else(|_| SystemTime::now())
}

/// Reads the wall clock between two counter readings and anchors the
/// counter's midpoint to it, so either reading's delay cancels out; returns
/// the wall-clock time of `at`.
#[cold]
fn renew(anchor: &Cell<(u64, SystemTime)>, at: Tick) -> SystemTime {
    #[cfg(test)]
    RENEWALS.with(|n| n.set(n.get() + 1));
    // A reading the thread was preempted in the middle of misplaces the
    // anchor by half the pause, for the anchor's whole life: one wider than
    // 2 us (a read takes tens of nanoseconds; 1 us off is the timestamp's
    // resolution) is read again, and the narrowest of three kept.
    let (mut then, mut wall, mut width) = (0, UNIX_EPOCH, u64::MAX);
    for _ in 0..3 {
        let before = CLOCK.raw();
        #[cfg(test)]
        tests::pause_if_asked();
        let read = SystemTime::now();
        let after = CLOCK.raw();
        if after.saturating_sub(before) < width {
            width = after.saturating_sub(before);
            (then, wall) = (before + width / 2, read);
        }
        if CLOCK.delta_as_nanos(before, after) < 2_000 {
            break;
        }
    }
    anchor.set((then, wall));
    if at.0 >= then {
        wall + Duration::from_nanos(CLOCK.delta_as_nanos(then, at.0))
    } else {
        wall - Duration::from_nanos(CLOCK.delta_as_nanos(at.0, then))
    }
}

/// The wall-clock time now.
#[inline]
pub(crate) fn now() -> SystemTime {
    wall(tick())
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Readings of the wall clock still to be paused in the middle of.
        static PAUSES: Cell<u32> = const { Cell::new(0) };
    }

    /// Stands for the thread being preempted between the counter's and the
    /// wall clock's readings.
    pub(super) fn pause_if_asked() {
        if PAUSES.with(|pauses| pauses.replace(pauses.get().saturating_sub(1))) > 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// An anchor whose reading was interrupted is read again: its first
    /// reading paused for 2 ms, the times derived stay within microseconds.
    #[test]
    fn an_interrupted_anchor_reading_is_read_again() {
        ANCHOR.with(|anchor| anchor.set((0, UNIX_EPOCH)));
        PAUSES.with(|pauses| pauses.set(1));
        let before = SystemTime::now();
        let derived = now();
        let after = SystemTime::now();
        let slack = Duration::from_micros(5);
        assert!(derived + slack >= before, "{derived:?} before {before:?}");
        assert!(derived <= after + slack, "{derived:?} after {after:?}");
        // Derived from that anchor (a misplaced one would put them half
        // the pause late).
        let before = SystemTime::now();
        let derived = now();
        let after = SystemTime::now();
        assert!(derived + slack >= before, "{derived:?} before {before:?}");
        assert!(derived <= after + slack, "{derived:?} after {after:?}");
    }

    /// Derived times stay within a few microseconds of the wall clock read
    /// around them (the JSON timestamp's own resolution is a microsecond).
    #[test]
    fn derived_times_track_the_wall_clock() {
        let slack = Duration::from_micros(5);
        for _ in 0..2_000 {
            let before = SystemTime::now();
            let derived = now();
            let after = SystemTime::now();
            assert!(derived + slack >= before, "{derived:?} before {before:?}");
            assert!(derived <= after + slack, "{derived:?} after {after:?}");
        }
    }

    /// A timestamp is derived from the anchor, not read from the wall
    /// clock each time: over a burst of calls, this thread reads the wall
    /// clock at most once per anchor's life (and once to begin).
    #[test]
    fn timestamps_come_from_the_anchor_not_a_wall_clock_read_each() {
        let started = std::time::Instant::now();
        let before = RENEWALS.with(Cell::get);
        for _ in 0..10_000 {
            std::hint::black_box(now());
        }
        let reads = RENEWALS.with(Cell::get) - before;
        let lives = started.elapsed().as_nanos() as u64 / ANCHOR_LIFE;
        assert!(
            reads <= lives + 2,
            "{reads} wall-clock reads in {lives} anchor lives"
        );
    }

    #[test]
    fn elapsed_is_the_monotonic_time_between() {
        let start = tick();
        std::thread::sleep(Duration::from_millis(5));
        let spent = elapsed(start, tick());
        assert!(spent >= Duration::from_millis(4), "{spent:?}");
        assert_eq!(elapsed(tick(), start), Duration::ZERO);
    }
}
