//! `doctor`'s look at what the daemon leaves behind: its state file (running, last refresh,
//! failing profiles), the credential endpoint (listening, this user's token file readable) and
//! the metrics file (there, fresh, Prometheus text). It only reads, and connects to the
//! endpoint without sending anything; it must never print a token or signal the daemon.

use super::report::Check;
use crate::agent::files::Destination;
use crate::agent::source::Source;
use crate::base::creds::rfc3339;
use crate::config::Config;
use crate::daemon::endpoint::token_path;
use crate::store::fileio::Owner;
use crate::store::state::State;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// The metrics file is rewritten every minute by a running daemon; older than this is stale.
const METRICS_STALE_AFTER: Duration = Duration::from_secs(120);

/// How long a connect to the endpoint may take.
const CONNECT_WAIT: Duration = Duration::from_secs(1);

/// Check 7: the daemon, from its state file: running, its last refresh, failing profiles.
pub fn daemon(config: &Config, source: &Source, destinations: &[Destination]) -> Check {
    let name = "daemon";
    let (destinations, path) =
        Destination::seen_by_running_user(destinations, &config.daemon.state_file);
    let path = &path;
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
