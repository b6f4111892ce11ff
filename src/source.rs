//! Where the config comes from: a local TOML file, or a parameter in SSM Parameter Store
//! (`--config ssm:/name`), so that one parameter configures a whole fleet and a change to it
//! reaches every instance at its next reload. The parameter name may hold `{instance_id}`,
//! `{account_id}` and `{region}`, filled from IMDS. It is read with the instance-profile
//! credentials only (like STS), `String` or `SecureString` alike (always with decryption),
//! from the instance's region unless the name is a full parameter ARN. This module fetches the
//! text; `config` parses it. It never logs the parameter's value, which may be a
//! `SecureString` holding an `external_id`.

use crate::creds::TemporaryCredentials;
use crate::imds::Identity;
use crate::retry::Policy;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// What `--config` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Ssm(Parameter),
}

/// The prefix that makes `--config` an SSM parameter rather than a path.
pub const SSM_PREFIX: &str = "ssm:";

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        match s.strip_prefix(SSM_PREFIX) {
            Some(name) => Parameter::parse(name).map(Source::Ssm),
            None if s.is_empty() => Err("the config path is empty".into()),
            None => Ok(Source::File(PathBuf::from(s))),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Ssm(p) => write!(f, "{SSM_PREFIX}{}", p.template),
        }
    }
}

/// An SSM parameter name or ARN, possibly with placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    template: String,
}

const PLACEHOLDERS: &[&str] = &["{instance_id}", "{account_id}", "{region}"];

/// SSM's limit for a fully qualified parameter name.
const MAX_NAME_CHARS: usize = 1011;

impl Parameter {
    /// Checks a name as SSM would (after filling placeholders with worst-case values), so that a
    /// typo is a usage error at once rather than a `ValidationException` from every instance.
    pub fn parse(template: &str) -> Result<Parameter, String> {
        let mut filled = template.to_owned();
        for (placeholder, worst) in
            PLACEHOLDERS
                .iter()
                .zip(["i-0123456789abcdef0", "000000000000", "ap-southeast-5"])
        {
            filled = filled.replace(placeholder, worst);
        }
        if let Some(open) = filled.find('{') {
            let end = filled[open..]
                .find('}')
                .map_or(filled.len(), |e| open + e + 1);
            return Err(format!(
                "{SSM_PREFIX}{template}: unknown placeholder {}; the name may use {}",
                &filled[open..end],
                PLACEHOLDERS.join(", ")
            ));
        }
        let (name, _) =
            split_arn(&filled).map_err(|why| format!("{SSM_PREFIX}{template}: {why}"))?;
        if name.is_empty() || name == "/" {
            return Err(format!(
                "{SSM_PREFIX}{template}: the parameter name is empty (e.g. ssm:/ec2-assume-role/config)"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "_.-/".contains(c)))
        {
            return Err(format!(
                "{SSM_PREFIX}{template}: {bad:?} cannot be in an SSM parameter name \
                 (letters, digits, _ . - / only)"
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "{SSM_PREFIX}{template}: longer than SSM's {MAX_NAME_CHARS} characters"
            ));
        }
        Ok(Parameter {
            template: template.to_owned(),
        })
    }

    /// The name (or ARN) for this instance, placeholders filled.
    pub fn resolve(&self, identity: &Identity) -> String {
        self.template
            .replace("{instance_id}", &identity.instance_id)
            .replace("{account_id}", &identity.account_id)
            .replace("{region}", &identity.region)
    }
}

/// `(name, region)` of a parameter ARN (`arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`), or
/// `(name, None)` for a plain name. A parameter shared from another account is read by ARN.
fn split_arn(name: &str) -> Result<(&str, Option<&str>), String> {
    if !name.starts_with("arn:") {
        return Ok((name, None));
    }
    let fields: Vec<&str> = name.splitn(6, ':').collect();
    match fields[..] {
        [_, _, "ssm", region, _, resource] if !region.is_empty() => {
            match resource.strip_prefix("parameter") {
                Some(rest) if rest.starts_with('/') => Ok((rest, Some(region))),
                _ => Err("an SSM parameter ARN ends in :parameter/NAME".into()),
            }
        }
        _ => Err("not an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)".into()),
    }
}

/// A parameter's value as read.
pub struct Fetched {
    /// The resolved name, as `ssm:NAME` (what messages about the config show).
    pub label: String,
    pub text: String,
    pub version: i64,
}

/// Why the parameter could not be read; each names the parameter and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{SSM_PREFIX}{name}: no such parameter in {region} (ParameterNotFound): create it, or fix the name")]
    NotFound { name: String, region: String },
    #[error(
        "{SSM_PREFIX}{name}: the instance role {role} may not read it ({code}: {message}): allow \
         ssm:GetParameter on the parameter, and kms:Decrypt on its key for a SecureString"
    )]
    Denied {
        name: String,
        role: String,
        code: String,
        message: String,
    },
    #[error(
        "{SSM_PREFIX}{name}: reading it from SSM Parameter Store in {region}: {code}: {message}"
    )]
    Failed {
        name: String,
        region: String,
        code: String,
        message: String,
    },
}

/// How long a read of the parameter keeps retrying throttling, 5xx and network errors. SSM's
/// default throughput is shared by a whole account, so a fleet booting at once is throttled
/// until the burst has spread out.
pub const POLICY: Policy = Policy {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(10),
    deadline: Duration::from_secs(60),
};

