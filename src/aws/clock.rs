//! STS's clock against this instance's, for `doctor`: one `GetCallerIdentity` (which needs no
//! permission) signed with the instance-profile credentials, and the `Date` header of its
//! answer, read from the raw response whether STS accepted the call or refused it for the
//! skew. One attempt under a short timeout, no retry, signed as every call here is
//! (`skew::Corrected`, which corrects nothing before an answer has measured the clock), and
//! the reading taken as a measurement (`skew::Watch`), so that the calls after it are signed
//! with the corrected time. It never returns or logs a credential, and never echoes an
//! answer's body.

use super::skew::{is_clock_skew, skew_seconds, Watch};
use super::sts::Error;
use crate::base::creds::TemporaryCredentials;
use crate::config::Endpoints;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// What one signed call told of STS's clock.
#[derive(Debug)]
pub struct Reading {
    /// Seconds this instance's clock is ahead of STS's (negative: behind), from the answer's
    /// `Date`; `None` when STS sent none.
    pub ahead: Option<i64>,
    /// STS refused the call because its signing time was too far from STS's clock: the
    /// error code and message.
    pub refused: Option<String>,
}

/// Signs one `GetCallerIdentity` in `region` with `instance` and reads STS's `Date`, giving
/// up after `timeout`. `Err` when STS did not answer, or refused for another reason.
pub async fn read(
    http: SharedHttpClient,
    instance: &TemporaryCredentials,
    region: &str,
    timeout: Duration,
) -> Result<Reading, Error> {
    let config = super::http::instance_profile_config(http, instance, region, Endpoints::default())
        .timeout_config(super::http::timeouts(timeout))
        .load()
        .await;
    let date = Arc::new(Mutex::new(None));
    let sent = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .customize()
        .interceptor(DateOf(Arc::clone(&date)))
        .interceptor(Watch("STS"))
        .send()
        .await;
    let now = OffsetDateTime::now_utc();
    let date: Option<String> = date.lock().unwrap_or_else(|e| e.into_inner()).take();
    let ahead = date.and_then(|d| skew_seconds(now, &d));
    let Some(err) = sent.err() else {
        return Ok(Reading {
            ahead,
            refused: None,
        });
    };
    let super::retry::Failure {
        code,
        message,
        retryable,
    } = super::retry::sdk_failure("STS", &err);
    if let SdkError::ServiceError(ctx) = &err {
        let message = ctx.err().message().unwrap_or_default();
        if is_clock_skew(&code, message) {
            return Ok(Reading {
                ahead,
                refused: Some(format!("{code}: {message}")),
            });
        }
    }
    Err(Error {
        code,
        message,
        request_id: err.meta().extra("aws_request_id").map(str::to_owned),
        retryable,
    })
}

/// Keeps the `Date` header of the answer, before the SDK reads (or rejects) its body.
#[derive(Debug)]
struct DateOf(Arc<Mutex<Option<String>>>);

impl Intercept for DateOf {
    fn name(&self) -> &'static str {
        "DateOf"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(date.to_owned());
        }
        Ok(())
    }
}
