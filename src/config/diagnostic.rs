//! How a problem is reported: `ConfigError` (`FILE:LINE: key: message`, leaving out what is
//! unknown) and `ConfigErrors`, every problem of a file in line order, one per line; and the
//! translation of the toml crate's errors into that shape. It owns the escaping that keeps a
//! problem one plain line whatever bytes the file holds. It must never decide whether a value
//! is valid (that is `rules`' and `check`'s), and never quote an `external_id`.

use std::collections::HashMap;
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

/// Rewords the toml crate's serde messages in the config's own terms.
pub(super) fn toml_message(message: &str, key: Option<&str>) -> String {
    let mut m = message
        .replace('\n', " ")
        .replace("unknown field", "unknown key")
        .replace("invalid type: map", "invalid type: table")
        .replace("expected i64", "expected an integer");
    if let Some(i) = m.find("expected struct ") {
        m.replace_range(i.., "expected a table");
    }
    if let Some(table @ ("role" | "role_set")) = key {
        if m.contains("expected a sequence") {
            m = format!("must be an array of tables: write each as [[{table}]], with two brackets");
        }
    }
    m
}

/// The dotted key a toml error points at, read from the text: the table header in force at
/// `offset` and the key on that line. Only a label (the line number is exact), so it reads
/// headers line by line and ignores multi-line strings.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))?;
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut header = |line: &str| -> Option<String> {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("[[") {
            let name = rest.split("]]").next()?.trim();
            let n = counts.entry(name.to_owned()).or_default();
            *n += 1;
            return Some(format!("{name}[{n}]"));
        }
        let rest = line.strip_prefix('[')?;
        Some(rest.split(']').next()?.trim().to_owned())
    };
    let mut table = None;
    for line in text[..start].lines() {
        if let Some(h) = header(line) {
            table = Some(h);
        }
    }
    let line = text[start..].lines().next().unwrap_or("");
    if let Some(h) = header(line) {
        return Some(h);
    }
    let name = line.split_once('=')?.0.trim();
    let bare = |c: char| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c);
    if name.is_empty() || !name.chars().all(bare) {
        return table;
    }
    Some(match table {
        Some(t) => format!("{t}.{name}"),
        None => name.to_owned(),
    })
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
