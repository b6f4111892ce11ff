//! The config reference, rendered from the parser's own list of keys
//! (`ec2_assume_role::config::keys`) three ways: the key section of docs/configuration.md
//! (between its generated-section markers), the man page ec2-assume-role.toml(5), and a JSON
//! Schema (draft-07) for editors and validators. `cargo run -p docgen -- config-docs` writes
//! the committed copies; a test fails when they differ from what this renders now. Like the
//! rest of docgen, the output depends on the sources alone. It must never describe a key
//! itself: what a key is and does is written once, in `config::keys`.

use ec2_assume_role::config::keys::{self, Key, Table, Text, Unset, Value, TABLES};
use roff::{bold, italic, roman, Inline, Roff};
use serde_json::{json, Map, Value as Json};

/// The committed files, from the repository's root.
pub const MARKDOWN: &str = "docs/configuration.md";
pub const MAN_PAGE: &str = "docs/ec2-assume-role.toml.5";
pub const SCHEMA: &str = "docs/config.schema.json";
/// Where the packages install the schema (the man page and docs/configuration.md say so).
pub const SCHEMA_INSTALLED: &str = "/usr/share/ec2-assume-role/config.schema.json";

pub const BEGIN: &str =
    "<!-- generated from src/config/keys.rs by `cargo run -p docgen -- config-docs`: do not edit below -->";
pub const END: &str = "<!-- end of the generated reference -->";

/// The tables that share a key with `[defaults]` inherit its value from there.
const DEFAULTS: &str = "defaults";

/// Markdown's inline code and links as the man page shows them: code in bold, a link's text.
fn inlines(md: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut rest = md;
    let mut plain = String::new();
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            if let Some(end) = rest[1..].find('`') {
                out.push(roman(std::mem::take(&mut plain)));
                out.push(bold(&rest[1..=end]));
                rest = &rest[end + 2..];
                continue;
            }
        }
        if c == '[' {
            if let Some((text, after)) = link(rest) {
                plain.push_str(text);
                rest = after;
                continue;
            }
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push(roman(plain));
    out.retain(|i| !matches!(i, Inline::Roman(s) if s.is_empty()));
    out
}

/// `[text](target)` at the start of `s`: the text and what follows the link.
fn link(s: &str) -> Option<(&str, &str)> {
    let close = s.find("](")?;
    let end = s[close..].find(')')? + close;
    let text = &s[1..close];
    (!text.contains('[') && !s[close + 2..end].contains(' ')).then(|| (text, &s[end + 1..]))
}

/// Markdown as plain text, for the schema's descriptions: links reduced to their text.
pub fn plain(md: &str) -> String {
    inlines(md)
        .into_iter()
        .map(|i| match i {
            Inline::Roman(s) | Inline::Italic(s) => s,
            Inline::Bold(s) => format!("`{s}`"),
            _ => String::new(),
        })
        .collect()
}

fn type_of(v: &Value) -> String {
    match v {
        Value::Bool => "boolean".into(),
        Value::Integer { .. } => "integer".into(),
        Value::Number { .. } => "number".into(),
        Value::Text(t) => t.what.into(),
        Value::List { item, .. } => format!("list of {}", plural(item.what)),
        Value::Map { .. } => "table of strings".into(),
    }
}

fn plural(what: &str) -> String {
    match what {
        "IP:PORT" => what.into(),
        _ if what.ends_with('s') => what.into(),
        _ => format!("{what}s"),
    }
}

fn chars(t: &Text) -> Option<String> {
    t.chars.as_ref().map(|r| match r.start() {
        0 => format!("at most {} characters", r.end()),
        _ => format!("{}-{} characters", r.start(), r.end()),
    })
}

