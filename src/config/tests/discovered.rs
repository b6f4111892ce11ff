//! `[role_set.organization]` in the config: a role set whose accounts AWS Organizations lists,
//! accepted with its query and template, expanded per account like a written set, and every
//! way it can be wrong refused with the line and key to fix.

use super::{errors, INSTANCE};
use crate::config::{parse, Organization};
use std::path::Path;

/// A reader role on line 4 (profile 5), then a role set on line 8 whose `organization`
/// table starts on line 11 with `org` from line 12 (`set_extra`, one line at most, goes on
/// line 11 and pushes the table down one).
fn discovered(set_extra: &str, org: &str) -> String {
    format!(
        "{INSTANCE}[[role]]\nprofile = \"reader\"\nrole_arn = \"arn:aws:iam::999999999999:role/OrgReader\"\n\n\
         [[role_set]]\nrole_name = \"PerformSecurityAudit\"\nprofile = \"audit-{{account_id}}\"\n\
         {set_extra}[role_set.organization]\n{org}\n"
    )
}

#[test]
fn a_role_set_takes_its_accounts_from_organizations() {
    let text = discovered(
        "",
        "ous = [\"ou-ab12-cdef3456\", \"r-ab12\"]\nexclude = [\"333333333333\"]\n\
         include_management_account = true\nsource_profile = \"reader\"",
    ) + "\n[discovery]\ncache_file = \"/var/lib/ear/a.json\"\n";
    let config = parse(&text, Path::new("c.toml")).unwrap();
    assert_eq!(
        config.roles.len(),
        1,
        "only the written role until discovery"
    );
    let set = &config.discovered[0];
    assert_eq!(set.origin, "role_set[1]");
    assert_eq!(
        set.organization,
        Organization {
            ous: vec!["ou-ab12-cdef3456".into(), "r-ab12".into()],
            exclude: vec!["333333333333".into()],
            include_management_account: true,
            source_profile: Some("reader".into()),
            shared_parameter: None,
        }
    );
    assert!(!config.discovery.publish);
    assert_eq!(
        config.discovery.cache_file,
        Path::new("/var/lib/ear/a.json")
    );
    let role = set.role("111111111111");
    assert_eq!(role.profile, "audit-111111111111");
    assert_eq!(
        role.role_arn,
        "arn:aws:iam::111111111111:role/PerformSecurityAudit"
    );
    assert_eq!(role.account_id, "111111111111");
    let (expanded, shadowed) = config.expand(&[vec!["111111111111".into(), "333333333333".into()]]);
    let profiles: Vec<&str> = expanded.roles.iter().map(|r| r.profile.as_str()).collect();
    assert_eq!(
        profiles,
        ["reader", "audit-111111111111"],
        "333333333333 is excluded"
    );
    assert!(shadowed.is_empty());

    // The default cache, and chaining the set's roles through the reader.
    let text = discovered("source_profile = \"reader\"\n", "");
    let config = parse(&text, Path::new("c.toml")).unwrap();
    assert_eq!(
        config.discovery.cache_file,
        Path::new("/var/lib/ec2-assume-role/accounts.json")
    );
    let (expanded, _) = config.expand(&[vec!["111111111111".into()]]);
    assert_eq!(expanded.chain(1), ["reader", "audit-111111111111"]);
}

#[test]
fn a_fleet_shares_one_listing_through_a_parameter() {
    let name = "/ec2-assume-role/accounts/audit";
    let text = discovered("", &format!("shared_parameter = \"{name}\""));
    let config = parse(&text, Path::new("c.toml")).unwrap();
    let o = &config.discovered[0].organization;
    assert_eq!(o.shared_parameter.as_deref(), Some(name));
    assert!(!config.discovery.publish, "a reader unless it says publish");

    let text = text + "[discovery]\npublish = true\n";
    assert!(parse(&text, Path::new("c.toml")).unwrap().discovery.publish);

    let arn = "arn:aws:ssm:eu-west-1:000000000000:parameter/ear/accounts";
    let text = discovered("", &format!("shared_parameter = \"{arn}\""));
    let config = parse(&text, Path::new("c.toml")).unwrap();
    assert_eq!(
        config.discovered[0]
            .organization
            .shared_parameter
            .as_deref(),
        Some(arn)
    );
}

#[test]
fn a_bad_organization_table_names_line_and_key() {
    // (config, line, key, message part)
    let cases: Vec<(String, usize, &str, &str)> =
        vec![
        (
            discovered("", "ous = [\"ou-AB12-cdef3456\"]"),
            12,
            "role_set[1].organization.ous[1]",
            "\"ou-AB12-cdef3456\" is not an OU or root id: OU ids look like ou-ab12-cdef3456",
        ),
        (
            discovered("", "exclude = [\"3333\"]"),
            12,
            "role_set[1].organization.exclude[1]",
            "\"3333\" is not an account id",
        ),
        (
            discovered("", "source_profile = \"nobody\""),
            12,
            "role_set[1].organization.source_profile",
            "no [[role]] (or role_set with accounts) writes profile \"nobody\"",
        ),
        (
            discovered("", "bogus = 1"),
            12,
            "role_set[1].organization.bogus",
            "unknown key `bogus`",
        ),
        (
            discovered("", "").replace(
                "role_name = \"PerformSecurityAudit\"\n",
                "role_name = \"PerformSecurityAudit\"\naccounts = [\"111111111111\"]\n",
            ),
            10,
            "role_set[1].accounts",
            "and [role_set.organization] both say which accounts; give one of them",
        ),
        (
            discovered("", "").replace("[role_set.organization]\n", ""),
            8,
            "role_set[1].accounts",
            "or take them from AWS Organizations with a [role_set.organization] table",
        ),
        (
            discovered("", "") + "[discovery]\ncache_file = \"accounts.json\"\n",
            14,
            "discovery.cache_file",
            "is not an absolute path",
        ),
        (
            discovered("", "shared_parameter = \"ear/accounts\""),
            12,
            "role_set[1].organization.shared_parameter",
            "is not an SSM parameter name from the root, such as /ec2-assume-role/accounts/audit",
        ),
        (
            discovered("", "shared_parameter = \"/ear/acc ounts\""),
            12,
            "role_set[1].organization.shared_parameter",
            "has ' ': SSM parameter names take letters, digits, _ . - and /",
        ),
        (
            discovered("", "shared_parameter = \"/ear//accounts\""),
            12,
            "role_set[1].organization.shared_parameter",
            "has an empty path segment",
        ),
        (
            discovered("", "shared_parameter = \"/aws-ear/accounts\""),
            12,
            "role_set[1].organization.shared_parameter",
            "begins with aws or ssm, which SSM reserves",
        ),
        (
            discovered("", "shared_parameter = \"arn:aws:ssm:eu-west-1:0:accounts\""),
            12,
            "role_set[1].organization.shared_parameter",
            "an SSM parameter ARN ends in :parameter/NAME",
        ),
        (
            discovered("", "") + "[discovery]\npublish = true\n",
            14,
            "discovery.publish",
            "no [role_set.organization] has a shared_parameter, so there is nothing to publish",
        ),
    ];
    for (text, line, key, want) in cases {
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.line == Some(line)
                && e.key.as_deref() == Some(key)
                && e.message.contains(want)),
            "want {line} {key}: {want}\n{text}\ngot {errs:#?}"
        );
    }
}
