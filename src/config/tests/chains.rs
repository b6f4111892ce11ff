//! Role chaining in the config: hub-and-spoke configs accepted with their chains, and every
//! way a chain can be wrong refused with the line and key to fix.

use super::{errors, INSTANCE};
use crate::config::{parse, MAX_CHAIN_ROLES};
use std::path::Path;

/// `[[role]]` `hub` on line 4 (profile line 5, role_arn line 6), then `rest` from line 7.
fn hub(rest: &str) -> String {
    format!(
        "{INSTANCE}[[role]]\nprofile = \"hub\"\nrole_arn = \"arn:aws:iam::999999999999:role/Hub\"\n{rest}"
    )
}

#[test]
fn a_hub_and_its_spokes_are_chained() {
    let text = hub("\n[[role_set]]\nrole_name = \"PerformSecurityAudit\"\n\
         accounts = [\"111111111111\", \"222222222222\"]\nprofile = \"audit-{account_id}\"\n\
         source_profile = \"hub\"\n\n\
         [[role]]\nprofile = \"deep\"\nrole_arn = \"arn:aws:iam::333333333333:role/D\"\n\
         source_profile = \"audit-111111111111\"\nduration_seconds = 3600\n");
    let config = parse(&text, Path::new("c.toml")).unwrap();
    let by = |p: &str| config.roles.iter().position(|r| r.profile == p).unwrap();
    assert_eq!(config.source_of(by("hub")), None);
    assert_eq!(config.source_of(by("audit-222222222222")), Some(by("hub")));
    assert_eq!(
        config.chain(by("deep")),
        ["hub", "audit-111111111111", "deep"]
    );
    assert_eq!(config.depth(by("hub")), 0);
    assert_eq!(config.depth(by("deep")), 2);
    // The all-at-once forms the agent's batches use say the same of every role.
    let n = config.roles.len();
    assert_eq!(
        config.sources(),
        (0..n).map(|i| config.source_of(i)).collect::<Vec<_>>()
    );
    assert_eq!(
        config.depths(),
        (0..n).map(|i| config.depth(i)).collect::<Vec<_>>()
    );
    assert_eq!(
        config.roles[by("audit-111111111111")]
            .source_profile
            .as_deref(),
        Some("hub")
    );
}

#[test]
fn broken_chains_name_line_and_key() {
    let spoke = |n: usize, body: &str| {
        format!("\n[[role]]\nprofile = \"s{n}\"\nrole_arn = \"arn:aws:iam::11111111111{n}:role/S\"\n{body}\n")
    };
    // A chain one role longer than allowed: hub -> s1 -> s2 -> ... .
    let mut too_long = String::new();
    for n in 1..MAX_CHAIN_ROLES {
        let source = if n == 1 {
            "hub".into()
        } else {
            format!("s{}", n - 1)
        };
        too_long += &spoke(n, &format!("source_profile = \"{source}\""));
    }
    let last = MAX_CHAIN_ROLES;
    too_long += &spoke(last, &format!("source_profile = \"s{}\"", last - 1));
    let too_long_line = 7 + 5 * (MAX_CHAIN_ROLES - 1) + 4;
    let too_long_key = format!("role[{}].source_profile", MAX_CHAIN_ROLES + 1);
    // (config, line, key, message part)
    let cases: Vec<(String, usize, &str, String)> =
        vec![
        (
            hub(&spoke(1, "source_profile = \"nub\"")),
            11,
            "role[2].source_profile",
            "no configured role writes profile \"nub\"; source_profile names another [[role]] or \
             [[role_set]] profile of this config (configured: hub)"
                .into(),
        ),
        (
            hub(&spoke(1, "source_profile = \"s1\"")),
            11,
            "role[2].source_profile",
            "\"s1\" is this role's own profile".into(),
        ),
        (
            hub(&(spoke(1, "source_profile = \"s2\"") + &spoke(2, "source_profile = \"s1\""))),
            11,
            "role[2].source_profile",
            "the chain s1 -> s2 -> s1 comes back to \"s1\": one role of a chain must be assumed \
             with the instance credentials (no source_profile)"
                .into(),
        ),
        (
            hub(&(spoke(1, "source_profile = \"s2\"") + &spoke(2, "source_profile = \"s1\""))),
            16,
            "role[3].source_profile",
            "the chain s2 -> s1 -> s2 comes back to \"s2\"".into(),
        ),
        (
            hub(&too_long),
            too_long_line,
            &too_long_key,
            format!(
                "is {} roles long; at most {MAX_CHAIN_ROLES} are allowed",
                MAX_CHAIN_ROLES + 1
            ),
        ),
        (
            hub(&spoke(1, "source_profile = \"hub\"\nduration_seconds = 7200")),
            12,
            "role[2].duration_seconds",
            "duration_seconds = 7200, but STS caps a chained session (one assumed with \
             source_profile \"hub\"'s credentials) at 3600 seconds; give at most 3600"
                .into(),
        ),
        (
            format!(
                "[defaults]\nduration_seconds = 43200\n{}",
                hub(&spoke(1, "source_profile = \"hub\""))
            ),
            13,
            "role[2].source_profile",
            "duration_seconds = 43200, but STS caps a chained session".into(),
        ),
        (
            hub(
                "\n[[role_set]]\nrole_name = \"R\"\naccounts = [\"111111111111\"]\n\
                 profile = \"a-{account_id}\"\nsource_profile = \"nub\"\n",
            ),
            12,
            "role_set[1].source_profile",
            "no configured role writes profile \"nub\"".into(),
        ),
        (
            hub(&spoke(1, "source_profile = \"h b\"")),
            11,
            "role[2].source_profile",
            "\"h b\" cannot be a profile name".into(),
        ),
    ];
    for (text, line, key, want) in cases {
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.line == Some(line)
                && e.key.as_deref() == Some(key)
                && e.message.contains(&want)),
            "want {line} {key}: {want}\n{text}\ngot {errs:#?}"
        );
    }
}
