//! An ordered document tree (what IAM policies and CloudFormation templates are made of) and
//! its two spellings: JSON through serde, and block-style YAML by a small emitter of our own.
//! Keys keep the order they were built in (`Version` before `Statement`, `Effect` before
//! `Action`), which serde_json's default map would sort away.
//!
//! The emitter writes a string plain only when no YAML reader (1.1 or 1.2) can take it for
//! anything but that string: a letter first, a short safe alphabet, no `key: value` look, and
//! none of YAML 1.1's booleans and nulls. Everything else (an account id, `2012-10-17`, a
//! sentence) is double-quoted with JSON's escapes, which YAML shares. It must never emit
//! flow style, anchors, tags or multi-document streams.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Str(String),
    Int(i64),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A string node.
pub fn s(text: impl Into<String>) -> Node {
    Node::Str(text.into())
}

/// A map node, keys in the order given.
pub fn map<const N: usize>(entries: [(&str, Node); N]) -> Node {
    Node::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// A list of string nodes.
pub fn strings<T: AsRef<str>>(items: &[T]) -> Node {
    Node::List(items.iter().map(|i| s(i.as_ref())).collect())
}

impl Node {
    /// Adds `key: value` to a map node (anything else is left alone).
    pub fn push(&mut self, key: &str, value: Node) {
        if let Node::Map(entries) = self {
            entries.push((key.to_owned(), value));
        }
    }

    /// The value under `key` of a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        // A tree of strings, integers, lists and maps always serialises.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Block-style YAML with a final newline.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Node::Map(entries) if !entries.is_empty() => emit_map(entries, 0, &mut out),
            Node::List(items) if !items.is_empty() => emit_list(items, 0, &mut out),
            scalar => {
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
        out
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Str(text) => serializer.serialize_str(text),
            Node::Int(n) => serializer.serialize_i64(*n),
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut m = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// A node that fits on the line of its key or dash: a scalar or an empty collection.
fn inline(node: &Node) -> String {
    match node {
        Node::Str(text) => scalar(text),
        Node::Int(n) => n.to_string(),
        Node::List(items) if items.is_empty() => "[]".into(),
        Node::Map(entries) if entries.is_empty() => "{}".into(),
        _ => unreachable!("only scalars and empty collections are inline"),
    }
}

fn nested(node: &Node) -> bool {
    matches!(node, Node::List(i) if !i.is_empty()) || matches!(node, Node::Map(e) if !e.is_empty())
}

fn emit_map(entries: &[(String, Node)], indent: usize, out: &mut String) {
    for (i, (key, value)) in entries.iter().enumerate() {
        // The first entry of a map inside a list item follows its dash.
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&scalar(key));
        out.push(':');
        emit_value(value, indent, out);
    }
}

fn emit_list(items: &[Node], indent: usize, out: &mut String) {
    for item in items {
        if !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match item {
            Node::Map(entries) if !entries.is_empty() => emit_map(entries, indent + 2, out),
            Node::List(inner) if !inner.is_empty() => emit_list(inner, indent + 2, out),
            scalar => {
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// After `key:`: the value on the same line, or nested below, two spaces further in.
fn emit_value(value: &Node, indent: usize, out: &mut String) {
    if nested(value) {
        out.push('\n');
        match value {
            Node::Map(entries) => emit_map(entries, indent + 2, out),
            Node::List(items) => emit_list(items, indent + 2, out),
            _ => {}
        }
    } else {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
    }
}

/// YAML 1.1 reads these (in any case) as booleans or null.
const KEYWORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

fn plain_ok(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_./:*-".contains(c))
        && !text.ends_with(':')
        && !KEYWORDS.contains(&text.to_ascii_lowercase().as_str())
}

/// A string as a YAML scalar: plain when that is unambiguous, else double-quoted.
fn scalar(text: &str) -> String {
    if plain_ok(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            // Controls, and what a YAML 1.1 reader takes for a line break or a byte-order mark.
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_plain_only_when_nothing_else_could_be_read() {
        let table = [
            ("Allow", "Allow"),
            ("sts:AssumeRole", "sts:AssumeRole"),
            ("Fn::If", "Fn::If"),
            ("AWS::IAM::Role", "AWS::IAM::Role"),
            (
                "arn:aws:iam::111111111111:role/PerformSecurityAudit",
                "arn:aws:iam::111111111111:role/PerformSecurityAudit",
            ),
            ("arn:aws:iam::*:role/audit", "arn:aws:iam::*:role/audit"),
            ("/", "/"),
            ("2012-10-17", "\"2012-10-17\""),
            ("000000000000", "\"000000000000\""),
            ("", "\"\""),
            ("yes", "\"yes\""),
            ("Off", "\"Off\""),
            ("null", "\"null\""),
            ("key:", "\"key:\""),
            ("a b", "\"a b\""),
            ("a: b", "\"a: b\""),
            ("-x", "\"-x\""),
            ("*alias", "\"*alias\""),
            ("#c", "\"#c\""),
            ("x#c", "\"x#c\""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"\\", "\"say \\\"hi\\\"\\\\\""),
            ("line\nnext\ttab\u{7}", "\"line\\nnext\\ttab\\u0007\""),
            ("\u{2028}\u{feff}é", "\"\\u2028\\ufeffé\""),
        ];
        for (text, want) in table {
            assert_eq!(scalar(text), want, "{text:?}");
        }
    }

    #[test]
    fn block_style_nests_maps_and_lists_two_spaces_at_a_time() {
        let doc = map([
            ("Version", s("2012-10-17")),
            (
                "Statement",
                Node::List(vec![map([
                    ("Effect", s("Allow")),
                    ("Action", strings(&["sts:AssumeRole"])),
                    (
                        "Condition",
                        map([("StringEquals", map([("sts:ExternalId", s("x y"))]))]),
                    ),
                ])]),
            ),
            ("Empty", Node::List(vec![])),
            ("None", Node::Map(vec![])),
            ("Max", Node::Int(7200)),
            ("Nested", Node::List(vec![strings(&["a", "b"]), s("c")])),
        ]);
        assert_eq!(
            doc.to_yaml(),
            "Version: \"2012-10-17\"\n\
             Statement:\n\
             \x20 - Effect: Allow\n\
             \x20   Action:\n\
             \x20     - sts:AssumeRole\n\
             \x20   Condition:\n\
             \x20     StringEquals:\n\
             \x20       sts:ExternalId: \"x y\"\n\
             Empty: []\n\
             None: {}\n\
             Max: 7200\n\
             Nested:\n\
             \x20 - - a\n\
             \x20   - b\n\
             \x20 - c\n"
        );
    }

    #[test]
    fn json_keeps_the_order_keys_were_built_in() {
        let doc = map([("Version", s("v")), ("Action", Node::Int(1))]);
        assert_eq!(
            doc.to_json(),
            "{\n  \"Version\": \"v\",\n  \"Action\": 1\n}\n"
        );
        assert_eq!(doc.get("Action"), Some(&Node::Int(1)));
    }
}
