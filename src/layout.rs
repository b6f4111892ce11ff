//! The layout's promises, checked on the source itself: every file opens with a `//!`
//! paragraph; no file has more than `MAX_LINES` lines outside its tests; the modules'
//! imports, at every depth (submodules, a folder's `mod.rs` and its files included), form no
//! cycle; every import between two folders goes down `LAYERS`; and the module names and
//! paths that ARCHITECTURE.md and CONTRIBUTING.md give exist, with every module in
//! CONTRIBUTING.md's source map.
//!
//! A module's imports are the paths it names outside its tests (`crate::…`, `super::…`,
//! `self::…`, a child's name, `use` groups and globs included), each resolved to the longest
//! prefix that is a module: `super::Config` in `config/check.rs` is the folder's `mod.rs`,
//! `super::model::Config` is `config::model`. Line comments are not read. This module is
//! compiled for tests only and must never be needed by the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The folders (top-level modules) from the edge down. A module may import from its own
/// folder and from any row below its own; folders in one row may not import each other.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["cmd"],
    &["daemon"],
    &["agent"],
    &["aws", "store", "policy"],
    &["config"],
    &["base"],
];

/// The most lines a source file may have outside its `#[cfg(test)] mod tests { … }` block
/// (a test-only file counts whole).
const MAX_LINES: usize = 700;

/// Module path (`aws::sts`; `""` for `lib.rs`) → its source.
type Tree = BTreeMap<String, Source>;

struct Source {
    file: PathBuf,
    text: String,
}

/// Module path → the modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, by module path; `main.rs` (the binary) is left out.
fn tree(dir: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap().with_extension("");
                let mut parts: Vec<String> =
                    rel.iter().map(|p| p.to_string_lossy().into()).collect();
                if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                    parts.pop();
                }
                if parts == ["main"] {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                tree.insert(parts.join("::"), Source { file: path, text });
            }
        }
    }
    tree
}

fn parent(module: &str) -> &str {
    module.rsplit_once("::").map_or("", |(p, _)| p)
}

fn child(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_owned()
    } else {
        format!("{module}::{name}")
    }
}

/// The modules declared `#[cfg(test)] mod NAME;` and everything below them.
fn test_only(tree: &Tree) -> BTreeSet<String> {
    let mut declared = BTreeSet::new();
    for (module, source) in tree {
        let mut rest = source.text.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let decl = rest.trim_start();
            let decl = decl.strip_prefix("pub(crate) ").unwrap_or(decl);
            if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.split_once(';')) {
                if is_ident(name.0) {
                    declared.insert(child(module, name.0));
                }
            }
        }
    }
    tree.keys()
        .filter(|m| {
            declared
                .iter()
                .any(|t| *m == t || m.starts_with(&format!("{t}::")))
        })
        .cloned()
        .collect()
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The code that is not a test: the text before an in-file `#[cfg(test)] mod tests {`, with
/// its line comments left out.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths `code` names, each as its segments: `use a::{b, c::*}` gives `a::b` and `a::c`.
fn paths(code: &str, starts: &BTreeSet<String>) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if !(c.is_ascii_alphabetic() || c == b'_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let word = &code[start..i];
        let after_path = start >= 2 && &code[start - 2..start] == "::";
        let in_word =
            start >= 1 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if after_path || in_word || !starts.contains(word) || !code[i..].starts_with("::") {
            continue;
        }
        let (found, end) = use_tree(code, i, vec![word.to_owned()]);
        out.extend(found);
        i = end;
    }
    out
}

/// Reads `::seg::seg…`, `::{…}` or `::*` from `at`, after the segments in `prefix`; returns
/// every path it spells and where it stopped.
fn use_tree(code: &str, mut at: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    loop {
        if !code[at..].starts_with("::") {
            return (vec![prefix], at);
        }
        at += 2;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        match bytes.get(at) {
            Some(b'{') => {
                let mut found = Vec::new();
                at += 1;
                loop {
                    while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b',')
                    {
                        at += 1;
                    }
                    match bytes.get(at) {
                        None => return (found, at),
                        Some(b'}') => return (found, at + 1),
                        _ => {}
                    }
                    let start = at;
                    while at < bytes.len()
                        && (bytes[at].is_ascii_alphanumeric()
                            || bytes[at] == b'_'
                            || bytes[at] == b'*')
                    {
                        at += 1;
                    }
                    if start == at {
                        return (found, at); // not a use group after all
                    }
                    let word = &code[start..at];
                    let mut sub = prefix.clone();
                    if word != "self" && word != "*" {
                        sub.push(word.to_owned());
                    }
                    let (more, end) = use_tree(code, at, sub);
                    found.extend(more);
                    at = end;
                    // Skip an `as NAME` rename.
                    let rest = code[at..].trim_start();
                    if let Some(r) = rest.strip_prefix("as ") {
                        let r = r.trim_start();
                        let n = r
                            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .unwrap_or(r.len());
                        at = code.len() - r.len() + n;
                    }
                }
            }
            Some(b'*') => return (vec![prefix], at + 1),
            _ => {
                let start = at;
                while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                    at += 1;
                }
                if start == at {
                    return (vec![prefix], at);
                }
                prefix.push(code[start..at].to_owned());
            }
        }
    }
}

