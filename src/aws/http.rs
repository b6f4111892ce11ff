//! How every AWS call goes out. The one HTTPS client they share: rustls with the ring
//! provider, so the static musl build needs no C cross-compiler (aws-lc would), built once per
//! process. And the SDK config of the calls signed with the instance-profile credentials (STS,
//! SSM, Organizations): those credentials only, never ambient ones; the SDK's own retries
//! off, because `retry::Policy` is the one policy; fixed timeouts, so that a stalled answer
//! ends as a `Timeout` that the policy retries; this clock as corrected against AWS's
//! (`skew::Corrected`). And one such call retried (`call_retried`).

use crate::base::creds::TemporaryCredentials;
use crate::config::Endpoints;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_credential_types::Credentials;
use aws_smithy_http_client::{tls, Builder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use std::time::Duration;

/// How long one attempt may take, connection included. Fixed, not configurable: STS and SSM
/// answer in well under a second, and a longer wait only delays the retry that gets through.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK config loader for calls in `region` signed with `instance` (endpoints still come
/// from the standard variables, such as `AWS_ENDPOINT_URL_STS`), to FIPS and dual-stack
/// endpoints as `endpoints` says (its `None`s leave the SDK's own settings:
/// `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`, the AWS config file).
pub fn instance_profile_config(
    http: SharedHttpClient,
    instance: &TemporaryCredentials,
    region: &str,
    endpoints: Endpoints,
) -> ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(fips) = endpoints.fips {
        loader = loader.use_fips(fips);
    }
    if let Some(dual_stack) = endpoints.dual_stack {
        loader = loader.use_dual_stack(dual_stack);
    }
    loader
        .http_client(http)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            instance.access_key_id.clone(),
            instance.secret_access_key.expose(),
            Some(instance.session_token.expose().to_owned()),
            Some(instance.expiration.into()),
            "ec2-assume-role-instance-profile",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts(ATTEMPT_TIMEOUT))
        // One correction of this clock, bounded and shared by every client (`skew`); the
        // SDK's own is unbounded and lives in one client.
        .time_source(crate::aws::skew::Corrected)
        .disable_clock_skew_correction(true)
}

/// The SDK timeouts of one attempt that may take `attempt`, its connection included.
pub fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(attempt))
        .operation_attempt_timeout(attempt)
        .build()
}

/// Why one SDK call failed, after its retries: the service's error code (or one of
/// `retry::sdk_failure`'s: `Timeout`, `Network`, `HTTP503` and the like, `BadResponse`), its
/// message, and the operation.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct CallError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// One SDK call (`operation`) to `service`, retried under `policy` while its failure is worth
/// another try (`retry::sdk_failure`), each retry logged as `{doing} failed; retrying: ...`.
/// Organizations and the shared account list's SSM calls go through it.
pub async fn call_retried<T, E, F, Fut>(
    policy: crate::aws::retry::Policy,
    service: &str,
    operation: &'static str,
    doing: &str,
    f: F,
) -> Result<T, CallError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    policy
        .run(
            || async {
                f().await.map_err(|err| {
                    let crate::aws::retry::Failure {
                        code,
                        message,
                        retryable,
                    } = crate::aws::retry::sdk_failure(service, &err);
                    CallError {
                        operation,
                        code,
                        message,
                        retryable,
                    }
                })
            },
            |e| e.retryable,
            |e, attempt, delay| {
                tracing::info!(attempt, ?delay, "{doing} failed; retrying: {e}");
            },
        )
        .await
}
