//! STS `AssumeRole`, signed with the instance-profile credentials only.
//!
//! The SDK config is loaded once per run with those credentials set explicitly, so ambient
//! `AWS_ACCESS_KEY_ID`, `AWS_PROFILE` and friends can never sign a call; endpoints still come
//! from the standard variables (`AWS_ENDPOINT_URL_STS`). Each call goes to the regional endpoint
//! of the role's region. Retries follow `retry::Policy::STS` (throttling, 5xx, timeouts); the
//! SDK's own retries are off so that there is one policy. Nothing here logs a secret: errors
//! carry the STS error code, message and request id only.

use crate::creds::{Secret, TemporaryCredentials};
use crate::retry::Policy;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::types::Tag;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use std::time::Duration;
use time::OffsetDateTime;

/// Everything one `AssumeRole` call needs, with placeholders already filled.
#[derive(Clone, Debug)]
pub struct Request {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: i32,
    pub region: String,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// A successful `AssumeRole`.
#[derive(Debug)]
pub struct Assumed {
    pub credentials: TemporaryCredentials,
    pub assumed_role_arn: String,
}

/// Why a role could not be assumed. `code` is STS's error code (`AccessDenied`,
/// `Throttling`, ...) or one of ours (`Timeout`, `Network`, `BadResponse`).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}{}", request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
pub struct Error {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub retryable: bool,
}

/// Error codes STS (and the AWS front door) use for throttling.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "SlowDown",
];

pub struct Sts {
    config: aws_types::SdkConfig,
}

impl Sts {
    /// Loads the SDK config (endpoints, timeouts) with `instance` as the only credentials.
    pub async fn new(http: SharedHttpClient, instance: &TemporaryCredentials, region: &str) -> Sts {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(region.to_owned()))
            .credentials_provider(static_credentials(instance))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .load()
            .await;
        Sts { config }
    }

    /// Assumes one role, retrying transient failures until `policy`'s deadline.
    pub async fn assume(&self, req: &Request, policy: Policy) -> Result<Assumed, Error> {
        let client = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.config)
                .region(Region::new(req.region.clone()))
                .build(),
        );
        policy
            .run(
                || self.assume_once(&client, req),
                |e| e.retryable,
                |e, attempt, delay| {
                    tracing::info!(
                        role_arn = %req.role_arn,
                        error_code = %e.code,
                        attempt,
                        ?delay,
                        "AssumeRole failed; retrying: {e}"
                    );
                },
            )
            .await
    }

    async fn assume_once(
        &self,
        client: &aws_sdk_sts::Client,
        req: &Request,
    ) -> Result<Assumed, Error> {
        let tags = req
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error {
                code: "InvalidTag".into(),
                message: e.to_string(),
                request_id: None,
                retryable: false,
            })?;
        let out = client
            .assume_role()
            .role_arn(&req.role_arn)
            .role_session_name(&req.role_session_name)
            .duration_seconds(req.duration_seconds)
            .set_external_id(req.external_id.clone())
            .set_source_identity(req.source_identity.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(classify)?;
        let bad = |message: &str| Error {
            code: "BadResponse".into(),
            message: message.into(),
            request_id: None,
            retryable: false,
        };
        let creds = out
            .credentials()
            .ok_or_else(|| bad("AssumeRole answered without Credentials"))?;
        let expiration = OffsetDateTime::from_unix_timestamp(creds.expiration().secs())
            .map_err(|_| bad("AssumeRole answered with an Expiration out of range"))?;
        if expiration <= OffsetDateTime::now_utc() {
            return Err(bad(&format!(
                "AssumeRole answered with credentials that expired at {expiration} \
                 (is the clock of this instance right?)"
            )));
        }
        Ok(Assumed {
            credentials: TemporaryCredentials {
                access_key_id: creds.access_key_id().to_owned(),
                secret_access_key: Secret::new(creds.secret_access_key()),
                session_token: Secret::new(creds.session_token()),
                expiration,
            },
            assumed_role_arn: out
                .assumed_role_user()
                .map(|u| u.arn().to_owned())
                .unwrap_or_default(),
        })
    }
}

fn static_credentials(c: &TemporaryCredentials) -> Credentials {
    Credentials::new(
        c.access_key_id.clone(),
        c.secret_access_key.expose(),
        Some(c.session_token.expose().to_owned()),
        Some(c.expiration.into()),
        "ec2-assume-role-instance-profile",
    )
}

fn classify(err: SdkError<AssumeRoleError, HttpResponse>) -> Error {
    let request_id = err.meta().extra("aws_request_id").map(str::to_owned);
    match &err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("Unknown").to_owned();
            let message = ctx.err().message().unwrap_or_default().to_owned();
            let status = ctx.raw().status().as_u16();
            let retryable = THROTTLING_CODES.contains(&code.as_str()) || status >= 500;
            Error {
                code,
                message,
                request_id,
                retryable,
            }
        }
        SdkError::TimeoutError(_) => Error {
            code: "Timeout".into(),
            message: crate::imds::chain(&err),
            request_id,
            retryable: true,
        },
        SdkError::DispatchFailure(_) => Error {
            code: "Network".into(),
            message: crate::imds::chain(&err),
            request_id,
            retryable: true,
        },
        _ => Error {
            code: "BadResponse".into(),
            message: crate::imds::chain(&err),
            request_id,
            retryable: false,
        },
    }
}
