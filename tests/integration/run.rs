//! `ec2-assume-role run` and `check`, the real binary against the fake IMDS and STS: the
//! reference story and the role options STS gets, IMDS at boot, slow, v1-only or down, the
//! wrong instance role or account, one role's failure, the user's bytes around our sections,
//! removed and unmanaged profiles, every bad config (exit 4, file, line and key), `--help`'s
//! exit codes, journald's events, and no secret in any log.

use crate::util::{
    assert_no_secrets, assert_profile_written, mode, section, story, story_with, value, TestDir,
    PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1, ROLE_2, SESSION,
};
use ec2_assume_role::base::logging::message_id;
use std::time::Duration;
use testkit::imds::{self, ImdsConfig};
use testkit::sts::Script;

#[test]
fn run_writes_both_profiles_signed_with_the_instance_key() {
    let t = story();
    let out = t.cmd(&["run"]).expect_exit(0);

    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    let config = t.read(t.aws_config_path());
    for profile in [PROFILE_1, PROFILE_2] {
        let name = format!("profile {profile}");
        assert_eq!(
            value(&config, &name, "region").as_deref(),
            Some("us-east-1")
        );
    }
    assert_eq!(mode(t.credentials_path()), 0o600);
    assert_eq!(mode(t.aws_config_path()), 0o600);
    assert_eq!(mode(t.home().join(".aws")), 0o700);

    let calls = t.sts.assume_role_calls();
    assert_eq!(calls.len(), 2, "STS calls: {calls:#?}");
    let mut arns: Vec<&str> = calls.iter().filter_map(|c| c.param("RoleArn")).collect();
    arns.sort_unstable();
    assert_eq!(arns, [ROLE_1, ROLE_2]);
    for call in &calls {
        assert_eq!(call.access_key_id.as_deref(), Some(imds::ACCESS_KEY_ID));
        assert_eq!(call.param("RoleSessionName"), Some(SESSION));
        assert_eq!(call.param("DurationSeconds"), Some("3600"));
    }
    assert!(t.imds.gets() > 0);
    assert_eq!(t.imds.tokenless_gets(), 0, "{:#?}", t.imds.requests());
    assert!(out.stderr.contains(PROFILE_1) && out.stderr.contains(PROFILE_2));
    assert_no_secrets(&t, &out.stderr);
}

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
fn imds_503_at_boot_is_waited_out() {
    let t = story_with(ImdsConfig {
        fail_first: 3,
        ..ImdsConfig::default()
    });
    t.cmd(&["run", "--wait", "30"]).expect_exit(0);
    let statuses = t.imds.requests().len();
    assert!(statuses > 3, "only {statuses} IMDS requests");
    assert_eq!(t.sts.assume_role_calls().len(), 2);
    assert_eq!(t.imds.tokenless_gets(), 0);
}

/// A slow metadata service (every answer 400 ms late, inside the SDK's 1 s read timeout) only
/// makes the run slower.
#[test]
fn a_slow_imds_is_only_slow() {
    let t = story_with(ImdsConfig {
        delay: Duration::from_millis(400),
        ..ImdsConfig::default()
    });
    t.cmd(&["run"]).expect_exit(0);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert_eq!(t.imds.tokenless_gets(), 0);
}

/// The token PUT is answered, but the answer never arrives in time: what a process in a
/// container sees when the instance's hop limit is 1. Retried until `--wait`, then exit 6
/// with the hint, and never a GET without the token.
#[test]
fn a_token_request_that_never_answers_exits_6_naming_the_hop_limit() {
    let t = story_with(ImdsConfig {
        token_delay: Some(Duration::from_secs(60)),
        ..ImdsConfig::default()
    });
    let start = std::time::Instant::now();
    let out = t.cmd(&["run", "--wait", "4"]).expect_exit(6);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        out.stderr.contains("HttpPutResponseHopLimit"),
        "{}",
        out.stderr
    );
    assert_eq!(t.imds.gets(), 0, "no GET without a token");
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn imdsv1_only_service_is_refused_without_a_tokenless_request() {
    for status in [403, 405] {
        let t = story_with(ImdsConfig {
            refuse_token: Some(status),
            ..ImdsConfig::default()
        });
        let out = t.cmd(&["run", "--wait", "3"]).expect_exit(6);
        assert_eq!(t.imds.gets(), 0, "a GET after the token was refused");
        assert!(t.imds.requests().iter().all(|r| r.method == "PUT"));
        assert!(out.stderr.contains("IMDSv2"), "{}", out.stderr);
        assert!(t.sts.calls().is_empty());
        assert!(!t.credentials_path().exists());
    }
}

