//! How a problem is reported: `ConfigError` (`FILE:LINE: key: message`, leaving out what is
//! unknown) and `ConfigErrors`, every problem of a file in line order, one per line, as the
//! journal and a pipe get them; or drawn as rustc draws an error for a person at a terminal
//! (`render`: `error:`, `--> FILE:LINE:COLUMN`, the line with a caret under the span, `help:`),
//! by annotate-snippets. It owns the escaping that keeps a problem one plain line whatever
//! bytes the file holds. It must
//! never decide whether a value is valid (that is `rules`' and `check`'s), and never quote an
//! `external_id`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem: `{path}:{line}: {key}: {message}`, leaving out what is unknown, then
/// `; {help}` when there is a suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
    /// The line the problem is on and where on it, for `render`.
    pub place: Option<Box<Place>>,
    /// A suggestion (`did you mean `role_arn`?`).
    pub help: Option<String>,
}

/// Where on its line a problem is: the line's text and the span's bytes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub text: String,
    pub span: Range<usize>,
}

impl Place {
    /// The line of `text` that `span` starts on, and the part of `span` on it; `None` when
    /// that line holds control characters, which must not reach a terminal.
    pub(super) fn of(text: &str, span: &Range<usize>) -> Option<Place> {
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[line_start..line_end].trim_end_matches('\r');
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return None;
        }
        let from = (start - line_start).min(line.len());
        let mut to = span.end.clamp(start, line_start + line.len()) - line_start;
        if to == from {
            // An empty span (the end of a line): a caret under the next character, if any.
            to = line[from..]
                .chars()
                .next()
                .map_or(from, |c| from + c.len_utf8());
        }
        Some(Place {
            text: line.to_owned(),
            span: from..to,
        })
    }

    /// 1-based column of the span, in characters.
    pub fn column(&self) -> usize {
        self.text[..self.span.start].chars().count() + 1
    }
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
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "; {help}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// The problem as rustc draws an error: `error: MESSAGE`, `--> FILE:LINE:COLUMN`, the
    /// line with a caret under the span labelled with the key, and `help: ...`; coloured
    /// when `colour`.
    pub fn render(&self, colour: bool) -> String {
        use annotate_snippets::{AnnotationKind, Level, Origin, Renderer, Snippet};
        let path = self.path.display().to_string();
        let has_path = !path.is_empty();
        let title = match (&self.key, &self.place) {
            (Some(key), None) => format!("{key}: {}", self.message),
            _ => self.message.clone(),
        };
        let title = Level::ERROR.primary_title(title.as_str());
        let mut group = match (&self.place, self.line) {
            (Some(place), Some(line)) => {
                let mut snippet = Snippet::source(place.text.as_str()).line_start(line);
                if has_path {
                    snippet = snippet.path(path.as_str());
                }
                let caret = AnnotationKind::Primary.span(place.span.clone());
                title.element(snippet.annotation(match &self.key {
                    Some(key) => caret.label(key.as_str()),
                    None => caret,
                }))
            }
            (_, line) if has_path => {
                let origin = Origin::path(path.as_str());
                title.element(match line {
                    Some(line) => origin.line(line),
                    None => origin,
                })
            }
            _ => annotate_snippets::Group::with_title(title),
        };
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let renderer = match colour {
            true => Renderer::styled(),
            false => Renderer::plain(),
        };
        renderer.render(&[group])
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
    /// Every problem drawn as `ConfigError::render` draws it, a blank line between two.
    pub fn render(&self, colour: bool) -> String {
        let drawn: Vec<String> = self.errors.iter().map(|e| e.render(colour)).collect();
        drawn.join("\n\n")
    }

    pub(super) fn one(path: &Path, line: Option<usize>, message: String) -> Self {
        ConfigErrors {
            errors: vec![ConfigError {
                path: path.to_path_buf(),
                line,
                key: None,
                message,
                place: None,
                help: None,
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
