//! `status` stories: run the binary (or write the files a daemon would leave), then ask
//! `status`, as a person at a shell or a monitoring script would. Only JSON may reach stdout
//! with `--json`, and no secret may reach either stream.
//! Backs docs/operations.md (status).

use crate::util::{
    assert_no_secrets, wait_for, Output, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1,
    ROLE_2,
};
use ec2_assume_role::base::creds::rfc3339;
use ec2_assume_role::store::state::{self, LastError, Profile, State};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use testkit::sts::Script;
use time::{Duration, OffsetDateTime};

fn state_path(t: &TestDir) -> PathBuf {
    t.path().join("run/state.json")
}

/// The reference story with its state file inside the temp dir (never the host's /run).
fn status_story(t: &TestDir) {
    t.write_config(&format!(
        "{REFERENCE_CONFIG}\n[daemon]\nstate_file = \"{}\"\n",
        state_path(t).display()
    ));
}

/// The story after a successful `run`: both profiles written, no daemon.
fn after_run() -> TestDir {
    let t = TestDir::new();
    status_story(&t);
    t.cmd(&["run"]).expect_exit(0);
    t
}

/// `status --json`, checked to be one JSON document and nothing else, with no secret around.
fn status_json(t: &TestDir, code: i32) -> Value {
    let out = t.cmd(&["status", "--json"]).expect_exit(code);
    assert_clean(t, &out);
    // from_str refuses anything after the document but whitespace.
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.stdout));
    assert!(out.stdout.starts_with('{') && out.stdout.ends_with("}\n"));
    doc
}

fn status_table(t: &TestDir, code: i32) -> Output {
    let out = t.cmd(&["status"]).expect_exit(code);
    assert_clean(t, &out);
    out
}

fn assert_clean(t: &TestDir, out: &Output) {
    assert_no_secrets(t, &out.stdout);
    assert_no_secrets(t, &out.stderr);
}

fn profile<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["profiles"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["profile"] == name))
        .unwrap_or_else(|| panic!("no profile {name} in {doc:#}"))
}

/// The table line of `name`, split into its cells (two spaces or more apart).
fn table_row(out: &Output, name: &str) -> String {
    out.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", out.stdout))
        .to_owned()
}

