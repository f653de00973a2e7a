//! Local time, as C's `localtime_r` gives it (the one place the crate asks
//! the system for the local zone: metlog-cef's CEF lines carry local time).
#![allow(unsafe_code)]

use std::time::SystemTime;

/// `%b %d %H:%M:%S` in local time, as metlog-cef's `time.strftime` (with
/// the C locale's month names).
pub(crate) fn cef_date(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (month, day, hour, minute, second) = local_parts(time);
    format!(
        "{} {day:02} {hour:02}:{minute:02}:{second:02}",
        MONTHS[month as usize % 12]
    )
}

/// Whole seconds since the epoch, rounded down (before 1970 too), saturated.
fn unix_secs(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = -i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            whole.saturating_sub(i64::from(before.subsec_nanos() > 0))
        }
    }
}

#[cfg(unix)]
unsafe extern "C" {
    /// POSIX: sets the local zone from `TZ` (not in the `libc` crate).
    fn tzset();
}

/// (month 0–11, day, hour, minute, second) of `time` in the local zone.
#[cfg(unix)]
fn local_parts(time: SystemTime) -> (u32, u32, u32, u32, u32) {
    let secs = unix_secs(time);
    // A 32-bit `time_t` cannot hold every instant.
    #[allow(irrefutable_let_patterns)]
    let Ok(t) = libc::time_t::try_from(secs) else {
        return utc_parts(secs);
    };
    // SAFETY: tzset takes no arguments (it rereads TZ, as Python's
    // strftime does, so a zone changed at run time is followed); `tm` is
    // plain data that localtime_r fills in, both pointers valid for the
    // call, and localtime_r is thread-safe.
    unsafe { tzset() };
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return utc_parts(secs);
    }
    let part = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    (
        part(tm.tm_mon),
        part(tm.tm_mday),
        part(tm.tm_hour),
        part(tm.tm_min),
        part(tm.tm_sec),
    )
}

#[cfg(not(unix))]
fn local_parts(time: SystemTime) -> (u32, u32, u32, u32, u32) {
    utc_parts(unix_secs(time))
}

fn utc_parts(secs: i64) -> (u32, u32, u32, u32, u32) {
    let (_, month, day) = crate::timestamp::civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400) as u32;
    (month - 1, day, of_day / 3600, of_day / 60 % 60, of_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_parts_of_known_instants() {
        // 2013-01-18T19:58:24Z, and the last second of 1969.
        assert_eq!(utc_parts(1_358_539_104), (0, 18, 19, 58, 24));
        assert_eq!(utc_parts(-1), (11, 31, 23, 59, 59));
    }

    #[test]
    fn seconds_before_1970_round_down_and_extremes_do_not_panic() {
        let before = |d: Duration| unix_secs(SystemTime::UNIX_EPOCH - d);
        assert_eq!(before(Duration::from_secs(1)), -1);
        assert_eq!(before(Duration::from_millis(500)), -1);
        assert_eq!(before(Duration::from_secs(86_400)), -86_400);
        assert_eq!(utc_parts(-86_400), (11, 31, 0, 0, 0));
        for extreme in [
            Duration::from_secs(1 << 62),
            Duration::from_secs(i64::MAX as u64),
        ] {
            if let Some(time) = SystemTime::UNIX_EPOCH.checked_sub(extreme) {
                let _ = cef_date(time);
            }
            if let Some(time) = SystemTime::UNIX_EPOCH.checked_add(extreme) {
                let _ = cef_date(time);
            }
        }
    }
}
