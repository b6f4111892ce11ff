//! `ec2-assume-role status`: how fresh each configured profile is, from the expiry written
//! beside it in the credentials file and from the daemon's state file (refresh times,
//! failures, last error). The rows are a pure function of those inputs and the time; reading
//! the files and printing are a thin shell around it.
//!
//! It only reads: it must never write a file, call IMDS or STS, or signal the daemon. The
//! credentials file holds secrets, so only each section's expiry is taken from it; no other
//! value of a section may be printed, logged or serialised. With `--json`, stdout carries one
//! JSON document and nothing else (logs and notes go to stderr).
//!
//! Run by an owner of profiles who is not root (the daemon's state file is root's), it shows
//! that user's destinations only, with the refresh times from the state file the daemon keeps
//! for them (`State::owner_path`), and never a row of another user's.

use crate::agent::error::Error;
use crate::agent::files::Destination;
use crate::agent::source::{self, Source};
use crate::aws::imds::Imds;
use crate::base::creds::rfc3339;
use crate::config::Config;
use crate::config::DEFAULT_USER;
use crate::store::credfile::{self, FileKind, Section};
use crate::store::discovery;
use crate::store::fileio;
use crate::store::state::{LastError, State};
use clap::Args;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::io::Write;
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Show each configured profile: expiration, time left, last refresh and error, next
/// refresh. Exit 0 when every profile is present and unexpired, 3 when any is not.
#[derive(Debug, Args)]
pub struct Status {
    /// Print JSON (and only JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A running daemon this far past a planned refresh is stuck or starved. Worth reporting, but
/// not an error: the credentials it holds may stay valid for a while yet.
const OVERDUE_AFTER: Duration = Duration::seconds(60);

/// One configured profile as `status` sees it. Serialised as is for `--json`, so field names
/// and order are part of the output format; never rename one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub profile: String,
    pub role_arn: String,
    /// A section of this name that we manage is in the credentials file.
    pub present: bool,
    /// From the section's `x_security_token_expires`; `None` when absent or unreadable.
    #[serde(serialize_with = "time_or_null")]
    pub expiration: Option<OffsetDateTime>,
    /// Negative once expired; `None` when the expiration is unknown.
    pub seconds_left: Option<i64>,
    /// Present and past its expiry, or present with an expiry we cannot read: we cannot vouch
    /// for such credentials, so they count as expired. A missing profile is not "expired".
    pub expired: bool,
    /// Present and not expired: what the exit code is made of.
    pub ok: bool,
    #[serde(serialize_with = "time_or_null")]
    pub last_refresh: Option<OffsetDateTime>,
    #[serde(serialize_with = "time_or_null")]
    pub next_refresh: Option<OffsetDateTime>,
    /// The daemon runs and `next_refresh` is more than a minute past.
    pub refresh_overdue: bool,
    /// Failed refreshes in a row; `None` without a state entry for the profile.
    pub failures: Option<u32>,
    /// The daemon's last failure for the profile (kept after a later success, with its time).
    #[serde(serialize_with = "last_error_utc")]
    pub last_error: Option<LastError>,
    /// Role chaining: the profiles whose credentials assume this one, from the one the
    /// instance credentials assume (`["hub"]`); empty when the instance credentials do.
    pub via: Vec<String>,
    /// Whose file this row is of: `default` (`[credentials]`) or a `[[user]]` name.
    pub user: String,
    /// The file the expiry was read from (the credentials file, or the cache file).
    pub file: String,
    /// Why a `[[user]]`'s file could not be read (its profiles then count as missing); an
    /// unreadable `[credentials]` file is an error of `status` instead.
    pub file_error: Option<String>,
}

