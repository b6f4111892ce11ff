//! ec2-assume-role: assumes IAM roles with an EC2 instance's own credentials (read through
//! IMDSv2 only) and writes them as named profiles in a user's AWS credentials file.
//!
//! The binary in `main.rs` is a thin edge over this library: it parses the command line with
//! `cli`, runs it, and maps the `error::Error` it ends with to a documented exit code.
//! Dependencies run one way, from the edge down: `cli` → `cmd::*` (one file per command) →
//! `agent` (the one-shot job), `tracking` (the daemon's bookkeeping), `policy` (the IAM side of
//! a config) → `source`, `files`, `yaml`, `discovery` → `config`, `imds`, `sts`, `denied`,
//! `ssm`, `org`, `lastgood`, `partitions`, `credfile`, `fileio`, `schedule`, `state`, `clock`,
//! `retry`, `http`, `creds`, `logging`, `metrics`. `error` wraps the lower modules' errors;
//! nothing below `cli` imports `cli`.

pub mod agent;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod credfile;
pub mod creds;
pub mod denied;
pub mod discovery;
pub mod endpoint;
pub mod error;
pub mod fileio;
pub mod files;
pub mod http;
pub mod imds;
pub mod lastgood;
pub mod logging;
pub mod metrics;
pub mod org;
pub mod partitions;
pub mod policy;
pub mod retry;
pub mod schedule;
pub mod shared;
pub mod source;
pub mod ssm;
pub mod state;
pub mod sts;
pub mod tracking;
pub mod yaml;

/// The layout promises of this file's `//!`, checked on the source itself: every module opens
/// with a `//!` paragraph, no module imports `cli` (or the binary), and the graph of
/// `crate::` imports outside tests has no cycle.
#[cfg(test)]
mod layout {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Module name → the modules it names as `crate::MODULE` (for `cmd`, `cmd::NAME`).
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph = BTreeMap::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue; // data compiled in, such as partitions.json
                }
                let rel = path.strip_prefix(&src).unwrap().with_extension("");
                let name = rel.to_string_lossy().replace("/mod", "").replace('/', "::");
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with("//!"),
                    "{} has no //! paragraph",
                    path.display()
                );
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
                let mut deps = BTreeSet::new();
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    let word = |s: &str| -> String {
                        s.chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect()
                    };
                    let top = word(rest);
                    let dep = match rest[top.len()..].strip_prefix("::") {
                        Some(sub) if top == "cmd" && !word(sub).is_empty() => {
                            format!("cmd::{}", word(sub))
                        }
                        _ => top,
                    };
                    if dep != name && !dep.is_empty() {
                        deps.insert(dep);
                    }
                }
                graph.insert(name, deps);
            }
        }
        graph
    }

    #[test]
    fn modules_import_downwards_only() {
        let graph = imports();
        assert!(graph.contains_key("agent") && graph.contains_key("cmd::daemon"));
        for (module, deps) in &graph {
            assert!(!deps.contains("cli"), "{module} imports cli");
            assert!(!deps.contains("main"), "{module} imports main");
        }
        // Depth-first search for a cycle, reporting the path of the first one found.
        fn visit<'a>(
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            module: &'a str,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(at) = path.iter().position(|m| *m == module) {
                panic!("import cycle: {} -> {module}", path[at..].join(" -> "));
            }
            if !done.insert(module) {
                return;
            }
            path.push(module);
            for dep in graph.get(module).into_iter().flatten() {
                visit(graph, dep, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for module in graph.keys() {
            visit(&graph, module, &mut Vec::new(), &mut done);
        }
    }
}