#[test]
fn after_run_json_shows_both_profiles_fresh() {
    let t = after_run();

    let doc = status_json(&t, 0);

    assert_eq!(doc["ok"], true);
    assert_eq!(doc["config"], t.config_path().display().to_string());
    assert_eq!(
        doc["credentials_file"],
        t.credentials_path().display().to_string()
    );
    assert_eq!(doc["daemon"]["running"], false);
    assert_eq!(doc["daemon"]["pid"], Value::Null);
    assert_eq!(doc["daemon"]["updated"], Value::Null);
    assert_eq!(
        doc["daemon"]["state_file"],
        state_path(&t).display().to_string()
    );
    let names: Vec<&Value> = doc["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["profile"])
        .collect();
    assert_eq!(names, [PROFILE_1, PROFILE_2], "config order");
    for (name, arn) in [(PROFILE_1, ROLE_1), (PROFILE_2, ROLE_2)] {
        let p = profile(&doc, name);
        assert_eq!(p["role_arn"], arn);
        assert_eq!(p["present"], true);
        assert_eq!(p["expired"], false);
        let issued = t.sts.issued_for(arn).unwrap();
        assert_eq!(p["expiration"], issued.expiration.as_str());
        let left = p["seconds_left"].as_i64().unwrap();
        assert!((3500..=3600).contains(&left), "{left}");
        assert_eq!(
            p["last_refresh"],
            Value::Null,
            "no state file, no refresh times"
        );
        assert_eq!(p["failures"], Value::Null);
        assert_eq!(p["last_error"], Value::Null);
    }
}

#[test]
fn after_run_the_table_says_ok_and_notes_the_missing_state_on_stderr() {
    let t = after_run();

    let out = status_table(&t, 0);

    assert!(
        out.stdout.contains("PROFILE") && out.stdout.contains("STATE"),
        "{}",
        out.stdout
    );
    for name in [PROFILE_1, PROFILE_2] {
        let row = table_row(&out, name);
        assert!(row.ends_with("  ok"), "{row}");
        assert!(
            row.contains(" 59m") || row.contains(" 1h"),
            "time left: {row}"
        );
    }
    let last = out.stdout.lines().last().unwrap();
    assert!(last.starts_with("daemon: not running"), "{last}");
    assert!(out.stderr.contains("no state file"), "{}", out.stderr);
    assert!(!out.stdout.contains("note:"), "{}", out.stdout);
    assert!(out.stdout.lines().all(|l| l.len() <= 100), "{}", out.stdout);
}

#[test]
fn a_profile_that_failed_is_missing_and_exits_3() {
    let t = TestDir::new();
    status_story(&t);
    t.sts.script(ROLE_2, Script::AccessDenied);
    t.cmd(&["run"]).expect_exit(3);

    let doc = status_json(&t, 3);
    assert_eq!(doc["ok"], false);
    assert_eq!(profile(&doc, PROFILE_1)["present"], true);
    let missing = profile(&doc, PROFILE_2);
    assert_eq!(missing["present"], false);
    assert_eq!(missing["expiration"], Value::Null);
    assert_eq!(missing["seconds_left"], Value::Null);

    let out = status_table(&t, 3);
    assert!(table_row(&out, PROFILE_1).ends_with("  ok"));
    assert!(table_row(&out, PROFILE_2).ends_with("  missing"));
}

#[test]
fn no_credentials_file_is_every_profile_missing() {
    let t = TestDir::new();
    status_story(&t);
    let doc = status_json(&t, 3);
    for name in [PROFILE_1, PROFILE_2] {
        assert_eq!(profile(&doc, name)["present"], false);
    }
}

#[test]
fn an_expired_section_exits_3() {
    let t = after_run();
    // As if the refresh had stopped: PROFILE_1's credentials expired five minutes ago.
    let past = rfc3339(OffsetDateTime::now_utc() - Duration::minutes(5));
    let text = t.read(t.credentials_path());
    let mut current = "";
    let edited: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                current = line;
            }
            if current == format!("[{PROFILE_1}]") && line.starts_with("x_security_token_expires") {
                format!("x_security_token_expires = {past}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(t.credentials_path(), edited.join("\n") + "\n").unwrap();

    let doc = status_json(&t, 3);
    assert_eq!(doc["ok"], false);
    let expired = profile(&doc, PROFILE_1);
    assert_eq!(expired["present"], true);
    assert_eq!(expired["expired"], true);
    assert_eq!(expired["expiration"], past.as_str());
    let left = expired["seconds_left"].as_i64().unwrap();
    assert!((-400..=-300).contains(&left), "{left}");
    assert_eq!(profile(&doc, PROFILE_2)["expired"], false);

    let out = status_table(&t, 3);
    let row = table_row(&out, PROFILE_1);
    assert!(
        row.contains("expired 5m") && row.ends_with("  expired"),
        "{row}"
    );
}

#[test]
fn the_state_file_shows_failures_and_an_overdue_refresh() {
    let t = after_run();
    let now = OffsetDateTime::now_utc();
    let failed_at = now - Duration::minutes(2);
    let known = |next: OffsetDateTime, failures: u32, error: Option<LastError>| Profile {
        role_arn: ROLE_1.into(),
        expiration: None,
        last_refresh: Some(now - Duration::minutes(20)),
        next_refresh: Some(next),
        failures,
        last_error: error,
    };
    // Our own pid: the "daemon" is alive for as long as this test runs.
    let daemon = State {
        version: state::VERSION,
        pid: std::process::id(),
        updated: Some(now - Duration::minutes(1)),
        credentials_file: t.credentials_path(),
        config: Some(t.config_path().display().to_string()),
        files: vec![t.credentials_path()],
        profiles: BTreeMap::from([
            (
                PROFILE_1.to_owned(),
                known(
                    now - Duration::minutes(10),
                    2,
                    Some(LastError {
                        code: "AccessDenied".into(),
                        message: "not authorized to perform sts:AssumeRole".into(),
                        at: failed_at,
                    }),
                ),
            ),
            (
                PROFILE_2.to_owned(),
                known(now + Duration::minutes(20), 0, None),
            ),
        ]),
        ..State::default()
    };
    daemon.write(&state_path(&t), None).unwrap();

    let doc = status_json(&t, 0);
    assert_eq!(doc["ok"], true, "still unexpired: {doc:#}");
    assert_eq!(doc["daemon"]["running"], true);
    assert_eq!(doc["daemon"]["pid"], std::process::id());
    assert_eq!(doc["daemon"]["state_error"], Value::Null);
    let failing = profile(&doc, PROFILE_1);
    assert_eq!(failing["refresh_overdue"], true);
    assert_eq!(failing["failures"], 2);
    assert_eq!(failing["last_error"]["code"], "AccessDenied");
    assert_eq!(failing["last_error"]["at"], rfc3339(failed_at).as_str());
    assert_eq!(
        failing["next_refresh"],
        rfc3339(now - Duration::minutes(10)).as_str()
    );
    let fine = profile(&doc, PROFILE_2);
    assert_eq!(fine["refresh_overdue"], false);
    assert_eq!(fine["failures"], 0);
    assert_eq!(fine["last_error"], Value::Null);

    let out = status_table(&t, 0);
    let row = table_row(&out, PROFILE_1);
    assert!(row.ends_with("  failing: AccessDenied, overdue"), "{row}");
    // Seconds pass while the test runs: `20m ago` may read `20m01s ago`.
    assert!(row.contains(" 20m") && row.contains(" 10m"), "{row}");
    let row = table_row(&out, PROFILE_2);
    assert!(row.contains("in 19m") || row.contains("in 20m"), "{row}");
    let last = out.stdout.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("daemon: running (pid {})", std::process::id())),
        "{last}"
    );
    assert!(!out.stderr.contains("state file"), "{}", out.stderr);
}