/// The rows for `profiles` (`(profile, role_arn)`, in config order), from the managed
/// sections of the credentials file, the daemon's state (if any), whether that daemon is
/// running, and the time now.
pub fn rows(
    profiles: &[(&str, &str)],
    sections: &[Section],
    state: Option<&State>,
    daemon_running: bool,
    now: OffsetDateTime,
) -> Vec<Row> {
    profiles
        .iter()
        .map(|&(profile, role_arn)| {
            let section = sections.iter().find(|s| s.profile == profile);
            let expiration = section
                .and_then(|s| {
                    s.entries
                        .iter()
                        .find(|(key, _)| key == credfile::EXPIRES_KEY)
                })
                .and_then(|(_, value)| OffsetDateTime::parse(value, &Rfc3339).ok());
            let seconds_left = expiration.map(|e| (e - now).whole_seconds());
            let present = section.is_some();
            let expired = present && seconds_left.is_none_or(|left| left <= 0);
            let known = state.and_then(|s| s.profiles.get(profile));
            let next_refresh = known.and_then(|p| p.next_refresh);
            Row {
                profile: profile.to_owned(),
                role_arn: role_arn.to_owned(),
                present,
                expiration,
                seconds_left,
                expired,
                ok: present && !expired,
                last_refresh: known.and_then(|p| p.last_refresh),
                next_refresh,
                refresh_overdue: daemon_running
                    && next_refresh.is_some_and(|next| now - next > OVERDUE_AFTER),
                failures: known.map(|p| p.failures),
                last_error: known.and_then(|p| p.last_error.clone()),
                via: Vec::new(),
                user: DEFAULT_USER.to_owned(),
                file: String::new(),
                file_error: None,
            }
        })
        .collect()
}

impl Row {
    /// The STATE column: what is wrong with the credentials first, then with their refresh.
    fn state_label(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.file_error.is_some() {
            parts.push("unreadable".into());
        } else if !self.present {
            parts.push("missing".into());
        } else if self.expiration.is_none() {
            parts.push("expiry unknown".into());
        } else if self.expired {
            parts.push("expired".into());
        }
        if self.failures.unwrap_or(0) > 0 {
            parts.push(match &self.last_error {
                Some(e) => format!("failing: {}", e.code),
                None => "failing".into(),
            });
        }
        if self.refresh_overdue {
            parts.push("overdue".into());
        }
        if parts.is_empty() {
            "ok".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The whole `--json` document.
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    #[serde(serialize_with = "utc")]
    now: OffsetDateTime,
    config: String,
    credentials_file: String,
    daemon: Daemon,
    profiles: Vec<Row>,
}

#[derive(Debug, Serialize)]
struct Daemon {
    running: bool,
    /// The pid the state file names, running or not.
    pid: Option<u32>,
    state_file: String,
    #[serde(serialize_with = "time_or_null")]
    updated: Option<OffsetDateTime>,
    /// Why an existing state file could not be used; `None` when it was, or is absent.
    state_error: Option<String>,
    /// Why a readable state file was left out: it describes another config or other files
    /// (or does not say which, written by an older version). `None` when it was used.
    state_ignored: Option<String>,
    /// Seconds this instance's clock was ahead of AWS's (negative: behind) when the daemon
    /// last measured it; `None` when unknown.
    clock_skew_seconds: Option<i64>,
    /// How much of it the running daemon corrects for (0: none). The times shown are read on
    /// the clock so corrected.
    clock_correction_seconds: i64,
}

/// How long `status` waits for IMDS when the config is in SSM Parameter Store.
const IMDS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Status {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let http = crate::aws::http::client();
        let imds = Imds::new(http.clone(), IMDS_WAIT);
        let config = source::load(source, &http, &imds).await?.config;
        // Discovered role sets as last discovered: status never calls AWS Organizations.
        let config = match discovery::Cache::read(&config.discovery.cache_file) {
            Ok(cache) => cache.expand(&config),
            Err(_) => config,
        };
        let report = gather(&config, source, OffsetDateTime::now_utc())?;
        print(&report, self.json)?;
        if report.ok {
            Ok(())
        } else {
            Err(Error::NotFresh)
        }
    }
}

/// Prints the report: JSON, or the table (and a note on stderr when there is no state).
fn print(report: &Report, json: bool) -> Result<(), Error> {
    let text = if json {
        // Serialising these plain types cannot fail.
        let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
        text.push('\n');
        text
    } else {
        // The state file names the pid whenever it could be read.
        if report.daemon.pid.is_none() {
            let d = &report.daemon;
            let why = match (&d.state_error, &d.state_ignored) {
                (Some(err), _) => format!("the state file is unusable ({err})"),
                (None, Some(why)) => format!("ignoring the state file {}: {why}", d.state_file),
                (None, None) => format!(
                    "there is no state file at {} (the daemon writes it; `run` does not)",
                    report.daemon.state_file
                ),
            };
            // stderr: stdout stays the table alone, for scripts that read it.
            let _ = writeln!(
                std::io::stderr(),
                "note: {why}, so the refresh columns are empty"
            );
        }
        let mut unreadable: Vec<(&str, &str)> = report
            .profiles
            .iter()
            .filter_map(|r| Some((r.file.as_str(), r.file_error.as_deref()?)))
            .collect();
        unreadable.dedup();
        for (file, err) in unreadable {
            let _ = writeln!(std::io::stderr(), "note: cannot read {file}: {err}");
        }
        table(report)
    };
    // write_all rather than print!, which panics when stdout is a closed pipe (`| head`).
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::io("writing the status to stdout"))
}

