//! Several users from one config: `[[user]]` tables and a role's `users`, accepted with the
//! destinations they give, and every way they can be wrong refused with the line and key.

use super::{errors, INSTANCE};
use crate::config::{parse, User, DEFAULT_USER};
use std::path::Path;

/// `[[user]]` alice on line 4 (name line 5), `[[user]]` bob on line 7 (name line 8), then
/// `rest` from line 10.
fn two_users(rest: &str) -> String {
    format!("{INSTANCE}[[user]]\nname = \"alice\"\n\n[[user]]\nname = \"bob\"\n\n{rest}")
}

#[test]
fn roles_go_to_the_users_they_name_and_else_to_credentials() {
    let text = two_users(
        "[[user]]\nname = \"carol\"\ncredentials_file = \"/srv/carol/creds\"\n\
         config_file = \"/srv/carol/config\"\ncredential_process = true\n\n\
         [[role]]\nprofile = \"plain\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\n\
         [[role]]\nprofile = \"shared\"\nrole_arn = \"arn:aws:iam::222222222222:role/R\"\n\
         users = [\"default\", \"alice\", \"bob\"]\n\n\
         [[role_set]]\nrole_name = \"R\"\naccounts = [\"333333333333\"]\nprofile = \"a-{account_id}\"\n\
         users = [\"carol\"]\n",
    );
    let config = parse(&text, Path::new("/c.toml")).unwrap();
    let users: Vec<(&str, &[String])> = config
        .roles
        .iter()
        .map(|r| (r.profile.as_str(), r.users.as_slice()))
        .collect();
    assert_eq!(
        users,
        [
            ("plain", &[DEFAULT_USER.to_owned()][..]),
            (
                "shared",
                &["default".into(), "alice".into(), "bob".into()][..]
            ),
            ("a-333333333333", &["carol".to_owned()][..]),
        ]
    );
    assert_eq!(
        config.users[2],
        User {
            name: "carol".into(),
            credentials_file: Some("/srv/carol/creds".into()),
            config_file: Some("/srv/carol/config".into()),
            credential_process: true,
            line: 10,
        }
    );
    assert_eq!(
        (
            config.users[0].line,
            config.users[0].credentials_file.clone()
        ),
        (4, None)
    );
    // Users are not part of what STS is asked: a role's users never split one AssumeRole.
    let mut other = config.roles[1].clone();
    other.users = vec!["alice".into()];
    assert!(other.same_request(&config.roles[1]));
}

