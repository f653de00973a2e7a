//! Where a configuration was written, so that an error found while building
//! the client (a bad port, an unknown filter) can name its line in any
//! format, not only where the parser itself failed.

use super::ini::Section;
use super::ConfigError;

/// One step of a path into the configuration model: a table key or an
/// array index (`["routes", 0, "sender", "port"]`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// An INI text as read for one client: its sections, in file order.
#[derive(Default)]
pub(super) struct IniSource {
    /// The client's section.
    pub(super) section: String,
    /// The sections the client reads.
    pub(super) sections: Vec<Section>,
}

impl IniSource {
    fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// `e`, about a key of `table`, named as INI writes it: the client's
    /// section holds the sender's options as `sender_<option>` (and
    /// `global_<option>`); a plugin, route or filter has a section of its
    /// own.
    fn locate(&self, e: ConfigError, table: &[Step<'_>]) -> ConfigError {
        // The n-th route or filter was read from the n-th section of its kind.
        let own = self.section.len();
        let parts = |kind| {
            self.sections
                .iter()
                .filter(move |s| s.name[own..].starts_with(kind))
        };
        let part = match table {
            [Step::Key(prefix @ ("sender" | "global"))] => return self.flattened(e, prefix),
            [Step::Key("plugins"), Step::Key(name)] => {
                self.section(&format!("{}_plugin_{name}", self.section))
            }
            [Step::Key("routes"), Step::Index(i), ..] => parts("_route").nth(*i),
            [Step::Key("filters"), Step::Index(i)] => parts("_filter").nth(*i),
            _ => None,
        };
        match part {
            Some(part) => part.locate(e),
            None => e,
        }
    }

    /// The key's line (the class's for an error about the sender as a
    /// whole).
    fn flattened(&self, e: ConfigError, prefix: &str) -> ConfigError {
        let key = format!("{prefix}_{}", e.key().unwrap_or("class"));
        let main = self.section(&self.section);
        let entry = main.and_then(|main| main.entries.iter().find(|entry| entry.key == key));
        let e = if e.key().is_some() {
            e.rekey(&key).prefix_suggestion(&format!("{prefix}_"))
        } else {
            e
        };
        // Inherited from `[DEFAULT]`: named where it is written.
        let section = match entry {
            Some(entry) if entry.inherited => "DEFAULT",
            _ => &self.section,
        };
        e.in_section(section).at_line(entry.map(|entry| entry.line))
    }
}

/// Where the [`Config`](super::Config) being built came from.
pub(super) enum Origin<'a> {
    /// Built in code (or from a serde format we did not parse): no lines.
    Code,
    /// A metlog-py INI section.
    Ini(&'a IniSource),
    /// A TOML text, re-read with spans when an error needs its line.
    #[cfg(feature = "toml")]
    Toml(&'a str),
}

impl Origin<'_> {
    /// `e`, an error about a key of (or, without a key, about) the table
    /// at `table`, named and located the way the source format writes it.
    pub(super) fn locate(&self, e: ConfigError, table: &[Step<'_>]) -> ConfigError {
        match *self {
            Origin::Code => e,
            Origin::Ini(ini) => ini.locate(e, table),
            // The key's line, or the table's when the key is missing (or
            // the error is about the table as a whole).
            #[cfg(feature = "toml")]
            Origin::Toml(text) => {
                let key = e.key().map(|key| [table, &[Step::Key(key)]].concat());
                let line = key.and_then(|path| toml_line(text, &path));
                let line = line.or_else(|| toml_line(text, table));
                e.in_section(&toml_table_name(table)).at_line(line)
            }
        }
    }
}

/// The 1-based line where `path` was written in a TOML text.
#[cfg(feature = "toml")]
pub(super) fn toml_line(text: &str, path: &[Step<'_>]) -> Option<usize> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = document.as_item();
    for step in path {
        item = match *step {
            Step::Key(key) => item.get(key)?,
            Step::Index(index) => item.get(index)?,
        };
    }
    Some(line_at(text, item.span()?.start))
}

/// `sender`, `routes.sender`, `filters`: the TOML table an error is in.
#[cfg(feature = "toml")]
fn toml_table_name(table: &[Step<'_>]) -> String {
    let names: Vec<&str> = table
        .iter()
        .filter_map(|step| match step {
            Step::Key(key) => Some(*key),
            Step::Index(_) => None,
        })
        .collect();
    names.join(".")
}

/// The 1-based line of byte `offset` in `text`.
#[cfg(feature = "toml")]
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
