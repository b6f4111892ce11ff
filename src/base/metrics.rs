//! The daemon's Prometheus metrics, in the text exposition format (version 0.0.4): what
//! `[daemon] metrics_file` holds for node_exporter's textfile collector and what the
//! credential endpoint serves at `/metrics`.
//!
//! The modules that talk to AWS record into one process-wide registry as things happen (an
//! STS call's latency, an IMDS or SSM failure); the daemon records each profile's refresh
//! outcome and each config reload. `render` turns the registry into text; `encode`, the pure
//! part, is table-tested. Seconds until expiry are computed at render time, from the expiry
//! timestamp, so they are right as of each write or scrape.
//!
//! This module must never hold or format a credential or a role ARN: profile names, error
//! codes, counts and times only (the file is world-readable and `/metrics` needs no token).
//!
//! Hand-written rather than the `prometheus` or `prometheus-client` crate: the format is a
//! few lines per family and the families are fixed, while a registry crate would add its
//! own locking, atomics and (for `prometheus`) protobuf to the static binary for nothing we
//! use; a real parser checks the output in the tests (`tests/integration/operations/metrics.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// The prefix of every metric name.
const NAMESPACE: &str = "ec2_assume_role";

/// What the endpoint answers `/metrics` with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the STS latency histogram's buckets, in seconds: a regional STS answers in
/// tens of milliseconds; the SDK's attempt timeout ends a call within seconds.
pub const STS_BUCKETS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A histogram: observations per bucket (not cumulative; `encode` adds them up), and above
/// the last bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; STS_BUCKETS.len()],
    pub over: u64,
    pub sum: f64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            buckets: [0; STS_BUCKETS.len()],
            over: 0,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, seconds: f64) {
        match STS_BUCKETS.iter().position(|&le| seconds <= le) {
            Some(i) => self.buckets[i] += 1,
            None => self.over += 1,
        }
        self.sum += seconds;
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().sum::<u64>() + self.over
    }
}

/// One profile's series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileValues {
    /// When its credentials expire (Unix seconds); `None` when it has none (never assumed,
    /// or expired and removed).
    pub expiration: Option<i64>,
    /// The last successful refresh (Unix seconds).
    pub last_success: Option<i64>,
    /// Refreshes tried, whatever their outcome.
    pub refreshes: u64,
    /// Failed refreshes, by error code.
    pub failures: BTreeMap<String, u64>,
}