/// What values a key takes beyond its type, in words; empty when any of its type goes.
fn accepted(v: &Value) -> String {
    let mut said = Vec::new();
    match v {
        Value::Bool => {}
        Value::Integer { ranges, .. } => said.push(
            ranges
                .iter()
                .map(|r| match r.start() == r.end() {
                    true => r.start().to_string(),
                    false => format!("{}-{}", r.start(), r.end()),
                })
                .collect::<Vec<_>>()
                .join(", or "),
        ),
        Value::Number { min, max } => said.push(format!("{min}-{max}")),
        Value::Text(t) => {
            said.extend(chars(t));
            let choices = (t.choices)();
            if !choices.is_empty() {
                said.push(format!("one of {}", choices.join(", ")));
            }
        }
        Value::List {
            item,
            min,
            max,
            unique,
        } => {
            if *min > 0 {
                said.push(format!("at least {min}"));
            }
            if let Some(max) = max {
                said.push(format!("at most {max}"));
            }
            if *unique {
                said.push("each once".into());
            }
            said.extend(chars(item));
        }
        Value::Map { max, .. } => said.push(format!("at most {max}")),
    }
    said.join("; ")
}

/// A default as the reference shows it, in Markdown.
fn default_of(d: &Unset) -> String {
    match d {
        Unset::Required => "required".into(),
        Unset::Bool(b) => format!("`{b}`"),
        Unset::Integer(n) => format!("`{n}`"),
        Unset::Number(x) => format!("`{x}`"),
        Unset::Text(s) => format!("`{s:?}`"),
        Unset::Texts(list) => format!("`{list:?}`"),
        Unset::Otherwise(words) => (*words).into(),
    }
}

