//! `doctor`'s checks of this machine, which need no AWS: each destination's files (owners,
//! modes, the directory), what would shadow the profiles for an AWS SDK (the environment,
//! systemd's for the unit, same-named profiles in the AWS config file, static keys before a
//! `credential_process`), the daemon (from its state file), the credential endpoint and the
//! metrics file. They only read (a local connect to the endpoint aside) and never print a
//! value from a credentials file, a token file or the environment but a profile name or path.

use super::report::Check;
use crate::agent::files::{Destination, Files};
use crate::agent::source::Source;
use crate::base::creds::rfc3339;
use crate::config::{Config, DEFAULT_USER};
use crate::daemon::endpoint::token_path;
use crate::store::credfile::{self, FileKind};
use crate::store::fileio::{self, Owner};
use crate::store::state::State;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// The metrics file is rewritten every minute by a running daemon; older than this is stale.
const METRICS_STALE_AFTER: Duration = Duration::from_secs(120);

/// How long `systemctl show` may take.
const SYSTEMCTL_WAIT: Duration = Duration::from_secs(2);

/// How long a connect to the endpoint may take.
const CONNECT_WAIT: Duration = Duration::from_secs(1);

/// Check 5: one destination's files: owners, modes, and the directory they are in.
pub fn files(dest: &Destination) -> Check {
    let f = &dest.files;
    let owner = f.owner.clone().or_else(|| Owner::current().ok());
    let name = format!("files ({})", user_label(&dest.name));
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    let mut paths: Vec<(&Path, bool)> = vec![(&f.credentials, true), (&f.config, false)];
    if let Some(shadowed) = &f.shadowed {
        paths.push((shadowed, true));
    }
    for (path, private) in paths {
        match inspect(path, owner.as_ref(), private, &mut problems) {
            Some(meta) => seen.push(format!(
                "{} ({}, {:04o})",
                path.display(),
                user_name(meta.uid()),
                meta.mode() & 0o7777
            )),
            None => seen.push(format!("{} (to be created)", path.display())),
        }
    }
    if let Some(dir) = f.credentials.parent() {
        inspect_dir(dir, owner.as_ref(), &mut problems);
    }
    Check::of(name, seen.join(", "), problems)
}

