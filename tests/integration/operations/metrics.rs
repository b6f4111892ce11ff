//! The daemon's Prometheus metrics (`[daemon] metrics_file`, and `/metrics` on the credential
//! endpoint), read with a real Prometheus parser (prometheus_client's, from the test venv) and
//! linted by Prometheus' own `promtool check metrics` (naming conventions included):
//! per-profile expiry and refresh counts after one role succeeds and one is denied, the STS
//! latency histogram against the calls the fake counted, an IMDS outage, SIGHUP reloads good
//! and bad; the file is replaced atomically and readable by node_exporter; a path that cannot
//! be written stops the start naming the key; `/metrics` needs no token but the credentials
//! still do. docs/operations.md's alerting rule passes `promtool check rules` and names the metric.
//! Backs docs/operations.md (metrics).

use crate::util::daemon::{config, creds, start, wait_written, BOTH};
use crate::util::{
    free_port, mode, value, wait_for, Running, TestDir, PROFILE_1, PROFILE_2, ROLE_2,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::sts::Script;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const PREFIX: &str = "ec2_assume_role_";

/// The metrics as prometheus_client's parser reads them.
struct Parsed {
    /// Family name (counters without `_total`, as the parser names them) to its type.
    types: Value,
    /// Every sample: name, labels, value.
    samples: Vec<(String, Value, f64)>,
}

impl Parsed {
    /// The value of the one sample `name` (without `ec2_assume_role_`) whose labels include
    /// `labels`; `None` when there is none; fails when there are several.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let full = format!("{PREFIX}{name}");
        let found: Vec<f64> = (self.samples.iter())
            .filter(|(n, l, _)| *n == full && labels.iter().all(|(k, v)| l[*k] == *v))
            .map(|(_, _, v)| *v)
            .collect();
        assert!(found.len() <= 1, "{full} {labels:?}: {found:?}");
        found.first().copied()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    fn kind(&self, family: &str) -> &str {
        self.types[format!("{PREFIX}{family}")]
            .as_str()
            .unwrap_or_else(|| panic!("no family {family}: {}", self.types))
    }
}

/// Parses the text in `file` with prometheus_client (`text_string_to_metric_families`).
fn parse(t: &TestDir, file: &Path) -> Parsed {
    let script = "import json, sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        types, samples = {}, []\n\
        for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n\
        \x20   types[f.name] = f.type\n\
        \x20   samples += [[s.name, s.labels, s.value] for s in f.samples]\n\
        print(json.dumps({'types': types, 'samples': samples}))\n";
    let out = t.python(script).arg(file).expect_exit(0);
    let parsed: Value = serde_json::from_str(&out.stdout).expect("the parser's JSON");
    let samples = parsed["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            let name = s[0].as_str().unwrap().to_owned();
            (name, s[1].clone(), s[2].as_f64().unwrap())
        })
        .collect();
    Parsed {
        types: parsed["types"].clone(),
        samples,
    }
}

/// promtool from Debian's prometheus package, which scripts/test.sh extracts into
/// `.promtool` (`EAR_TEST_PROMTOOL` names another). Missing is a failure, as for the venv.
fn promtool() -> PathBuf {
    let path = std::env::var_os("EAR_TEST_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".promtool/usr/bin/promtool")
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh once (it extracts promtool into .promtool), or \
         point EAR_TEST_PROMTOOL at one",
        path.display()
    );
    path
}

/// `promtool check metrics` on the text in `file`: no problem, not even a lint warning.
fn assert_promtool_accepts(file: &Path) {
    let out = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file).expect("the metrics"))
        .output()
        .expect("running promtool");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}",
        out.status
    );
}

fn metrics_path(t: &TestDir) -> PathBuf {
    t.path().join("textfile/ec2-assume-role.prom")
}

/// The daemon's config: `roles`, the metrics file in the test dir, and `extra` tables.
fn metrics_config(t: &TestDir, roles: &[(&str, &str)], extra: &str) -> String {
    let file = format!("metrics_file = \"{}\"", metrics_path(t).display());
    config(t, roles, &file) + extra
}