/// Everything the metrics say.
#[derive(Clone, Debug, PartialEq)]
pub struct Values {
    /// By profile name (unique in a config, whichever users' files it goes to).
    pub profiles: BTreeMap<String, ProfileValues>,
    /// AssumeRole calls that STS answered with credentials, and those that failed.
    pub sts_success: Histogram,
    pub sts_error: Histogram,
    /// IMDS reads that failed after their retries, by error (`imds::Error`'s variant).
    pub imds_failures: BTreeMap<&'static str, u64>,
    /// SSM calls that failed after their retries, by (operation, error code).
    pub ssm_failures: BTreeMap<(&'static str, String), u64>,
    pub reloads_succeeded: u64,
    pub reloads_failed: u64,
    /// Whether the last reload was refused (the daemon runs on the config before it).
    pub last_reload_failed: bool,
    /// The credential endpoint's answers to credentials requests, by owner, profile and
    /// status (the caller bounds the labels: `NO_OWNER`, `UNKNOWN_PROFILE`).
    pub endpoint_responses: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// Endpoint answers the audit trail counted instead of logging one by one.
    pub endpoint_unlogged: u64,
    /// Seconds this instance's clock was ahead of AWS's (negative: behind) at the last signed
    /// answer with a `Date`; `None` before one.
    pub clock_skew: Option<i64>,
}

impl Values {
    pub const fn new() -> Values {
        Values {
            profiles: BTreeMap::new(),
            sts_success: Histogram::new(),
            sts_error: Histogram::new(),
            imds_failures: BTreeMap::new(),
            ssm_failures: BTreeMap::new(),
            reloads_succeeded: 0,
            reloads_failed: 0,
            last_reload_failed: false,
            endpoint_responses: BTreeMap::new(),
            endpoint_unlogged: 0,
            clock_skew: None,
        }
    }
}

impl Default for Values {
    fn default() -> Values {
        Values::new()
    }
}

/// The process's registry. A short lock per event; `render` holds it while it formats.
static REGISTRY: Mutex<Values> = Mutex::new(Values::new());

fn with<T>(f: impl FnOnce(&mut Values) -> T) -> T {
    f(&mut REGISTRY.lock().unwrap_or_else(|p| p.into_inner()))
}

/// One AssumeRole call (one HTTP exchange, retries count each) took `elapsed`; `ok`: STS
/// answered with credentials.
pub fn sts_request(elapsed: Duration, ok: bool) {
    with(|v| {
        let histogram = if ok {
            &mut v.sts_success
        } else {
            &mut v.sts_error
        };
        histogram.observe(elapsed.as_secs_f64());
    });
}

/// An IMDS read failed (after its retries) with `code`.
pub fn imds_failed(code: &'static str) {
    with(|v| *v.imds_failures.entry(code).or_default() += 1);
}

/// An SSM call (`operation`) failed (after its retries) with `code`.
pub fn ssm_failed(operation: &'static str, code: &str) {
    with(|v| {
        *v.ssm_failures
            .entry((operation, code.to_owned()))
            .or_default() += 1
    });
}

/// A signed answer's `Date` said this clock is `ahead` seconds ahead of AWS's.
pub fn clock_skew(ahead: i64) {
    with(|v| v.clock_skew = Some(ahead));
}

/// A config reload was taken (`ok`) or refused.
pub fn config_reloaded(ok: bool) {
    with(|v| {
        if ok {
            v.reloads_succeeded += 1;
        } else {
            v.reloads_failed += 1;
        }
        v.last_reload_failed = !ok;
    });
}

/// A refresh of `profile` just ended: `failed` is the error code it failed with (counted
/// under that code), `expiration` and `last_success` what the daemon now knows of it.
pub fn refreshed(
    profile: &str,
    failed: Option<&str>,
    expiration: Option<OffsetDateTime>,
    last_success: Option<OffsetDateTime>,
) {
    with(|v| {
        let p = match v.profiles.get_mut(profile) {
            Some(p) => p,
            None => v.profiles.entry(profile.to_owned()).or_default(),
        };
        p.refreshes += 1;
        if let Some(code) = failed {
            match p.failures.get_mut(code) {
                Some(n) => *n += 1,
                None => {
                    p.failures.insert(code.to_owned(), 1);
                }
            }
        }
        p.expiration = expiration.map(OffsetDateTime::unix_timestamp);
        p.last_success = last_success.map(OffsetDateTime::unix_timestamp);
    });
}

/// The `owner` label of an endpoint answer to a request without a valid token.
pub const NO_OWNER: &str = "(none)";
/// The `profile` label of an endpoint answer for a profile not configured: the client's text
/// never becomes a label, so a flood of made-up names adds no series.
pub const UNKNOWN_PROFILE: &str = "(unknown)";

/// The credential endpoint answered a credentials request of `owner` for `profile` with
/// `status`; `logged`: the audit trail logged it (else it only counted it).
pub fn endpoint_response(owner: &str, profile: &str, status: u16, logged: bool) {
    with(|v| {
        if !logged {
            v.endpoint_unlogged += 1;
        }
        let owners = &mut v.endpoint_responses;
        let profiles = match owners.get_mut(owner) {
            Some(profiles) => profiles,
            None => owners.entry(owner.to_owned()).or_default(),
        };
        let statuses = match profiles.get_mut(profile) {
            Some(statuses) => statuses,
            None => profiles.entry(profile.to_owned()).or_default(),
        };
        *statuses.entry(status).or_default() += 1;
    });
}

/// Forgets the profiles not in `configured` (after a reload removed them), the endpoint's
/// series of them too.
pub fn retain_profiles<'a>(configured: impl IntoIterator<Item = &'a str>) {
    let configured: BTreeSet<&str> = configured.into_iter().collect();
    with(|v| {
        v.profiles.retain(|p, _| configured.contains(p.as_str()));
        for profiles in v.endpoint_responses.values_mut() {
            profiles.retain(|p, _| p == UNKNOWN_PROFILE || configured.contains(p.as_str()));
        }
    });
}

/// The registry as text, as of `now`.
pub fn render(now: OffsetDateTime) -> String {
    with(|v| encode(v, now.unix_timestamp(), env!("CARGO_PKG_VERSION")))
}

