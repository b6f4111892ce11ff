//! The config file (docs/configuration.md), the real binary against the fake IMDS and STS:
//! the role options reach STS as the SDK sends them (session policies too, and a packed-size
//! refusal explained), a role of another partition needs a region of its own, every bad config
//! exits 4 naming file, line and key before any call, a missing one is named, `check`
//! validates and writes nothing; and what the credentials file keeps: the user's bytes around
//! our sections, a removed role's section gone, an unmanaged profile of the same name kept
//! unless `replace_unmanaged`.

use crate::util::{
    assert_profile_written, section, story, value, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG,
    ROLE_1, ROLE_2,
};
use testkit::sts::Script;

#[test]
fn role_options_reach_sts_as_the_sdk_sends_them() {
    let t = TestDir::new();
    t.write_config(&format!(
        "{REFERENCE_CONFIG}region = \"eu-west-1\"\nduration_seconds = 900\n\
         role_session_name = \"{{profile}}-{{account_id}}\"\nexternal_id = \"audit-ext-1\"\n\
         source_identity = \"ec2-assume-role\"\ntags = {{ team = \"audit\", cost = \"42\" }}\n"
    ));
    t.cmd(&["run"]).expect_exit(0);

    let calls = t.sts.assume_role_calls();
    let call = |arn: &str| {
        calls
            .iter()
            .find(|c| c.param("RoleArn") == Some(arn))
            .unwrap_or_else(|| panic!("no call for {arn}"))
    };
    let plain = call(ROLE_1);
    assert_eq!(plain.signing_region.as_deref(), Some("us-east-1"));
    for absent in ["ExternalId", "SourceIdentity", "Tags.member.1.Key"] {
        assert_eq!(plain.param(absent), None, "{absent}");
    }
    let full = call(ROLE_2);
    assert_eq!(full.signing_region.as_deref(), Some("eu-west-1"));
    let want = [
        ("DurationSeconds", "900"),
        ("RoleSessionName", "audit-222222222222-000000000000"),
        ("ExternalId", "audit-ext-1"),
        ("SourceIdentity", "ec2-assume-role"),
    ];
    for (name, value) in want {
        assert_eq!(full.param(name), Some(value), "{name}");
    }
    let mut tags: Vec<(&str, &str)> = (1..=2)
        .filter_map(|i| {
            let key = full.param(&format!("Tags.member.{i}.Key"))?;
            Some((key, full.param(&format!("Tags.member.{i}.Value"))?))
        })
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, [("cost", "42"), ("team", "audit")]);
    assert_eq!(full.param("Tags.member.3.Key"), None);

    let config = t.read(t.aws_config_path());
    let region = |p: &str| value(&config, &format!("profile {p}"), "region");
    assert_eq!(region(PROFILE_1).as_deref(), Some("us-east-1"));
    assert_eq!(region(PROFILE_2).as_deref(), Some("eu-west-1"));
}

#[test]
fn the_users_bytes_stay_around_our_sections() {
    let t = story();
    // Comments, [default], another profile, CRLF endings and no final newline.
    let before = "# my credentials\r\n[default]\r\naws_access_key_id = AKIAUSER\r\n\
                  aws_secret_access_key = usersecret\r\n\r\n; another comment\r\n\
                  [other]\r\naws_access_key_id = AKIAOTHER\r\nregion=eu-west-1";
    t.create("home/.aws/credentials", before);
    let config_before = "[default]\nregion = eu-west-1\n\n[profile other]\noutput = json\n";
    t.create("home/.aws/config", config_before);

    t.cmd(&["run"]).expect_exit(0);
    let first = t.read(t.credentials_path());
    assert!(first.starts_with(before), "{first:?}");
    assert!(
        !first.replace("\r\n", "").contains('\n'),
        "a bare LF in a CRLF file: {first:?}"
    );
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert!(t.read(t.aws_config_path()).starts_with(config_before));

    // The user adds a profile after ours; a second run replaces our sections in place: same
    // shape, new keys, and the user's bytes on both sides unchanged.
    let after = "[later]\r\naws_access_key_id = AKIALATER";
    t.create("home/.aws/credentials", format!("{first}{after}"));
    t.cmd(&["run"]).expect_exit(0);
    let second = t.read(t.credentials_path());
    assert!(second.starts_with(before), "{second:?}");
    assert!(second.ends_with(after), "{second:?}");
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert_eq!(mask(&format!("{first}{after}")), mask(&second));
    assert_eq!(t.sts.assume_role_calls().len(), 4);
}

