//! `doctor`'s checks that ask IMDS and STS, in the order they depend on each other: IMDS
//! reachable over IMDSv2, the instance role and account against `[instance]`, the clock
//! against STS's, then each role assumed once. Every call has a short deadline and none is
//! retried past it, so that these checks answer within seconds whatever is wrong. They write
//! nothing (an assumed role's credentials are dropped at once) and must never print or log a
//! credential.

use super::report::Check;
use crate::agent::source::{self, Source};
use crate::agent::{self, Agent, BootJitter};
use crate::aws::imds::{self, Identity, Imds};
use crate::aws::retry::Policy;
use crate::aws::{clock, skew, sts};
use crate::base::creds::TemporaryCredentials;
use crate::config::Config;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::path::Path;
use std::time::Duration;

/// How long IMDS is waited for, all tries of one read together (each try has the SDK's 1 s
/// connect and 1 s read timeouts).
pub const IMDS_WAIT: Duration = Duration::from_secs(5);

/// How long one STS call may take; it is never retried.
const STS_ATTEMPT: Duration = Duration::from_secs(5);

/// All the roles' calls together, chains included: a bound on top of each call's own.
const ROLES_DEADLINE: Duration = Duration::from_secs(12);

/// STS refuses a request signed more than this far from its clock.
const MAX_SKEW_SECONDS: i64 = 300;

/// The instance as IMDS told it, once IMDS answered.
pub struct Instance {
    pub identity: Identity,
    pub credentials: Option<TemporaryCredentials>,
}

/// Check 1: IMDS answers over IMDSv2, with the identity and the instance-profile credentials.
pub async fn imds(imds: &Imds) -> (Check, Option<Instance>) {
    let name = "IMDS";
    let ipv6 = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("ipv6"));
    let endpoint = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|_| {
        let default = if ipv6 {
            "http://[fd00:ec2::254]"
        } else {
            "http://169.254.169.254"
        };
        default.to_owned()
    });
    let identity = match imds.identity().await {
        Ok(identity) => identity,
        Err(err) => return (imds_failed(name, &endpoint, &err), None),
    };
    match imds.role_credentials(&identity.role_name).await {
        Ok(credentials) => {
            let detail = format!(
                "IMDSv2 at {endpoint} answered: instance {} in {}, instance profile {}",
                identity.instance_id, identity.region, identity.instance_profile_arn
            );
            let instance = Instance {
                identity,
                credentials: Some(credentials),
            };
            (Check::pass(name, detail), Some(instance))
        }
        Err(err) => {
            let check = Check::fail(
                name,
                format!(
                    "IMDSv2 answered, but not with the credentials of the instance role {}: {err}",
                    identity.role_name
                ),
                "check the instance profile's role in the IAM console (it must exist and \
                 trust ec2.amazonaws.com), or attach another with `aws ec2 \
                 replace-iam-instance-profile-association`",
            );
            let instance = Instance {
                identity,
                credentials: None,
            };
            (check, Some(instance))
        }
    }
}

fn imds_failed(name: &str, endpoint: &str, err: &imds::Error) -> Check {
    let hop_limit = "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
                     --http-put-response-hop-limit 2";
    match err {
        imds::Error::Disabled(_) => {
            Check::fail(name, err.to_string(), "unset AWS_EC2_METADATA_DISABLED")
        }
        imds::Error::TokenRefused { .. } => Check::fail(
            name,
            err.to_string(),
            "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-endpoint enabled --http-tokens required",
        ),
        _ if err.token_timed_out() => match container() {
            Some(sign) => Check::fail(
                name,
                format!(
                    "IMDS at {endpoint} never answered the IMDSv2 token request, and this looks \
                     like a container ({sign}): the answer is dropped one hop short when the \
                     instance's metadata hop limit is 1"
                ),
                format!("raise the hop limit: {hop_limit}"),
            ),
            None => Check::fail(
                name,
                format!(
                    "IMDS at {endpoint} never answered the IMDSv2 token request: this is not \
                     an EC2 instance, or its metadata service is off or firewalled, or (in a \
                     container) the hop limit is too low"
                ),
                format!(
                    "on EC2, enable the metadata service (aws ec2 \
                     modify-instance-metadata-options --instance-id <instance-id> \
                     --http-endpoint enabled); in a container, {hop_limit}; off EC2, \
                     ec2-assume-role cannot work: it needs an instance profile"
                ),
            ),
        },
        _ if err.no_instance_profile() => Check::fail(
            name,
            format!(
                "IMDSv2 at {endpoint} answered, but this instance has no instance profile: {err}"
            ),
            "attach an instance profile: aws ec2 associate-iam-instance-profile \
             --instance-id <instance-id> --iam-instance-profile Name=<profile>",
        ),
        _ => Check::fail(
            name,
            format!(
                "IMDS at {endpoint} did not answer over IMDSv2: this is not an EC2 instance, or \
                 its metadata service is off ({err})"
            ),
            "run this on an EC2 instance with its metadata service on (aws ec2 \
             modify-instance-metadata-options --instance-id <instance-id> --http-endpoint \
             enabled); off EC2, ec2-assume-role cannot work: it needs an instance profile",
        ),
    }
}

