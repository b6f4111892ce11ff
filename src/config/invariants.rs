//! The parser's promises as checks that panic when one is broken: the property tests
//! (`tests/properties.rs`) and the fuzz target (`fuzz/fuzz_targets/config.rs`) run the same
//! ones. New promises go here, not into ad-hoc asserts. Compiled for tests and under
//! `cfg(fuzzing)` only; it must never be reachable from the binary.

use super::diagnostic::line_of;
use super::rules::{check_profile, parse_role_arn, WORST_CASE_ACCOUNT_ID, WORST_CASE_INSTANCE_ID};
use super::{parse, parse_bytes, Config, ConfigErrors, Placeholders};
use std::path::Path;

/// The path problems are reported under.
pub const PATH: &str = "/etc/ec2-assume-role/config.toml";

/// Parses `bytes` as `load` would and checks the outcome: every problem is one line of the
/// promised `FILE:LINE: key: message` shape (LINE and key when known); a config that is
/// accepted is accepted again, and again when written out in full.
pub fn check(bytes: &[u8]) -> Result<Config, ConfigErrors> {
    let outcome = parse_bytes(bytes, Path::new(PATH));
    match &outcome {
        Err(errors) => check_errors(bytes, errors),
        Ok(config) => check_config(bytes, config),
    }
    outcome
}

fn check_errors(bytes: &[u8], errors: &ConfigErrors) {
    assert!(!errors.errors.is_empty(), "refused without a problem");
    let last_line = line_of(bytes, bytes.len());
    let shown = errors.to_string();
    assert_eq!(
        shown.split('\n').count(),
        errors.errors.len(),
        "not one line per problem:\n{shown}"
    );
    for (e, line) in errors.errors.iter().zip(shown.split('\n')) {
        let mut head = format!("{PATH}:");
        if let Some(n) = e.line {
            assert!(
                (1..=last_line).contains(&n),
                "line {n} of {last_line}: {line}"
            );
            head += &format!("{n}:");
        }
        head.push(' ');
        if let Some(key) = &e.key {
            assert!(!key.is_empty(), "an empty key: {line}");
            head += &format!("{key}: ");
        }
        assert!(
            line.starts_with(&head),
            "{line:?} does not start with {head:?}"
        );
        assert!(!e.message.trim().is_empty(), "no message: {line:?}");
        // A control character (a CR, an escape sequence) would garble the terminal or
        // the journal line that shows the problem.
        assert!(
            !line.chars().any(char::is_control),
            "control character in {line:?}"
        );
    }
    assert!(
        errors.errors.windows(2).all(|w| w[0].line <= w[1].line),
        "not in line order:\n{shown}"
    );
}

fn check_config(bytes: &[u8], config: &Config) {
    let again = parse_bytes(bytes, Path::new(PATH));
    assert!(
        again.as_ref() == Ok(config),
        "parsed differently the second time"
    );
    assert!(!config.roles.is_empty(), "a config without roles");
    let worst = Placeholders {
        instance_id: WORST_CASE_INSTANCE_ID,
        account_id: WORST_CASE_ACCOUNT_ID,
    };
    let mut profiles = std::collections::HashSet::new();
    for role in &config.roles {
        assert!(
            profiles.insert(&role.profile),
            "profile {} twice",
            role.profile
        );
        assert_eq!(check_profile(&role.profile), Ok(()));
        assert_eq!(
            parse_role_arn(&role.role_arn),
            Ok((role.partition.as_str(), role.account_id.as_str()))
        );
        if let Err(e) = role.session_name(&worst) {
            panic!("accepted, yet the session name fails at run time: {e}");
        }
    }
    let text = render(config);
    match parse(&text, Path::new(PATH)) {
        Ok(reparsed) => assert_eq!(without_lines(&reparsed), without_lines(config)),
        Err(e) => panic!("accepted, but refused when written out in full:\n{e}\n{text}"),
    }
}

fn without_lines(config: &Config) -> Config {
    let mut c = config.clone();
    for role in &mut c.roles {
        role.line = 0;
    }
    c
}

/// The config with every value explicit and each role (role sets expanded) as a `[[role]]`.
pub fn render(config: &Config) -> String {
    use toml::{Table, Value};
    let string = |s: &str| Value::String(s.to_owned());
    let path = |p: &Path| Value::String(p.display().to_string());
    let int = |n: i64| Value::Integer(n);
    let table = |entries: Vec<(&str, Option<Value>)>| -> Table {
        entries
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect()
    };
    let i = &config.instance;
    let c = &config.credentials;
    let d = &config.daemon;
    let roles = config
        .roles
        .iter()
        .map(|r| {
            let tags: Table = r.tags.iter().map(|(k, v)| (k.clone(), string(v))).collect();
            Value::Table(table(vec![
                ("profile", Some(string(&r.profile))),
                ("role_arn", Some(string(&r.role_arn))),
                ("external_id", r.external_id.as_deref().map(string)),
                ("role_session_name", Some(string(&r.role_session_name))),
                ("duration_seconds", Some(int(r.duration_seconds.into()))),
                ("region", r.region.as_deref().map(string)),
                ("source_identity", r.source_identity.as_deref().map(string)),
                ("tags", Some(Value::Table(tags))),
                ("policy", r.policy.as_deref().map(string)),
                (
                    "policy_arns",
                    Some(Value::Array(
                        r.policy_arns.iter().map(|a| string(a)).collect(),
                    )),
                ),
                ("use_fips_endpoint", r.endpoints.fips.map(Value::Boolean)),
                (
                    "use_dualstack_endpoint",
                    r.endpoints.dual_stack.map(Value::Boolean),
                ),
            ]))
        })
        .collect();
    let count = |n: u64| i64::try_from(n).expect("checked small at parse time");
    let file = table(vec![
        (
            "instance",
            Some(Value::Table(table(vec![
                ("role_name", Some(string(&i.role_name))),
                ("account_id", i.account_id.as_deref().map(string)),
            ]))),
        ),
        (
            "credentials",
            Some(Value::Table(table(vec![
                ("file", c.file.as_deref().map(path)),
                ("config_file", c.config_file.as_deref().map(path)),
                ("owner", c.owner.as_deref().map(string)),
                (
                    "replace_unmanaged",
                    Some(Value::Boolean(c.replace_unmanaged)),
                ),
                (
                    "credential_process",
                    Some(Value::Boolean(c.credential_process)),
                ),
            ]))),
        ),
        (
            "daemon",
            Some(Value::Table(table(vec![
                ("refresh_at", Some(Value::Float(d.refresh_at))),
                ("jitter", Some(Value::Float(d.jitter))),
                (
                    "safety_window_seconds",
                    Some(int(count(d.safety_window_seconds))),
                ),
                ("remove_expired", Some(Value::Boolean(d.remove_expired))),
                ("state_file", Some(path(&d.state_file))),
                ("metrics_file", d.metrics_file.as_deref().map(path)),
            ]))),
        ),
        (
            "sts",
            Some(Value::Table(table(vec![
                (
                    "max_concurrency",
                    Some(int(count(config.sts.max_concurrency as u64))),
                ),
                (
                    "boot_jitter_seconds",
                    Some(int(count(config.sts.boot_jitter_seconds))),
                ),
            ]))),
        ),
        ("role", Some(Value::Array(roles))),
    ]);
    file.to_string()
}