/// `values` in the text exposition format, as of `now` (Unix seconds), for `version`.
pub fn encode(values: &Values, now: i64, version: &str) -> String {
    // About 100 bytes a series, four or more series a profile.
    let mut out = Text(String::with_capacity(2048 + values.profiles.len() * 420));
    out.family(
        "build_info",
        "gauge",
        "Always 1; the version label says which ec2-assume-role this is.",
    );
    out.sample("build_info", &[("version", version)], 1);

    let profiles = &values.profiles;
    out.family(
        "profile_expiry_timestamp_seconds",
        "gauge",
        "When the profile's credentials expire, in Unix time; 0 when it has none (its refreshes \
         failed and they expired, or were never assumed).",
    );
    for (name, p) in profiles {
        let at = p.expiration.unwrap_or(0);
        out.sample("profile_expiry_timestamp_seconds", &[("profile", name)], at);
    }
    out.family(
        "profile_expires_in_seconds",
        "gauge",
        "Seconds until the profile's credentials expire, as of this write or scrape (negative \
         once expired); 0 when it has none.",
    );
    for (name, p) in profiles {
        let left = p.expiration.map_or(0, |e| e - now);
        out.sample("profile_expires_in_seconds", &[("profile", name)], left);
    }
    out.family(
        "profile_last_refresh_success_timestamp_seconds",
        "gauge",
        "When the profile was last refreshed successfully, in Unix time; 0 if never.",
    );
    for (name, p) in profiles {
        let at = p.last_success.unwrap_or(0);
        let metric = "profile_last_refresh_success_timestamp_seconds";
        out.sample(metric, &[("profile", name)], at);
    }
    out.family(
        "profile_refreshes_total",
        "counter",
        "Refreshes of the profile tried (each AssumeRole and write), whatever their outcome.",
    );
    for (name, p) in profiles {
        out.sample("profile_refreshes_total", &[("profile", name)], p.refreshes);
    }
    out.family(
        "profile_refresh_failures_total",
        "counter",
        "Failed refreshes of the profile, by error code (STS's, such as AccessDenied, or \
         ec2-assume-role's, such as ImdsUnavailable or FileNotWritten).",
    );
    for (name, p) in profiles {
        for (code, n) in &p.failures {
            let labels = [("profile", name.as_str()), ("code", code.as_str())];
            out.sample("profile_refresh_failures_total", &labels, *n);
        }
    }

    out.family(
        "sts_request_duration_seconds",
        "histogram",
        "Time of each AssumeRole call to STS (each retry is a call), by outcome.",
    );
    for (outcome, h) in [
        ("success", &values.sts_success),
        ("error", &values.sts_error),
    ] {
        out.histogram("sts_request_duration_seconds", outcome, h);
    }

    out.family(
        "imds_failures_total",
        "counter",
        "Reads of the instance metadata service (IMDSv2) that failed after their retries, by \
         error: Unavailable, TokenRefused, Malformed, Disabled.",
    );
    for (code, n) in &values.imds_failures {
        out.sample("imds_failures_total", &[("code", code)], *n);
    }
    out.family(
        "ssm_failures_total",
        "counter",
        "SSM Parameter Store calls (the config, the shared account list) that failed after \
         their retries, by operation and error code.",
    );
    for ((operation, code), n) in &values.ssm_failures {
        let labels = [("operation", *operation), ("code", code.as_str())];
        out.sample("ssm_failures_total", &labels, *n);
    }

    out.family(
        "endpoint_responses_total",
        "counter",
        "Answers of the credential endpoint to credentials requests, by owner (of the token; \
         (none) without a valid one), profile ((unknown) for a name not configured) and status.",
    );
    for (owner, profiles) in &values.endpoint_responses {
        for (profile, statuses) in profiles {
            for (status, n) in statuses {
                let status = status.to_string();
                let labels = [
                    ("owner", owner.as_str()),
                    ("profile", profile.as_str()),
                    ("status", status.as_str()),
                ];
                out.sample("endpoint_responses_total", &labels, *n);
            }
        }
    }
    out.family(
        "endpoint_unlogged_total",
        "counter",
        "Answers of the credential endpoint that the audit trail counted instead of logging \
         one by one (over its lines per period); each period's summary says how many of which.",
    );
    out.sample("endpoint_unlogged_total", &[], values.endpoint_unlogged);

    out.family(
        "clock_skew_seconds",
        "gauge",
        "Seconds this instance's clock is ahead of AWS's (negative: behind), from the Date of \
         the last signed answer; 0 before one. Requests are signed with the corrected time \
         when it is 60 s to 900 s either way.",
    );
    out.sample("clock_skew_seconds", &[], values.clock_skew.unwrap_or(0));

    out.family(
        "config_reloads_total",
        "counter",
        "Config reloads (SIGHUP or the reload timer), by outcome: success (taken, or unchanged) \
         or failure (refused; the last good config stays).",
    );
    out.sample(
        "config_reloads_total",
        &[("outcome", "success")],
        values.reloads_succeeded,
    );
    out.sample(
        "config_reloads_total",
        &[("outcome", "failure")],
        values.reloads_failed,
    );
    out.family(
        "config_last_reload_successful",
        "gauge",
        "1 unless the last config reload was refused.",
    );
    out.sample(
        "config_last_reload_successful",
        &[],
        u8::from(!values.last_reload_failed),
    );

    out.0
}

