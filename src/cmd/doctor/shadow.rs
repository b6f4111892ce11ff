//! `doctor`'s look at what would shadow the profiles for an AWS SDK: the variables of this
//! shell, those systemd gives the unit, a same-named profile in the AWS config file that
//! assumes a role, runs a process or uses SSO, and static keys in the credentials file before
//! a `credential_process`. It reads key names and variable names only; it must never print a
//! value from a credentials file or the environment but a profile name or a path.

use super::report::Check;
use crate::agent::files::{Destination, Files};
use crate::config::{Config, DEFAULT_USER};
use crate::store::credfile::{self, FileKind};
use crate::store::fileio;
use std::path::Path;
use std::time::Duration;

/// How long `systemctl show` may take.
const SYSTEMCTL_WAIT: Duration = Duration::from_secs(2);

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
