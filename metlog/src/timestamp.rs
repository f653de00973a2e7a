//! RFC 3339 timestamps as metlog writes them: UTC, microseconds, `Z`.
//!
//! Hand-written rather than pulled from a date crate: the envelope needs one
//! fixed format, and formatting it into a stack buffer keeps encoding free of
//! allocation.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const LEN: usize = 27;

/// A [`SystemTime`] that displays as `2026-11-25T05:27:11.123456Z`.
///
/// Times before 1970 and after 9999 are clamped into that range, so the output
/// is always a valid RFC 3339 timestamp of the same length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rfc3339(pub(crate) SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buf = format_micros(self.0);
        // The buffer holds only ASCII digits and punctuation.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

/// Seconds from 1970-01-01 to 9999-12-31T23:59:59.
const MAX_SECS: u64 = 253_402_300_799;

pub(crate) fn format_micros(time: SystemTime) -> [u8; LEN] {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let since_epoch = since_epoch.min(Duration::new(MAX_SECS, 999_999_999));
    let (secs, micros) = (since_epoch.as_secs(), since_epoch.subsec_micros());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);

    let mut out = *b"0000-00-00T00:00:00.000000Z";
    put(&mut out[0..4], year as u64);
    put(&mut out[5..7], u64::from(month));
    put(&mut out[8..10], u64::from(day));
    put(&mut out[11..13], rem / 3600);
    put(&mut out[14..16], rem % 3600 / 60);
    put(&mut out[17..19], rem % 60);
    put(&mut out[20..26], u64::from(micros));
    out
}

/// Writes `n` as zero-padded decimal filling `dst`.
fn put(dst: &mut [u8], mut n: u64) {
    for byte in dst.iter_mut().rev() {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01 (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the timestamps metlog clients write: `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction of 1–9 digits, and `Z`, `±HH:MM` or nothing (metlog-py's
/// `datetime.utcnow().isoformat()` carries no zone and means UTC). A space is
/// accepted in place of `T`.
pub(crate) fn parse(text: &str) -> Result<SystemTime, String> {
    let invalid = || {
        format!("invalid timestamp {text:?}: expected RFC 3339 such as 2026-11-25T05:27:11.123456Z")
    };
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(invalid());
    }
    // Digits as a number (at most 9, so it fits).
    let num = |digits: &[u8]| -> Result<u32, String> {
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        Ok(digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    let days = days_from_civil(i64::from(year), month, day);
    // A real date is the date its day number comes back as.
    if civil_from_days(days) != (i64::from(year), month, day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(invalid());
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.', frac)) = rest.split_first() {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(invalid());
        }
        // Nanoseconds: the first nine digits.
        nanos = num(&frac[..digits.min(9)])? * 10u32.pow(9u32.saturating_sub(digits as u32));
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            // RFC 3339 zones run from -23:59 to +23:59.
            let (hours, minutes) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return Err(format!("timestamp {text:?}: the zone is not within ±23:59"));
            }
            let offset = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return Err(invalid()),
    };
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59)) - offset_secs;
    let secs = u64::try_from(secs).map_err(|_| format!("timestamp {text:?} is before 1970"))?;
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Rfc3339(UNIX_EPOCH).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        // 2026-11-25T05:27:11.123456Z
        assert_eq!(
            Rfc3339(at(1_795_584_431, 123_456)).to_string(),
            "2026-11-25T05:27:11.123456Z"
        );
        // Leap day.
        assert_eq!(
            Rfc3339(at(951_782_400, 1)).to_string(),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(
            Rfc3339(at(u64::MAX / 4, 0)).to_string(),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn truncates_to_microseconds() {
        let t = UNIX_EPOCH + Duration::new(0, 999_999_999);
        assert_eq!(Rfc3339(t).to_string(), "1970-01-01T00:00:00.999999Z");
    }

    #[test]
    fn parse_inverts_format_for_every_day_of_several_years() {
        for day in (0..20_000u64).step_by(7) {
            let t = at(day * 86_400 + 3_723, 654_321);
            let text = Rfc3339(t).to_string();
            assert_eq!(parse(&text), Ok(t), "{text}");
        }
    }

    #[test]
    fn parses_metlog_py_and_offset_forms() {
        assert_eq!(parse("2012-06-01T10:00:00"), Ok(at(1_338_544_800, 0)));
        assert_eq!(
            parse("2012-06-01T10:00:00.5"),
            Ok(at(1_338_544_800, 500_000))
        );
        assert_eq!(parse("2012-06-01T12:00:00+02:00"), Ok(at(1_338_544_800, 0)));
        assert_eq!(parse("2012-06-01 10:00:00Z"), Ok(at(1_338_544_800, 0)));
        assert_eq!(parse("2012-06-02T09:59:00+23:59"), Ok(at(1_338_544_800, 0)));
    }

    #[test]
    fn rejects_malformed_text_with_the_input_in_the_message() {
        for bad in [
            "",
            "2012-13-01T00:00:00Z",
            "2012-02-30T00:00:00Z",
            "2012-06-01T10:00:00.Z",
            "2012-06-01T10:00:00+2",
            "yesterday",
            "1969-12-31T23:59:59Z",
            "2012-06-01T10:00:00+99:99",
            "2012-06-01T10:00:00-24:00",
            "2012-06-01T10:00:00+01:60",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
