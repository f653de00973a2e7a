//! Wall-clock timestamps from monotonic readings, so a timer reads the
//! clock twice (start, end) rather than three times.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

/// How long a per-thread anchor is trusted before the wall clock is read
/// again (so clock adjustments show up within a second).
const ANCHOR_LIFE: Duration = Duration::from_secs(1);

thread_local! {
    static ANCHOR: Cell<Option<(SystemTime, Instant)>> = const { Cell::new(None) };
}

/// The wall-clock time of `instant` (just read by the caller): derived from
/// this thread's anchor when it is fresh, else from a new wall-clock
/// reading, which becomes the anchor.
#[inline]
pub(crate) fn system_time_at(instant: Instant) -> SystemTime {
    ANCHOR
        .try_with(|anchor| match anchor.get() {
            // One subtraction: std's `Instant`/`SystemTime` arithmetic is
            // checked and not cheap on the timer's hot path.
            Some((wall, mono)) => match instant.checked_duration_since(mono) {
                Some(since) if since < ANCHOR_LIFE => wall + since,
                _ => {
                    let wall = SystemTime::now();
                    anchor.set(Some((wall, instant)));
                    wall
                }
            },
            None => {
                let wall = SystemTime::now();
                anchor.set(Some((wall, instant)));
                wall
            }
        })
        .unwrap_or_else(|_| SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_times_track_the_wall_clock() {
        for _ in 0..3 {
            let derived = system_time_at(Instant::now());
            let wall = SystemTime::now();
            let diff = wall
                .duration_since(derived)
                .unwrap_or_else(|e| e.duration());
            assert!(diff < Duration::from_millis(50), "{diff:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
