//! The `Checker`: what every step of turning the raw file (`raw`) into a `Config` shares. It
//! runs a value through its rule (`rules`) and collects every problem with its span and key
//! rather than stopping at the first. The steps are `impl Checker` blocks beside it, one file
//! each: `tables` (the single tables), `roles` (`[defaults]` and `[[role]]`), `role_set`,
//! `chain`, and `assemble` (the whole file, in order). It must never do I/O, never format a
//! line number itself (`diagnostic` does), and never echo an `external_id`.

use super::diagnostic::{printable, ConfigError, ConfigErrors, Lines, Place};
use super::keys::{Key, Value};
use super::raw::*;
use super::rules::*;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Collects problems while turning the raw file into a `Config`. Values that fail a check are
/// replaced by placeholders; the `Config` is only returned when no problem was found.
pub(super) struct Checker<'a> {
    /// The text's newlines, for the line of a span.
    pub(super) lines: Lines,
    /// The text, for the line a problem is on.
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
    pub(super) errors: Vec<ConfigError>,
    /// What is accepted but should change (a deprecated key), in the same shape.
    pub(super) warnings: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(super) fn fail(
        &mut self,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: impl Into<String>,
    ) {
        self.fail_with_help(span, key, message, None)
    }

    /// `fail`, with a suggestion (`did you mean ...?`).
    pub(super) fn fail_with_help(
        &mut self,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let error = ConfigError {
            path: self.path.to_path_buf(),
            line: span.as_ref().map(|s| self.lines.of(s.start)),
            key: key.as_deref().map(printable),
            message: printable(&message.into()),
            place: span.and_then(|s| Place::of(self.text, &s)).map(Box::new),
            help: help.as_deref().map(printable),
        };
        // Templates inherited from [defaults] are checked once per role; one report is enough.
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    /// Records what the config should change, though it is accepted as it is.
    pub(super) fn warn(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            path: self.path.to_path_buf(),
            line: Some(self.lines.of(span.start)),
            key: Some(printable(key)),
            message: printable(&message.into()),
            place: Place::of(self.text, &span).map(Box::new),
            help: None,
        });
    }

    /// Runs `rule` on a present value; on failure records the problem and returns `None`.
    pub(super) fn check<T, U>(
        &mut self,
        value: &Spanned<T>,
        key: &str,
        rule: impl FnOnce(&T) -> Result<U, String>,
    ) -> Option<U> {
        match rule(value.get_ref()) {
            Ok(u) => Some(u),
            Err(message) => {
                self.fail(Some(value.span()), Some(key.to_owned()), message);
                None
            }
        }
    }

    /// A present integer checked against the ranges of its entry in `keys` (which the
    /// reference shows); `None` when absent or refused.
    pub(super) fn integer<T: TryFrom<i64>>(
        &mut self,
        value: Option<&Spanned<Integer>>,
        at: &str,
        key: &Key,
    ) -> Option<T> {
        let Value::Integer { ranges, .. } = &key.value else {
            unreachable!("{at} is not an integer key");
        };
        let accepted = key.accepted();
        value.and_then(|v| {
            self.check(v, at, |n| {
                in_ranges(n.0, ranges, &accepted).and_then(|n| {
                    T::try_from(n).map_err(|_| format!("{n} is out of range: {accepted}"))
                })
            })
        })
    }

    /// Runs `rule` on a required value; a missing one is reported at its table's `header`,
    /// with `hint`. Either way a problem leaves the default.
    pub(super) fn required<U: Default>(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        header: &Range<usize>,
        hint: &str,
        rule: impl FnOnce(&String) -> Result<U, String>,
    ) -> U {
        match value {
            Some(v) => self.check(v, key, rule).unwrap_or_default(),
            None => {
                let message = format!("missing; {hint}");
                self.fail(Some(header.clone()), Some(key.to_owned()), message);
                U::default()
            }
        }
    }

    pub(super) fn finish(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|e| e.line);
        ConfigErrors {
            errors: self.errors,
        }
    }
}