#[test]
fn imds_down_until_the_deadline_exits_6() {
    let t = story_with(ImdsConfig {
        fail_first: usize::MAX,
        ..ImdsConfig::default()
    });
    let started = std::time::Instant::now();
    t.cmd(&["run", "--wait", "2"]).expect_exit(6);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn another_instance_role_is_refused_before_any_sts_call() {
    let t = story_with(ImdsConfig {
        role_name: "SomeOtherRole".into(),
        instance_profile_arn: "arn:aws:iam::000000000000:instance-profile/SomeOtherRole".into(),
        ..ImdsConfig::default()
    });
    let before = "[default]\naws_access_key_id = AKIAUSER\n# mine\n";
    t.create("home/.aws/credentials", before);

    let out = t.cmd(&["run"]).expect_exit(5);
    assert!(out.stderr.contains("SomeOtherRole"), "{}", out.stderr);
    assert!(
        out.stderr.contains("EC2_PerformSecurityAudit"),
        "{}",
        out.stderr
    );
    assert!(t.sts.calls().is_empty());
    assert_eq!(t.read(t.credentials_path()), before);
    assert!(!t.aws_config_path().exists());
}

#[test]
fn another_account_is_refused() {
    let t = story_with(ImdsConfig {
        instance_profile_arn: "arn:aws:iam::999999999999:instance-profile/EC2_PerformSecurityAudit"
            .into(),
        account_id: "999999999999".into(),
        ..ImdsConfig::default()
    });
    let out = t.cmd(&["run"]).expect_exit(5);
    assert!(out.stderr.contains("999999999999"), "{}", out.stderr);
    assert!(out.stderr.contains("000000000000"), "{}", out.stderr);
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists());
}

#[test]
fn access_denied_fails_that_role_only() {
    let t = story();
    t.sts.script(ROLE_2, Script::AccessDenied);

    let out = t.cmd(&["run"]).expect_exit(3);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    let creds = t.read(t.credentials_path());
    assert!(section(&creds, PROFILE_2).is_none(), "{creds}");
    let failure = out.stderr_line("AccessDenied");
    assert!(
        failure.contains(PROFILE_2) && failure.contains(ROLE_2),
        "{failure}"
    );
    // AccessDenied is final: no retry.
    let denied = t.sts.assume_role_calls();
    assert_eq!(
        denied
            .iter()
            .filter(|c| c.param("RoleArn") == Some(ROLE_2))
            .count(),
        1
    );
}