/// The import graph of the modules of `tree` that are not test-only.
fn graph(tree: &Tree) -> Graph {
    let tests = test_only(tree);
    let mut graph = Graph::new();
    for (module, source) in tree {
        if tests.contains(module) || module.is_empty() {
            continue;
        }
        let children: BTreeSet<String> = tree
            .keys()
            .filter(|m| !m.is_empty() && parent(m) == module && *m != module)
            .map(|m| m.rsplit("::").next().unwrap().to_owned())
            .collect();
        let mut starts: BTreeSet<String> = ["crate", "super", "self"].map(String::from).into();
        starts.extend(children);
        let mut deps = BTreeSet::new();
        for path in paths(&code(&source.text), &starts) {
            let mut base = module.clone();
            let mut rest = &path[..];
            match rest[0].as_str() {
                "crate" => {
                    base.clear();
                    rest = &rest[1..];
                }
                "self" => rest = &rest[1..],
                "super" => {
                    while rest.first().is_some_and(|s| s == "super") {
                        base = parent(&base).to_owned();
                        rest = &rest[1..];
                    }
                }
                _ => {}
            }
            let mut target = base;
            for seg in rest {
                let next = child(&target, seg);
                if !tree.contains_key(&next) {
                    break;
                }
                target = next;
            }
            if target != *module && !target.is_empty() {
                deps.insert(target);
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// The first cycle found, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for dep in graph.get(module).into_iter().flatten() {
            if let Some(c) = visit(graph, dep, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

/// Every import between two folders that does not go down `LAYERS`, as `from -> to`.
fn upward(graph: &Graph) -> Vec<String> {
    let rank = |m: &str| LAYERS.iter().position(|row| row.contains(&top(m)));
    let mut bad = Vec::new();
    for (from, deps) in graph {
        for to in deps {
            if top(from) == top(to) {
                continue;
            }
            match (rank(from), rank(to)) {
                (Some(a), Some(b)) if a < b => {}
                _ => bad.push(format!("{from} -> {to}")),
            }
        }
    }
    bad
}

fn src_tree() -> Tree {
    tree(&root().join("src"))
}

#[test]
fn every_file_opens_with_its_contract() {
    for source in src_tree().values() {
        assert!(
            source.text.starts_with("//!"),
            "{} has no //! paragraph",
            source.file.display()
        );
    }
}

#[test]
fn modules_import_down_the_layers_without_cycles() {
    let tree = src_tree();
    let graph = graph(&tree);
    // The resolver sees each kind of import: a facade path, a sibling's, a parent's glob, a
    // `use` group.
    for (from, to) in [
        ("cmd::run", "agent"),
        ("config::role_set", "config::check"),
        ("agent::assume", "agent"),
        ("agent", "aws::shared"),
        ("config", "config::model"),
    ] {
        assert!(
            graph[from].contains(to),
            "{from} -> {to} not seen: {:?}",
            graph[from]
        );
    }
    for module in graph.keys() {
        assert!(
            LAYERS.iter().any(|row| row.contains(&top(module))),
            "{module}: its folder {} is in no row of LAYERS",
            top(module)
        );
    }
    if let Some(c) = cycle(&graph) {
        panic!("import cycle: {}", c.join(" -> "));
    }
    let bad = upward(&graph);
    assert!(
        bad.is_empty(),
        "imports against LAYERS:\n{}",
        bad.join("\n")
    );
}

/// A tree from `(file, text)` pairs, as `tree` would read it.
fn fake(files: &[(&str, &str)]) -> Tree {
    files
        .iter()
        .map(|(module, text)| {
            let source = Source {
                file: PathBuf::from(module),
                text: (*text).to_owned(),
            };
            ((*module).to_owned(), source)
        })
        .collect()
}

#[test]
fn a_cycle_at_any_depth_is_found() {
    let cases: &[&[(&str, &str)]] = &[
        // Two top-level folders.
        &[
            ("aws", "pub mod sts;"),
            ("aws::sts", "use crate::config::Role;"),
            ("config", "fn f() { crate::aws::sts::call() }"),
        ],
        // Two files of one folder, one through a `use` group.
        &[
            ("config", "mod a; mod b;"),
            ("config::a", "use super::{b::B, Other};"),
            ("config::b", "use super::a::A;"),
        ],
        // A file and its folder's `mod.rs`: a re-export one way, a glob the other.
        &[
            ("agent", "mod write;\npub use write::Written;"),
            ("agent::write", "use super::*;"),
        ],
    ];
    for files in cases {
        let graph = graph(&fake(files));
        assert!(cycle(&graph).is_some(), "no cycle found in {graph:?}");
    }
    // Tests, comments and a module's own paths are not imports.
    let clean = fake(&[
        (
            "agent",
            "mod write;\n// crate::agent::write is below\nuse self::write::W;",
        ),
        (
            "agent::write",
            "use crate::config::X;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}",
        ),
        ("config", "pub struct X;"),
    ]);
    assert_eq!(cycle(&graph(&clean)), None, "{:?}", graph(&clean));
}

#[test]
fn an_import_up_the_layers_is_refused() {
    let graph = graph(&fake(&[
        ("config", "use crate::aws::sts::Sts;"),
        ("aws", "pub mod sts;"),
        ("aws::sts", "pub struct Sts;"),
        ("store", "use crate::aws::imds;"),
        ("aws::imds", ""),
    ]));
    assert_eq!(upward(&graph), ["config -> aws::sts", "store -> aws::imds"]);
}

/// The lines of `text` outside an in-file test module.
fn non_test_lines(text: &str) -> usize {
    text.split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap()
        .lines()
        .count()
}

#[test]
fn no_file_is_over_the_line_limit() {
    let root = root();
    let mut long = Vec::new();
    for dir in TREES {
        for source in tree(&root.join(dir)).values() {
            let n = non_test_lines(&source.text);
            if n > MAX_LINES {
                long.push(format!(
                    "{}: {n}",
                    source.file.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines outside tests:\n{}",
        long.join("\n")
    );
}

/// The repository's folders whose paths the docs may name.
const TREES: &[&str] = &[
    "src",
    "tests",
    "testkit",
    "examples",
    "docgen",
    "fuzz",
    "scripts",
    "packaging",
    "docs",
    "cloud-init",
    "testdata",
];

/// The repository paths (under `TREES`) and `a::b` module paths that `doc` names: in
/// backticks, or first on a line of a fenced block (a source map).
fn named_in(doc: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut files, mut modules) = (BTreeSet::new(), BTreeSet::new());
    let mut prose = String::new();
    for (i, part) in doc.split("```").enumerate() {
        if i % 2 == 0 {
            prose.push_str(part);
            continue;
        }
        for line in part.lines() {
            let word = line.split_whitespace().next().unwrap_or_default();
            if let Some(file) = repository_path(word) {
                files.insert(file);
            }
        }
    }
    for (i, quoted) in prose.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        if let Some(file) = repository_path(quoted) {
            files.insert(file);
        } else if quoted.contains("::")
            && quoted
                .split("::")
                .all(|s| is_ident(s) && s.chars().all(|c| !c.is_ascii_uppercase()))
        {
            modules.insert(quoted.to_owned());
        }
    }
    (files, modules)
}

/// `word` as a path under one of `TREES` (a folder's trailing `/` dropped), if it is one.
fn repository_path(word: &str) -> Option<String> {
    let word = word.trim_end_matches('/');
    let dir = word.split('/').next().unwrap();
    (word.contains('/') && TREES.contains(&dir) && !word.contains([' ', '*']))
        .then(|| word.to_owned())
}

#[test]
fn the_architecture_docs_name_the_tree_as_it_is() {
    let root = root();
    let tree = src_tree();
    let tests = test_only(&tree);
    for doc in ["ARCHITECTURE.md", "CONTRIBUTING.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let (files, modules) = named_in(&text);
        assert!(
            files.len() + modules.len() > 10,
            "{doc} names almost nothing"
        );
        for file in &files {
            assert!(
                root.join(file).exists(),
                "{doc} names {file}, which does not exist"
            );
        }
        for module in &modules {
            let first = module.split("::").next().unwrap();
            // A path into the SDK or std (`aws_config::imds`) is not ours.
            if tree.contains_key(first) {
                let known = tree.contains_key(module.as_str())
                    || tree.contains_key(parent(module))
                        && tree[parent(module)]
                            .text
                            .contains(module.rsplit("::").next().unwrap());
                assert!(
                    known,
                    "{doc} names {module}, which is neither a module nor an item of one"
                );
            }
        }
    }
    // The source map has every file.
    let text = std::fs::read_to_string(root.join("CONTRIBUTING.md")).unwrap();
    let (files, _) = named_in(&text);
    for (module, source) in &tree {
        if tests.contains(module) {
            continue;
        }
        let file = source
            .file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            files.contains(&file),
            "CONTRIBUTING.md's source map lacks {file}"
        );
    }
}
