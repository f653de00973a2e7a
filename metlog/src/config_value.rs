//! [`ConfigValue`]: an option's value, and metlog-py's conversion rules for
//! INI text. A leaf of its own, so that the configuration loader and the
//! plugins it configures both use it without importing each other
//! (`scripts/check_layers.py`).

use std::fmt;

/// The value of a configuration option.
///
/// From INI text, metlog-py's rules apply: integers become `Int`, `true t yes
/// on` / `false f no off` (any case) become `Bool`, indented multi-line
/// values become a `List` of their non-blank lines, and `${VAR}` is replaced
/// from the environment. From TOML or other serde formats, values keep their
/// own types.
// `expecting`: a value of the wrong shape (a nested table) says what is
// expected instead of serde's "did not match any variant".
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged, expecting = "a string, number, boolean or a list of them")]
pub enum ConfigValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Str(String),
    /// Several values (an INI multi-line value, a TOML array).
    List(Vec<ConfigValue>),
}

impl ConfigValue {
    /// What kind of value this is, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ConfigValue::Bool(_) => "a boolean",
            ConfigValue::Int(_) => "an integer",
            ConfigValue::Float(_) => "a number",
            ConfigValue::Str(_) => "a string",
            ConfigValue::List(_) => "a list",
        }
    }

    /// Converts one INI value by metlog-py's rules; `env` looks variables up.
    pub(crate) fn from_ini(
        raw: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConfigValue, EnvError> {
        // One allowance for the whole value, a list's lines together.
        let mut allowance = MAX_EXPANDED_VALUE;
        if !raw.contains('\n') {
            return convert_scalar(raw, env, &mut allowance);
        }
        let lines = raw.lines().filter(|l| !l.trim().is_empty());
        lines
            .map(|line| convert_scalar(line, env, &mut allowance))
            .collect::<Result<_, _>>()
            .map(ConfigValue::List)
    }

    /// The value, if it is a boolean.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            ConfigValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as text, if it is a string (or a number, written out).
    pub fn as_string(&self) -> Option<String> {
        match self {
            ConfigValue::Str(s) => Some(s.clone()),
            ConfigValue::Int(i) => Some(i.to_string()),
            ConfigValue::Float(f) => Some(f.to_string()),
            ConfigValue::Bool(_) | ConfigValue::List(_) => None,
        }
    }

    /// The value as a list of strings: a list, or one string (also split on
    /// commas and whitespace, so `types = a, b` works on one line too).
    pub fn as_string_list(&self) -> Option<Vec<String>> {
        match self {
            ConfigValue::List(items) => items.iter().map(ConfigValue::as_string).collect(),
            ConfigValue::Str(s) => {
                let names = s.split([',', ' ', '\t']).filter(|name| !name.is_empty());
                Some(names.map(str::to_owned).collect())
            }
            other => other.as_string().map(|s| vec![s]),
        }
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Float(x) => write!(f, "{x}"),
            ConfigValue::Str(s) => write!(f, "{s:?}"),
            ConfigValue::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// Why a `${VAR}` could not be replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EnvError {
    /// The variable is not set.
    Missing(String),
    /// Replacing it would make the value longer than [`MAX_EXPANDED_VALUE`].
    TooLong(String),
}

/// The most text `${VAR}` replacement may put into one INI value (64 KiB;
/// a list's lines together), as for `%(name)s` interpolation: a bound on
/// what a huge or repeated variable costs (`${A}` ×500 of a 1 MB `A` made a
/// 500 MB logger name; 20,000 lines of `${A}` in a list, 3.4 GB).
pub(crate) const MAX_EXPANDED_VALUE: usize = 64 * 1024;

fn convert_scalar(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
    allowance: &mut usize,
) -> Result<ConfigValue, EnvError> {
    let value = raw.trim();
    let looks_numeric = value
        .strip_prefix('-')
        .unwrap_or(value)
        .starts_with(|c: char| c.is_ascii_digit());
    if looks_numeric {
        if let Ok(i) = value.parse::<i64>() {
            return Ok(ConfigValue::Int(i));
        }
    }
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "on" => return Ok(ConfigValue::Bool(true)),
        "false" | "f" | "no" | "off" => return Ok(ConfigValue::Bool(false)),
        _ => {}
    }
    Ok(ConfigValue::Str(substitute_env(value, env, allowance)?))
}

/// Replaces every `${NAME}` (letters, digits, `_`) from the environment,
/// taking what it inserts from `allowance`.
fn substitute_env(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
    allowance: &mut usize,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..start]);
        let variable = env(name).ok_or_else(|| EnvError::Missing(name.to_owned()))?;
        *allowance = allowance
            .checked_sub(variable.len())
            .ok_or_else(|| EnvError::TooLong(name.to_owned()))?;
        out.push_str(&variable);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(raw: &str) -> ConfigValue {
        ConfigValue::from_ini(raw, &|name| {
            (name == "HOME_DIR").then(|| "/home/x".to_owned())
        })
        .unwrap()
    }

    #[test]
    fn metlog_py_conversions() {
        assert_eq!(conv("123"), ConfigValue::Int(123));
        assert_eq!(conv("-7"), ConfigValue::Int(-7));
        assert_eq!(conv("1.5"), ConfigValue::Str("1.5".into()));
        for t in ["True", "t", "Yes", "on", "ON"] {
            assert_eq!(conv(t), ConfigValue::Bool(true), "{t}");
        }
        for f in ["false", "F", "no", "OFF"] {
            assert_eq!(conv(f), ConfigValue::Bool(false), "{f}");
        }
        assert_eq!(
            conv("foo\nbar\n\n"),
            ConfigValue::List(vec![
                ConfigValue::Str("foo".into()),
                ConfigValue::Str("bar".into())
            ])
        );
        assert_eq!(
            conv("${HOME_DIR}/log"),
            ConfigValue::Str("/home/x/log".into())
        );
        assert_eq!(
            conv("$HOME_DIR ${} ${a-b}"),
            ConfigValue::Str("$HOME_DIR ${} ${a-b}".into())
        );
    }

    #[test]
    fn missing_variable_is_named() {
        let err = ConfigValue::from_ini("${NO_SUCH_VAR}", &|_| None).unwrap_err();
        assert_eq!(err, EnvError::Missing("NO_SUCH_VAR".into()));
    }

    /// A huge or repeated variable is refused beyond 64 KiB, before
    /// anything that large is built.
    #[test]
    fn expansion_is_bounded() {
        let big = "x".repeat(40 * 1024);
        let env = |name: &str| (name == "BIG").then(|| big.clone());
        assert!(ConfigValue::from_ini("${BIG}", &env).is_ok());
        let err = ConfigValue::from_ini("${BIG}/${BIG}", &env).unwrap_err();
        assert_eq!(err, EnvError::TooLong("BIG".into()));
        // A list's lines share the one allowance.
        let err = ConfigValue::from_ini("a\n${BIG}\n${BIG}", &env).unwrap_err();
        assert_eq!(err, EnvError::TooLong("BIG".into()));
        let lines = "${SMALL}\n".repeat(20_000);
        let env = |name: &str| (name == "SMALL").then(|| "y".repeat(10));
        assert!(
            ConfigValue::from_ini(&lines, &env).is_err(),
            "200 KB in all"
        );
    }
}