#[test]
fn a_fifo_never_hangs_status() {
    let t = after_run();
    std::fs::create_dir_all(state_path(&t).parent().unwrap()).unwrap();
    nix::unistd::mkfifo(
        &state_path(&t),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();

    // A FIFO as the state file: no state, said so, profiles still judged.
    let doc = status_json(&t, 0);
    assert_eq!(doc["daemon"]["running"], false);
    let why = doc["daemon"]["state_error"].as_str().unwrap();
    assert!(why.contains("FIFO") && why.contains("state.json"), "{why}");

    // A FIFO as the credentials file: that is an error (exit 1), naming the file.
    std::fs::remove_file(t.credentials_path()).unwrap();
    nix::unistd::mkfifo(
        &t.credentials_path(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let out = t.cmd(&["status", "--json"]).expect_exit(1);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("credentials"), "{}", out.stderr);
}

#[test]
fn an_invalid_config_exits_4_with_nothing_on_stdout() {
    let t = TestDir::new();
    t.write_config("[instance]\nrole_name = 42\n");
    let out = t.cmd(&["status", "--json"]).expect_exit(4);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("config.toml"), "{}", out.stderr);
}

/// A daemon that ran with config A leaves its state at the (shared, default) state file; a new
/// user then writes config B with the same profile names into another home, runs it once and
/// asks `status`. B's rows must not carry A's refresh times or pid.
#[test]
fn the_state_of_another_config_is_ignored_and_said_so() {
    let t = TestDir::new();
    let state_file = state_path(&t);
    let with_state = |credentials: &Path| {
        REFERENCE_CONFIG.replace("CREDENTIALS_FILE", &credentials.display().to_string())
            + &format!("\n[daemon]\nstate_file = \"{}\"\n", state_file.display())
    };
    let config_a = t.path().join("a.toml");
    std::fs::write(&config_a, with_state(&t.credentials_path())).unwrap();
    let config_b = t.path().join("b.toml");
    let b_credentials = t.path().join("other-home/.aws/credentials");
    std::fs::create_dir(t.path().join("other-home")).unwrap();
    std::fs::write(&config_b, with_state(&b_credentials)).unwrap();
    let a = config_a.display().to_string();
    let b = config_b.display().to_string();

    let mut daemon = t.cmd_config(&a, &["daemon"]).spawn();
    let wrote = wait_for(
        std::time::Duration::from_secs(15),
        || matches!(State::read(&state_file), Ok(Some(s)) if s.profiles.len() == 2),
    );
    assert!(wrote, "no state file:\n{}", daemon.stderr_so_far());
    daemon.signal("TERM");
    assert!(daemon
        .wait_timeout(std::time::Duration::from_secs(10))
        .is_some());
    assert!(state_file.exists(), "the daemon leaves its state file");

    t.cmd_config(&b, &["run"]).expect_exit(0);
    let out = t.cmd_config(&b, &["status", "--json"]).expect_exit(0);
    assert_clean(&t, &out);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["credentials_file"], b_credentials.display().to_string());
    assert_eq!(doc["daemon"]["pid"], Value::Null, "{doc:#}");
    assert_eq!(doc["daemon"]["running"], false);
    let why = doc["daemon"]["state_ignored"].as_str().unwrap_or_default();
    assert!(why.contains(&a) && why.contains(&b), "{doc:#}");
    for name in [PROFILE_1, PROFILE_2] {
        let p = profile(&doc, name);
        assert_eq!(p["present"], true);
        assert_eq!(p["last_refresh"], Value::Null, "A's refresh time: {doc:#}");
        assert_eq!(p["next_refresh"], Value::Null);
        assert_eq!(p["failures"], Value::Null);
    }

    let out = t.cmd_config(&b, &["status"]).expect_exit(0);
    assert_clean(&t, &out);
    let notes: Vec<&str> = out.stderr.lines().filter(|l| l.contains(&a)).collect();
    assert_eq!(notes.len(), 1, "one line says why:\n{}", out.stderr);
    assert!(notes[0].contains("ignor"), "{}", notes[0]);
    assert!(!out.stdout.contains("pid"), "{}", out.stdout);
    for name in [PROFILE_1, PROFILE_2] {
        let row = table_row(&out, name);
        assert!(!row.contains(" ago") && row.ends_with("  ok"), "{row}");
    }

    // A itself still reads its own state.
    let doc: Value = serde_json::from_str(
        &t.cmd_config(&a, &["status", "--json"])
            .expect_exit(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(doc["daemon"]["state_ignored"], Value::Null, "{doc:#}");
    assert!(doc["daemon"]["pid"].is_u64(), "{doc:#}");
    assert!(profile(&doc, PROFILE_1)["last_refresh"].is_string());
}

/// A state file from before the state said what it describes is readable, and left out as of
/// unknown origin: it may well be another config's.
#[test]
fn an_older_state_file_is_of_unknown_origin_and_said_so() {
    let t = after_run();
    t.create(
        "run/state.json",
        format!(
            r#"{{"version": 1, "pid": {}, "updated": null, "credentials_file": "{}",
                "profiles": {{"{PROFILE_1}": {{"role_arn": "{ROLE_1}", "expiration": null,
                "last_refresh": "2026-11-23T08:00:00Z", "next_refresh": null,
                "failures": 3, "last_error": null}}}}}}"#,
            std::process::id(),
            t.credentials_path().display()
        ),
    );

    let doc = status_json(&t, 0);
    assert_eq!(
        doc["daemon"]["state_error"],
        Value::Null,
        "readable: {doc:#}"
    );
    let why = doc["daemon"]["state_ignored"].as_str().unwrap_or_default();
    assert!(why.contains("does not say which config"), "{doc:#}");
    assert_eq!(profile(&doc, PROFILE_1)["failures"], Value::Null);

    let out = status_table(&t, 0);
    assert!(
        out.stderr.contains("ignoring the state file") && out.stderr.contains("older"),
        "{}",
        out.stderr
    );
}
