//! The config reference against what the parser accepts: every example config in the
//! repository (packaging, testdata, cloud-init, the docs' TOML blocks, tests/corpus/
//! config-good/) is accepted by the parser and by the committed JSON Schema under two real
//! validators, Python's `jsonschema` (from the test venv) and `taplo check` (npm's @taplo/cli in
//! `.node/`, installed by scripts/test.sh); every file of tests/corpus/config-bad/ is refused by all
//! three. Also the naming of the credentials file (`file`, the former name of
//! `credentials_file`) and the AWS file variables, as a user meets them on `run`.

use crate::util::{story, venv, REFERENCE_CONFIG};
use ec2_assume_role::config::keys::{self, TABLES};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Where the packages install the schema, as the example config's `#:schema` line names it.
const INSTALLED_SCHEMA: &str = "/usr/share/ec2-assume-role/config.schema.json";

fn root() -> &'static Path {
    Path::new(ROOT)
}

fn schema() -> PathBuf {
    root().join("docs/config.schema.json")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn toml_files(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("listing {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p.strip_prefix(root()).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The lines of `text` after the line `start` up to the line `end` (not included).
fn between(text: &str, start: &str, end: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim_end() != start).skip(1);
    let mut out = String::new();
    for line in lines.by_ref() {
        if line.trim_end() == end {
            return out;
        }
        out += line;
        out += "\n";
    }
    panic!("no block from {start:?} to {end:?}");
}

/// A docs block made a whole config: the `[instance]` table, the `[[role_set]]` a
/// `[role_set.organization]` belongs to and a `[[role]]`, when the block shows only other
/// tables.
fn complete(block: &str) -> String {
    let has = |header: &str| block.lines().any(|l| l.trim_start().starts_with(header));
    let mut text = String::new();
    if !has("[instance]") {
        text += "[instance]\nrole_name = \"EC2_Example\"\n\n";
    }
    let first = block.lines().map(str::trim).find(|l| l.starts_with('['));
    let orphan = first.is_some_and(|h| h.starts_with("[role_set."));
    if orphan {
        text += "[[role_set]]\nrole_name = \"R\"\nprofile = \"r-{account_id}\"\n\n";
    }
    text += block;
    if !has("[[role]]") && !has("[[role_set]]") && !orphan {
        text += "\n[[role]]\nprofile = \"example\"\nrole_arn = \"arn:aws:iam::111111111111:role/Example\"\n";
    }
    text
}

/// Every example config of the repository, as (where, text), placeholders filled.
fn examples() -> Vec<(String, String)> {
    let mut all = vec![(
        "packaging/config.toml".to_owned(),
        read("packaging/config.toml"),
    )];
    all.extend(toml_files("testdata"));
    all.extend(toml_files("tests/corpus/config-good"));
    let user_data = read("cloud-init/user-data.sh");
    all.push((
        "cloud-init/user-data.sh".into(),
        between(&user_data, "cat > \"$CONFIG.tmp\" <<'EOF'", "EOF"),
    ));
    let cloud_config = read("cloud-init/cloud-config.yaml");
    let content: String = cloud_config
        .lines()
        .skip_while(|l| !l.contains("path: /etc/ec2-assume-role/config.toml"))
        .skip_while(|l| !l.trim_end().ends_with("content: |"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("      "))
        .map(|l| format!("{}\n", l.get(6..).unwrap_or("")))
        .collect();
    all.push(("cloud-init/cloud-config.yaml".into(), content));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root().join("README.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for (i, block) in text.split("```toml\n").skip(1).enumerate() {
            let block = block.split("```").next().unwrap();
            all.push((format!("{name} (toml block {})", i + 1), complete(block)));
        }
    }
    for (_, text) in &mut all {
        *text = text
            .replace("CREDENTIALS_FILE", "/home/ec2-user/.aws/credentials")
            .replace(INSTALLED_SCHEMA, &schema().display().to_string());
    }
    assert!(all.len() >= 15, "{} examples", all.len());
    all
}

/// Writes `files` into a temp dir: (where, path written).
fn write_all(dir: &Path, files: &[(String, String)]) -> Vec<(String, PathBuf)> {
    files
        .iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let path = dir.join(format!("{i:02}.toml"));
            std::fs::write(&path, text).unwrap();
            (name.clone(), path)
        })
        .collect()
}