/// The text with the values of the keys we write blanked (line endings kept), to compare
/// two runs' shapes.
fn mask(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches(['\r', '\n']);
            match body.split_once(" = ") {
                Some((k, _)) if k.starts_with("aws_") || k.starts_with("x_security") => {
                    format!("{k} = ***{}", &line[body.len()..])
                }
                _ => line.to_owned(),
            }
        })
        .collect()
}

#[test]
fn a_role_removed_from_the_config_loses_its_section() {
    let t = story();
    t.cmd(&["run"]).expect_exit(0);
    assert!(section(&t.read(t.credentials_path()), PROFILE_2).is_some());

    let one_role = REFERENCE_CONFIG
        .split("\n[[role]]\nprofile = \"audit-222222222222\"")
        .next()
        .unwrap();
    t.write_config(one_role);
    t.cmd(&["run"]).expect_exit(0);
    let creds = t.read(t.credentials_path());
    assert!(section(&creds, PROFILE_2).is_none(), "{creds}");
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    let config = t.read(t.aws_config_path());
    assert!(!config.contains(PROFILE_2), "{config}");
    assert!(config.contains(&format!("[profile {PROFILE_1}]")));
}

#[test]
fn an_unmanaged_profile_of_the_same_name_is_kept_unless_replace_unmanaged() {
    let t = story();
    let mine = "[audit-222222222222]\naws_access_key_id = AKIAMINE\naws_secret_access_key = mine\n";
    t.create("home/.aws/credentials", mine);

    let out = t.cmd(&["run"]).expect_exit(3);
    assert!(out.stderr.contains(PROFILE_2), "{}", out.stderr);
    let creds = t.read(t.credentials_path());
    assert!(creds.starts_with(mine), "{creds}");
    assert_eq!(
        value(&creds, PROFILE_2, "aws_access_key_id").as_deref(),
        Some("AKIAMINE")
    );
    assert_profile_written(&t, PROFILE_1, ROLE_1);

    t.write_config(&REFERENCE_CONFIG.replace(
        "file = \"CREDENTIALS_FILE\"",
        "file = \"CREDENTIALS_FILE\"\nreplace_unmanaged = true",
    ));
    t.cmd(&["run"]).expect_exit(0);
    let creds = t.read(t.credentials_path());
    assert!(!creds.contains("AKIAMINE"), "{creds}");
    assert_profile_written(&t, PROFILE_2, ROLE_2);
}

