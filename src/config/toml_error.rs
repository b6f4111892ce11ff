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

/// The key (when the document names one), the message for `error`, raised on `text`, and a
/// suggestion (`did you mean `role_arn`?`) for a key or table its table does not have.
pub(super) fn explain(
    text: &str,
    error: &toml::de::Error,
) -> (Option<String>, String, Option<String>) {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    let mut places = Places::default();
    places.walk(text, document.get_ref(), "", &[], None);
    let Some(span) = error.span() else {
        return (None, error.message().to_owned(), None);
    };
    let key = places.key_at(text, &span).map(str::to_owned);
    // A syntax error is toml's, but for two a person makes often: a table and an array of
    // tables of one name, and an account ID written as a number.
    let (message, help) = match syntax_errors.is_empty() {
        true => places.message(text, document.get_ref(), &span, key.as_deref()),
        false => places.syntax(text, &span, key.as_deref()),
    };
    let key = key.or_else(|| places.header_named(text, &span).map(|(_, name)| name));
    (
        key,
        message.unwrap_or_else(|| error.message().to_owned()),
        help,
    )
}

/// Whether `key` (`instance.account_id`, `role_set[1].accounts`) holds account IDs.
fn holds_accounts(key: Option<&str>) -> bool {
    key.and_then(|k| k.rsplit('.').next())
        .is_some_and(|last| last == "account_id" || last.starts_with("accounts"))
}

/// The digits written from `start` on, if a number is written there.
fn digits_at(text: &str, start: usize) -> Option<&str> {
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
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

    /// A syntax error said better: a table header whose name an earlier header of the other
    /// kind took (`[role]`, then `[[role]]`), and an account ID written as a number with a
    /// leading zero.
    fn syntax(
        &self,
        text: &str,
        span: &Range<usize>,
        key: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        if let Some((array, name)) = self.header_named(text, span) {
            // The document before this header, as the parser reads it (recovery may have
            // dropped the earlier header from the whole one): its header of that name.
            let bracket = text[..span.start].trim_end_matches([' ', '\t', '[']).len();
            let before = &text[..bracket];
            let (document, _) = DeTable::parse_recoverable(before);
            let mut places = Places::default();
            places.walk(before, document.get_ref(), "", &[], None);
            let earlier = places
                .headers
                .iter()
                .filter(|(_, label)| {
                    label == &name || label.strip_prefix(name.as_str()) == Some("[1]")
                })
                .min_by_key(|(at, _)| at.start)
                .cloned();
            if let Some((at, label)) = earlier {
                let line = line_of(text.as_bytes(), at.start);
                let message = match (array, label == name) {
                    (true, true) => format!(
                        "`[[{name}]]` adds to an array of tables, but `[{name}]` on line {line} \
                         made `{name}` a single table; one name cannot be both"
                    ),
                    (false, false) => format!(
                        "`[{name}]` is a single table, but `[[{name}]]` on line {line} made \
                         `{name}` an array of tables; one name cannot be both"
                    ),
                    _ => return (None, None),
                };
                let help = match name.as_str() {
                    "role" | "role_set" | "user" => format!("write each as `[[{name}]]`"),
                    _ => format!("write `[{name}]` once"),
                };
                return (Some(message), Some(help));
            }
        }
        let Some(number) = digits_at(text, span.start) else {
            return (None, None);
        };
        let starts_a_number = !text[..span.start].ends_with(|c: char| c.is_ascii_digit());
        if !(starts_a_number && number.len() > 1 && number.starts_with('0')) {
            return (None, None);
        }
        if holds_accounts(key) {
            let name = key
                .and_then(|k| k.rsplit('.').next())
                .unwrap_or("account_id");
            let example = match name {
                "account_id" => format!("account_id = \"{number}\""),
                _ => format!("accounts = [\"{number}\"]"),
            };
            return (
                Some(format!(
                    "account IDs are strings: quote {number}, which TOML cannot read as a \
                     number (a leading zero)"
                )),
                Some(format!("write {example}")),
            );
        }
        (
            Some(format!(
                "{number} has a leading zero, which a TOML number cannot have; an ID is \
                 written in quotes"
            )),
            Some(format!("write \"{number}\" if it is an ID")),
        )
    }

    /// The header whose name is at `span` (`role` of `[[role]]`): whether it opens an array
    /// of tables, and the name.
    fn header_named(&self, text: &str, span: &Range<usize>) -> Option<(bool, String)> {
        let name = text.get(span.clone())?;
        let before = text[..span.start].trim_end_matches([' ', '\t']);
        let array = before.ends_with("[[");
        (before.ends_with('[') && !name.is_empty()).then(|| (array, name.to_owned()))
    }

    /// What the document says is wrong at `span`, when it says better than serde, and a
    /// suggestion.
    fn message(
        &self,
        text: &str,
        document: &DeTable,
        span: &Range<usize>,
        key: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        // deny_unknown_fields stops at the first key its table does not have, at its span.
        if let Some((_, name, tables, _)) = self.keys.iter().find(|(s, ..)| s == span) {
            let Some(accepted) = raw::keys_of(tables) else {
                return (None, None);
            };
            if !accepted.contains(&name.as_str()) {
                // A header (`[default]`, `[[roles]]`) is suggested as a header.
                let header = self
                    .headers
                    .iter()
                    .find(|(h, _)| h.start <= span.start && span.end <= h.end)
                    .map(|(h, _)| match text[h.start..].starts_with("[[") {
                        true => ("[[", "]]"),
                        false => ("[", "]"),
                    });
                let help = similar(name, accepted).map(|near| match header {
                    Some((open, close)) => format!("did you mean `{open}{near}{close}`?"),
                    None => format!("did you mean `{near}`?"),
                });
                let message = format!("unknown key `{name}`, expected {}", one_of(accepted));
                return (Some(message), help);
            }
        }
        if holds_accounts(key) && digits_at(text, span.start).is_some() {
            let number = digits_at(text, span.start).unwrap_or_default();
            return (
                None,
                Some(format!("account IDs are strings: write \"{number}\"")),
            );
        }
        let Some(table @ ("role" | "role_set")) = key else {
            return (None, None);
        };
        let Some((_, written)) = document.iter().find(|(k, _)| k.get_ref() == table) else {
            return (None, None);
        };
        match written.get_ref() {
            DeValue::Array(_) => (None, None),
            _ => (
                Some(format!(
                    "must be an array of tables: write each as [[{table}]], with two brackets"
                )),
                None,
            ),
        }
    }
}

/// The accepted name nearest to `name`, if one is near enough to be what was meant (clap's
/// measure and threshold for its own suggestions).
fn similar<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
    accepted
        .iter()
        .map(|a| (strsim::jaro(name, a), *a))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|(a, _), (b, _)| a.total_cmp(b))
        .map(|(_, a)| a)
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
