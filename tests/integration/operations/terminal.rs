//! What a person sees at a terminal (docs/operations.md, what the commands print). Every other test pipes stdout and stderr; these run the
//! binary under a real pseudo-terminal (util-linux's `script`, which gives the command a pty
//! as stdin, stdout and stderr and copies what it prints), with `TERM` and `NO_COLOR` as a
//! user's shell would set them: no timestamps, no warning from the logging library, colour
//! only where the terminal takes it, config errors drawn as rustc draws them, the summary and
//! `check`'s account on stdout, and the updating line of a wait for IMDS.

use crate::util::organizations::config_with;
use crate::util::{TestCommand, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1};
use testkit::organizations::{Outage, MANAGEMENT_ACCOUNT_ID};
use testkit::sts::Script;

/// `cmd` under a pseudo-terminal of `TERM=term` (and `NO_COLOR=1` when `no_color`): what the
/// terminal showed, `\r\n` made `\n`, and the exit code.
fn on_terminal(cmd: &mut TestCommand, term: &str, no_color: bool) -> (String, Option<i32>) {
    // A person's shell without the harness's ambient AWS file variables (which the agent
    // warns about when they point elsewhere: tests/integration/configuration/schema.rs).
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", "")
        .env("AWS_CONFIG_FILE", "");
    cmd.env("TERM", term).env("SHELL", "/bin/bash").wrapped(&[
        "bash",
        "-c",
        r#"exec script -qefc "$(printf '%q ' "$@")" /dev/null </dev/null"#,
        "bash",
    ]);
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.run();
    let screen = out.stdout.replace("\r\n", "\n");
    // Shown with --nocapture: what the person saw.
    println!(
        "--- TERM={term} NO_COLOR={no_color}, exit {:?}\n{screen}",
        out.code
    );
    (screen, out.code)
}

const ESC: &str = "\u{1b}[";

/// No line a person reads carries a timestamp or the logging library's colour warning.
fn assert_plain(screen: &str) {
    assert!(!screen.contains("tracing-subscriber"), "{screen}");
    assert!(!screen.contains("ansi"), "{screen}");
    let stamped = screen.lines().find(|l| {
        let b = l
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .as_bytes();
        b.len() > 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
    });
    // `check` names no time for this config; `run` says expirations only with -v.
    assert_eq!(stamped, None, "a timestamped line:\n{screen}");
}

#[test]
fn check_on_a_terminal_has_no_warning_no_timestamp_and_colour_only_where_it_is_taken() {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    let (screen, code) = on_terminal(&mut t.cmd(&["check"]), "xterm-256color", false);
    assert_eq!(code, Some(0), "{screen}");
    assert_plain(&screen);
    assert!(
        screen.contains(PROFILE_1) && screen.contains(PROFILE_2),
        "{screen}"
    );
    assert!(screen.contains(ROLE_1), "{screen}");
    assert!(
        screen.contains(ESC),
        "no colour on a colour terminal:\n{screen}"
    );

    for (term, no_color) in [("xterm-256color", true), ("dumb", false)] {
        let (screen, code) = on_terminal(&mut t.cmd(&["check"]), term, no_color);
        assert_eq!(code, Some(0), "{screen}");
        assert_plain(&screen);
        assert!(screen.contains(PROFILE_1), "{screen}");
        assert!(
            !screen.contains('\u{1b}'),
            "TERM={term} NO_COLOR={no_color}: escape codes:\n{screen:?}"
        );
    }
}

