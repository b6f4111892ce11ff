//! What the agent tells its operator (docs/operations.md): `--help` lists every exit code,
//! and journald gets one event per role and a summary, each with its `MESSAGE_ID`, from a
//! real systemd-journald in a private mount namespace (needs root, as CI has).

use crate::util::{assert_no_secrets, story, TestDir, PROFILE_1, PROFILE_2, ROLE_1, ROLE_2};
use ec2_assume_role::base::logging::message_id;

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