/// The text being written; every name gets `NAMESPACE`.
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes backslash and newline (not quotes).
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {NAMESPACE}_{name} {help}");
        let _ = writeln!(self.0, "# TYPE {NAMESPACE}_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.0, "{NAMESPACE}_{name}");
        self.labels(labels);
        let _ = writeln!(self.0, " {value}");
    }

    fn labels(&mut self, labels: &[(&str, &str)]) {
        if labels.is_empty() {
            return;
        }
        self.0.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{key}=\"");
            escape_label(&mut self.0, value);
            self.0.push('"');
        }
        self.0.push('}');
    }

    /// One labelled histogram: cumulative buckets up to `+Inf`, then its sum and count.
    fn histogram(&mut self, name: &str, outcome: &str, h: &Histogram) {
        let mut cumulative = 0;
        for (le, n) in STS_BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let le = le.to_string();
            let labels = [("outcome", outcome), ("le", le.as_str())];
            self.sample(&format!("{name}_bucket"), &labels, cumulative);
        }
        let count = h.count();
        let labels = [("outcome", outcome), ("le", "+Inf")];
        self.sample(&format!("{name}_bucket"), &labels, count);
        self.sample(&format!("{name}_sum"), &[("outcome", outcome)], h.sum);
        self.sample(&format!("{name}_count"), &[("outcome", outcome)], count);
    }
}