/// One bad config per rule: (what, config text, the text of the line the message must name,
/// the key it must name).
fn bad_configs() -> Vec<(&'static str, String, usize, Option<&'static str>)> {
    let r = REFERENCE_CONFIG;
    let arn1 = "role_arn = \"arn:aws:iam::111111111111:role/PerformSecurityAudit\"";
    let tags: Vec<String> = (1..=51).map(|i| format!("t{i} = \"v\"")).collect();
    let tags = format!("tags = {{ {} }}", tags.join(", "));
    let cases = [
        (
            "syntax error",
            r.replace("duration_seconds = 3600", "duration_seconds = = 3600"),
            "duration_seconds = = 3600",
            None,
        ),
        (
            "unknown key",
            r.replace(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\nregoin = \"x\"",
            ),
            "regoin",
            Some("regoin"),
        ),
        (
            "bad ARN",
            r.replace("iam::111111111111:", "iam::11111111111:"),
            "iam::11111111111:",
            Some("role[1].role_arn"),
        ),
        (
            "bad partition",
            r.replace(
                "arn:aws:iam::111111111111",
                "arn:aws-moon:iam::111111111111",
            ),
            "aws-moon",
            Some("role[1].role_arn"),
        ),
        (
            "bad session name",
            format!("{r}role_session_name = \"has space\"\n"),
            "has space",
            Some("role[2].role_session_name"),
        ),
        (
            "duration out of range",
            format!("{r}duration_seconds = 60\n"),
            "duration_seconds = 60",
            Some("role[2].duration_seconds"),
        ),
        (
            "bad external id",
            r.replace(arn1, &format!("{arn1}\nexternal_id = \"x\"")),
            "external_id",
            Some("role[1].external_id"),
        ),
        (
            "too many tags",
            format!("{r}{tags}\n"),
            "tags = {",
            Some("role[2].tags"),
        ),
        (
            "duplicate profile",
            r.replace(
                "profile = \"audit-222222222222\"",
                "profile = \"audit-111111111111\"",
            ),
            "profile = \"audit-111111111111\"\nrole_arn = \"arn:aws:iam::222",
            Some("role[2].profile"),
        ),
        (
            "missing role_name",
            r.replace("role_name = \"EC2_PerformSecurityAudit\"\n", ""),
            "[instance]",
            Some("role_name"),
        ),
    ];
    cases
        .into_iter()
        .map(|(what, text, at, key)| {
            let line = line_of(&text, at);
            (what, text, line, key)
        })
        .collect()
}

/// The 1-based line where `needle` starts.
fn line_of(text: &str, needle: &str) -> usize {
    let start = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the test config"));
    text[..start].matches('\n').count() + 1
}

#[test]
fn every_bad_config_exits_4_naming_file_line_and_key_before_any_call() {
    for (what, text, line, key) in bad_configs() {
        let t = TestDir::new();
        t.write_config(&text);
        let before = "[default]\naws_access_key_id = AKIAUSER\n";
        t.create("home/.aws/credentials", before);

        for args in [&["run"][..], &["check"][..], &["check", "--imds"][..]] {
            let out = t.cmd(args).expect_exit(4);
            let at = format!("{}:{line}:", t.config_path().display());
            assert!(
                out.stderr.contains(&at),
                "{what}: no {at} in:\n{}",
                out.stderr
            );
            if let Some(key) = key {
                assert!(
                    out.stderr.contains(key),
                    "{what}: no {key} in:\n{}",
                    out.stderr
                );
            }
        }
        assert!(t.imds.requests().is_empty(), "{what}: IMDS was called");
        assert!(t.sts.calls().is_empty(), "{what}: STS was called");
        assert_eq!(t.read(t.credentials_path()), before, "{what}");
        assert!(!t.aws_config_path().exists(), "{what}");
    }
}

#[test]
fn a_missing_config_exits_4_naming_it() {
    let t = TestDir::new();
    let out = t.cmd(&["run"]).expect_exit(4);
    assert!(
        out.stderr.contains(&t.config_path().display().to_string()),
        "{}",
        out.stderr
    );
    assert!(t.imds.requests().is_empty());
}

#[test]
fn check_validates_and_writes_nothing() {
    let t = story();
    let out = t.cmd(&["check"]).expect_exit(0);
    assert!(out.stderr.contains("valid"), "{}", out.stderr);
    assert!(t.imds.requests().is_empty());
    assert!(t.sts.calls().is_empty());
    assert!(!t.home().join(".aws").exists());

    t.cmd(&["check", "--imds"]).expect_exit(0);
    assert_eq!(t.imds.tokenless_gets(), 0);
    assert!(t.sts.calls().is_empty());
    assert!(!t.home().join(".aws").exists());
}