/// What makes this process look like it runs in a container, if anything does.
fn container() -> Option<String> {
    for marker in ["/.dockerenv", "/run/.containerenv"] {
        if Path::new(marker).exists() {
            return Some(marker.to_owned());
        }
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    ["docker", "kubepods", "containerd", "libpod", "lxc"]
        .into_iter()
        .find(|name| cgroup.contains(name))
        .map(|name| format!("/proc/1/cgroup names {name}"))
}

/// Check 2: the instance role and account are the ones `[instance]` names.
pub fn identity(config: &Config, identity: &Identity) -> Check {
    let name = "instance identity";
    match agent::verify_identity(config, identity) {
        Ok(()) => Check::pass(
            name,
            format!(
                "instance role {} in account {}, as [instance] in {} expects",
                identity.role_name,
                identity.account_id,
                config.path.display()
            ),
        ),
        Err(err) => Check::fail(
            name,
            err.to_string(),
            format!(
                "run this on an instance whose instance profile has the role [instance] names, \
                 or, if {} in account {} is the right one, say so in [instance] of {}",
                identity.role_name,
                identity.account_id,
                config.path.display()
            ),
        ),
    }
}

/// Check 3: this clock against STS's, from one signed call. `None` when roles can be tried.
pub async fn clock(http: &SharedHttpClient, instance: &Instance) -> (Check, Option<String>) {
    let name = "clock";
    let Some(credentials) = &instance.credentials else {
        let why = "IMDS gave no instance-profile credentials to sign with";
        return (Check::skip(name, why), Some(why.to_owned()));
    };
    let region = &instance.identity.region;
    let sync = "fix time sync: `chronyc tracking` shows the offset, `chronyc makestep` steps \
                the clock, `timedatectl set-ntp true` keeps it right";
    let reading = clock::read(http.clone(), credentials, region, STS_ATTEMPT).await;
    let reading = match reading {
        Ok(reading) => reading,
        Err(err) => {
            let check = Check::fail(
                name,
                format!("STS in {region} did not answer a signed GetCallerIdentity: {err}"),
                "check the way to STS from this instance: a proxy, a VPC endpoint for sts, \
                 security groups, DNS",
            );
            return (check, Some("STS did not answer".to_owned()));
        }
    };
    let off = match reading.ahead {
        // The Date header counts whole seconds: a second either way is no offset.
        Some(-1..=1) => "matches STS's (to the second of its Date header)".to_owned(),
        Some(s) if s < 0 => format!("is {} s behind STS's", -s),
        Some(s) => format!("is {s} s ahead of STS's"),
        None => "could not be measured (STS sent no Date)".to_owned(),
    };
    let too_far = reading.ahead.is_some_and(|s| s.abs() > MAX_SKEW_SECONDS);
    match (&reading.refused, too_far) {
        (Some(refusal), _) => {
            // Within the bound the agent signs with the corrected time (`skew::Watch` took it
            // from this answer), so the roles are tried as `run` would try them.
            let corrected = reading
                .ahead
                .is_some_and(|s| s.abs() <= skew::MAX_CORRECTED_SECONDS);
            let agent = if corrected {
                "ec2-assume-role signs with the corrected time, but AWS clients on this \
                 instance that sign with this clock are refused"
                    .to_owned()
            } else {
                format!(
                    "that is more than the {} s ec2-assume-role corrects for",
                    skew::MAX_CORRECTED_SECONDS
                )
            };
            let check = Check::fail(
                name,
                format!(
                    "this instance's clock {off}; STS refuses a request signed more than 5 \
                     minutes off its clock, and refused this one ({refusal}); {agent}"
                ),
                sync,
            );
            let unusable = (!corrected).then(|| "STS refuses this clock".to_owned());
            (check, unusable)
        }
        (None, true) => {
            let check = Check::fail(
                name,
                format!(
                    "this instance's clock {off}; STS still accepted a signed call, but \
                     refuses requests signed more than 5 minutes off (some endpoints 15), and \
                     expiry times are read on this clock"
                ),
                sync,
            );
            (check, None)
        }
        (None, false) => (
            Check::pass(name, format!("this instance's clock {off}")),
            None,
        ),
    }
}

/// Check 4: each configured role assumed once, chains in order, nothing written.
pub async fn roles(config: &Config, source: &Source, identity: &Identity) -> Vec<Check> {
    let checking = Agent::checking(
        config.clone(),
        source,
        identity.clone(),
        IMDS_WAIT,
        STS_ATTEMPT,
    );
    let agent = match checking {
        Ok(agent) => agent,
        Err(err) => return vec![Check::skip("roles", err.to_string())],
    };
    let all: Vec<usize> = (0..config.roles.len()).collect();
    let assumed = tokio::time::timeout(
        ROLES_DEADLINE,
        agent.assume(&all, Policy::ONCE, BootJitter::No),
    )
    .await;
    let results = match assumed {
        Ok(Ok(results)) => results,
        Ok(Err(err)) => return vec![Check::skip("roles", err.to_string())],
        Err(_) => {
            return vec![Check::fail(
                "roles",
                format!("STS did not answer for every role within {ROLES_DEADLINE:?}"),
                "check the way to the STS endpoints of the roles' regions (`ec2-assume-role \
                 check --imds` lists them)",
            )]
        }
    };
    config
        .roles
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (role, result))| {
            let name = format!("role {}", role.profile);
            let chain = config.chain(i);
            let via = match &chain[..chain.len() - 1] {
                [] => String::new(),
                sources => format!(" (via {})", sources.join(" → ")),
            };
            match result {
                Ok(assumed) => Check::pass(
                    name,
                    format!(
                        "assumed {}{via} as {}; nothing written",
                        role.role_arn, assumed.assumed_role_arn
                    ),
                ),
                Err(err) => Check::fail(
                    name,
                    format!("could not assume {}{via}: {err}", role.role_arn),
                    role_fix(&err),
                ),
            }
        })
        .collect()
}