/// Everything `status` reports, read from the config, the credentials file and the state file
/// (only if it describes this config, from `source`, and these files).
fn gather(config: &Config, source: &Source, now: OffsetDateTime) -> Result<Report, Error> {
    let all = Destination::resolve_all(config)?;
    let (destinations, state_file) =
        Destination::seen_by_running_user(&all, &config.daemon.state_file);
    let state_file = &state_file;
    let (mut state, state_error) = read_state(state_file);
    let state_ignored = state
        .as_ref()
        .and_then(|s| s.mismatch(&Destination::origin(destinations.iter().copied(), source)));
    if state_ignored.is_some() {
        state = None;
    }
    let running = state.as_ref().is_some_and(State::daemon_alive);
    // The daemon reads expiry times on this clock corrected against AWS's: so does `status`
    // while it runs (a stopped daemon's correction may be out of date).
    let correction = state
        .as_ref()
        .filter(|_| running)
        .map_or(0, |s| s.clock_correction_seconds);
    let now = now - time::Duration::seconds(correction);
    let mut all = Vec::new();
    for dest in &destinations {
        let path = &dest.files.credentials;
        // A missing file is every profile missing (exit 3), not an error; another user's
        // unreadable file is theirs to fix, and must not hide everyone else's rows.
        let (bytes, file_error) = match fileio::read(path) {
            Ok(bytes) => (bytes.unwrap_or_default(), None),
            Err(err) if dest.name != DEFAULT_USER => (Vec::new(), Some(err.to_string())),
            Err(err) => return Err(Error::file("reading the credentials file")(err)),
        };
        let sections = credfile::managed_sections(&bytes, FileKind::Credentials);
        let mine: Vec<usize> = (0..config.roles.len())
            .filter(|&i| config.roles[i].goes_to(&dest.name))
            .collect();
        let profiles: Vec<(&str, &str)> = mine
            .iter()
            .map(|&i| {
                (
                    config.roles[i].profile.as_str(),
                    config.roles[i].role_arn.as_str(),
                )
            })
            .collect();
        let rows = rows(&profiles, &sections, state.as_ref(), running, now);
        for (mut row, &i) in rows.into_iter().zip(&mine) {
            let chain = config.chain(i);
            row.via = chain[..chain.len() - 1]
                .iter()
                .map(|p| p.to_string())
                .collect();
            row.user = dest.name.clone();
            row.file = path.display().to_string();
            row.file_error.clone_from(&file_error);
            all.push(row);
        }
    }
    let rows = all;
    Ok(Report {
        ok: rows.iter().all(|r| r.ok),
        now,
        config: config.path.display().to_string(),
        credentials_file: destinations
            .first()
            .map(|d| d.files.credentials.display().to_string())
            .unwrap_or_default(),
        daemon: Daemon {
            running,
            pid: state.as_ref().map(|s| s.pid),
            state_file: state_file.display().to_string(),
            updated: state.as_ref().and_then(|s| s.updated),
            state_error,
            state_ignored,
            clock_skew_seconds: state.as_ref().and_then(|s| s.clock_skew_seconds),
            clock_correction_seconds: correction,
        },
        profiles: rows,
    })
}