/// `path`'s metadata when it exists; its problems added to `problems`.
fn inspect(
    path: &Path,
    owner: Option<&Owner>,
    private: bool,
    problems: &mut Vec<(String, String)>,
) -> Option<std::fs::Metadata> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            problems.push((
                format!("{shown}: {e}"),
                "check the path and its directories".into(),
            ));
            return None;
        }
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        problems.push((
            format!("{shown} is not a regular file; ec2-assume-role refuses to write through it"),
            format!("replace {shown} with a regular file"),
        ));
        return Some(meta);
    }
    if let Some(owner) = owner.filter(|o| o.uid.as_raw() != meta.uid()) {
        problems.push((
            format!(
                "{shown} belongs to {}, not {}",
                user_name(meta.uid()),
                owner.name
            ),
            format!("chown {}: {shown}", owner.name),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if private && mode & 0o077 != 0 {
        problems.push((
            format!("{shown} has mode {mode:04o}: others can read the keys (0600 expected)"),
            format!("chmod 600 {shown}"),
        ));
    } else if mode & 0o022 != 0 {
        problems.push((
            format!("{shown} has mode {mode:04o}: others can change it"),
            format!("chmod go-w {shown}"),
        ));
    }
    Some(meta)
}

fn inspect_dir(dir: &Path, owner: Option<&Owner>, problems: &mut Vec<(String, String)>) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return; // Created with the file, by its owner.
    };
    let shown = dir.display();
    if let Some(owner) = owner.filter(|o| o.uid.as_raw() != meta.uid()) {
        problems.push((
            format!(
                "the directory {shown} belongs to {}, not {}",
                user_name(meta.uid()),
                owner.name
            ),
            format!("chown {}: {shown}", owner.name),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        problems.push((
            format!(
                "the directory {shown} has mode {:04o}: others could swap the files",
                meta.mode() & 0o7777
            ),
            format!("chmod go-w {shown}"),
        ));
    }
}

/// Check 6a: the environment of this shell, as an AWS SDK started from it would see it.
pub fn environment(config: &Config, destinations: &[Destination]) -> Check {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mine = own(destinations);
    let ours: Vec<&str> = config.roles.iter().map(|r| r.profile.as_str()).collect();
    let mut problems = Vec::new();
    if var("AWS_ACCESS_KEY_ID").is_some() {
        problems.push((
            "AWS_ACCESS_KEY_ID is set: an AWS client without --profile signs with it rather \
             than with a profile"
                .to_owned(),
            "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN".to_owned(),
        ));
    }
    let picks = |p: &String| p == "default" || ours.contains(&p.as_str());
    if let Some(profile) = var("AWS_PROFILE").filter(|p| !picks(p)) {
        problems.push((
            format!("AWS_PROFILE={profile} names a profile this config does not write"),
            "unset AWS_PROFILE, or set it to one of the configured profiles".to_owned(),
        ));
    }
    if let Some(files) = mine {
        let read = files.shadowed.as_ref().unwrap_or(&files.credentials);
        for (variable, written) in [
            ("AWS_SHARED_CREDENTIALS_FILE", read),
            ("AWS_CONFIG_FILE", &files.config),
        ] {
            if let Some(set) = var(variable).filter(|v| Path::new(v) != written) {
                problems.push((
                    format!(
                        "{variable}={set}: AWS clients read that, not {}",
                        written.display()
                    ),
                    format!("unset {variable}"),
                ));
            }
        }
    }
    Check::of(
        "environment",
        "no AWS_ACCESS_KEY_ID, AWS_PROFILE or AWS file variable gets in the way".to_owned(),
        problems,
    )
}

/// This user's files: the destination it owns, or `[credentials]` without an owner.
fn own(destinations: &[Destination]) -> Option<&Files> {
    let uid = nix::unistd::geteuid();
    destinations
        .iter()
        .find(|d| match &d.files.owner {
            Some(owner) => owner.uid == uid,
            None => d.name == DEFAULT_USER,
        })
        .map(|d| &d.files)
}

/// Check 6b: the variables systemd gives the unit, which ec2-assume-role does not read.
pub async fn systemd() -> Check {
    let name = "systemd environment";
    let args = [
        "show",
        "ec2-assume-role.service",
        "-p",
        "Environment",
        "--value",
    ];
    let output = match run_bounded("systemctl", &args, SYSTEMCTL_WAIT).await {
        Ok(output) => output,
        Err(why) => return Check::skip(name, why),
    };
    let set: Vec<&str> = output
        .split_whitespace()
        .filter_map(|assignment| assignment.split('=').next())
        .filter(|v| {
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_PROFILE",
                "AWS_SHARED_CREDENTIALS_FILE",
            ]
            .contains(v)
        })
        .collect();
    if set.is_empty() {
        return Check::pass(name, "the unit sets no AWS credential variable");
    }
    Check::fail(
        name,
        format!(
            "the unit sets {}, which ec2-assume-role ignores: it signs with the instance \
             credentials and writes where its config says",
            set.join(", ")
        ),
        "remove them (systemctl edit ec2-assume-role); set [credentials] file in the config \
         to choose the file",
    )
}

/// `program args` run to completion within `wait`, its stdout; why not otherwise.
async fn run_bounded(program: &str, args: &[&str], wait: Duration) -> Result<String, String> {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program} cannot be run ({e})"))?;
    let until = tokio::time::Instant::now() + wait;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if tokio::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not answer within {wait:?}"));
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        let why = why.lines().next().unwrap_or("no message");
        return Err(format!("`{program} {}` failed: {why}", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Check 6c: in each destination, sections that AWS clients would use instead of ours: a
/// same-named profile in the AWS config file that assumes a role or runs a process or SSO,
/// and with `credential_process`, static keys in the credentials file.
pub fn shadowing(config: &Config, destinations: &[Destination]) -> Check {
    let mut problems = Vec::new();
    for dest in destinations {
        let ours: Vec<&str> = (config.roles.iter())
            .filter(|r| r.goes_to(&dest.name))
            .map(|r| r.profile.as_str())
            .collect();
        let f = &dest.files;
        let sections = |path: &Path, kind| match fileio::read(path) {
            Ok(bytes) => credfile::section_keys(&bytes.unwrap_or_default(), kind),
            Err(_) => Vec::new(), // The files check says why.
        };
        for (profile, managed, keys) in sections(&f.config, FileKind::Config) {
            let shadows: Vec<&String> = keys
                .iter()
                .filter(|k| {
                    ["role_arn", "credential_process", "credential_source"].contains(&k.as_str())
                        || k.starts_with("sso_")
                })
                .collect();
            if managed || shadows.is_empty() || !ours.contains(&profile.as_str()) {
                continue;
            }
            let keys: Vec<&str> = shadows.iter().map(|k| k.as_str()).collect();
            problems.push((
                format!(
                    "[profile {profile}] in {} has {}: AWS clients use that instead of the \
                     credentials ec2-assume-role writes",
                    f.config.display(),
                    keys.join(", ")
                ),
                format!(
                    "remove {} from [profile {profile}] in {}, or rename that profile",
                    keys.join(", "),
                    f.config.display()
                ),
            ));
        }
        let Some(credentials) = &f.shadowed else {
            continue;
        };
        for (profile, _, keys) in sections(credentials, FileKind::Credentials) {
            if ours.contains(&profile.as_str()) && keys.iter().any(|k| k == "aws_access_key_id") {
                problems.push((
                    format!(
                        "[{profile}] in {} has static keys: AWS clients use them before the \
                         credential_process in {}",
                        credentials.display(),
                        f.config.display()
                    ),
                    format!("remove [{profile}] from {}", credentials.display()),
                ));
            }
        }
    }
    Check::of(
        "AWS config files",
        "no other section of the configured profiles' names gets in the way".to_owned(),
        problems,
    )
}

/// Check 7: the daemon, from its state file: running, its last refresh, failing profiles.
pub fn daemon(config: &Config, source: &Source, destinations: &[Destination]) -> Check {
    let name = "daemon";
    let path = &config.daemon.state_file;
    let start = "systemctl enable --now ec2-assume-role";
    let state = match State::read(path) {
        Ok(Some(state)) => state,
        Ok(None) => {
            return Check::fail(
                name,
                format!("not running: there is no state file at {}", path.display()),
                start,
            )
        }
        Err(why) => {
            return Check::skip(
                name,
                format!("the state file cannot be read ({why}); as root it can"),
            )
        }
    };
    if let Some(why) = state.mismatch(&Destination::origin(destinations, source)) {
        return Check::fail(
            name,
            format!(
                "the state file {} is not this config's: {why}",
                path.display()
            ),
            "run the daemon with this config (its --config), or give each config its own \
             [daemon] state_file",
        );
    }
    let last = state
        .updated
        .map_or("never".to_owned(), |t| format!("at {}", rfc3339(t)));
    if !state.daemon_alive() {
        return Check::fail(
            name,
            format!(
                "not running: process {} of the state file has ended (last refresh {last})",
                state.pid
            ),
            format!("{start}; `journalctl -u ec2-assume-role` says why it stopped"),
        );
    }
    let failing: Vec<String> = (state.profiles.iter())
        .filter(|(_, p)| p.failures > 0)
        .map(|(profile, p)| match &p.last_error {
            Some(e) => format!(
                "{profile} ({} in a row, {}: {})",
                p.failures, e.code, e.message
            ),
            None => format!("{profile} ({} in a row)", p.failures),
        })
        .collect();
    let running = format!("running (pid {}), last refresh {last}", state.pid);
    if failing.is_empty() {
        return Check::pass(name, format!("{running}, no profile failing"));
    }
    Check::fail(
        name,
        format!("{running}; failing: {}", failing.join("; ")),
        "the role checks above show why; `ec2-assume-role status` and `journalctl -u \
         ec2-assume-role` show each refresh",
    )
}

/// Check 8: the credential endpoint listens, and this user can read its token file.
pub async fn endpoint(config: &Config) -> Vec<Check> {
    let Some(endpoint) = &config.endpoint else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for addr in &endpoint.listen {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(CONNECT_WAIT, connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => problems.push((
                format!("nothing listens on {addr} ({e})"),
                "start the daemon, which serves it: systemctl enable --now ec2-assume-role"
                    .to_owned(),
            )),
            Err(_) => problems.push((
                format!("{addr} did not accept a connection within {CONNECT_WAIT:?}"),
                format!("check the firewall rules for {addr}"),
            )),
        }
    }
    let listen: Vec<String> = endpoint.listen.iter().map(|a| a.to_string()).collect();
    let listening = Check::of(
        "endpoint",
        format!("listening on {}", listen.join(", ")),
        problems,
    );
    vec![listening, token(&endpoint.token_dir)]
}

fn token(dir: &Path) -> Check {
    let name = "endpoint token";
    let user = match Owner::current() {
        Ok(owner) => owner.name,
        Err(e) => return Check::skip(name, e.to_string()),
    };
    let path: PathBuf = token_path(dir, &user);
    match std::fs::read(&path) {
        Ok(token) if !token.is_empty() => {
            Check::pass(name, format!("{} is readable by {user}", path.display()))
        }
        Ok(_) => Check::fail(
            name,
            format!("{} is empty", path.display()),
            "restart the daemon, which writes a new token: systemctl restart ec2-assume-role",
        ),
        Err(e) => Check::fail(
            name,
            format!("{user} cannot read {}: {e}", path.display()),
            format!(
                "the daemon writes a token for each owner of a destination: name {user} in a \
                 [[user]] (or [credentials] owner) and restart the daemon"
            ),
        ),
    }
}

/// Check 9: the metrics file exists, is fresh and is Prometheus text.
pub fn metrics(config: &Config, now: OffsetDateTime) -> Option<Check> {
    let path = config.daemon.metrics_file.as_ref()?;
    let name = "metrics file";
    let shown = path.display();
    let restart = "is the daemon running? systemctl status ec2-assume-role";
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => return Some(Check::fail(name, format!("{shown}: {e}"), restart)),
    };
    let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
    let age = age.unwrap_or_default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return Some(Check::fail(name, format!("{shown}: {e}"), "chmod a+r it")),
    };
    let bad = text
        .lines()
        .enumerate()
        .find(|(_, line)| !sample_or_comment(line));
    let check = if let Some((n, _)) = bad {
        Check::fail(
            name,
            format!("{shown}:{}: not a Prometheus sample", n + 1),
            "let only the daemon write it ([daemon] metrics_file)",
        )
    } else if age > METRICS_STALE_AFTER {
        Check::fail(
            name,
            format!(
                "{shown} was last written {} s ago (at {}); the daemon rewrites it every minute",
                age.as_secs(),
                rfc3339(now - age)
            ),
            restart,
        )
    } else {
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        Check::pass(
            name,
            format!(
                "{shown}: {samples} samples, written {} s ago",
                age.as_secs()
            ),
        )
    };
    Some(check)
}

/// A line of the Prometheus text format: a comment, or `name{labels} value [timestamp]`.
fn sample_or_comment(line: &str) -> bool {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return true;
    }
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return false,
    };
    let rest = match rest.strip_prefix('{') {
        Some(labels) => match labels.rfind('}') {
            Some(close) => &labels[close + 1..],
            None => return false,
        },
        None => rest,
    };
    let mut fields = rest.split_whitespace();
    let name_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    let value_ok = fields
        .next()
        .is_some_and(|v| v.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&v));
    let time_ok = fields.next().is_none_or(|t| t.parse::<i64>().is_ok());
    name_ok && value_ok && time_ok && fields.next().is_none()
}

fn user_label(name: &str) -> String {
    match name {
        DEFAULT_USER => "[credentials]".to_owned(),
        user => format!("user {user}"),
    }
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_lines_are_told_from_others() {
        let table = [
            ("# HELP x y", true),
            ("", true),
            ("ec2_assume_role_up 1", true),
            ("a_b:c{profile=\"p\",x=\"}\"} 1.5e3 1700000000000", true),
            ("x NaN", true),
            ("x{a=\"b\"} +Inf", true),
            ("x", false),
            ("x 1 2 3", false),
            ("1x 1", false),
            ("x{a=\"b\" 1", false),
            ("x one", false),
        ];
        for (line, want) in table {
            assert_eq!(sample_or_comment(line), want, "{line}");
        }
    }
}
