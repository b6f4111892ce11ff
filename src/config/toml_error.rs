//! A toml error in the config's `FILE:LINE: key: message` shape, from the parser's own
//! structured information: the error's span gives the line, and the key is where that span
//! falls in the document as toml's parser spans it (`toml::de::DeTable`, parsed with recovery
//! so that a file with a syntax error still has a document around it). The message is toml's
//! or serde's own, but where the document says better what is wrong: a key its table does not
//! have (named with the keys it accepts), and `[role]` written for `[[role]]`. It must never
//! read the text line by line for headers or keys, nor reword a message by searching it.

use super::diagnostic::{line_of, toml_key};
use super::raw;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// The key (when the document names one) and the message for `error`, raised on `text`.
pub(super) fn explain(text: &str, error: &toml::de::Error) -> (Option<String>, String) {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    let mut places = Places::default();
    places.walk(text, document.get_ref(), "", &[], None);
    let Some(span) = error.span() else {
        return (None, error.message().to_owned());
    };
    let key = places.key_at(text, &span).map(str::to_owned);
    // A syntax error is toml's alone; only a document that parsed can say more.
    let message = match syntax_errors.is_empty() {
        true => places.message(document.get_ref(), &span, key.as_deref()),
        false => None,
    };
    (key, message.unwrap_or_else(|| error.message().to_owned()))
}

/// Where each thing the document holds was written, with the dotted key a message names it
/// by (`role[2].tags`).
#[derive(Default)]
struct Places {
    /// A key and its value, as one line writes it (`tags = { ... }` is one entry).
    entries: Vec<(Range<usize>, String)>,
    /// A table header (`[daemon]`, `[[role]]`).
    headers: Vec<(Range<usize>, String)>,
    /// Every key: its span, its name, the names of the tables it is in (`["role"]` for a key
    /// of any `[[role]]`), which say what keys serde accepts there, and its dotted key.
    keys: Vec<(Range<usize>, String, Vec<String>, String)>,
}

impl Places {
    /// `dotted`: where the dotted key (`a.b = 1`) that `table` is part of starts.
    fn walk(
        &mut self,
        text: &str,
        table: &DeTable,
        label: &str,
        tables: &[String],
        dotted: Option<usize>,
    ) {
        let opens = |span: &Range<usize>, c: char| text[span.start..].starts_with(c);
        for (key, value) in table.iter() {
            // Recovery from `[]` makes up a key that was never written.
            if key.span().is_empty() {
                continue;
            }
            let name = key.get_ref().to_string();
            let label = match label {
                "" => toml_key(&name),
                _ => format!("{label}.{}", toml_key(&name)),
            };
            let inner = [tables, std::slice::from_ref(&name)].concat();
            self.keys
                .push((key.span(), name, tables.to_vec(), label.clone()));
            let span = value.span();
            match value.get_ref() {
                // A header's table spans its header; an implicit one (`a` of `[a.b]`, or of a
                // dotted `a.b = 1`) its key: neither is written on one line.
                DeValue::Table(t) if !opens(&span, '{') => {
                    let dotted = if opens(&span, '[') {
                        self.headers.push((span, label.clone()));
                        None
                    } else {
                        Some(dotted.unwrap_or(key.span().start))
                    };
                    self.walk(text, t, &label, &inner, dotted);
                }
                DeValue::Array(a)
                    if !a.is_empty()
                        && a.iter().all(|v| {
                            matches!(v.get_ref(), DeValue::Table(_)) && opens(&v.span(), '[')
                        }) =>
                {
                    for (i, element) in a.iter().enumerate() {
                        let label = format!("{label}[{}]", i + 1);
                        self.headers.push((element.span(), label.clone()));
                        if let DeValue::Table(t) = element.get_ref() {
                            self.walk(text, t, &label, &inner, None);
                        }
                    }
                }
                _ => {
                    let start = dotted.unwrap_or(key.span().start);
                    self.entries.push((start..span.end, label));
                }
            }
        }
    }

    /// The key of the entry or header at `span`, else of the one written on its line, else
    /// (a key written twice, which the document holds once) the key of that name in the
    /// table in force.
    fn key_at(&self, text: &str, span: &Range<usize>) -> Option<&str> {
        let offset = span.start;
        let holds = |(span, _): &&(Range<usize>, String)| span.contains(&offset);
        let line = line_of(text.as_bytes(), offset);
        let on_line = |(span, _): &&(Range<usize>, String)| {
            span.start <= offset && line_of(text.as_bytes(), span.start) == line
        };
        let all = || self.entries.iter().chain(&self.headers);
        all()
            .find(holds)
            .or_else(|| all().filter(on_line).max_by_key(|(span, _)| span.start))
            .map(|(_, key)| key.as_str())
            .or_else(|| {
                let written = text.get(span.clone())?;
                let table = self
                    .headers
                    .iter()
                    .filter(|(s, _)| s.start <= offset)
                    .max_by_key(|(s, _)| s.start)
                    .map(|(_, label)| label.as_str());
                let label = match table {
                    Some(t) => format!("{t}.{}", toml_key(written)),
                    None => toml_key(written),
                };
                self.keys
                    .iter()
                    .find(|(.., l)| *l == label)
                    .map(|(.., l)| l.as_str())
            })
            .filter(|key| !key.is_empty())
    }

    /// What the document says is wrong at `span`, when it says better than serde.
    fn message(
        &self,
        document: &DeTable,
        span: &Range<usize>,
        key: Option<&str>,
    ) -> Option<String> {
        // deny_unknown_fields stops at the first key its table does not have, at its span.
        if let Some((_, name, tables, _)) = self.keys.iter().find(|(s, ..)| s == span) {
            let accepted = raw::keys_of(tables)?;
            if !accepted.contains(&name.as_str()) {
                return Some(format!(
                    "unknown key `{name}`, expected {}",
                    one_of(accepted)
                ));
            }
        }
        let table @ ("role" | "role_set") = key? else {
            return None;
        };
        let written = document.iter().find(|(k, _)| k.get_ref() == table)?.1;
        match written.get_ref() {
            DeValue::Array(_) => None,
            _ => Some(format!(
                "must be an array of tables: write each as [[{table}]], with two brackets"
            )),
        }
    }
}

/// `names` as serde lists the fields it expected.
fn one_of(names: &[&str]) -> String {
    match names {
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}