#[test]
fn a_misspelt_key_on_a_terminal_is_drawn_as_rustc_draws_errors() {
    let t = TestDir::new();
    let config = REFERENCE_CONFIG.replacen("role_arn =", "rol_arn =", 1);
    t.write_config(&config);
    let line = config
        .lines()
        .position(|l| l.starts_with("rol_arn"))
        .unwrap()
        + 1;
    let (screen, code) = on_terminal(&mut t.cmd(&["check"]), "xterm-256color", false);
    assert_eq!(code, Some(4), "{screen}");
    assert_plain(&screen);
    assert!(screen.contains(ESC), "{screen}");

    let (screen, code) = on_terminal(&mut t.cmd(&["check"]), "xterm-256color", true);
    assert_eq!(code, Some(4), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen:?}");
    let config_path = t.config_path().display().to_string();
    let expected = [
        "error: unknown key `rol_arn`".to_owned(),
        format!("--> {config_path}:{line}:1"),
        format!("{line} | rol_arn = "),
        "^^^^^^^".to_owned(),
        "help: did you mean `role_arn`?".to_owned(),
    ];
    let mut rest = screen.as_str();
    for want in &expected {
        let at = rest
            .find(want.as_str())
            .unwrap_or_else(|| panic!("no {want:?} (in this order) in:\n{screen}"));
        rest = &rest[at + want.len()..];
    }
    // Piped, the same error is one line, as the journal and the tests read it.
    let piped = t.cmd(&["check"]).expect_exit(4);
    assert!(
        piped.stderr.contains(&format!(
            "{config_path}:{line}: role[1].rol_arn: unknown key `rol_arn`"
        )),
        "{}",
        piped.stderr
    );
    assert!(
        piped.stderr.contains("did you mean `role_arn`?"),
        "{}",
        piped.stderr
    );
}

#[test]
fn run_on_a_terminal_ends_with_one_summary_line() {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    let (screen, code) = on_terminal(&mut t.cmd(&["run"]), "xterm-256color", true);
    assert_eq!(code, Some(0), "{screen}");
    assert_plain(&screen);
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{screen}");
    assert!(
        lines[0].starts_with("2 profiles written, 0 failed, 0 kept, 0 undiscovered"),
        "{screen}"
    );
    // One line per profile with -v.
    let (screen, code) = on_terminal(&mut t.cmd(&["-v", "run"]), "xterm-256color", true);
    assert_eq!(code, Some(0), "{screen}");
    for profile in [PROFILE_1, PROFILE_2] {
        assert!(
            screen.contains(&format!("wrote profile {profile} for")),
            "{screen}"
        );
    }
}

#[test]
fn waiting_for_imds_on_a_terminal_is_one_updating_line_then_the_hint() {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    // A loopback port nothing listens on: connection refused until the deadline.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut cmd = t.cmd(&["run", "--wait", "3"]);
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url);
    let (screen, code) = on_terminal(&mut cmd, "xterm-256color", true);
    assert_eq!(code, Some(6), "{screen}");
    assert_plain(&screen);
    assert!(screen.contains("waiting for IMDS"), "{screen}");
    assert!(screen.contains(" s left"), "{screen}");
    assert!(
        screen.contains("--http-put-response-hop-limit 2"),
        "no hop-limit hint:\n{screen}"
    );
    assert!(screen.contains("error: "), "{screen}");

    // Piped (the journal's view): a line when the wait starts and one when it gives up.
    let mut cmd = t.cmd(&["run", "--wait", "2"]);
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url);
    let out = cmd.expect_exit(6);
    assert!(out.stderr.contains("waiting for IMDS"), "{}", out.stderr);
    assert!(
        out.stderr.contains("gave up waiting for IMDS"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(" s left"), "{}", out.stderr);
}

/// A role set whose accounts could not be discovered (Organizations down, no cache) is
/// counted in the summary, not left out of "wrote N of N".
#[test]
fn the_summary_counts_a_role_set_that_could_not_be_discovered() {
    let t = TestDir::new();
    let reader = format!(
        "[[role]]\nprofile = \"reader\"\n\
         role_arn = \"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/OrgReader\"\n"
    );
    t.write_config(&config_with(&t, &reader, "", ""));
    t.orgs.break_with(Outage::Unavailable);
    let out = t.cmd(&["run", "--json"]).expect_exit(3);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).expect(&out.stdout);
    assert_eq!(summary["written"], 1, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["undiscovered"], 1, "{summary}");
    assert_eq!(
        summary["undiscovered_role_sets"][0], "role_set[1]",
        "{summary}"
    );
    // The journal's summary event (here on stderr) says it too.
    let line = out.stderr_line("wrote 1 of 1 profiles");
    assert!(
        line.contains("1 role set not discovered (role_set[1])"),
        "{line}"
    );

    let out = t.cmd(&["run"]).expect_exit(3);
    assert!(
        out.stdout.starts_with(
            "1 profile written, 0 failed, 0 kept, 1 undiscovered; undiscovered: role_set[1]; in "
        ),
        "{}",
        out.stdout
    );
}