fn role_fix(err: &sts::Error) -> String {
    match err.code.as_str() {
        "AccessDenied" => "`ec2-assume-role policy` prints the permission policy of the \
                           instance role and the trust policy each role needs"
            .to_owned(),
        "SourceFailed" => "fix the role its source_profile names first (above)".to_owned(),
        "Timeout" | "Network" => "check the way to the STS endpoint of the role's region \
                                  (`ec2-assume-role check --imds` names it)"
            .to_owned(),
        _ => "see STS's message; `ec2-assume-role check` validates the role's options".to_owned(),
    }
}

/// Why the checks that need the instance are skipped when IMDS failed.
pub fn skipped_after_imds() -> &'static str {
    "IMDS did not answer, so there is no instance identity or credentials"
}

/// The IMDSv2 client every command reads the identity with, with doctor's short wait.
pub fn imds_client(http: &SharedHttpClient) -> Imds {
    Imds::new(http.clone(), IMDS_WAIT)
}

/// Reads the config the way every command does (`source::load`), within a deadline: a
/// parameter in SSM needs IMDS and SSM.
pub async fn load(source: &Source, http: &SharedHttpClient, imds: &Imds) -> Result<Config, String> {
    match tokio::time::timeout(Duration::from_secs(8), source::load(source, http, imds)).await {
        Ok(Ok(loaded)) => Ok(loaded.config),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("SSM did not answer within 8 s".to_owned()),
    }
}
