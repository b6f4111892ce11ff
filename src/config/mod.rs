//! The TOML config: reading it, and validating every value against the rules IAM, STS and the
//! AWS config files impose, so that a mistake is reported with its file, line and key before
//! any network call. Every problem found is reported, not just the first. This module owns the
//! built-in defaults, the `role_session_name` placeholders, and the expansion of each
//! `[[role_set]]` into the roles it stands for (validated exactly like hand-written ones). It
//! must never do I/O beyond reading the config file, never depend on other modules of this
//! crate, and never echo an `external_id` in a message.
//!
//! Split by concern, as the AWS SDK's `env_config/` is: `model` (the checked types the crate
//! uses), `raw` (the file's shape as serde reads it), `check` (the `Checker` from one to the
//! other), `role_set` (`[[role_set]]` expansion), `rules` (IAM and STS rules on single values),
//! `template` (session-name placeholders), `diagnostic` (`FILE:LINE: key: message`),
//! `toml_error` (toml's errors in that shape, from the parser's spans) and `invariants` (the
//! parser's promises, for proptest and cargo-fuzz). This file only reads the file and runs
//! the steps in order.

mod assemble;
mod chain;
mod check;
mod diagnostic;
pub mod keys;
mod model;
mod raw;
mod role_set;
mod roles;
mod rules;
mod tables;
mod template;
mod toml_error;

#[cfg(any(test, fuzzing))]
pub mod invariants;
#[cfg(test)]
mod tests;

pub use diagnostic::{ConfigError, ConfigErrors, Place};
pub use model::*;
pub use rules::split_arn;
pub use template::Placeholders;

use check::Checker;
use diagnostic::{line_of, Lines};
use raw::RawFile;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// A config is a few hundred bytes; refusing more keeps `/dev/zero` or a log file given by
/// mistake from being read into memory.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let bytes = read(path).map_err(|message| ConfigErrors::one(path, None, message))?;
    parse_bytes(&bytes, path)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open the config file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory, not a config file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err("is larger than 1 MiB; is it the right file?".into());
    }
    Ok(bytes)
}

/// Parses the bytes of a config file as `load` read them: UTF-8 first (naming the line of the
/// first invalid byte), then `parse`. Pure, so the fuzz target reaches everything but the read.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        ConfigErrors::one(
            path,
            Some(line_of(bytes, at)),
            format!("is not UTF-8 text (invalid byte at offset {at}); save it as UTF-8"),
        )
    })?;
    parse(text, path)
}

/// Parses and validates config text; `path` is only used in messages and `Config::path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    // An editor's byte-order mark is not a TOML error worth reporting; it holds no newline,
    // so line numbers are unchanged.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut c = Checker {
        lines: Lines::new(text.as_bytes()),
        text,
        path,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    if text.trim().is_empty() {
        c.fail(
            None,
            None,
            "the file is empty; it needs an [instance] table and at least one [[role]] table",
        );
        return Err(c.finish());
    }
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (key, message, help) = toml_error::explain(text, &e);
            c.fail_with_help(e.span(), key, message, help);
            return Err(c.finish());
        }
    };
    let config = c.config(raw);
    if c.errors.is_empty() {
        Ok(config)
    } else {
        Err(c.finish())
    }
}
