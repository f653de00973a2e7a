//! Where a configuration was written, so that an error found while building
//! the client (a bad port, an unknown filter) can name its line in any
//! format, not only where the parser itself failed.

use std::collections::BTreeMap;

/// INI: the line of each `(section, key)`; a section's own line under the
/// empty key.
pub(super) type Lines = BTreeMap<(String, String), usize>;

/// One step of a path into the configuration model: a table key or an
/// array index (`["routes", 0, "sender", "port"]`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the [`Config`](super::Config) being built came from.
pub(super) enum Origin<'a> {
    /// Built in code (or from a serde format we did not parse): no lines.
    Code,
    /// A metlog-py INI section: keys are flattened as `sender_<option>` and
    /// `global_<option>` in the client's section.
    Ini { lines: &'a Lines, section: &'a str },
    /// A TOML text, re-read with spans.
    Toml {
        text: &'a str,
        document: Option<Box<toml_edit::ImDocument<&'a str>>>,
    },
}

impl<'a> Origin<'a> {
    pub(super) fn toml(text: &'a str) -> Self {
        Origin::Toml {
            text,
            document: toml_edit::ImDocument::parse(text).ok().map(Box::new),
        }
    }

    /// The 1-based line where `path` was written, when known.
    pub(super) fn line(&self, path: &[Step<'_>]) -> Option<usize> {
        match self {
            Origin::Code => None,
            Origin::Ini { lines, section } => {
                let (sect, key) = match path {
                    [Step::Key(table @ ("sender" | "global")), Step::Key(key)] => {
                        ((*section).to_owned(), format!("{table}_{key}"))
                    }
                    [Step::Key("plugins"), Step::Key(name), rest @ ..] => {
                        let key = match rest {
                            [] => String::new(),
                            [Step::Key(key)] => (*key).to_owned(),
                            _ => return None,
                        };
                        (format!("{section}_plugin_{name}"), key)
                    }
                    _ => return None,
                };
                lines.get(&(sect, key)).copied()
            }
            Origin::Toml { text, document } => {
                let mut item = document.as_ref()?.as_item();
                for step in path {
                    item = match *step {
                        Step::Key(key) => item.get(key)?,
                        Step::Index(index) => item.get(index)?,
                    };
                }
                Some(line_at(text, item.span()?.start))
            }
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