/// The last metrics file the daemon wrote, parsed, once `ready` holds of it.
fn wait_metrics(t: &TestDir, d: &Running, ready: impl Fn(&Parsed) -> bool) -> Parsed {
    let mut last = None;
    let ok = wait_for(Duration::from_secs(20), || {
        if !metrics_path(t).exists() {
            return false;
        }
        let parsed = parse(t, &metrics_path(t));
        let done = ready(&parsed);
        last = Some(parsed);
        done
    });
    assert!(
        ok,
        "the metrics never got there:\n{}\n{}",
        std::fs::read_to_string(metrics_path(t)).unwrap_or_default(),
        d.stderr_so_far()
    );
    last.unwrap()
}

/// One HTTP/1.1 exchange with the endpoint: status, head and body.
fn http(port: u16, head: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, head.to_owned(), body.to_owned())
}

fn unix_now() -> f64 {
    OffsetDateTime::now_utc().unix_timestamp() as f64
}

#[test]
fn the_file_and_the_endpoint_say_what_the_daemon_did() {
    let t = TestDir::new();
    t.sts.script(ROLE_2, Script::AccessDenied);
    let port = free_port();
    let endpoint = format!(
        "\n[endpoint]\nlisten = [\"127.0.0.1:{port}\"]\ntoken_dir = \"{}\"\n",
        t.path().join("tokens").display()
    );
    t.write_config(&metrics_config(&t, &BOTH, &endpoint));
    let mut d = start(&t, &[]);
    wait_written(&t, &d, &BOTH[..1]);
    let m = wait_metrics(&t, &d, |m| {
        m.get("profile_refreshes_total", &[("profile", PROFILE_2)]) == Some(1.0)
    });

    // The families, their types (counters are named without _total by the parser).
    for (family, kind) in [
        ("build_info", "gauge"),
        ("profile_expiry_timestamp_seconds", "gauge"),
        ("profile_expires_in_seconds", "gauge"),
        ("profile_last_refresh_success_timestamp_seconds", "gauge"),
        ("profile_refreshes", "counter"),
        ("profile_refresh_failures", "counter"),
        ("sts_request_duration_seconds", "histogram"),
        ("imds_failures", "counter"),
        ("ssm_failures", "counter"),
        ("config_reloads", "counter"),
        ("config_last_reload_successful", "gauge"),
        ("endpoint_responses", "counter"),
        ("endpoint_unlogged", "counter"),
        ("clock_skew_seconds", "gauge"),
    ] {
        assert_eq!(m.kind(family), kind, "{family}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(m.value("build_info", &[("version", version)]), 1.0);

    // The profile that was assumed: its expiry is the one in the credentials file.
    let text = creds(&t);
    let expires = value(&text, PROFILE_1, "x_security_token_expires").unwrap();
    let expires = OffsetDateTime::parse(&expires, &Rfc3339)
        .unwrap()
        .unix_timestamp() as f64;
    let p1 = [("profile", PROFILE_1)];
    assert_eq!(m.value("profile_expiry_timestamp_seconds", &p1), expires);
    let left = m.value("profile_expires_in_seconds", &p1);
    assert!(left > 0.0 && left <= expires - unix_now() + 30.0, "{left}");
    let last = m.value("profile_last_refresh_success_timestamp_seconds", &p1);
    assert!((unix_now() - last).abs() < 30.0, "{last}");
    assert_eq!(m.value("profile_refreshes_total", &p1), 1.0);
    assert!(
        !(m.samples.iter()).any(|(n, l, _)| n.contains("failures") && l["profile"] == PROFILE_1)
    );

    // The denied one: one failure by code, no credentials, never a success.
    let p2 = [("profile", PROFILE_2)];
    let denied = [("profile", PROFILE_2), ("code", "AccessDenied")];
    assert_eq!(m.value("profile_refresh_failures_total", &denied), 1.0);
    assert_eq!(m.value("profile_expiry_timestamp_seconds", &p2), 0.0);
    assert_eq!(m.value("profile_expires_in_seconds", &p2), 0.0);
    assert_eq!(
        m.value("profile_last_refresh_success_timestamp_seconds", &p2),
        0.0
    );

    // The histogram counts every AssumeRole the fake answered, by outcome.
    let calls = t.sts.assume_role_calls();
    let (ok, failed) = calls.iter().partition::<Vec<_>, _>(|c| c.status == 200);
    let h = "sts_request_duration_seconds";
    let success = [("outcome", "success")];
    let error = [("outcome", "error")];
    assert_eq!(m.value(&format!("{h}_count"), &success), ok.len() as f64);
    assert_eq!(m.value(&format!("{h}_count"), &error), failed.len() as f64);
    assert_eq!((ok.len(), failed.len()), (1, 1));
    let inf = [("outcome", "success"), ("le", "+Inf")];
    assert_eq!(m.value(&format!("{h}_bucket"), &inf), 1.0);
    let sum = m.value(&format!("{h}_sum"), &success);
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    assert_eq!(reloads(&m), (0.0, 0.0));
    assert_eq!(m.value("config_last_reload_successful", &[]), 1.0);

    // The file: lint-free, world-readable for node_exporter, in a directory made 0755, no
    // temp left.
    let file = metrics_path(&t);
    assert_promtool_accepts(&file);
    assert_eq!(mode(&file), 0o644);
    assert_eq!(mode(file.parent().unwrap()), 0o755);
    let names: Vec<String> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ec2-assume-role.prom"]);

    // /metrics: the same families, without a token, its seconds until expiry as of the scrape.
    let (status, head, body) = http(port, "GET /metrics HTTP/1.1");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let scraped = t.path().join("scraped.prom");
    std::fs::write(&scraped, &body).unwrap();
    assert_promtool_accepts(&scraped);
    let s = parse(&t, &scraped);
    assert_eq!(s.value("profile_expiry_timestamp_seconds", &p1), expires);
    assert_eq!(s.value("profile_refresh_failures_total", &denied), 1.0);
    assert_eq!(s.value(&format!("{h}_count"), &success), 1.0);
    let scraped_left = s.value("profile_expires_in_seconds", &p1);
    assert!(
        scraped_left <= left && scraped_left > 0.0,
        "{scraped_left} {left}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let later = parse_body(&t, &http(port, "GET /metrics HTTP/1.1").2);
    assert!(later.value("profile_expires_in_seconds", &p1) < scraped_left);

    // The other rules still hold for /metrics, and the credentials still need a token.
    assert_eq!(
        http(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0").0,
        405
    );
    assert_eq!(
        http(port, "GET /metrics HTTP/1.1\r\nX-Forwarded-For: 10.0.0.9").0,
        400
    );
    let uri = format!("GET /v1/credentials/{PROFILE_1} HTTP/1.1");
    assert_eq!(http(port, &uri).0, 401);
    let bogus = format!("{uri}\r\nAuthorization: {}", "0".repeat(64));
    assert_eq!(http(port, &bogus).0, 401);
    assert!(!body.contains("arn:aws"), "no role ARN in the metrics");
    // Each credentials answer is counted by owner, profile and status; a name not configured
    // is "(unknown)", never a new series of its own.
    for made_up in ["made-up-1", "made-up-2"] {
        let uri = format!("GET /v1/credentials/{made_up} HTTP/1.1");
        assert_eq!(http(port, &uri).0, 401);
    }
    let (_, _, body) = http(port, "GET /metrics HTTP/1.1");
    let answers = t.path().join("answers.prom");
    std::fs::write(&answers, &body).unwrap();
    assert_promtool_accepts(&answers);
    let a = parse(&t, &answers);
    assert_eq!(a.kind("endpoint_responses"), "counter");
    fn by(profile: &str) -> [(&str, &str); 3] {
        [("owner", "(none)"), ("profile", profile), ("status", "401")]
    }
    assert_eq!(a.value("endpoint_responses_total", &by(PROFILE_1)), 2.0);
    assert_eq!(a.value("endpoint_responses_total", &by("(unknown)")), 2.0);
    assert!(!body.contains("made-up"), "{body}");
    assert_eq!(a.value("endpoint_unlogged_total", &[]), 0.0);

    // SIGHUP with a valid config: a successful reload; with an invalid one: a failed one,
    // and the gauge says the daemon runs on the config before it.
    d.signal("HUP");
    let m = wait_metrics(&t, &d, |m| reloads(m) == (1.0, 0.0));
    assert_eq!(m.value("config_last_reload_successful", &[]), 1.0);
    t.write_config(&format!(
        "{}\n[[role]]\nprofile = \"\"\n",
        metrics_config(&t, &BOTH, &endpoint)
    ));
    d.signal("HUP");
    let m = wait_metrics(&t, &d, |m| reloads(m) == (1.0, 1.0));
    assert_eq!(m.value("config_last_reload_successful", &[]), 0.0);
    assert_eq!(m.value("profile_refreshes_total", &p1), 1.0);
    assert!(d.is_running());
}

/// The (successful, refused) config reloads.
fn reloads(m: &Parsed) -> (f64, f64) {
    let n = |outcome| m.value("config_reloads_total", &[("outcome", outcome)]);
    (n("success"), n("failure"))
}

fn parse_body(t: &TestDir, body: &str) -> Parsed {
    let file = t.path().join("scraped-again.prom");
    std::fs::write(&file, body).unwrap();
    parse(t, &file)
}

/// A reader of the file (node_exporter) polls it from another thread while the daemon
/// rewrites it: every read is a whole file. Returns the reads and the distinct versions seen.
fn read_whole_files_until(path: PathBuf, stop: std::sync::mpsc::Receiver<()>) -> (usize, usize) {
    let last = "ec2_assume_role_config_last_reload_successful 1\n";
    let mut versions = std::collections::BTreeSet::new();
    let mut reads = 0;
    while stop.try_recv().is_err() {
        let text = std::fs::read_to_string(&path).expect("the metrics file is always there");
        assert!(
            text.starts_with("# HELP ") && text.ends_with(last),
            "torn:\n{text}"
        );
        versions.insert(text);
        reads += 1;
    }
    (reads, versions.len())
}

#[test]
fn an_imds_outage_counts_as_imds_failures_and_failed_refreshes_until_it_ends() {
    let t = TestDir::new();
    t.sts.set_lifetime(crate::util::daemon::LIFETIME);
    t.write_config(&metrics_config(&t, &BOTH, ""));
    let d = t.cmd(&["daemon", "--wait", "2"]).spawn();
    wait_written(&t, &d, &BOTH);
    wait_metrics(&t, &d, |m| {
        m.get("profile_refreshes_total", &[("profile", PROFILE_2)]) == Some(1.0)
    });
    let (stop, stopped) = std::sync::mpsc::channel();
    let reader = {
        let path = metrics_path(&t);
        std::thread::spawn(move || read_whole_files_until(path, stopped))
    };

    t.imds.configure(|c| c.fail_first = usize::MAX);
    let failed = [("profile", PROFILE_1), ("code", "ImdsUnavailable")];
    let m = wait_metrics(&t, &d, |m| {
        m.get("profile_refresh_failures_total", &failed).is_some()
    });
    assert!(m.value("imds_failures_total", &[("code", "Unavailable")]) >= 1.0);
    let before = m.value(
        "profile_last_refresh_success_timestamp_seconds",
        &[("profile", PROFILE_1)],
    );

    t.imds.configure(|c| c.fail_first = 0);
    let p1 = [("profile", PROFILE_1)];
    let m = wait_metrics(&t, &d, |m| {
        m.get("profile_last_refresh_success_timestamp_seconds", &p1)
            .is_some_and(|at| at > before)
    });
    assert!(m.value("profile_expires_in_seconds", &p1) > 0.0);
    let refreshes = m.value("profile_refreshes_total", &p1);
    let failures = m.value("profile_refresh_failures_total", &failed);
    assert!(refreshes >= failures + 2.0, "{refreshes} {failures}");
    stop.send(()).unwrap();
    let (reads, versions) = reader.join().expect("no torn read");
    assert!(
        reads > 100 && versions >= 3,
        "{reads} reads, {versions} versions"
    );
}

#[test]
fn a_config_in_ssm_that_cannot_be_read_counts_as_an_ssm_failure_and_a_failed_reload() {
    use crate::util::ssm::{put, NAME, TEMPLATE};
    let t = TestDir::new();
    put(&t, NAME, &metrics_config(&t, &BOTH, ""));
    let mut d = t.cmd_config(TEMPLATE, &["daemon"]).spawn();
    wait_written(&t, &d, &BOTH);
    let m = wait_metrics(&t, &d, |m| {
        m.get("profile_refreshes_total", &[("profile", PROFILE_2)]) == Some(1.0)
    });
    assert!(!m.samples.iter().any(|(n, _, _)| n.contains("ssm_failures")));

    t.ssm.deny(NAME);
    d.signal("HUP");
    let denied = [
        ("operation", "GetParameter"),
        ("code", "AccessDeniedException"),
    ];
    let m = wait_metrics(&t, &d, |m| m.get("ssm_failures_total", &denied).is_some());
    assert_eq!(m.value("ssm_failures_total", &denied), 1.0);
    assert_eq!(reloads(&m), (0.0, 1.0));
    assert_eq!(m.value("config_last_reload_successful", &[]), 0.0);
    assert!(d.is_running());
}

#[test]
fn a_metrics_file_that_cannot_be_written_stops_the_start_naming_the_key() {
    let t = TestDir::new();
    // Only the file's own directory is created, never one above it.
    let path = t.path().join("missing/textfile/ec2-assume-role.prom");
    let extra = format!("metrics_file = \"{}\"", path.display());
    t.write_config(&config(&t, &BOTH, &extra));
    let missing = path.parent().unwrap().display().to_string();
    let out = t.cmd(&["daemon", "--wait", "2"]).expect_saying(
        7,
        &["writing the metrics file ([daemon] metrics_file)", &missing],
    );
    assert!(!path.exists(), "{}", out.stderr);
    assert!(
        t.sts.assume_role_calls().is_empty(),
        "it stopped before any STS call"
    );

    // A path that cannot be one is a config error naming the key and line.
    t.write_config(&config(&t, &BOTH, "metrics_file = \"/var/lib/ear.txt\""));
    t.cmd(&["check"])
        .expect_saying(4, &["daemon.metrics_file", "does not end in .prom"]);
}

/// The alert rule docs/operations.md gives: a rule group `promtool check rules` accepts, whose
/// expression uses a metric the daemon exports and fires under 10 minutes.
#[test]
fn the_documented_alert_rule_is_a_rule_group_on_the_expiry_metric() {
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md");
    let readme = std::fs::read_to_string(page).expect("docs/operations.md");
    let start = readme
        .find("```yaml\ngroups:")
        .expect("docs/operations.md has a ```yaml block with the rule groups");
    let rest = &readme[start + "```yaml\n".len()..];
    let rules = &rest[..rest.find("```").expect("the block ends")];
    let t = TestDir::new();
    let file = t.path().join("rules.yml");
    std::fs::write(&file, rules).unwrap();
    let out = std::process::Command::new(promtool())
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("running promtool");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("SUCCESS: 1 rules found"),
        "{said}"
    );
    let script = "import json, sys, yaml\n\
        doc = yaml.safe_load(open(sys.argv[1]))\n\
        print(json.dumps(doc))\n";
    let out = t.python(script).arg(&file).expect_exit(0);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let rule = &doc["groups"][0]["rules"][0];
    let expr = rule["expr"].as_str().expect("an expr");
    assert!(rule["alert"].is_string(), "{rule}");
    assert!(
        expr.contains("ec2_assume_role_profile_expiry_timestamp_seconds") && expr.contains("600"),
        "{expr}"
    );
    assert!(rule["labels"]["severity"].is_string(), "{rule}");
}