/// Reads the parameter `name` (placeholders already filled) with the instance-profile
/// credentials, in `identity`'s region unless `name` is an ARN naming another.
pub async fn fetch(
    http: SharedHttpClient,
    instance: &TemporaryCredentials,
    identity: &Identity,
    name: &str,
    policy: Policy,
) -> Result<Fetched, FetchError> {
    let (_, arn_region) = split_arn(name).unwrap_or((name, None));
    let region = arn_region.unwrap_or(&identity.region).to_owned();
    let config = crate::http::instance_profile_config(http, instance, &region)
        .load()
        .await;
    let client = aws_sdk_ssm::Client::new(&config);
    let attempt = || async {
        client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|err| classify(err, name, &region, &identity.role_name))
    };
    let out = policy
        .run(
            attempt,
            |(_, retryable)| *retryable,
            |(err, _), attempt, delay| {
                tracing::info!(
                    attempt,
                    ?delay,
                    "reading the config failed; retrying: {err}"
                );
            },
        )
        .await
        .map_err(|(err, _)| err)?;
    let failed = |message: &str| FetchError::Failed {
        name: name.to_owned(),
        region: region.clone(),
        code: "BadResponse".into(),
        message: message.into(),
    };
    let parameter = out
        .parameter()
        .ok_or_else(|| failed("GetParameter answered without a Parameter"))?;
    let text = parameter
        .value()
        .ok_or_else(|| failed("the parameter has no value"))?;
    Ok(Fetched {
        label: format!("{SSM_PREFIX}{name}"),
        text: text.to_owned(),
        version: parameter.version(),
    })
}

/// The error, and whether it is worth another try.
fn classify(
    err: SdkError<GetParameterError, HttpResponse>,
    name: &str,
    region: &str,
    role: &str,
) -> (FetchError, bool) {
    let (code, message, status) = match &err {
        SdkError::ServiceError(ctx) => (
            ctx.err().code().unwrap_or("Unknown").to_owned(),
            ctx.err().message().unwrap_or_default().to_owned(),
            None,
        ),
        SdkError::TimeoutError(_) => ("Timeout".into(), crate::imds::chain(&err), Some(true)),
        SdkError::DispatchFailure(_) => ("Network".into(), crate::imds::chain(&err), Some(true)),
        _ => ("BadResponse".into(), crate::imds::chain(&err), Some(false)),
    };
    let name = name.to_owned();
    match code.as_str() {
        "ParameterNotFound" => (
            FetchError::NotFound {
                name,
                region: region.to_owned(),
            },
            false,
        ),
        "AccessDeniedException" | "AccessDenied" | "InvalidKeyId" | "KMSAccessDeniedException" => (
            FetchError::Denied {
                name,
                role: role.to_owned(),
                code,
                message,
            },
            false,
        ),
        _ => {
            let retryable = status.unwrap_or_else(|| {
                code.contains("Throttl")
                    || code == "TooManyUpdates"
                    || code == "InternalServerError"
                    || code.starts_with("ServiceUnavailable")
            });
            (
                FetchError::Failed {
                    name,
                    region: region.to_owned(),
                    code,
                    message,
                },
                retryable,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "000000000000".into(),
            region: "eu-west-1".into(),
            instance_profile_arn: "arn:aws:iam::000000000000:instance-profile/p".into(),
            role_name: "EC2_PerformSecurityAudit".into(),
        }
    }

    #[test]
    fn config_argument_is_a_file_unless_it_starts_with_ssm() {
        assert_eq!(
            "/etc/ec2-assume-role/config.toml".parse::<Source>(),
            Ok(Source::File("/etc/ec2-assume-role/config.toml".into()))
        );
        assert_eq!(
            "./ssm:x".parse::<Source>(),
            Ok(Source::File("./ssm:x".into()))
        );
        let source: Source = "ssm:/ear/{account_id}/config".parse().unwrap();
        assert_eq!(source.to_string(), "ssm:/ear/{account_id}/config");
        assert!("".parse::<Source>().is_err());
    }

    #[test]
    fn names_are_checked_as_ssm_would() {
        let ok = [
            "/ec2-assume-role/config",
            "ec2-assume-role.config",
            "/ear/{account_id}/{region}/{instance_id}",
            "arn:aws:ssm:us-east-1:111111111111:parameter/shared/ear",
            "arn:aws-cn:ssm:cn-north-1:111111111111:parameter/x",
        ];
        for name in ok {
            assert!(Parameter::parse(name).is_ok(), "{name}");
        }
        let bad = [
            ("", "is empty"),
            ("/", "is empty"),
            ("/ear/{acount_id}", "unknown placeholder {acount_id}"),
            ("/ear/{account_id", "unknown placeholder {account_id"),
            ("/ear config", "' ' cannot be in an SSM parameter name"),
            ("arn:aws:s3:::bucket/key", "not an SSM parameter ARN"),
            (
                "arn:aws:ssm:us-east-1:111111111111:document/x",
                "ends in :parameter/NAME",
            ),
        ];
        for (name, want) in bad {
            let err = Parameter::parse(name).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
            assert!(err.starts_with("ssm:"), "{name}: {err}");
        }
        let long = format!("/{}", "a".repeat(MAX_NAME_CHARS));
        assert!(Parameter::parse(&long).unwrap_err().contains("1011"));
    }

    #[test]
    fn placeholders_come_from_the_instance() {
        let p = Parameter::parse("/ear/{account_id}/{region}/{instance_id}/{account_id}").unwrap();
        assert_eq!(
            p.resolve(&identity()),
            "/ear/000000000000/eu-west-1/i-0123456789abcdef0/000000000000"
        );
    }

    #[test]
    fn an_arn_names_its_own_region() {
        assert_eq!(
            split_arn("arn:aws:ssm:us-east-2:111111111111:parameter/shared/ear"),
            Ok(("/shared/ear", Some("us-east-2")))
        );
        assert_eq!(split_arn("/plain"), Ok(("/plain", None)));
    }
}
