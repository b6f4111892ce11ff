//! The instance's identity and instance-profile credentials, read through IMDSv2 only.
//!
//! Every request goes through the SDK's IMDS client, which fetches a session token first and
//! sends it with every GET; there is no IMDSv1 fallback anywhere, and there must never be one
//! (a tokenless request is what SSRF attacks on metadata exploit). The endpoint comes from
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or the SDK's profile setting), else the link-local
//! default. At boot the metadata service and the instance profile can lag, so reads are
//! retried under one deadline, and a wait longer than one attempt is shown (`term::Waiting`).
//! When nothing answers at all, the error says the two usual reasons (off EC2; a container
//! behind a hop limit of 1). Paths are pinned here, in one place.

use crate::aws::retry::{body_kind, chain, transport_failed, Policy};
use crate::base::creds::{Secret, TemporaryCredentials};
use crate::base::term::Waiting;
use crate::config;
use aws_config::imds::client::error::{ImdsError, TokenError};
use aws_config::provider_config::ProviderConfig;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use serde::Deserialize;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// Said when nothing ever answered: the two usual reasons, and what to do about each.
const NO_ANSWER_HINT: &str = ". Nothing answered at all: off EC2 nothing will (run it on an \
     instance, or point AWS_EC2_METADATA_SERVICE_ENDPOINT at a metadata service); in a \
     container on a bridge network, the instance's metadata hop limit must be 2 (aws ec2 \
     modify-instance-metadata-options --instance-id INSTANCE_ID \
     --http-put-response-hop-limit 2 --http-endpoint enabled)";

const PATH_IAM_INFO: &str = "/latest/meta-data/iam/info";
const PATH_ROLE_LIST: &str = "/latest/meta-data/iam/security-credentials/";
const PATH_IDENTITY: &str = "/latest/dynamic/instance-identity/document";

/// Who this instance is, as IMDS tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub instance_id: String,
    pub account_id: String,
    pub region: String,
    pub instance_profile_arn: String,
    pub role_name: String,
}

impl Identity {
    /// The instance role's ARN as far as IMDS tells, in the instance profile's partition. IMDS
    /// does not tell the role's path, so the ARN of a role with one lacks it.
    pub fn role_arn(&self) -> String {
        let partition = self.instance_profile_arn.split(':').nth(1).unwrap_or("aws");
        format!(
            "arn:{partition}:iam::{}:role/{}",
            self.account_id, self.role_name
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "IMDS did not answer {path} before the {waited:?} deadline: {detail}{}",
        if *answered { "" } else { NO_ANSWER_HINT }
    )]
    Unavailable {
        path: String,
        waited: Duration,
        detail: String,
        /// Whether IMDS answered any attempt at all (with an HTTP status).
        answered: bool,
    },
    #[error(
        "IMDSv2 session token refused ({detail}); ec2-assume-role never falls back to IMDSv1: \
         enable IMDSv2 on this instance (HttpTokens optional or required) and allow a hop limit \
         that reaches this process"
    )]
    TokenRefused { detail: String },
    #[error(
        "IMDS is disabled by AWS_EC2_METADATA_DISABLED={0:?}; ec2-assume-role needs it to read \
         the instance identity and credentials"
    )]
    Disabled(String),
    #[error("IMDS answered {path} with something that is not what EC2 sends: {detail}")]
    Malformed { path: String, detail: String },
}

impl Error {
    /// Whether IMDS never answered the token request in time: what a process one hop too
    /// far (a container behind `HttpPutResponseHopLimit` 1) sees, and a firewalled one too.
    pub fn token_timed_out(&self) -> bool {
        matches!(self, Error::Unavailable { detail, .. } if detail.starts_with(TOKEN_TIMED_OUT))
    }

    /// Whether IMDS answered 404 for the instance profile: no instance profile is attached
    /// (or its association still lags, until the deadline said otherwise).
    pub fn no_instance_profile(&self) -> bool {
        matches!(self, Error::Unavailable { path, detail, .. }
            if path.starts_with("/latest/meta-data/iam/") && detail == "HTTP 404")
    }

    /// The variant's name, for the metrics (`imds_failures_total{code}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unavailable { .. } => "Unavailable",
            Error::TokenRefused { .. } => "TokenRefused",
            Error::Disabled(_) => "Disabled",
            Error::Malformed { .. } => "Malformed",
        }
    }
}

/// The outcome of one read, classified for the retry policy.
#[derive(Debug)]
enum ReadError {
    /// Worth another try before the deadline: 5xx (whatever the body), 401, and 404 on
    /// instance-profile paths (the profile association lags at boot).
    Transient(String),
    /// Worth another try too: nothing answered (connection refused, reset, cut off mid-answer,
    /// timeouts).
    NoAnswer(String),
    /// The token request itself was refused: a v1-only or disabled metadata service.
    TokenRefused(String),
    /// The answer cannot be used.
    Malformed(String),
}

