//! [`Severity`]: RFC 5424 severities, as metlog messages carry them.

use std::fmt;
use std::str::FromStr;

/// How serious a message is: the RFC 5424 (syslog) severities, 0 to 7.
///
/// Lower is more severe. A message's severity is serialised as its integer.
/// The default is [`Severity::Informational`] (6), metlog's default.
///
/// ```
/// use metlog::Severity;
/// assert_eq!(u8::from(Severity::Warning), 4);
/// assert_eq!(Severity::from(3), Severity::Error);
/// assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
/// assert!(Severity::Critical < Severity::Debug); // more severe sorts first
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Severity {
    /// 0: system is unusable.
    Emergency = 0,
    /// 1: action must be taken immediately.
    Alert = 1,
    /// 2: critical conditions.
    Critical = 2,
    /// 3: error conditions.
    Error = 3,
    /// 4: warning conditions.
    Warning = 4,
    /// 5: normal but significant condition.
    Notice = 5,
    /// 6: informational messages (the default).
    #[default]
    Informational = 6,
    /// 7: debug-level messages.
    Debug = 7,
}

impl Severity {
    /// All severities, most severe first.
    pub const ALL: [Severity; 8] = [
        Severity::Emergency,
        Severity::Alert,
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Informational,
        Severity::Debug,
    ];

    /// The severity with this number, or `None` when it is above 7.
    pub const fn new(level: u8) -> Option<Severity> {
        if level <= 7 {
            Some(Self::ALL[level as usize])
        } else {
            None
        }
    }

    /// The RFC 5424 number, 0 to 7.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The lower-case RFC 5424 keyword, e.g. `"warning"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emergency",
            Severity::Alert => "alert",
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "informational",
            Severity::Debug => "debug",
        }
    }
}

/// Converts a number to a severity, treating anything above 7 as
/// [`Severity::Debug`] (the least severe). Use [`Severity::new`] to reject such
/// numbers instead.
impl From<u8> for Severity {
    fn from(level: u8) -> Self {
        Severity::new(level).unwrap_or(Severity::Debug)
    }
}

impl From<Severity> for u8 {
    fn from(severity: Severity) -> u8 {
        severity.as_u8()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Severity`] from text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSeverityError {
    input: String,
}

impl fmt::Display for ParseSeverityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid severity {:?}: expected 0-7 or one of emergency, alert, critical, \
             error, warning, notice, informational, debug",
            self.input
        )
    }
}

impl std::error::Error for ParseSeverityError {}

/// Parses a number `0`–`7` or a name (case-insensitive; the RFC 5424 keywords
/// and the usual short forms `emerg`, `crit`, `err`, `warn`, `info`).
impl FromStr for Severity {
    type Err = ParseSeverityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        let short = [
            "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
        ];
        let named = || {
            let mut names = Severity::ALL.into_iter().zip(short);
            names.find(|(severity, short)| name == severity.as_str() || name == *short)
        };
        name.parse()
            .ok()
            .and_then(Severity::new)
            .or_else(|| named().map(|(severity, _)| severity))
            .ok_or_else(|| ParseSeverityError { input: s.into() })
    }
}

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.as_u8())
    }
}

/// Accepts the integer 0–7 (the wire format) or a severity name.
impl<'de> serde::Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged, expecting = "a severity: an integer 0-7 or a name")]
        enum Wire<'a> {
            Number(u64),
            Name(std::borrow::Cow<'a, str>),
        }
        match Wire::deserialize(deserializer)? {
            Wire::Number(n) => Severity::new(n.min(8) as u8)
                .ok_or_else(|| format!("invalid severity {n}: expected 0-7 or a name")),
            Wire::Name(name) => name.parse().map_err(|e: ParseSeverityError| e.to_string()),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_out_of_range_is_rejected_or_clamped() {
        for level in 0..=7u8 {
            assert_eq!(u8::from(Severity::from(level)), level);
            assert_eq!(Severity::new(level).map(u8::from), Some(level));
        }
        assert_eq!(Severity::new(8), None);
        assert_eq!(Severity::from(200), Severity::Debug);
    }

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!("ALERT".parse(), Ok(Severity::Alert));
        assert_eq!(" 5 ".parse(), Ok(Severity::Notice));
        let err = "loud".parse::<Severity>().unwrap_err();
        assert!(err.to_string().contains("\"loud\""), "{err}");
        assert!("9".parse::<Severity>().is_err());
    }

    #[test]
    fn serde_uses_the_integer() {
        assert_eq!(serde_json::to_string(&Severity::Error).unwrap(), "3");
        assert_eq!(
            serde_json::from_str::<Severity>("7").unwrap(),
            Severity::Debug
        );
        assert_eq!(
            serde_json::from_str::<Severity>("\"crit\"").unwrap(),
            Severity::Critical
        );
        assert!(serde_json::from_str::<Severity>("8").is_err());
        assert!(serde_json::from_str::<Severity>("-1").is_err());
    }
}
