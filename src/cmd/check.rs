//! `ec2-assume-role check`: validate the config, and with `--imds` the instance identity too,
//! and say on stdout what it means: each role (profile, role ARN, region, the files it goes
//! to), each discovered role set with its expansion if known, and where the STS calls will go
//! (`--json`: the same as one JSON object); write nothing and call no STS. Problems go to
//! stderr. A config in SSM Parameter Store can only be read through IMDS, so its check always
//! verifies the identity as well. The same account is logged (`SUMMARY`) for the journal and
//! for a stderr that is not a terminal.

use super::Wait;
use crate::agent::error::Error;
use crate::agent::files::Destination;
use crate::agent::source::{self, Source};
use crate::agent::{self, Agent};
use crate::aws::imds::Imds;
use crate::base::creds::rfc3339;
use crate::base::logging::SUMMARY;
use crate::base::term;
use crate::config::Config;
use crate::policy::yaml::{self, map, strings, Node};
use crate::store::discovery;
use clap::Args;
use tracing::info;

/// Validate the config (and, with --imds, the instance identity), show each role's STS
/// endpoint; write nothing.
#[derive(Debug, Args)]
pub struct Check {
    /// Also read the instance identity through IMDSv2 and check it against [instance].
    #[arg(long)]
    pub imds: bool,

    #[command(flatten)]
    pub wait: Wait,

    /// Print the account as one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

impl Check {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let wait = self.wait.duration();
        let (config, files, region) = match source {
            Source::File(_) => {
                let http = crate::aws::http::client();
                let imds = Imds::new(http.clone(), wait);
                let config = source::load(source, &http, &imds).await?.config;
                let files = Destination::resolve_all(&config)?;
                let mut region = None;
                if self.imds {
                    let identity = source::read_identity(&imds).await?;
                    agent::verify_identity(&config, &identity)?;
                    region = Some(identity.region);
                }
                (config, files, region)
            }
            Source::Ssm(_) => {
                let agent = Agent::start(source, wait).await?;
                let region = agent.identity.region.clone();
                (agent.config, agent.destinations, Some(region))
            }
        };
        let verdict = format!(
            "{}: valid; {} role{}, profiles go to {}",
            config.path.display(),
            config.roles.len(),
            if config.roles.len() == 1 { "" } else { "s" },
            list(&files)
        );
        info!(target: SUMMARY, roles = config.roles.len(), "{verdict}");
        let sets = show_discovered(&config);
        let (endpoints, unknown, endpoint_lines) = show_endpoints(&config, region.as_deref()).await;
        let roles: Vec<RoleLine> = config
            .roles
            .iter()
            .map(|role| RoleLine {
                profile: &role.profile,
                role_arn: &role.role_arn,
                region: role.region.as_deref().or(region.as_deref()),
                source_profile: role.source_profile.as_deref(),
                files: files
                    .iter()
                    .filter(|d| role.goes_to(&d.name))
                    .map(|d| d.files.credentials.display().to_string())
                    .collect(),
            })
            .collect();
        let out = match self.json {
            true => {
                let mut instance = map([("role_name", yaml::s(&config.instance.role_name))]);
                if let Some(account) = &config.instance.account_id {
                    instance.push("account_id", yaml::s(account));
                }
                let mut json = map([
                    ("config", yaml::s(config.path.display().to_string())),
                    ("instance", instance),
                    (
                        "roles",
                        Node::List(roles.iter().map(RoleLine::json).collect()),
                    ),
                    (
                        "role_sets",
                        Node::List(sets.into_iter().map(|(_, j)| j).collect()),
                    ),
                    (
                        "sts_endpoints",
                        Node::List(
                            endpoints
                                .iter()
                                .map(|(e, p)| {
                                    map([("endpoint", yaml::s(e)), ("profiles", strings(p))])
                                })
                                .collect(),
                        ),
                    ),
                ]);
                if !unknown.is_empty() {
                    json.push("sts_endpoint_unresolved", strings(&unknown));
                }
                json.to_json()
            }
            false => {
                let colour = term::stdout_colour();
                let mut text = verdict.replacen(
                    ": valid;",
                    &format!(": {};", term::paint(term::GOOD, "valid", colour)),
                    1,
                );
                text.push('\n');
                text.push_str(&table(&roles, colour));
                for (line, _) in &sets {
                    text.push_str(line);
                    text.push('\n');
                }
                for line in &endpoint_lines {
                    text.push_str(line);
                    text.push('\n');
                }
                text
            }
        };
        super::print_stdout(&out)
    }
}

/// One role as `check` shows it.
struct RoleLine<'a> {
    profile: &'a str,
    role_arn: &'a str,
    /// `None`: the instance's region, known only with `--imds`.
    region: Option<&'a str>,
    source_profile: Option<&'a str>,
    files: Vec<String>,
}

impl RoleLine<'_> {
    /// Its JSON object; a key without a value is left out.
    fn json(&self) -> Node {
        let mut role = map([
            ("profile", yaml::s(self.profile)),
            ("role_arn", yaml::s(self.role_arn)),
        ]);
        if let Some(region) = self.region {
            role.push("region", yaml::s(region));
        }
        if let Some(source) = self.source_profile {
            role.push("source_profile", yaml::s(source));
        }
        role.push("files", strings(&self.files));
        role
    }
}