/// A role that fails after an earlier run wrote it keeps its still-valid credentials: the
/// summary counts it as kept, a role never written as failed.
#[test]
fn the_summary_tells_kept_from_failed() {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    t.cmd(&["run"]).expect_exit(0);
    t.sts.script(ROLE_1, Script::AccessDenied);
    let out = t.cmd(&["run"]).expect_exit(3);
    assert!(
        out.stdout.starts_with(&format!(
            "1 profile written, 0 failed, 1 kept, 0 undiscovered; kept: {PROFILE_1}; in "
        )),
        "{}",
        out.stdout
    );
    std::fs::remove_file(t.credentials_path()).unwrap();
    let out = t.cmd(&["run", "--json"]).expect_exit(3);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).expect(&out.stdout);
    assert_eq!(summary["written"], 1, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(summary["kept"], 0, "{summary}");
    assert_eq!(summary["failed_profiles"][0], PROFILE_1, "{summary}");
}

/// What a terminal shows of `screen` once every line is drawn: for each line, what follows
/// its last carriage return, without the escape sequences that move the cursor or clear.
fn visible(screen: &str) -> Vec<String> {
    screen
        .lines()
        .map(|line| {
            let last = line.rsplit('\r').next().unwrap_or_default();
            let mut out = String::new();
            let mut chars = last.chars();
            while let Some(c) = chars.next() {
                if c == '\u{1b}' {
                    // ESC [ parameters, then one final letter.
                    let _ = chars.next();
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            out
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Many roles on a terminal: a progress bar of roles assumed while STS answers, cleared at the
/// end; what stays is a failure's error, then the one summary line; no line per profile
/// without -v. A pipe (the journal's view) gets no bar, and each profile's line as before.
#[test]
fn many_roles_on_a_terminal_end_with_one_line_and_their_failures() {
    let t = TestDir::new();
    let head = REFERENCE_CONFIG.split("[[role]]").next().unwrap();
    let roles: String = (0..60)
        .map(|i| {
            format!(
                "[[role]]\nprofile = \"p{i}\"\nrole_arn = \"arn:aws:iam::{:012}:role/R\"\n",
                100_000_000_000u64 + i
            )
        })
        .collect();
    t.write_config(&format!("{head}{roles}"));
    t.sts
        .script("arn:aws:iam::100000000007:role/R", Script::AccessDenied);
    let (screen, code) = on_terminal(&mut t.cmd(&["run"]), "xterm-256color", true);
    assert_eq!(code, Some(3), "{screen}");
    assert_plain(&screen);
    assert!(
        screen.contains("error: could not assume arn:aws:iam::100000000007:role/R for profile p7"),
        "{screen}"
    );
    assert!(!screen.contains("wrote profile p1 "), "{screen}");
    assert!(
        screen.contains("assuming roles ["),
        "no progress bar:\n{screen}"
    );
    assert!(screen.contains("/60"), "{screen}");
    let shown = visible(&screen);
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(
        shown[0].starts_with("error: could not assume"),
        "{shown:#?}"
    );
    assert!(
        shown[1].contains("59 profiles written, 1 failed, 0 kept, 0 undiscovered; failed: p7"),
        "{shown:#?}"
    );

    let out = t.cmd(&["run"]).expect_exit(3);
    assert!(!out.stderr.contains("assuming roles"), "{}", out.stderr);
    assert!(out.stderr.contains("wrote profile p1 "), "{}", out.stderr);
}