#[test]
fn every_users_mistake_names_line_and_key() {
    let role = |users: &str| {
        format!(
            "[[role]]\nprofile = \"p\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n{users}\n"
        )
    };
    let cases: Vec<(String, usize, &str, &str)> = vec![
        (
            two_users(&role("users = [\"alice\", \"dave\"]")),
            13,
            "role[1].users",
            "\"dave\" is not a [[user]] of this config; known: \"default\" ([credentials]), \"alice\", \"bob\"",
        ),
        (
            two_users(&role("users = [\"bob\", \"bob\"]")),
            13,
            "role[1].users",
            "\"bob\" is listed twice",
        ),
        (
            two_users(&role("users = []")),
            13,
            "role[1].users",
            "an empty list writes the role nowhere",
        ),
        (
            format!("{INSTANCE}[[user]]\nname = \"alice\"\n\n[[user]]\nname = \"alice\"\n\n{}", role("")),
            8,
            "user[2].name",
            "user \"alice\" is already user[1]; give each user one table",
        ),
        (
            format!("{INSTANCE}[[user]]\nname = \"default\"\n\n{}", role("")),
            5,
            "user[1].name",
            "\"default\" is how a role's users names [credentials]' files",
        ),
        (
            format!("{INSTANCE}[[user]]\nname = \"9lives\"\n\n{}", role("")),
            5,
            "user[1].name",
            "is not a user name",
        ),
        (
            format!("{INSTANCE}[[user]]\ncredentials_file = \"/a/c\"\n\n{}", role("")),
            4,
            "user[1].name",
            "missing; name the local user",
        ),
        (
            format!("{INSTANCE}[[user]]\nname = \"a\"\nbogus = 1\n\n{}", role("")),
            6,
            "user[1].bogus",
            "unknown key `bogus`",
        ),
        (
            format!(
                "{INSTANCE}[credentials]\nfile = \"/srv/shared/credentials\"\n\n\
                 [[user]]\nname = \"alice\"\ncredentials_file = \"/srv/shared/credentials\"\n\n{}",
                role("")
            ),
            9,
            "user[1].credentials_file",
            "/srv/shared/credentials is already [credentials] credentials_file; each file gets one writer",
        ),
        (
            two_users(&format!(
                "[[user]]\nname = \"carol\"\nconfig_file = \"/srv/x\"\n\n\
                 [[user]]\nname = \"dave\"\ncredentials_file = \"/srv/x\"\n\n{}",
                role("")
            )),
            16,
            "user[4].credentials_file",
            "/srv/x is already user[3] config_file",
        ),
        (
            format!("{INSTANCE}[[user]]\nname = \"a\"\ncredentials_file = \"relative\"\n\n{}", role("")),
            6,
            "user[1].credentials_file",
            "",
        ),
        (
            format!("{INSTANCE}[[user]]\nname = \"a\"\ncredentials_file = \"/a/config\"\n\n{}", role("")),
            6,
            "user[1].credentials_file",
            "would be both the credentials file and the config file",
        ),
        (
            format!(
                "{INSTANCE}[[role_set]]\nrole_name = \"R\"\naccounts = [\"111111111111\"]\n\
                 profile = \"a-{{account_id}}\"\nusers = [\"nobody\"]\n"
            ),
            8,
            "role_set[1].users",
            "\"nobody\" is not a [[user]] of this config; known: \"default\" ([credentials])",
        ),
    ];
    for (text, line, key, message) in cases {
        let errs = errors(&text);
        let found = errs.iter().any(|e| {
            e.line == Some(line) && e.key.as_deref() == Some(key) && e.message.contains(message)
        });
        assert!(
            found,
            "want line {line} key {key} saying {message:?} in:\n{text}\ngot: {errs:#?}"
        );
        assert!(errs.iter().all(|e| e.path == Path::new("/etc/c.toml")));
    }
}

#[test]
fn a_discovered_set_counts_for_its_users_before_its_accounts_are_known() {
    let text = format!(
        "{INSTANCE}[[user]]\nname = \"alice\"\n\n[[role_set]]\nrole_name = \"R\"\n\
         profile = \"a-{{account_id}}\"\nusers = [\"alice\"]\n[role_set.organization]\n"
    );
    let config = parse(&text, Path::new("/c.toml")).unwrap();
    assert!(config.roles.is_empty());
    assert!(config.goes_to("alice"));
    assert!(!config.goes_to(DEFAULT_USER));
}

/// `[credentials]` names its file as a `[[user]]` does, `credentials_file`; the former name
/// `file` is read with a warning that names the file and line; both at once are refused.
#[test]
fn credentials_file_is_the_one_name_and_file_is_read_with_a_warning() {
    let with = |body: &str| {
        format!(
            "{INSTANCE}[credentials]\n{body}\n\n[[role]]\nprofile = \"p\"\n\
             role_arn = \"arn:aws:iam::111111111111:role/R\"\n"
        )
    };
    let path = Path::new("/etc/c.toml");
    let new = parse(&with("credentials_file = \"/srv/creds\""), path).unwrap();
    assert_eq!(
        new.credentials.file.as_deref(),
        Some(Path::new("/srv/creds"))
    );
    assert!(new.warnings.is_empty(), "{:?}", new.warnings);

    let old = parse(&with("file = \"/srv/creds\""), path).unwrap();
    assert_eq!(old.credentials, new.credentials);
    let warnings: Vec<String> = old.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "/etc/c.toml:5: credentials.file: is the former name of credentials_file; rename it \
          to credentials_file"
        ]
    );

    let both = errors(&with("credentials_file = \"/srv/a\"\nfile = \"/srv/b\""));
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0].line, Some(6));
    assert_eq!(both[0].key.as_deref(), Some("credentials.file"));
    assert!(
        both[0].message.contains("both name the credentials file"),
        "{}",
        both[0].message
    );

    // Its checks are those of the old name, under the key as written.
    let relative = errors(&with("credentials_file = \"creds\""));
    assert_eq!(
        relative[0].key.as_deref(),
        Some("credentials.credentials_file")
    );
    assert!(
        relative[0].message.contains("not an absolute path"),
        "{relative:?}"
    );
}
