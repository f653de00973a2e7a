//! [`ConfigError`]: what is wrong with a configuration, and where.

use std::fmt;
use std::path::PathBuf;

/// A configuration problem, with where it is: file, section, key and line,
/// as far as they are known.
///
/// ```text
/// app.ini: [metlog] line 7: sender_port: expected an integer port, found "http"
/// ```
///
/// Its `Debug` form is that same sentence, so `main() -> Result<(), Box<dyn
/// Error>>` prints it as is (`{:#?}` shows the parts).
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    file: Option<PathBuf>,
    section: Option<String>,
    key: Option<String>,
    line: Option<usize>,
    message: String,
}

/// The category of a [`ConfigError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not valid INI or TOML.
    Syntax,
    /// The requested section is not in the file.
    MissingSection,
    /// A `${VAR}` names a variable that is not set.
    MissingVariable,
    /// An option no one knows (a typo?).
    UnknownKey,
    /// An option with a value of the wrong type or out of range.
    InvalidValue,
    /// A sender class, filter or plugin provider that does not exist.
    UnknownProvider,
    /// A sender that could not be created (e.g. an address that does not
    /// resolve, a file that cannot be opened).
    Sender,
    /// A plugin's provider rejected its options, or its name is taken.
    Plugin,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        ConfigError {
            kind,
            file: None,
            section: None,
            key: None,
            line: None,
            message: message.into(),
        }
    }

    pub(crate) fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file.get_or_insert(file.into());
        self
    }

    pub(crate) fn in_section(mut self, section: &str) -> Self {
        self.section.get_or_insert_with(|| section.to_owned());
        self
    }

    pub(crate) fn at_key(mut self, key: &str) -> Self {
        self.key.get_or_insert_with(|| key.to_owned());
        self
    }

    /// The same error about `key`, as the source format names it.
    pub(crate) fn rekey(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// The key this error suggests ("did you mean `host`?"), as written
    /// under `prefix` (`sender_host` in an INI client section).
    pub(crate) fn prefix_suggestion(mut self, prefix: &str) -> Self {
        let suggestion = format!("did you mean `{prefix}");
        self.message = self.message.replace("did you mean `", &suggestion);
        self
    }

    pub(crate) fn at_line(mut self, line: Option<usize>) -> Self {
        if self.line.is_none() {
            self.line = line;
        }
        self
    }

    /// The category.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The file, when loading from one.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// The section (INI) or table (TOML).
    pub fn section(&self) -> Option<&str> {
        self.section.as_deref()
    }

    /// The option.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The 1-based line.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for ConfigError {
    /// `file: [section] line N: key: message`, each part as far as known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let section = self.section.as_ref().map(|section| format!("[{section}]"));
        let place: Vec<String> = [section, self.line.map(|line| format!("line {line}"))]
            .into_iter()
            .flatten()
            .collect();
        let file = self.file.as_ref().map(|file| file.display().to_string());
        let parts = [file, Some(place.join(" ")), self.key.clone()];
        for part in parts.into_iter().flatten().filter(|part| !part.is_empty()) {
            write!(f, "{part}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        f.debug_struct("ConfigError")
            .field("kind", &self.kind)
            .field("file", &self.file)
            .field("section", &self.section)
            .field("key", &self.key)
            .field("line", &self.line)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for ConfigError {}