/// The roles as aligned columns under a header: profile, role ARN, region, where it goes.
fn table(roles: &[RoleLine], colour: bool) -> String {
    let cells: Vec<[String; 4]> = roles
        .iter()
        .map(|r| {
            let arn = match r.source_profile {
                Some(source) => format!("{} (via {source})", r.role_arn),
                None => r.role_arn.to_owned(),
            };
            let region = r.region.unwrap_or("instance's").to_owned();
            [r.profile.to_owned(), arn, region, r.files.join(", ")]
        })
        .collect();
    let header = ["PROFILE", "ROLE", "REGION", "FILE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 4]| {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate() {
            match i {
                3 => out.push_str(cell),
                _ => out.push_str(&format!("{cell:<w$}  ", w = widths[i])),
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut text = term::paint(
        anstyle::Style::new().bold(),
        line(&header).trim_end(),
        colour,
    );
    text.push('\n');
    for row in &cells {
        text.push_str(&line(row));
    }
    text
}

/// One line per STS endpoint the roles' `AssumeRole` calls go to, with the profiles that go
/// there: what FIPS and dual-stack settings (ours, the environment's, the AWS config file's)
/// come to, before any call. A role without a region of its own goes to the instance's,
/// known only with `--imds`.
async fn show_endpoints<'a>(
    config: &'a Config,
    instance_region: Option<&str>,
) -> (Vec<(String, Vec<&'a str>)>, Vec<&'a str>, Vec<String>) {
    // The SDK's settings as any SDK client on this host reads them; the region is given so
    // that nothing is asked of IMDS, and no credentials are looked for.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::from_static("us-east-1"))
        .no_credentials()
        .load()
        .await;
    let mut endpoints: Vec<(String, Vec<&str>)> = Vec::new();
    let mut unknown = Vec::new();
    for role in &config.roles {
        let Some(region) = role.region.as_deref().or(instance_region) else {
            unknown.push(role.profile.as_str());
            continue;
        };
        let endpoint = crate::aws::sts::endpoint_of(region, role.endpoints, &sdk);
        match endpoints.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, profiles)) => profiles.push(&role.profile),
            None => endpoints.push((endpoint, vec![&role.profile])),
        }
    }
    let mut lines: Vec<String> = endpoints
        .iter()
        .map(|(endpoint, profiles)| format!("STS endpoint {endpoint}: {}", few(profiles)))
        .collect();
    if !unknown.is_empty() {
        lines.push(format!(
            "STS endpoint in the instance's region (check --imds resolves it): {}",
            few(&unknown)
        ));
    }
    for line in &lines {
        info!(target: SUMMARY, "{line}");
    }
    (endpoints, unknown, lines)
}

/// `a, b, c` or, past 5, `a, b, c, d, e and 7 more`.
pub(super) fn few(profiles: &[&str]) -> String {
    let shown = profiles[..profiles.len().min(5)].join(", ");
    match profiles.len() {
        n if n > 5 => format!("{shown} and {} more", n - 5),
        _ => shown,
    }
}

/// One line per role set whose accounts come from AWS Organizations: the query, and the
/// expansion the agent would use without reaching Organizations (the discovery cache's); each
/// with its JSON.
fn show_discovered(config: &Config) -> Vec<(String, Node)> {
    let cache = discovery::Cache::read(&config.discovery.cache_file);
    let mut shown = Vec::new();
    for set in &config.discovered {
        let o = &set.organization;
        let scope = if o.ous.is_empty() {
            "every ACTIVE account of the organization".to_owned()
        } else {
            format!("the ACTIVE accounts under {}", o.ous.join(", "))
        };
        let mut discovered = None;
        let known = match &cache {
            Ok(cache) => match cache.get(set) {
                Some(k) => {
                    let accounts: Vec<&String> = k
                        .accounts
                        .iter()
                        .filter(|a| !o.exclude.contains(a))
                        .collect();
                    let profiles: Vec<String> =
                        accounts.iter().map(|a| set.role(a).profile).collect();
                    discovered = Some(map([
                        ("at", yaml::s(rfc3339(k.discovered))),
                        ("accounts", strings(&accounts)),
                        ("profiles", strings(&profiles)),
                    ]));
                    format!(
                        "{} discovered at {}: {}",
                        accounts.len(),
                        rfc3339(k.discovered),
                        profiles.join(", ")
                    )
                }
                None => "none discovered yet (`run` and the daemon discover them)".to_owned(),
            },
            Err(why) => format!("the discovery cache is unusable ({why})"),
        };
        let how = match (&o.shared_parameter, config.discovery.publish) {
            (Some(name), false) => {
                format!(" (read from ssm:{name}, where the publisher puts them)")
            }
            (Some(name), true) => format!(" (listed here and published to ssm:{name})"),
            (None, _) => String::new(),
        };
        let line = format!(
            "{}: role {} in {scope}{}{how}; {known}",
            set.origin,
            set.role_name,
            if o.exclude.is_empty() {
                String::new()
            } else {
                format!(" but {}", o.exclude.join(", "))
            }
        );
        info!(target: SUMMARY, role_set = %set.origin, "{line}");
        let mut json = map([
            ("role_set", yaml::s(&set.origin)),
            ("role_name", yaml::s(&set.role_name)),
            ("organizational_units", strings(&o.ous)),
            ("exclude", strings(&o.exclude)),
        ]);
        if let Some(name) = &o.shared_parameter {
            json.push("shared_parameter", yaml::s(name));
        }
        if let Some(discovered) = discovered {
            json.push("discovered", discovered);
        }
        shown.push((line, json));
    }
    shown
}

/// `/home/a/.aws/credentials, /home/b/.aws/credentials (user bob)`.
fn list(destinations: &[Destination]) -> String {
    let files: Vec<String> = destinations
        .iter()
        .map(|d| match d.name.as_str() {
            crate::config::DEFAULT_USER => d.files.credentials.display().to_string(),
            user => format!("{} (user {user})", d.files.credentials.display()),
        })
        .collect();
    files.join(", ")
}