/// The daemon's state, or why there is none to use.
fn read_state(path: &Path) -> (Option<State>, Option<String>) {
    match State::read(path) {
        Ok(state) => (state, None),
        Err(err) => (None, Some(err)),
    }
}

/// The human output: the credentials file, an aligned table, and the daemon's line.
fn table(report: &Report) -> String {
    let now = report.now;
    let dash = || "-".to_owned();
    // A VIA column only when some role is chained, so that plain configs read as before.
    let chained = report.profiles.iter().any(|r| !r.via.is_empty());
    let mut header: Vec<String> = vec!["PROFILE".into()];
    if chained {
        header.push("VIA".into());
    }
    header.extend(["EXPIRES", "LEFT", "LAST REFRESH", "NEXT REFRESH", "STATE"].map(String::from));
    // One block per file, each with its own heading, the columns aligned across all.
    let mut cells: Vec<Vec<String>> = vec![header.clone()];
    let mut blocks: Vec<(String, Vec<usize>)> = Vec::new();
    for row in &report.profiles {
        let heading = match row.user.as_str() {
            DEFAULT_USER => format!("credentials file: {}", row.file),
            user => format!("credentials file: {} (user {user})", row.file),
        };
        if blocks.last().is_none_or(|(h, _)| *h != heading) {
            blocks.push((heading, Vec::new()));
        }
        if let Some((_, lines)) = blocks.last_mut() {
            lines.push(cells.len());
        }
        let left = match row.seconds_left {
            Some(s) if s > 0 => span(s),
            Some(s) => format!("expired {} ago", span(s)),
            None => dash(),
        };
        let mut line = vec![row.profile.clone()];
        if chained {
            line.push(if row.via.is_empty() {
                dash()
            } else {
                row.via.join(" > ")
            });
        }
        line.extend([
            row.expiration.map_or_else(dash, rfc3339),
            left,
            row.last_refresh.map_or_else(dash, |t| relative(t, now)),
            row.next_refresh.map_or_else(dash, |t| relative(t, now)),
            row.state_label(),
        ]);
        cells.push(line);
    }
    let mut widths = vec![0; cells[0].len()];
    for line in &cells {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let aligned = |line: &[String]| {
        let mut text = String::new();
        for (i, (cell, &w)) in line.iter().zip(&widths).enumerate() {
            if i + 1 < line.len() {
                text.push_str(&format!("{cell:<w$}  "));
            } else {
                text.push_str(cell);
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = String::new();
    if blocks.is_empty() {
        out.push_str(&format!("credentials file: {}\n", report.credentials_file));
        out.push_str(&aligned(&header));
    }
    for (heading, lines) in &blocks {
        out.push_str(heading);
        out.push('\n');
        out.push_str(&aligned(&header));
        for &i in lines {
            out.push_str(&aligned(&cells[i]));
        }
    }
    out.push_str(&daemon_line(&report.daemon, now));
    out.push('\n');
    if let Some(line) = clock_line(&report.daemon) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The clock's line, when the daemon corrects for it or measured it at least
/// `skew::TOLERANCE_SECONDS` off AWS's.
fn clock_line(d: &Daemon) -> Option<String> {
    let off = match d.clock_skew_seconds? {
        s if s.abs() < crate::aws::skew::TOLERANCE_SECONDS && d.clock_correction_seconds == 0 => {
            return None
        }
        s if s < 0 => format!("{} s behind", -s),
        s => format!("{s} s ahead of"),
    };
    let what = match d.clock_correction_seconds {
        0 => "not corrected for",
        _ => "the daemon signs and reads expiry times with the corrected time",
    };
    Some(format!(
        "clock: this instance's clock is {off} AWS's ({what}); fix time sync"
    ))
}

fn daemon_line(d: &Daemon, now: OffsetDateTime) -> String {
    let updated = match d.updated {
        Some(t) => format!("updated {}", relative(t, now)),
        None => "never updated".into(),
    };
    match (d.pid, d.running) {
        (Some(pid), true) => format!(
            "daemon: running (pid {pid}); state file {} {updated}",
            d.state_file
        ),
        (Some(pid), false) => format!(
            "daemon: not running (pid {pid} has exited); state file {} {updated}",
            d.state_file
        ),
        (None, _) if d.state_error.is_some() => {
            format!("daemon: unknown (state file {} unusable)", d.state_file)
        }
        (None, _) if d.state_ignored.is_some() => format!(
            "daemon: unknown (state file {} is not this config's)",
            d.state_file
        ),
        (None, _) => format!("daemon: not running (no state file at {})", d.state_file),
    }
}

/// `in 17m48s`, `12m ago`, or `just now` for less than a second ago.
fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let left = t - now;
    let seconds = left.whole_seconds();
    match (left.is_positive(), seconds) {
        (true, _) => format!("in {}", span(seconds)),
        (false, 0) => "just now".to_owned(),
        (false, _) => format!("{} ago", span(seconds)),
    }
}

/// A length of time in two units at most, sign ignored: `42s`, `49m12s`, `2h03m`, `3d04h`;
/// a zero second unit is left out (`5m`, `2h`).
fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (big, unit, small, small_unit) = match s {
        0..60 => return format!("{s}s"),
        60..3600 => (s / 60, "m", s % 60, "s"),
        3600..86400 => (s / 3600, "h", s % 3600 / 60, "m"),
        _ => (s / 86400, "d", s % 86400 / 3600, "h"),
    };
    if small == 0 {
        format!("{big}{unit}")
    } else {
        format!("{big}{unit}{small:02}{small_unit}")
    }
}

fn utc<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// A `LastError` with its time in the same UTC form as every other time of the report.
fn last_error_utc<S: Serializer>(e: &Option<LastError>, s: S) -> Result<S::Ok, S::Error> {
    let Some(e) = e else {
        return s.serialize_none();
    };
    let mut st = s.serialize_struct("LastError", 3)?;
    st.serialize_field("code", &e.code)?;
    st.serialize_field("message", &e.message)?;
    st.serialize_field("at", &rfc3339(e.at))?;
    st.end()
}

fn time_or_null<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => utc(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::{LastError, Profile};
    use std::collections::BTreeMap;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 08:00 UTC);
    const SECRET: &str = "wJalrXUtnFEMIsecretKEY";

    fn section(profile: &str, expires: Option<&str>) -> Section {
        let mut entries = vec![
            ("aws_access_key_id".to_owned(), "ASIAKEYID".to_owned()),
            ("aws_secret_access_key".to_owned(), SECRET.to_owned()),
        ];
        if let Some(e) = expires {
            entries.push((credfile::EXPIRES_KEY.to_owned(), e.to_owned()));
        }
        Section {
            profile: profile.to_owned(),
            entries,
        }
    }

    fn known(next: Option<OffsetDateTime>, failures: u32, code: Option<&str>) -> Profile {
        Profile {
            role_arn: "arn:aws:iam::111111111111:role/R".into(),
            expiration: None,
            last_refresh: Some(datetime!(2026-11-23 07:30 UTC)),
            next_refresh: next,
            failures,
            last_error: code.map(|c| LastError {
                code: c.into(),
                message: "no".into(),
                at: datetime!(2026-11-23 07:55 UTC),
            }),
        }
    }

    struct Case {
        name: &'static str,
        section: Option<Option<&'static str>>,
        state: Option<Profile>,
        running: bool,
        // present, expired, ok, seconds_left, overdue, failures, label
        want: (
            bool,
            bool,
            bool,
            Option<i64>,
            bool,
            Option<u32>,
            &'static str,
        ),
    }

    #[test]
    fn rows_table() {
        let in_an_hour = Some("2026-11-23T09:00:00Z");
        let cases = [
            Case {
                name: "fresh, no state",
                section: Some(in_an_hour),
                state: None,
                running: false,
                want: (true, false, true, Some(3600), false, None, "ok"),
            },
            Case {
                name: "not in the file",
                section: None,
                state: None,
                running: false,
                want: (false, false, false, None, false, None, "missing"),
            },
            Case {
                name: "expired five minutes ago",
                section: Some(Some("2026-11-23T07:55:00Z")),
                state: None,
                running: false,
                want: (true, true, false, Some(-300), false, None, "expired"),
            },
            Case {
                name: "expires this very second",
                section: Some(Some("2026-11-23T08:00:00Z")),
                state: None,
                running: false,
                want: (true, true, false, Some(0), false, None, "expired"),
            },
            Case {
                name: "an offset is converted",
                section: Some(Some("2026-11-23T10:00:00+01:00")),
                state: None,
                running: false,
                want: (true, false, true, Some(3600), false, None, "ok"),
            },
            Case {
                name: "unreadable expiry",
                section: Some(Some("tomorrow")),
                state: None,
                running: false,
                want: (true, true, false, None, false, None, "expiry unknown"),
            },
            Case {
                name: "no expiry key",
                section: Some(None),
                state: None,
                running: false,
                want: (true, true, false, None, false, None, "expiry unknown"),
            },
            Case {
                name: "failing but still valid",
                section: Some(in_an_hour),
                state: Some(known(
                    Some(datetime!(2026-11-23 08:05 UTC)),
                    2,
                    Some("AccessDenied"),
                )),
                running: true,
                want: (
                    true,
                    false,
                    true,
                    Some(3600),
                    false,
                    Some(2),
                    "failing: AccessDenied",
                ),
            },
            Case {
                name: "recovered: the last error stays, the state is ok",
                section: Some(in_an_hour),
                state: Some(known(
                    Some(datetime!(2026-11-23 08:30 UTC)),
                    0,
                    Some("Throttling"),
                )),
                running: true,
                want: (true, false, true, Some(3600), false, Some(0), "ok"),
            },
            Case {
                name: "overdue by ten minutes, daemon running",
                section: Some(in_an_hour),
                state: Some(known(Some(datetime!(2026-11-23 07:50 UTC)), 0, None)),
                running: true,
                want: (true, false, true, Some(3600), true, Some(0), "overdue"),
            },
            Case {
                name: "a minute late is not overdue yet",
                section: Some(in_an_hour),
                state: Some(known(Some(datetime!(2026-11-23 07:59 UTC)), 0, None)),
                running: true,
                want: (true, false, true, Some(3600), false, Some(0), "ok"),
            },
            Case {
                name: "a stopped daemon is never overdue",
                section: Some(in_an_hour),
                state: Some(known(Some(datetime!(2026-11-23 07:50 UTC)), 0, None)),
                running: false,
                want: (true, false, true, Some(3600), false, Some(0), "ok"),
            },
            Case {
                name: "everything wrong at once",
                section: None,
                state: Some(known(
                    Some(datetime!(2026-11-23 07:00 UTC)),
                    5,
                    Some("AccessDenied"),
                )),
                running: true,
                want: (
                    false,
                    false,
                    false,
                    None,
                    true,
                    Some(5),
                    "missing, failing: AccessDenied, overdue",
                ),
            },
        ];
        for case in cases {
            let sections: Vec<Section> = [section("other", in_an_hour)]
                .into_iter()
                .chain(case.section.map(|e| section("p", e)))
                .collect();
            let state = State {
                version: crate::store::state::VERSION,
                pid: 1,
                updated: Some(NOW),
                credentials_file: "/c".into(),
                config: None,
                files: Vec::new(),
                profiles: case
                    .state
                    .clone()
                    .map(|p| BTreeMap::from([("p".to_owned(), p)]))
                    .unwrap_or_default(),
                ..State::default()
            };
            let got = rows(
                &[("p", "arn:aws:iam::111111111111:role/R")],
                &sections,
                Some(&state),
                case.running,
                NOW,
            );
            let [row] = got.as_slice() else {
                panic!("{}: one row expected, got {got:?}", case.name)
            };
            let label = row.state_label();
            let have = (
                row.present,
                row.expired,
                row.ok,
                row.seconds_left,
                row.refresh_overdue,
                row.failures,
                label.as_str(),
            );
            assert_eq!(have, case.want, "{}", case.name);
            assert_eq!(
                row.last_error.as_ref().map(|e| e.code.as_str()),
                case.state
                    .as_ref()
                    .and_then(|p| p.last_error.as_ref())
                    .map(|e| e.code.as_str()),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn rows_follow_config_order_and_never_carry_a_secret() {
        let sections = [
            section("b", Some("2026-11-23T09:00:00Z")),
            section("a", Some("2026-11-23T09:00:00Z")),
        ];
        let got = rows(
            &[("a", "arn:a"), ("b", "arn:b")],
            &sections,
            None,
            false,
            NOW,
        );
        let names: Vec<&str> = got.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let shown = format!("{got:?} {}", serde_json::to_string(&got).unwrap());
        for secret in [SECRET, "ASIAKEYID"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }

    #[test]
    fn json_fields_are_stable_utc_and_null_when_unknown() {
        let state = State {
            version: crate::store::state::VERSION,
            pid: 1,
            updated: None,
            credentials_file: "/c".into(),
            config: None,
            files: Vec::new(),
            profiles: BTreeMap::from([("a".to_owned(), known(None, 1, Some("Throttling")))]),
            ..State::default()
        };
        let sections = [section("a", Some("2026-11-23T10:00:00+01:00"))];
        let got = rows(
            &[("a", "arn:a"), ("b", "arn:b")],
            &sections,
            Some(&state),
            true,
            NOW,
        );
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {
                    "profile": "a", "role_arn": "arn:a", "present": true,
                    "expiration": "2026-11-23T09:00:00Z", "seconds_left": 3600,
                    "expired": false, "ok": true,
                    "last_refresh": "2026-11-23T07:30:00Z", "next_refresh": null,
                    "refresh_overdue": false, "failures": 1,
                    "last_error": {"code": "Throttling", "message": "no", "at": "2026-11-23T07:55:00Z"},
                    "via": [], "user": "default", "file": "", "file_error": null
                },
                {
                    "profile": "b", "role_arn": "arn:b", "present": false,
                    "expiration": null, "seconds_left": null, "expired": false, "ok": false,
                    "last_refresh": null, "next_refresh": null, "refresh_overdue": false,
                    "failures": null, "last_error": null, "via": [], "user": "default", "file": "", "file_error": null
                }
            ])
        );
    }

    #[test]
    fn spans_are_compact() {
        let cases = [
            (0, "0s"),
            (42, "42s"),
            (-42, "42s"),
            (60, "1m"),
            (300, "5m"),
            (2952, "49m12s"),
            (3600, "1h"),
            (7380, "2h03m"),
            (86400, "1d"),
            (273600, "3d04h"),
        ];
        for (seconds, want) in cases {
            assert_eq!(span(seconds), want, "{seconds}");
        }
        assert_eq!(relative(NOW + Duration::minutes(18), NOW), "in 18m");
        assert_eq!(relative(NOW - Duration::seconds(125), NOW), "2m05s ago");
        // Right after a refresh: its time is a fraction of a second in the past.
        assert_eq!(relative(NOW - Duration::milliseconds(400), NOW), "just now");
        assert_eq!(relative(NOW, NOW), "just now");
        assert_eq!(relative(NOW - Duration::seconds(7), NOW), "7s ago");
        assert_eq!(relative(NOW + Duration::milliseconds(1500), NOW), "in 1s");
    }

    /// A report of `profiles` without a state file.
    fn no_daemon(profiles: Vec<Row>) -> Report {
        Report {
            ok: profiles.iter().all(|r| r.ok),
            now: NOW,
            config: "/etc/c.toml".into(),
            credentials_file: "/home/u/.aws/credentials".into(),
            daemon: Daemon {
                running: false,
                pid: None,
                state_file: "/run/s.json".into(),
                updated: None,
                state_error: None,
                state_ignored: None,
                clock_skew_seconds: None,
                clock_correction_seconds: 0,
            },
            profiles,
        }
    }

    #[test]
    fn the_clock_line_says_the_skew_and_whether_it_is_corrected_for() {
        let mut report = no_daemon(Vec::new());
        // (measured, corrected for, the line)
        let cases = [
            (None, 0, None),
            (Some(-1), 0, None),
            (Some(59), 0, None),
            (
                Some(-600),
                -600,
                Some("clock: this instance's clock is 600 s behind AWS's (the daemon signs and reads expiry times with the corrected time); fix time sync"),
            ),
            (
                Some(1200),
                0,
                Some("clock: this instance's clock is 1200 s ahead of AWS's (not corrected for); fix time sync"),
            ),
        ];
        for (skew, correction, want) in cases {
            report.daemon.clock_skew_seconds = skew;
            report.daemon.clock_correction_seconds = correction;
            assert_eq!(clock_line(&report.daemon).as_deref(), want, "{skew:?}");
            let text = table(&report);
            let last = want.unwrap_or("daemon: not running (no state file at /run/s.json)");
            assert!(text.ends_with(&format!("{last}\n")), "{text}");
        }
        let json = serde_json::to_value(&report.daemon).unwrap();
        assert_eq!(json["clock_skew_seconds"], 1200);
        assert_eq!(json["clock_correction_seconds"], 0);
    }

    #[test]
    fn table_is_aligned_and_ends_with_the_daemon_line() {
        let sections = [
            section("audit-111111111111", Some("2026-11-23T08:49:12Z")),
            section("x", Some("2026-11-23T07:55:00Z")),
        ];
        let mut profiles = rows(
            &[("audit-111111111111", "arn:a"), ("x", "arn:x")],
            &sections,
            None,
            false,
            NOW,
        );
        for row in &mut profiles {
            row.file = "/home/u/.aws/credentials".into();
        }
        let text = table(&no_daemon(profiles));
        let want = "\
credentials file: /home/u/.aws/credentials
PROFILE             EXPIRES               LEFT            LAST REFRESH  NEXT REFRESH  STATE
audit-111111111111  2026-11-23T08:49:12Z  49m12s          -             -             ok
x                   2026-11-23T07:55:00Z  expired 5m ago  -             -             expired
daemon: not running (no state file at /run/s.json)
";
        assert_eq!(text, want);
        assert!(text.lines().all(|l| l.len() <= 100));
    }

    #[test]
    fn the_table_has_a_block_for_each_users_file() {
        let sections = [section("a", Some("2026-11-23T08:49:12Z"))];
        let mut profiles = Vec::new();
        for (user, file) in [
            ("default", "/home/u/.aws/credentials"),
            ("alice", "/home/alice/.aws/credentials"),
        ] {
            for mut row in rows(&[("a", "arn:a")], &sections, None, false, NOW) {
                row.user = user.into();
                row.file = file.into();
                profiles.push(row);
            }
        }
        profiles[1].profile = "longer-profile".into();
        let want = "\
credentials file: /home/u/.aws/credentials
PROFILE         EXPIRES               LEFT    LAST REFRESH  NEXT REFRESH  STATE
a               2026-11-23T08:49:12Z  49m12s  -             -             ok
credentials file: /home/alice/.aws/credentials (user alice)
PROFILE         EXPIRES               LEFT    LAST REFRESH  NEXT REFRESH  STATE
longer-profile  2026-11-23T08:49:12Z  49m12s  -             -             ok
daemon: not running (no state file at /run/s.json)
";
        assert_eq!(table(&no_daemon(profiles)), want);
    }
}