/// What Python's `jsonschema` (draft-07, the schema itself checked first) says of each file:
/// its errors, none when valid.
fn jsonschema_errors(files: &[(String, PathBuf)]) -> Vec<(String, Vec<String>)> {
    const SCRIPT: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    print(json.dumps([e.message for e in validator.iter_errors(doc)]))
"#;
    let out = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(SCRIPT)
        .arg(schema())
        .args(files.iter().map(|(_, p)| p))
        .output()
        .expect("running the venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "jsonschema failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Vec<String>> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), files.len());
    files.iter().map(|(n, _)| n.clone()).zip(verdicts).collect()
}

/// `taplo` from scripts/test.sh's `.node/` (`EAR_TEST_TAPLO` names another). Missing is a
/// failure, as for the venv.
fn taplo() -> PathBuf {
    let path = std::env::var_os("EAR_TEST_TAPLO")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".node/node_modules/.bin/taplo"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh --setup once (it installs @taplo/cli into .node), \
         or point EAR_TEST_TAPLO at a taplo",
        path.display()
    );
    path
}

/// `taplo check` of one file against the schema: its output when it refuses the file.
fn taplo_check(file: &Path, with_flag: bool) -> Result<(), String> {
    taplo_check_all(&[file], with_flag)
}

/// `taplo check` of `files` in one run (taplo starts in about a second): its output, which
/// names each file it refuses, when it refuses any.
fn taplo_check_all(files: &[&Path], with_flag: bool) -> Result<(), String> {
    let mut cmd = Command::new(taplo());
    cmd.arg("check")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1");
    if with_flag {
        cmd.arg("--schema")
            .arg(format!("file://{}", schema().display()));
    }
    let out = cmd.args(files).output().expect("running taplo");
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[test]
fn every_example_config_is_accepted_by_the_parser_and_the_schema() {
    let examples = examples();
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(dir.path(), &examples);
    for (name, text) in &examples {
        if let Err(e) = ec2_assume_role::config::parse(text, Path::new(name)) {
            panic!("the parser refuses {name}:\n{e}\n---\n{text}");
        }
    }
    for (name, errors) in jsonschema_errors(&files) {
        assert!(errors.is_empty(), "jsonschema refuses {name}: {errors:?}");
    }
    let paths: Vec<&Path> = files.iter().map(|(_, p)| p.as_path()).collect();
    if let Err(why) = taplo_check_all(&paths, true) {
        let names: Vec<String> = files
            .iter()
            .map(|(name, path)| format!("{} is {name}", path.display()))
            .collect();
        panic!(
            "taplo refuses an example config:\n{why}\n{}",
            names.join("\n")
        );
    }
    // The example config's `#:schema` line, a file path, is what taplo follows without a flag.
    let (_, packaged) = &files[0];
    assert!(std::fs::read_to_string(packaged)
        .unwrap()
        .starts_with(&format!("#:schema {}\n", schema().display())));
    taplo_check(packaged, false).unwrap();
    eprintln!(
        "{} example configs accepted by the parser, jsonschema and taplo",
        files.len()
    );
}

#[test]
fn every_bad_config_is_refused_by_the_parser_and_the_schema() {
    let bad = toml_files("tests/corpus/config-bad");
    assert!(bad.len() >= 10, "{} bad configs", bad.len());
    let dir = tempfile::tempdir().unwrap();
    let files = write_all(dir.path(), &bad);
    for (name, text) in &bad {
        let parsed = ec2_assume_role::config::parse(text, Path::new(name));
        assert!(parsed.is_err(), "the parser accepts {name}");
    }
    for (name, errors) in jsonschema_errors(&files) {
        assert!(!errors.is_empty(), "jsonschema accepts {name}");
    }
    for (name, path) in &files {
        assert!(taplo_check(path, true).is_err(), "taplo accepts {name}");
    }
    // A directive does it too: the schema's verdict reaches an editor.
    let (name, path) = &files[0];
    let text = format!("#:schema {}\n{}", schema().display(), bad[0].1);
    std::fs::write(path, text).unwrap();
    assert!(
        taplo_check(path, false).is_err(),
        "taplo follows no #:schema in {name}"
    );
}

/// The every-key corpus file shows every key of config::keys in every table it may be in
/// (but the former name `file`), so the schema is proven on each of them.
#[test]
fn the_every_key_example_has_every_key() {
    let text = read("tests/corpus/config-good/every-key.toml");
    let doc: toml::Table = toml::from_str(&text).unwrap();
    for table in TABLES {
        let mut node = Some(toml::Value::Table(doc.clone()));
        for part in table.path.split('.') {
            node = node.and_then(|n| match n {
                toml::Value::Table(mut t) => t.remove(part),
                toml::Value::Array(a) => a
                    .into_iter()
                    .find_map(|v| v.as_table().and_then(|t| t.get(part)).cloned()),
                _ => None,
            });
        }
        let node = node.unwrap_or_else(|| panic!("no [{}]", table.path));
        let given: Vec<&toml::Table> = match &node {
            toml::Value::Table(t) => vec![t],
            toml::Value::Array(a) => a.iter().filter_map(|v| v.as_table()).collect(),
            _ => panic!("[{}] is not a table", table.path),
        };
        for key in keys::of_table(table.path) {
            if key.deprecated_for.is_some() {
                continue;
            }
            assert!(
                given.iter().any(|t| t.contains_key(key.name)),
                "every-key.toml lacks [{}] {}",
                table.path,
                key.name
            );
        }
    }
}

/// `[credentials] file`, the former name, still works, and `run` says where to rename it.
#[test]
fn the_former_name_of_credentials_file_is_read_with_a_warning() {
    let t = story();
    let config = REFERENCE_CONFIG.replace("credentials_file = ", "file = ");
    assert_ne!(config, REFERENCE_CONFIG);
    t.write_config(&config);
    let out = t.cmd(&["run"]).expect_exit(0);
    let line = out.stderr_line("credentials.file");
    assert!(
        line.contains(&format!(
            "{}:8: credentials.file: is the former name of credentials_file",
            t.config_path().display()
        )),
        "{line}"
    );
    assert!(t
        .read(t.credentials_path())
        .contains("[audit-111111111111]"));
}

/// The agent writes where the config says; the AWS file variables of its environment are
/// named once when they point elsewhere, and not at all when they point at its files.
#[test]
fn aws_file_variables_that_point_elsewhere_are_named_once() {
    let t = story();
    // The test commands carry an ambient AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE.
    let out = t.cmd(&["run"]).expect_exit(0);
    let ambient = t.path().join("ambient/credentials");
    let line = out.stderr_line("AWS_SHARED_CREDENTIALS_FILE is");
    assert!(
        line.contains(&format!(
            "AWS_SHARED_CREDENTIALS_FILE is {} here, but the profiles of [credentials] go to {}",
            ambient.display(),
            t.credentials_path().display()
        )),
        "{line}"
    );
    let line = out.stderr_line("AWS_CONFIG_FILE is");
    assert!(
        line.contains(&t.aws_config_path().display().to_string()),
        "{line}"
    );
    assert_eq!(
        out.stderr.matches("AWS_SHARED_CREDENTIALS_FILE is").count(),
        1
    );

    let mut same = t.cmd(&["run"]);
    same.env("AWS_SHARED_CREDENTIALS_FILE", t.credentials_path())
        .env("AWS_CONFIG_FILE", t.aws_config_path());
    let out = same.expect_exit(0);
    assert!(
        !out.stderr.contains("AWS_SHARED_CREDENTIALS_FILE is"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("AWS_CONFIG_FILE is"), "{}", out.stderr);
}