/// A label value escapes backslash, double quote and newline.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        for (value, want) in [
            ("plain-1", "plain-1"),
            ("a\\b", "a\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
            ("\\\"\n", "\\\\\\\"\\n"),
        ] {
            let mut out = String::new();
            escape_label(&mut out, value);
            assert_eq!(out, want, "{value:?}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_inf_with_sum_and_count() {
        let mut values = Values::new();
        for seconds in [0.01, 0.03, 0.03, 0.7, 45.0] {
            values.sts_success.observe(seconds);
        }
        let text = encode(&values, 0, "1.2.3");
        let name = "ec2_assume_role_sts_request_duration_seconds";
        let buckets = sample_lines(&text, &format!("{name}_bucket"));
        let success: Vec<&str> = buckets
            .iter()
            .filter(|l| l.contains("outcome=\"success\""))
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        // le = 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 +Inf
        assert_eq!(
            success,
            ["1", "3", "3", "3", "3", "4", "4", "4", "4", "4", "5"]
        );
        assert!(buckets[0].contains("le=\"0.025\""), "{}", buckets[0]);
        assert!(buckets[10].contains("le=\"+Inf\""), "{}", buckets[10]);
        assert!(buckets[5].contains("le=\"1\""), "{}", buckets[5]);
        let sum = sample_lines(&text, &format!("{name}_sum"));
        let got: f64 = sum[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((got - 45.77).abs() < 1e-9, "{got}");
        assert_eq!(
            sample_lines(&text, &format!("{name}_count")),
            [
                format!("{name}_count{{outcome=\"success\"}} 5"),
                format!("{name}_count{{outcome=\"error\"}} 0")
            ]
        );
    }

    #[test]
    fn endpoint_answers_are_counted_by_owner_profile_and_status() {
        let mut values = Values::new();
        let by_status = |pairs: &[(u16, u64)]| pairs.iter().copied().collect();
        let alice = BTreeMap::from([
            ("audit-1".to_owned(), by_status(&[(200, 3), (429, 7)])),
            (UNKNOWN_PROFILE.to_owned(), by_status(&[(403, 1)])),
        ]);
        values.endpoint_responses.insert("alice".into(), alice);
        let none = BTreeMap::from([(UNKNOWN_PROFILE.to_owned(), by_status(&[(401, 2)]))]);
        values.endpoint_responses.insert(NO_OWNER.into(), none);
        values.endpoint_unlogged = 4;
        let text = encode(&values, 0, "1.2.3");
        let name = "ec2_assume_role_endpoint_responses_total";
        assert_eq!(
            sample_lines(&text, name),
            [
                format!("{name}{{owner=\"(none)\",profile=\"(unknown)\",status=\"401\"}} 2"),
                format!("{name}{{owner=\"alice\",profile=\"(unknown)\",status=\"403\"}} 1"),
                format!("{name}{{owner=\"alice\",profile=\"audit-1\",status=\"200\"}} 3"),
                format!("{name}{{owner=\"alice\",profile=\"audit-1\",status=\"429\"}} 7"),
            ]
        );
        assert_eq!(
            sample_lines(&text, "ec2_assume_role_endpoint_unlogged_total"),
            ["ec2_assume_role_endpoint_unlogged_total 4"]
        );
    }

    #[test]
    fn each_profile_has_its_expiry_as_of_now_its_last_success_and_its_counts() {
        let mut values = Values::new();
        values.profiles.insert(
            "audit-1".into(),
            ProfileValues {
                expiration: Some(1_000_600),
                last_success: Some(999_000),
                refreshes: 3,
                failures: BTreeMap::from([("Throttling".to_owned(), 1)]),
            },
        );
        values.profiles.insert(
            "audit-2".into(),
            ProfileValues {
                expiration: None,
                last_success: None,
                refreshes: 2,
                failures: BTreeMap::from([("AccessDenied".to_owned(), 2)]),
            },
        );
        values.reloads_failed = 1;
        values.last_reload_failed = true;
        values.clock_skew = Some(-600);
        let text = encode(&values, 1_000_000, "1.2.3");
        let m = |s: &str| format!("ec2_assume_role_{s}");
        for line in [
            m("build_info{version=\"1.2.3\"} 1"),
            m("profile_expiry_timestamp_seconds{profile=\"audit-1\"} 1000600"),
            m("profile_expiry_timestamp_seconds{profile=\"audit-2\"} 0"),
            m("profile_expires_in_seconds{profile=\"audit-1\"} 600"),
            m("profile_expires_in_seconds{profile=\"audit-2\"} 0"),
            m("profile_last_refresh_success_timestamp_seconds{profile=\"audit-1\"} 999000"),
            m("profile_last_refresh_success_timestamp_seconds{profile=\"audit-2\"} 0"),
            m("profile_refreshes_total{profile=\"audit-1\"} 3"),
            m("profile_refresh_failures_total{profile=\"audit-1\",code=\"Throttling\"} 1"),
            m("profile_refresh_failures_total{profile=\"audit-2\",code=\"AccessDenied\"} 2"),
            m("config_reloads_total{outcome=\"success\"} 0"),
            m("config_reloads_total{outcome=\"failure\"} 1"),
            m("config_last_reload_successful 0"),
            m("clock_skew_seconds -600"),
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line} in\n{text}");
        }
        // Expired credentials still in the file (remove_expired = false) count down below 0.
        let later = encode(&values, 1_000_700, "1.2.3");
        let line = m("profile_expires_in_seconds{profile=\"audit-1\"} -100");
        assert!(later.lines().any(|l| l == line), "{later}");
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples_and_counters_end_in_total() {
        let mut values = Values::new();
        values.profiles.insert("p".into(), ProfileValues::default());
        values.imds_failures.insert("Unavailable", 1);
        values
            .ssm_failures
            .insert(("GetParameter", "Throttling".into()), 1);
        let text = encode(&values, 0, "1.2.3");
        let mut typed: BTreeMap<String, String> = BTreeMap::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(
                    typed.insert(name.into(), kind.into()).is_none(),
                    "{name} twice"
                );
                assert!(name.starts_with("ec2_assume_role_"), "{name}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "{name}");
                }
                current = name.to_owned();
            } else if line.starts_with("# HELP ") {
                assert!(!line.contains('\n'));
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    name == current
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name.strip_suffix(s) == Some(&current)),
                    "{name} outside its family {current}"
                );
            }
        }
        assert_eq!(typed.len(), 14, "{typed:?}");
        assert!(text.ends_with('\n'));
    }
}
