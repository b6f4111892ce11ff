//! How a problem is reported: `ConfigError` (`FILE:LINE: key: message`, leaving out what is
//! unknown) and `ConfigErrors`, every problem of a file in line order, one per line. It owns
//! the escaping that keeps a problem one plain line whatever bytes the file holds. It must
//! never decide whether a value is valid (that is `rules`' and `check`'s), and never quote an
//! `external_id`.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem: `{path}:{line}: {key}: {message}`, leaving out what is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has_path = !self.path.as_os_str().is_empty();
        if has_path {
            write!(f, "{}", self.path.display())?;
        }
        match (self.line, has_path) {
            (Some(line), true) => write!(f, ":{line}: ")?,
            (Some(line), false) => write!(f, "line {line}: ")?,
            (None, true) => f.write_str(": ")?,
            (None, false) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem in a config file, in line order, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub(super) fn one(path: &Path, line: Option<usize>, message: String) -> Self {
        ConfigErrors {
            errors: vec![ConfigError {
                path: path.to_path_buf(),
                line,
                key: None,
                message,
            }],
        }
    }
}

/// `s` with its control characters escaped (`\u{1b}`, `\r`). Keys and messages quote the
/// file's own bytes (a table header, a TOML key), and a problem must stay one plain line: an
/// escape sequence or a carriage return from the file must not repaint the terminal or forge
/// another line in the journal.
pub(super) fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// 1-based line of byte `offset`.
pub(super) fn line_of(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Where the newlines of a text are, so that the line of each of its many roles is a binary
/// search instead of a count from the start (which made checking N roles quadratic: about a
/// second at 5,000). `of` answers exactly what `line_of` does.
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn new(bytes: &[u8]) -> Lines {
        Lines((0..bytes.len()).filter(|&i| bytes[i] == b'\n').collect())
    }

    /// 1-based line of byte `offset`, as `line_of`.
    pub(super) fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

/// A tag key as it would be written in a dotted TOML key.
pub(super) fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        format!("{k:?}")
    }
}
