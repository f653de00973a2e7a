//! A reader for metlog-py's INI files, with Python `configparser`'s rules:
//! `[section]` headers, `key = value` or `key: value` (keys are
//! case-insensitive, kept lower-case), indented continuation lines, `#` and
//! `;` comment lines, a `[DEFAULT]` section whose options every section
//! inherits, and `%(key)s` interpolation (`%%` for a literal `%`).

use std::collections::{BTreeMap, HashSet};

/// One `key = value` with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
    /// Taken from `[DEFAULT]`: there for interpolation and as a default,
    /// never an unknown option of the section it was copied into.
    pub(crate) inherited: bool,
}

/// A section, its entries in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) entries: Vec<Entry>,
}

/// A syntax error: what and on which line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) section: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) message: String,
}

/// Parses `text` into its sections (`[DEFAULT]` merged into each, then
/// interpolated).
pub(crate) fn parse(text: &str) -> Result<Vec<Section>, SyntaxError> {
    let mut sections: Vec<Section> = Vec::new();
    // Names seen so far, of sections and of the current section's keys: a
    // look-up each, not a scan (100,000 sections took half a minute).
    let mut section_names: HashSet<String> = HashSet::new();
    let mut keys: HashSet<String> = HashSet::new();
    let mut defaults: Option<Section> = None;
    let mut current: Option<Section> = None;
    // Continuation lines are allowed right after an entry (and blank lines
    // between them, as configparser keeps them in the value).
    let mut continuing = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // As metlog-py's `client_from_text_config` (`textwrap.dedent`): the
    // margin every line shares is not indentation (its own tests write
    // their configurations indented inside Python strings).
    let margin = common_margin(text);

    for (index, raw) in text.lines().enumerate() {
        let raw = if raw.trim().is_empty() {
            raw
        } else {
            &raw[margin..]
        };
        let line_no = index + 1;
        let trimmed = raw.trim();
        let indented = raw.starts_with([' ', '\t']);
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.is_empty() {
            if continuing {
                if let Some(entry) = current.as_mut().and_then(|s| s.entries.last_mut()) {
                    entry.value.push('\n');
                }
            }
            continue;
        }
        if indented && continuing {
            if let Some(section) = current.as_ref().filter(|_| looks_like_an_option(trimmed)) {
                if let Some(entry) = section.entries.last() {
                    return Err(error(
                        line_no,
                        Some(&section.name),
                        None,
                        format!(
                            "{trimmed:?} is indented more than the option before it, so it \
                             would continue that option's value (`{}`, line {}); an option of \
                             its own starts where the others do",
                            entry.key, entry.line
                        ),
                    ));
                }
            }
            if let Some(entry) = current.as_mut().and_then(|s| s.entries.last_mut()) {
                entry.value.push('\n');
                entry.value.push_str(trimmed);
                continue;
            }
        }
        if trimmed.starts_with('[') {
            let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                return Err(error(
                    line_no,
                    None,
                    None,
                    format!("malformed section header {trimmed:?}"),
                ));
            };
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err(error(line_no, None, None, "empty section name".into()));
            }
            finish(&mut sections, &mut defaults, current.take());
            if !section_names.insert(name.clone()) {
                return Err(error(
                    line_no,
                    Some(&name),
                    None,
                    format!("section [{name}] appears twice"),
                ));
            }
            current = Some(Section {
                name,
                line: line_no,
                entries: Vec::new(),
            });
            keys.clear();
            continuing = false;
            continue;
        }
        let Some(section) = current.as_mut() else {
            return Err(error(
                line_no,
                None,
                None,
                format!("{trimmed:?} comes before any [section] header"),
            ));
        };
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(error(
                line_no,
                Some(&section.name),
                None,
                format!("expected `key = value`, found {trimmed:?}"),
            ));
        };
        let key = trimmed[..split].trim().to_lowercase();
        if key.is_empty() {
            return Err(error(
                line_no,
                Some(&section.name),
                None,
                "missing key before `=`".into(),
            ));
        }
        if !keys.insert(key.clone()) {
            return Err(error(
                line_no,
                Some(&section.name),
                Some(&key),
                format!("option `{key}` appears twice in [{}]", section.name),
            ));
        }
        section.entries.push(Entry {
            key,
            value: trimmed[split + 1..].trim().to_owned(),
            line: line_no,
            inherited: false,
        });
        continuing = true;
    }
    finish(&mut sections, &mut defaults, current.take());

    for section in &mut sections {
        if let Some(defaults) = &defaults {
            let own: HashSet<String> = section.entries.iter().map(|e| e.key.clone()).collect();
            for entry in &defaults.entries {
                if !own.contains(&entry.key) {
                    section.entries.push(Entry {
                        inherited: true,
                        ..entry.clone()
                    });
                }
            }
        }
        interpolate(section)?;
    }
    Ok(sections)
}

/// The leading whitespace every non-blank line shares (in bytes; lines
/// indented with different characters share none of it, as in Python's
/// `textwrap.dedent`).
fn common_margin(text: &str) -> usize {
    let mut margin: Option<&str> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        margin = Some(match margin {
            None => indent,
            Some(m) => {
                let shared = m
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &m[..shared]
            }
        });
        if margin == Some("") {
            break;
        }
    }
    margin.map_or(0, str::len)
}

