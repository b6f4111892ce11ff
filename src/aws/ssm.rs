//! Reading the config from SSM Parameter Store: `GetParameter` (always with decryption, so
//! `String` and `SecureString` alike) signed with the instance-profile credentials only (like
//! STS), in the instance's Region unless the name is a full parameter ARN. Throttling, 5xx
//! (whatever their body), resets and timeouts are retried under `POLICY`
//! (`retry::sdk_failure`); a missing or forbidden parameter is not. This
//! module fetches the text; `config` parses it. It never logs the parameter's value, which may
//! be a `SecureString` holding an `external_id`.

use crate::aws::imds::Identity;
use crate::aws::retry::Policy;
use crate::base::creds::TemporaryCredentials;
use crate::config::{split_arn, Endpoints};
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::time::Duration;

/// The prefix that makes `--config` an SSM parameter rather than a path.
pub const SSM_PREFIX: &str = "ssm:";

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

impl FetchError {
    /// SSM's error code (the metrics' `ssm_failures_total{code}`).
    pub fn code(&self) -> &str {
        match self {
            FetchError::NotFound { .. } => "ParameterNotFound",
            FetchError::Denied { code, .. } | FetchError::Failed { code, .. } => code,
        }
    }
}

/// How long a read of the parameter keeps retrying throttling, 5xx and network errors. SSM's
/// default throughput is shared by a whole account, so a fleet booting at once is throttled
/// until the burst has spread out.
pub const POLICY: Policy = Policy {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(10),
    deadline: Duration::from_secs(60),
};

/// An SSM client in `region` signed with `signer` only, its clock watched (`skew::Watch`):
/// for the config and the shared account list alike.
pub async fn client(
    http: SharedHttpClient,
    signer: &TemporaryCredentials,
    region: &str,
    endpoints: Endpoints,
) -> aws_sdk_ssm::Client {
    let config = crate::aws::http::instance_profile_config(http, signer, region, endpoints)
        .load()
        .await;
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&config)
            .interceptor(crate::aws::skew::Watch("SSM"))
            .build(),
    )
}

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
    let client = client(http, instance, &region, Default::default()).await;
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
        .map_err(|(err, _)| {
            crate::base::metrics::ssm_failed("GetParameter", err.code());
            err
        })?;
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
    let crate::aws::retry::Failure {
        code,
        message,
        retryable,
    } = crate::aws::retry::sdk_failure("SSM", &err);
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
        _ => (
            FetchError::Failed {
                name,
                region: region.to_owned(),
                code,
                message,
            },
            retryable,
        ),
    }
}