#[test]
fn throttling_and_server_errors_are_retried_until_success() {
    // (script, the role it hits, calls STS then sees for that role)
    for (script, arn, profile, calls) in [
        (Script::Throttle(4), ROLE_1, PROFILE_1, 5),
        (Script::ServerError(2), ROLE_2, PROFILE_2, 3),
    ] {
        let t = story();
        t.sts.script(arn, script);
        t.cmd(&["run"]).expect_exit(0);
        let made = t.sts.assume_role_calls();
        let count = |a: &str| {
            made.iter()
                .filter(|c| c.param("RoleArn") == Some(a))
                .count()
        };
        assert_eq!(count(arn), calls, "{script:?}");
        assert_eq!(count(ROLE_1) + count(ROLE_2), calls + 1, "{script:?}");
        assert_profile_written(&t, profile, arn);
    }
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

#[test]
fn check_imds_refuses_another_instance_role() {
    let t = story_with(ImdsConfig {
        role_name: "SomeOtherRole".into(),
        ..ImdsConfig::default()
    });
    let out = t.cmd(&["check", "--imds"]).expect_exit(5);
    assert!(out.stderr.contains("SomeOtherRole"), "{}", out.stderr);
    assert!(t.sts.calls().is_empty());
    assert!(!t.home().join(".aws").exists());
}

#[test]
fn no_secret_is_ever_logged_even_at_trace() {
    let t = story();
    t.sts.script(ROLE_1, Script::Throttle(1));
    t.sts.script(ROLE_2, Script::AccessDenied);
    let out = t.cmd(&["-vvv", "run"]).expect_exit(3);
    assert!(out.stderr.contains("AccessDenied"), "{}", out.stderr);
    assert!(!t.sts.issued().is_empty());
    assert_no_secrets(&t, &out.stderr);
    assert_no_secrets(&t, &out.stdout);

    // The error paths of IMDS too.
    let t = story_with(ImdsConfig {
        role_name: "SomeOtherRole".into(),
        ..ImdsConfig::default()
    });
    let out = t.cmd(&["-vvv", "run"]).expect_exit(5);
    assert_no_secrets(&t, &out.stderr);
}

#[test]
fn help_lists_every_exit_code() {
    let t = TestDir::new();
    for args in [&["--help"][..], &["run", "--help"][..]] {
        let out = t.cmd(args).expect_exit(0);
        assert!(out.stdout.contains("Exit codes"), "{}", out.stdout);
        for code in 0..=8 {
            let listed = out
                .stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} ")));
            assert!(listed, "exit code {code} missing from:\n{}", out.stdout);
        }
    }
    t.cmd(&["run", "--no-such-flag"]).expect_exit(2);
}

/// The journal, for real: systemd-journald in a private mount namespace (scripts/jd.sh).
/// Needs root for `unshare -m`; CI runs as root.
#[test]
fn journald_gets_one_event_per_role_and_a_summary() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs systemd-journald in a private mount namespace and needs root \
         (CI runs scripts/test.sh as root)"
    );
    let t = story();
    let journal = t.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let jd = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/jd.sh");
    let journal_arg = journal.display().to_string();
    let out = t
        .cmd_logging_to("journald", &["run"])
        .in_private_mounts(jd, &[&journal_arg])
        .expect_exit(0);
    assert_no_secrets(&t, &out.stderr);

    let read = std::process::Command::new("journalctl")
        .args(["-D", &journal_arg, "-o", "json", "--no-pager"])
        .arg("SYSLOG_IDENTIFIER=ec2-assume-role")
        .output()
        .expect("running journalctl");
    let text = String::from_utf8_lossy(&read.stdout);
    assert_no_secrets(&t, &text);
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("journalctl JSON"))
        .collect();
    let field = |e: &serde_json::Value, name: &str| e[name].as_str().map(str::to_owned);

    let assumed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| field(e, "MESSAGE_ID").as_deref() == Some(message_id::ROLE_ASSUMED))
        .collect();
    assert_eq!(assumed.len(), 2, "events:\n{text}");
    let mut profiles = Vec::new();
    for e in &assumed {
        let id = field(e, "MESSAGE_ID").unwrap_or_default();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        let profile = field(e, "PROFILE").expect("PROFILE");
        let arn = field(e, "ROLE_ARN").expect("ROLE_ARN");
        let expiration = field(e, "EXPIRATION").expect("EXPIRATION");
        let issued = t.sts.issued_for(&arn).expect("issued for that ARN");
        assert_eq!(expiration, issued.expiration);
        profiles.push((profile, arn));
    }
    profiles.sort();
    assert_eq!(
        profiles,
        [
            (PROFILE_1.to_owned(), ROLE_1.to_owned()),
            (PROFILE_2.to_owned(), ROLE_2.to_owned())
        ]
    );

    let summary: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| field(e, "MESSAGE_ID").as_deref() == Some(message_id::RUN_SUMMARY))
        .collect();
    assert_eq!(summary.len(), 1, "events:\n{text}");
    assert_eq!(field(summary[0], "WRITTEN").as_deref(), Some("2"));
    assert_eq!(field(summary[0], "FAILED").as_deref(), Some("0"));
    // The summary also reaches stderr (cloud-init-output.log); per-role events do not.
    assert!(out.stderr.contains("wrote 2 of 2"), "{}", out.stderr);
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