/// `key = value`, as an option line reads (a continuation of a value is a
/// name, a host, an endpoint: never `identifier =`).
fn looks_like_an_option(line: &str) -> bool {
    let key_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    key_end > 0
        && line[..1]
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_')
        && line[key_end..].trim_start().starts_with('=')
}

fn finish(sections: &mut Vec<Section>, defaults: &mut Option<Section>, section: Option<Section>) {
    if let Some(mut section) = section {
        // Trailing blank lines kept by continuation are not part of a value.
        for entry in &mut section.entries {
            let trimmed_len = entry.value.trim_end_matches('\n').len();
            entry.value.truncate(trimmed_len);
        }
        if section.name == "DEFAULT" {
            *defaults = Some(section);
        } else {
            sections.push(section);
        }
    }
}

fn error(line: usize, section: Option<&str>, key: Option<&str>, message: String) -> SyntaxError {
    SyntaxError {
        line,
        section: section.map(str::to_owned),
        key: key.map(str::to_owned),
        message,
    }
}

/// Replaces `%(key)s` with the (interpolated) value of `key` in the same
/// section, and `%%` with `%`, like configparser's BasicInterpolation.
fn interpolate(section: &mut Section) -> Result<(), SyntaxError> {
    let raw: BTreeMap<String, String> = section
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut expanded = BTreeMap::new();
    for entry in &mut section.entries {
        entry.value =
            expand(&entry.value, &raw, &mut expanded, 0).map_err(|message| SyntaxError {
                line: entry.line,
                section: Some(section.name.clone()),
                key: Some(entry.key.clone()),
                message,
            })?;
    }
    Ok(())
}

/// The longest value interpolation may produce: references that each
/// repeat the one before grow exponentially (ten levels of ten make 10^10
/// bytes), and a configuration value has no business being that long.
const MAX_EXPANDED: usize = 64 * 1024;

/// `value` with its references replaced; `expanded` keeps each option's
/// expansion, so each is worked out once.
fn expand(
    value: &str,
    raw: &BTreeMap<String, String>,
    expanded: &mut BTreeMap<String, String>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("interpolation nested more than 10 deep (a reference loop?)".into());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(after) = after.strip_prefix('%') {
            out.push('%');
            rest = after;
        } else if let Some(inner) = after.strip_prefix('(') {
            let Some(close) = inner.find(")s") else {
                return Err(format!("bad interpolation in {value:?}: expected %(name)s"));
            };
            let name = inner[..close].to_lowercase();
            let Some(target) = raw.get(&name) else {
                return Err(format!("%({name})s refers to no option of this section"));
            };
            if !expanded.contains_key(&name) {
                let text = expand(target, raw, expanded, depth + 1)?;
                expanded.insert(name.clone(), text);
            }
            out.push_str(&expanded[&name]);
            if out.len() > MAX_EXPANDED {
                return Err(format!(
                    "interpolation expands beyond {} KiB (references repeating references?)",
                    MAX_EXPANDED / 1024
                ));
            }
            rest = &inner[close + 2..];
        } else {
            return Err(format!(
                "a lone '%' in {value:?}: write %% for a literal percent sign"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, Vec<(String, String)>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|s| {
                (
                    s.name,
                    s.entries.into_iter().map(|e| (e.key, e.value)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn sections_keys_continuations_comments() {
        let got = values(
            "# comment\n[metlog]\nLogger = app\nsender_multi = foo\n    bar\n\n    baz\n; note\nkey: v:w\n\n[other]\nx=1\n",
        );
        assert_eq!(
            got,
            [
                (
                    "metlog".to_owned(),
                    vec![
                        ("logger".to_owned(), "app".to_owned()),
                        ("sender_multi".to_owned(), "foo\nbar\n\nbaz".to_owned()),
                        ("key".to_owned(), "v:w".to_owned()),
                    ]
                ),
                ("other".to_owned(), vec![("x".to_owned(), "1".to_owned())]),
            ]
        );
    }

    #[test]
    fn defaults_and_interpolation() {
        let got = values("[DEFAULT]\nhere = /srv\n[a]\npath = %(here)s/log\npct = 100%%\n");
        assert_eq!(
            got[0].1,
            [
                ("path".to_owned(), "/srv/log".to_owned()),
                ("pct".to_owned(), "100%".to_owned()),
                ("here".to_owned(), "/srv".to_owned()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("x = 1\n").unwrap_err();
        assert_eq!(err.line, 1);
        let err = parse("[a]\nx = 1\nx = 2\n").unwrap_err();
        assert_eq!((err.line, err.key.as_deref()), (3, Some("x")));
        let err = parse("[a]\njust words\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse("[a\n").unwrap_err();
        assert_eq!(err.line, 1);
        let err = parse("[a]\nx = %(nope)s\n").unwrap_err();
        assert!(err.message.contains("nope"));
        let err = parse("[a]\nx = %(x)s\n").unwrap_err();
        assert!(err.message.contains("loop"));
    }
}