/// The default of `key` in `table`: one that `[defaults]` also sets comes from there first.
fn default_in(key: &Key, table: &str) -> String {
    let own = default_of(&key.default);
    if table != DEFAULTS && key.tables.contains(&DEFAULTS) {
        format!("from `[{DEFAULTS}]`, else {own}")
    } else {
        own
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The key reference of docs/configuration.md: a section per table, a row per key.
pub fn markdown() -> String {
    let mut out = String::new();
    for table in TABLES {
        out += &format!("## `{}`\n\n", table.header());
        out += &format!("{}{}\n\n", presence(table), table.doc);
        out += "| key | type | default | accepted | meaning |\n|---|---|---|---|---|\n";
        for key in keys::of_table(table.path) {
            out += &format!(
                "| `{}` | {} | {} | {} | {} |\n",
                key.name,
                cell(&type_of(&key.value)),
                cell(&default_in(key, table.path)),
                cell(&accepted(&key.value)),
                cell(key.doc)
            );
        }
        out += "\n";
    }
    out
}

fn presence(table: &Table) -> &'static str {
    match (table.required, table.array) {
        (true, _) => "Required. ",
        (false, false) => "Optional. ",
        (false, true) => "Optional, repeatable. ",
    }
}

/// `doc` with the section between `BEGIN` and `END` replaced by `section`.
pub fn splice(doc: &str, section: &str) -> Result<String, String> {
    let start = doc
        .find(BEGIN)
        .ok_or_else(|| format!("{MARKDOWN} has no line {BEGIN}"))?;
    let end = doc[start..]
        .find(END)
        .map(|e| e + start)
        .ok_or_else(|| format!("{MARKDOWN} has no line {END} after {BEGIN}"))?;
    Ok(format!(
        "{}{BEGIN}\n\n{section}{}",
        &doc[..start],
        &doc[end..]
    ))
}

/// ec2-assume-role.toml(5).
pub fn man_page(version: &str) -> Vec<u8> {
    let mut r = Roff::default();
    r.control(
        "TH",
        [
            "ec2-assume-role.toml",
            "5",
            "",
            &format!("ec2-assume-role {version}"),
        ],
    );
    r.control("SH", ["NAME"]).text([roman(
        "ec2-assume-role.toml - the configuration file of ec2-assume-role",
    )]);
    r.control("SH", ["SYNOPSIS"])
        .text([bold(ec2_assume_role::config::DEFAULT_PATH)]);
    r.control("SH", ["DESCRIPTION"]).text([
        roman(
            "A TOML file: the instance role the agent must run under, where the profiles go, and \
         which roles to assume. Unknown tables and keys are errors, and so is every value STS \
         would refuse; ",
        ),
        bold("ec2-assume-role check"),
        roman(
            " reports every problem with its file, line and key. The tables and keys follow, each \
         with its type, default and the values it takes.",
        ),
    ]);
    r.control("PP", []).text([
        roman("Editors that read a "),
        bold("#:schema"),
        roman(
            " line (Taplo, Even Better TOML) validate and complete the file with the JSON Schema ",
        ),
        italic(SCHEMA_INSTALLED),
        roman("."),
    ]);
    r.control("SH", ["TABLES AND KEYS"]);
    for table in TABLES {
        r.control("SS", [table.header().as_str()]);
        let mut doc = vec![roman(presence(table))];
        doc.extend(inlines(table.doc));
        r.text(doc);
        for key in keys::of_table(table.path) {
            let mut facts = vec![type_of(&key.value)];
            let default = plain(&default_in(key, table.path)).replace('`', "");
            facts.push(match key.default {
                Unset::Required => default,
                _ => format!("default: {default}"),
            });
            let accepted = accepted(&key.value);
            if !accepted.is_empty() {
                facts.push(accepted);
            }
            r.control("TP", [])
                .text([bold(key.name), roman(format!(" ({})", facts.join("; ")))]);
            r.text(inlines(key.doc));
        }
    }
    r.control("SH", ["FILES"]);
    r.control("TP", [])
        .text([italic(ec2_assume_role::config::DEFAULT_PATH)]);
    r.text([roman("the default config file")]);
    r.control("TP", []).text([italic(SCHEMA_INSTALLED)]);
    r.text([roman("the JSON Schema of this file")]);
    r.control("SH", ["SEE ALSO"]).text([roman(
        "ec2-assume-role(1), ec2-assume-role-check(1), ec2-assume-role-run(1), \
         ec2-assume-role-daemon(1), the Configuration page of the documentation in \
         /usr/share/doc/ec2-assume-role/",
    )]);
    r.to_roff().into_bytes()
}

fn text_schema(t: &Text) -> Map<String, Json> {
    let mut s = Map::new();
    s.insert("type".into(), json!("string"));
    if let Some(p) = t.pattern {
        s.insert("pattern".into(), json!(p));
    }
    if let Some(r) = &t.chars {
        s.insert("minLength".into(), json!(r.start()));
        s.insert("maxLength".into(), json!(r.end()));
    }
    let choices = (t.choices)();
    if !choices.is_empty() {
        s.insert("enum".into(), json!(choices));
    }
    s
}

fn value_schema(v: &Value) -> Map<String, Json> {
    let mut s = Map::new();
    match v {
        Value::Bool => {
            s.insert("type".into(), json!("boolean"));
        }
        Value::Integer { ranges, .. } => {
            s.insert("type".into(), json!("integer"));
            let bounds = |r: &std::ops::RangeInclusive<i64>| json!({ "minimum": r.start(), "maximum": r.end() });
            match ranges {
                [one] => s.extend(bounds(one).as_object().cloned().unwrap_or_default()),
                _ => {
                    s.insert("anyOf".into(), ranges.iter().map(bounds).collect());
                }
            }
        }
        Value::Number { min, max } => {
            s.insert("type".into(), json!("number"));
            s.insert("minimum".into(), json!(min));
            s.insert("maximum".into(), json!(max));
        }
        Value::Text(t) => s = text_schema(t),
        Value::List {
            item,
            min,
            max,
            unique,
        } => {
            s.insert("type".into(), json!("array"));
            s.insert("items".into(), Json::Object(text_schema(item)));
            if *min > 0 {
                s.insert("minItems".into(), json!(min));
            }
            if let Some(max) = max {
                s.insert("maxItems".into(), json!(max));
            }
            if *unique {
                s.insert("uniqueItems".into(), json!(true));
            }
        }
        Value::Map {
            key_chars,
            value,
            max,
        } => {
            s.insert("type".into(), json!("object"));
            s.insert(
                "propertyNames".into(),
                json!({ "minLength": key_chars.start(), "maxLength": key_chars.end() }),
            );
            s.insert(
                "additionalProperties".into(),
                Json::Object(text_schema(value)),
            );
            s.insert("maxProperties".into(), json!(max));
        }
    }
    s
}

fn default_json(d: &Unset) -> Option<Json> {
    Some(match d {
        Unset::Bool(b) => json!(b),
        Unset::Integer(n) => json!(n),
        Unset::Number(x) => json!(x),
        Unset::Text(s) => json!(s),
        Unset::Texts(list) => json!(list),
        Unset::Required | Unset::Otherwise(_) => return None,
    })
}

fn table_schema(table: &Table) -> Json {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut exclusive = Vec::new();
    for key in keys::of_table(table.path) {
        let mut s = value_schema(&key.value);
        let mut description = plain(key.doc);
        let default = default_in(key, table.path);
        if !matches!(key.default, Unset::Required) {
            description += &format!(" Default: {}.", plain(&default).replace('`', ""));
        }
        s.insert("description".into(), json!(description));
        if table.path == DEFAULTS || !key.tables.contains(&DEFAULTS) {
            if let Some(d) = default_json(&key.default) {
                s.insert("default".into(), d);
            }
        }
        if let Some(new) = key.deprecated_for {
            s.insert("deprecated".into(), json!(true));
            exclusive.push(json!({ "required": [key.name, new] }));
        }
        if matches!(key.default, Unset::Required) {
            required.push(key.name);
        }
        properties.insert(key.name.into(), Json::Object(s));
    }
    let prefix = format!("{}.", table.path);
    for sub in TABLES {
        if let Some(name) = sub.path.strip_prefix(&prefix) {
            properties.insert(name.into(), table_schema(sub));
        }
    }
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    s.insert(
        "description".into(),
        json!(format!("{}{}", presence(table), plain(table.doc))),
    );
    s.insert("additionalProperties".into(), json!(false));
    s.insert("properties".into(), Json::Object(properties));
    if !required.is_empty() {
        s.insert("required".into(), json!(required));
    }
    if !exclusive.is_empty() {
        s.insert("not".into(), json!({ "anyOf": exclusive }));
    }
    if table.array {
        json!({ "type": "array", "items": s })
    } else {
        Json::Object(s)
    }
}

/// The JSON Schema (draft-07) of the whole file.
pub fn schema() -> String {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for table in TABLES.iter().filter(|t| !t.path.contains('.')) {
        properties.insert(table.path.into(), table_schema(table));
        if table.required {
            required.push(table.path);
        }
    }
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "ec2-assume-role configuration",
        "description": format!(
            "The config file of ec2-assume-role ({}), generated from the parser's list of keys. \
             Rules between keys are checked by `ec2-assume-role check` only.",
            ec2_assume_role::config::DEFAULT_PATH
        ),
        "type": "object",
        "additionalProperties": false,
        "required": required,
        // A config assumes at least one role: a `[[role]]` or a `[[role_set]]`.
        "anyOf": [{ "required": ["role"] }, { "required": ["role_set"] }],
        "properties": properties,
    });
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON value prints");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_inlines_become_roff_and_plain_text() {
        let md = "See `[daemon]` in [Operations](operations.md#the-daemon), or [x] alone.";
        assert_eq!(plain(md), "See `[daemon]` in Operations, or [x] alone.");
        let roff = inlines(md);
        assert!(roff.contains(&bold("[daemon]")), "{roff:?}");
    }

    #[test]
    fn every_key_is_in_all_three() {
        let md = markdown();
        let man = String::from_utf8(man_page("0.0.0")).unwrap();
        let schema: Json = serde_json::from_str(&schema()).unwrap();
        for table in TABLES {
            let mut node = &schema["properties"];
            for part in table.path.split('.') {
                node = &node[part];
                if node["type"] == "array" {
                    node = &node["items"];
                }
                node = &node["properties"];
                if node.is_null() {
                    break;
                }
            }
            for key in keys::of_table(table.path) {
                let header = format!("## `{}`", table.header());
                let section = &md[md.find(&header).unwrap()..];
                let section =
                    &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
                assert!(
                    section.contains(&format!("| `{}` |", key.name)),
                    "{header} {}",
                    key.name
                );
                assert!(
                    man.contains(&format!(".TP\n\\fB{}\\fR", key.name)),
                    "man: {}",
                    key.name
                );
                assert!(
                    node[key.name].is_object(),
                    "schema: [{}] {}",
                    table.path,
                    key.name
                );
            }
        }
        assert!(
            md.contains("| `max_concurrency` | integer | `16` | 1-64 |"),
            "{md}"
        );
    }

    #[test]
    fn splice_replaces_only_the_generated_section() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\nafter\n");
        assert_eq!(
            splice(&doc, "new\n").unwrap(),
            format!("intro\n{BEGIN}\n\nnew\n{END}\nafter\n")
        );
        assert!(splice("no markers", "x").is_err());
    }
}