pub struct Imds {
    /// Replaced on a 401: the SDK client keeps its session token until the token's TTL runs
    /// out, even after IMDS has rejected it (a restarted IMDS, a token revoked mid-run), and a
    /// new client is the way to a new token (bottlerocket's imdsclient clears its cache too).
    client: Mutex<aws_config::imds::Client>,
    http: SharedHttpClient,
    policy: Policy,
}

impl Imds {
    /// An IMDSv2 client whose reads are retried until `wait` has passed.
    pub fn new(http: SharedHttpClient, wait: Duration) -> Imds {
        Imds {
            client: Mutex::new(sdk_client(http.clone())),
            http,
            policy: Policy::imds(wait),
        }
    }

    /// Reads the instance profile, its role and the identity document.
    pub async fn identity(&self) -> Result<Identity, Error> {
        let info: IamInfo = self.get_json(PATH_IAM_INFO).await?;
        let role_name = self.role_name().await?;
        let doc: IdentityDocument = self.get_json(PATH_IDENTITY).await?;
        Ok(Identity {
            instance_id: doc.instance_id,
            account_id: doc.account_id,
            region: doc.region,
            instance_profile_arn: info.instance_profile_arn,
            role_name,
        })
    }

    /// The instance-profile credentials of `role_name`, current as of now (they rotate).
    pub async fn role_credentials(&self, role_name: &str) -> Result<TemporaryCredentials, Error> {
        let path = format!("{PATH_ROLE_LIST}{role_name}");
        let raw: RoleCredentials = self.get_json(&path).await?;
        raw.into_credentials(&path)
    }