/// A role's session policy goes to STS minified, and its policy ARNs as `PolicyArns`; a role
/// without them sends neither. STS's packed-size refusal names what to shorten.
#[test]
fn session_policies_are_sent_and_a_packed_size_refusal_is_explained() {
    let t = story();
    t.write_config(&format!(
        "{REFERENCE_CONFIG}policy = '''\n{{ \"Version\": \"2012-10-17\",\n  \"Statement\": \
         [ {{ \"Effect\": \"Allow\", \"Action\": \"sts:GetCallerIdentity\", \"Resource\": \"*\" }} ] }}\n'''\n\
         policy_arns = [\"arn:aws:iam::aws:policy/SecurityAudit\", \
         \"arn:aws:iam::{{account_id}}:policy/AuditNarrow\"]\n"
    ));
    t.cmd(&["run"]).expect_exit(0);
    let (plain, narrowed) = (
        &t.sts.assume_role_calls_for(ROLE_1)[0],
        &t.sts.assume_role_calls_for(ROLE_2)[0],
    );
    for absent in ["Policy", "PolicyArns.member.1.arn"] {
        assert_eq!(plain.param(absent), None, "{absent}");
    }
    assert_eq!(
        narrowed.param("Policy"),
        Some(
            r#"{"Statement":[{"Action":"sts:GetCallerIdentity","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}"#
        )
    );
    assert_eq!(
        narrowed.param("PolicyArns.member.1.arn"),
        Some("arn:aws:iam::aws:policy/SecurityAudit")
    );
    assert_eq!(
        narrowed.param("PolicyArns.member.2.arn"),
        Some("arn:aws:iam::222222222222:policy/AuditNarrow")
    );
    assert_eq!(narrowed.param("PolicyArns.member.3.arn"), None);
    // The profile works for a real client.
    assert!(t.caller_arn(PROFILE_2).contains("222222222222"));

    t.sts.script(ROLE_2, Script::PackedPolicyTooLarge(113));
    let out = t.cmd(&["run"]).expect_exit(3);
    let failure = out.stderr_line("PackedPolicyTooLarge");
    assert!(failure.contains(PROFILE_2), "{failure}");
    assert!(failure.contains("113% of allotted space"), "{failure}");
    assert!(
        failure.contains(
            "STS packs the session policy (policy), policy_arns into a space of fixed size"
        ),
        "{failure}"
    );
    // Refused for good: one call, no retry.
    let refused = t.sts.assume_role_calls_for(ROLE_2);
    assert_eq!(refused.len(), 2, "the first run's call and this one's");
}

/// A role of another partition and no region of its own would be assumed in the instance's
/// region, which cannot work: it fails at once, without a call, and says what to set; the
/// other role is written.
#[test]
fn a_role_of_another_partition_needs_a_region_of_its_own() {
    let t = story();
    let cn = "arn:aws-cn:iam::222222222222:role/PerformSecurityAudit";
    // No [defaults] region: the roles take the instance's (us-east-1).
    let config = REFERENCE_CONFIG
        .replace("region = \"us-east-1\"\n", "")
        .replace(ROLE_2, cn);
    t.write_config(&config);
    let out = t.cmd(&["run"]).expect_exit(3);
    let failure = out.stderr_line("WrongPartition");
    assert!(
        failure.contains(
            "the role is in partition aws-cn, but it would be assumed in the instance's region \
             us-east-1 (partition aws); give the role a region of aws-cn"
        ),
        "{failure}"
    );
    assert!(t.sts.assume_role_calls_for(cn).is_empty());
    assert_profile_written(&t, PROFILE_1, ROLE_1);

    t.write_config(&format!("{config}region = \"cn-north-1\"\n"));
    t.cmd(&["run"]).expect_exit(0);
    let call = t.sts.assume_role_calls_for(cn);
    assert_eq!(call.len(), 1);
    assert_eq!(call[0].signing_region.as_deref(), Some("cn-north-1"));
}