    async fn role_name(&self) -> Result<String, Error> {
        let listing = self.get(PATH_ROLE_LIST).await?;
        listing
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::Malformed {
                path: PATH_ROLE_LIST.into(),
                detail: "no role name listed".into(),
            })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let body = self.get(path).await?;
        // serde_json's messages name the field and position, never the value.
        serde_json::from_str(&body).map_err(|e| Error::Malformed {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    async fn get(&self, path: &str) -> Result<String, Error> {
        let result = self.get_uncounted(path).await;
        if let Err(err) = &result {
            crate::base::metrics::imds_failed(err.kind());
        }
        result
    }

    async fn get_uncounted(&self, path: &str) -> Result<String, Error> {
        // The SDK's switch for "no IMDS here" (the AWS CLI and SDKs honour it too): a process
        // started with it must not reach the metadata service, not even the default address.
        if let Ok(value) = std::env::var("AWS_EC2_METADATA_DISABLED") {
            if value.eq_ignore_ascii_case("true") {
                return Err(Error::Disabled(value));
            }
        }
        // A wait that outlasts the first attempt is shown: an updating line on a terminal,
        // its start and end in the journal.
        let started = std::time::Instant::now();
        let mut waiting: Option<Waiting> = None;
        let mut answered = false;
        let result = self
            .policy
            .run(
                || async {
                    let client = self.current_client();
                    let result = client.get(path).await.map_err(classify);
                    if matches!(&result, Err(ReadError::Transient(d)) if d == TOKEN_REJECTED) {
                        self.new_client();
                    }
                    result
                },
                |e| matches!(e, ReadError::Transient(_) | ReadError::NoAnswer(_)),
                |e, attempt, delay| {
                    tracing::debug!(path, attempt, ?delay, error = ?e, "IMDS not ready; retrying");
                    answered |= matches!(e, ReadError::Transient(_));
                    match &waiting {
                        Some(w) => w.tick(),
                        None => {
                            let what = match path.starts_with(PATH_ROLE_LIST) {
                                true => "IMDS to serve the instance-profile credentials",
                                false => "IMDS to answer",
                            };
                            let deadline = self.policy.deadline;
                            waiting = Some(Waiting::start(what.to_owned(), started, deadline));
                        }
                    }
                },
            )
            .await;
        let result = match result {
            Ok(body) => Ok(body.as_ref().to_owned()),
            Err(ReadError::Transient(detail)) => Err(Error::Unavailable {
                path: path.to_owned(),
                waited: self.policy.deadline,
                detail,
                answered: true,
            }),
            Err(ReadError::NoAnswer(detail)) => Err(Error::Unavailable {
                path: path.to_owned(),
                waited: self.policy.deadline,
                detail,
                answered,
            }),
            Err(ReadError::TokenRefused(detail)) => Err(Error::TokenRefused { detail }),
            Err(ReadError::Malformed(detail)) => Err(Error::Malformed {
                path: path.to_owned(),
                detail,
            }),
        };
        if let Some(waiting) = waiting {
            let why = result.as_ref().err().map(|e| match e {
                Error::Unavailable { .. } => "no answer before the deadline".to_owned(),
                other => other.kind().to_owned(),
            });
            waiting.end(why.as_deref().map_or(Ok(()), Err));
        }
        result
    }
}

impl Imds {
    fn current_client(&self) -> aws_config::imds::Client {
        match self.client.lock() {
            Ok(client) => client.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn new_client(&self) {
        let fresh = sdk_client(self.http.clone());
        match self.client.lock() {
            Ok(mut client) => *client = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }
}

fn sdk_client(http: SharedHttpClient) -> aws_config::imds::Client {
    aws_config::imds::Client::builder()
        .configure(&ProviderConfig::default().with_http_client(http))
        // Our policy owns retries, so the SDK's own attempts would only multiply them.
        .max_attempts(1)
        .build()
}

/// A server error as `HTTP 503 with an HTML body`: what answered it, told by its body (never
/// quoted), for the final error after the deadline.
fn status_with_body(response: &HttpResponse) -> String {
    let kind = response.headers().get("content-type");
    let body = response.body().bytes().unwrap_or_default();
    let status = response.status().as_u16();
    format!("HTTP {status} with {}", body_kind(kind, body))
}

/// How a token request that got no answer in time is reported (`Error::token_timed_out`).
const TOKEN_TIMED_OUT: &str = "token request timed out";

/// How a GET answered 401 is reported: the token was rejected; a new client gets a new one.
const TOKEN_REJECTED: &str = "HTTP 401 (session token rejected)";

fn classify(err: ImdsError) -> ReadError {
    match &err {
        ImdsError::FailedToLoadToken(failed) => {
            let sdk = std::error::Error::source(&err)
                .and_then(|s| s.downcast_ref::<SdkError<TokenError, HttpResponse>>());
            let timed_out = match sdk {
                Some(SdkError::TimeoutError(_)) => true,
                Some(SdkError::DispatchFailure(d)) => d.is_timeout(),
                _ => false,
            };
            if timed_out {
                // A token answer lost on the way is the classic hop-limit symptom: IMDS sends
                // the PUT's answer with an IP TTL of the hop limit, and a container is one hop
                // further than the instance.
                return ReadError::NoAnswer(format!(
                    "{TOKEN_TIMED_OUT} ({}); if this runs in a container, the \
                     instance's metadata hop limit may be too low (raise \
                     HttpPutResponseHopLimit to 2)",
                    chain(&err)
                ));
            }
            // A connection reset, or an answer cut off mid-body (its status may be a 200).
            if failed.is_dispatch_failure() || transport_failed(&err) {
                return ReadError::NoAnswer(format!("token request failed: {}", chain(&err)));
            }
            let raw = sdk.and_then(|e| e.raw_response());
            match raw.map(|r| r.status().as_u16()) {
                Some(s) if s >= 500 => {
                    let status = status_with_body(raw.expect("a response"));
                    ReadError::Transient(format!("token request: {status}"))
                }
                Some(s) => ReadError::TokenRefused(format!("HTTP {s}")),
                None => ReadError::Transient(format!("token request failed: {}", chain(&err))),
            }
        }
        ImdsError::ErrorResponse(resp) => {
            let status = resp.response().status().as_u16();
            match status {
                401 => ReadError::Transient(TOKEN_REJECTED.to_owned()),
                404 | 429 => ReadError::Transient(format!("HTTP {status}")),
                500.. => ReadError::Transient(status_with_body(resp.response())),
                _ => ReadError::Malformed(format!("HTTP {status}")),
            }
        }
        ImdsError::IoError(_) => ReadError::NoAnswer(chain(&err)),
        // The SDK's IMDS client reports a GET whose connection failed or was reset as
        // "unexpected": a broken connection all the same (`retry::transport_failed`).
        ImdsError::Unexpected(_) if transport_failed(&err) => ReadError::NoAnswer(chain(&err)),
        _ => ReadError::Malformed(chain(&err)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IamInfo {
    instance_profile_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDocument {
    instance_id: String,
    account_id: String,
    region: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    code: String,
    access_key_id: String,
    secret_access_key: String,
    token: String,
    expiration: String,
}

impl RoleCredentials {
    fn into_credentials(self, path: &str) -> Result<TemporaryCredentials, Error> {
        let malformed = |detail: String| Error::Malformed {
            path: path.to_owned(),
            detail,
        };
        if self.code != "Success" {
            return Err(malformed(format!(
                "Code is {:?}, not \"Success\"",
                self.code
            )));
        }
        let expiration = OffsetDateTime::parse(
            &self.expiration,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| malformed(format!("Expiration {:?}: {e}", self.expiration)))?;
        Ok(TemporaryCredentials {
            access_key_id: self.access_key_id,
            secret_access_key: Secret::new(self.secret_access_key),
            session_token: Secret::new(self.token),
            expiration,
        })
    }
}

/// Why this instance is not the one the config expects.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Mismatch {
    #[error(
        "the instance role is {actual:?}, but the config expects [instance] role_name = {expected:?}; \
         refusing to assume roles under another instance role"
    )]
    RoleName { expected: String, actual: String },
    #[error(
        "the instance profile {arn:?} belongs to account {actual}, but the config expects \
         [instance] account_id = {expected:?}"
    )]
    Account {
        expected: String,
        actual: String,
        arn: String,
    },
}

/// Checks the identity IMDS reported against the config's `[instance]` table.
pub fn verify(expected: &config::Instance, identity: &Identity) -> Result<(), Mismatch> {
    if identity.role_name != expected.role_name {
        return Err(Mismatch::RoleName {
            expected: expected.role_name.clone(),
            actual: identity.role_name.clone(),
        });
    }
    if let Some(account) = &expected.account_id {
        // arn:PARTITION:iam::ACCOUNT:instance-profile/NAME
        let actual = identity
            .instance_profile_arn
            .split(':')
            .nth(4)
            .unwrap_or_default();
        if actual != account {
            return Err(Mismatch::Account {
                expected: account.clone(),
                actual: actual.to_owned(),
                arn: identity.instance_profile_arn.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(role: &str, arn: &str) -> Identity {
        Identity {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            instance_profile_arn: arn.into(),
            role_name: role.into(),
        }
    }

    #[test]
    fn the_role_arn_is_in_the_instance_profiles_partition() {
        let table = [
            (
                "arn:aws:iam::000000000000:instance-profile/EC2_X",
                "arn:aws:iam::000000000000:role/EC2_X",
            ),
            (
                "arn:aws-cn:iam::000000000000:instance-profile/p/EC2_X",
                "arn:aws-cn:iam::000000000000:role/EC2_X",
            ),
            (
                "arn:aws-us-gov:iam::000000000000:instance-profile/EC2_X",
                "arn:aws-us-gov:iam::000000000000:role/EC2_X",
            ),
        ];
        for (profile, want) in table {
            assert_eq!(identity("EC2_X", profile).role_arn(), want, "{profile}");
        }
    }

    #[test]
    fn verify_table() {
        let arn = "arn:aws:iam::000000000000:instance-profile/EC2_PerformSecurityAudit";
        let expect = |role: &str, account: Option<&str>| config::Instance {
            role_name: role.into(),
            account_id: account.map(Into::into),
        };
        let cases: Vec<(config::Instance, Identity, Option<&str>)> = vec![
            (
                expect("EC2_PerformSecurityAudit", Some("000000000000")),
                identity("EC2_PerformSecurityAudit", arn),
                None,
            ),
            (
                expect("EC2_PerformSecurityAudit", None),
                identity("EC2_PerformSecurityAudit", arn),
                None,
            ),
            (
                expect("EC2_PerformSecurityAudit", None),
                identity("SomethingElse", arn),
                Some("\"SomethingElse\", but the config expects [instance] role_name = \"EC2_PerformSecurityAudit\""),
            ),
            (
                expect("EC2_PerformSecurityAudit", Some("999999999999")),
                identity("EC2_PerformSecurityAudit", arn),
                Some("belongs to account 000000000000, but the config expects [instance] account_id = \"999999999999\""),
            ),
            (
                expect("EC2_PerformSecurityAudit", Some("000000000000")),
                identity("EC2_PerformSecurityAudit", "garbage"),
                Some("belongs to account , but"),
            ),
        ];
        for (expected, id, want) in cases {
            let got = verify(&expected, &id).err().map(|e| e.to_string());
            match (got, want) {
                (None, None) => {}
                (Some(got), Some(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn credentials_parse_and_reject() {
        let ok = r#"{"Code":"Success","LastUpdated":"2026-11-23T08:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIAX","SecretAccessKey":"sek","Token":"tok","Expiration":"2026-11-23T14:00:00Z"}"#;
        let c: RoleCredentials = serde_json::from_str(ok).unwrap();
        let c = c.into_credentials("p").unwrap();
        assert_eq!(c.expiration, time::macros::datetime!(2026-11-23 14:00 UTC));
        assert_eq!(c.secret_access_key.expose(), "sek");

        let bad_code = ok.replace("Success", "Failure");
        let c: RoleCredentials = serde_json::from_str(&bad_code).unwrap();
        assert!(c
            .into_credentials("p")
            .unwrap_err()
            .to_string()
            .contains("Failure"));

        let bad_time = ok.replace("2026-11-23T14:00:00Z", "tomorrow");
        let c: RoleCredentials = serde_json::from_str(&bad_time).unwrap();
        let err = c.into_credentials("p").unwrap_err().to_string();
        assert!(err.contains("tomorrow") && !err.contains("sek") && !err.contains("tok"));
    }
}
