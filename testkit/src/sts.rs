//! A fake AWS STS on loopback speaking the real query protocol (form-encoded POST, XML reply)
//! that aws-sdk-sts and the AWS CLI use: `AssumeRole` with outcomes scripted per role ARN, and
//! `GetCallerIdentity` for the keys it issued, so a real AWS client can use written profiles.
//! It records every call with the access key id that signed it, so tests can prove the
//! instance-profile key signed and an ambient one never did. Scripts and outages give the
//! faults of real STS: throttling, 5xx, AccessDenied, calls that hang, a signing clock that is
//! off (with the `Date` header real AWS sends), `ExpiredToken` for a rotated instance key, and
//! 200 answers that are not valid AssumeRole responses. For scale tests it can also
//! throttle above a request rate, and (`start_pool`) answer every call after a latency,
//! recording the most it held in flight. It does not verify signatures (nothing here is a
//! security boundary) and never forwards anything anywhere.

use crate::http::{RateWindow, Recorded, Reply, Server};
use crate::rfc3339;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How the fake answers `AssumeRole` for one role ARN. Roles without a script succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    Ok,
    /// 403 `AccessDenied`, every time.
    AccessDenied,
    /// 403 `AccessDenied` in real STS's words, "User: CALLER is not authorized to perform:
    /// sts:AssumeRole on resource: ROLE", followed by this reason (" because no identity-based
    /// policy allows the sts:AssumeRole action", or "" for none), every time.
    DeniedBecause(&'static str),
    /// 400 `Throttling` this many times, then success.
    Throttle(usize),
    /// 500 `InternalFailure` this many times, then success.
    ServerError(usize),
    /// This many calls are accepted and not answered for `HANG` (far past the client's
    /// attempt timeout), then success.
    Hang(usize),
    /// For this many calls the fake's clock is `STS_CLOCK_AHEAD` ahead of the machine's, and
    /// a call signed more than 5 minutes off it is refused with error `code`
    /// (`SignatureDoesNotMatch`, `InvalidSignatureException` or `RequestExpired`, each with
    /// the status and message real AWS sends) and the fake's `Date`; then its clock is right.
    Skewed(&'static str, usize),
    /// 200 with an answer that is not a valid `AssumeRole` response, every time.
    Malformed(Bad),
    /// 400 `PackedPolicyTooLarge` in real STS's words, every time: the session policy, policy
    /// ARNs and tags took more than STS's packed space (this many percent of it).
    PackedPolicyTooLarge(u32),
}

/// How long a `Script::Hang` call goes unanswered.
pub const HANG: Duration = Duration::from_secs(60);

/// How far the fake's clock (its `Date` header and the times in its signature errors) is
/// ahead of the machine's under `Script::Skewed` and `Outage::Skewed`.
pub const STS_CLOCK_AHEAD: time::Duration = time::Duration::seconds(600);

/// The ways a 200 answer to `AssumeRole` can be unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// The XML stops half-way through the credentials.
    Truncated,
    /// No `<Credentials>` element.
    NoCredentials,
    /// `<Credentials>` without `<Expiration>`.
    NoExpiration,
    /// `<Expiration>` that is not a date.
    ExpirationNotADate,
    /// An HTML page, as a captive portal or proxy sends.
    Html,
    /// A valid answer padded to 8 MiB with whitespace.
    Huge,
    /// Credentials that expired an hour ago.
    AlreadyExpired,
    /// An empty `<AccessKeyId>`.
    EmptyAccessKeyId,
}

/// An outage of the whole service: every `AssumeRole`, for every role, answers this until
/// `FakeSts::restore`. It overrides the per-role scripts (which keep their counts meanwhile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// 500 `InternalFailure`.
    ServerError,
    /// 400 `Throttling`.
    Throttling,
    /// 403 `AccessDenied`.
    AccessDenied,
    /// The fake's clock is `STS_CLOCK_AHEAD` ahead: 403 `SignatureDoesNotMatch` "Signature
    /// expired" to calls signed more than 5 minutes off it.
    Skewed,
}

/// One call as the fake understood it.
#[derive(Clone, Debug)]
pub struct Call {
    pub action: String,
    /// The decoded form parameters (`RoleArn`, `RoleSessionName`, `Tags.member.1.Key`, ...).
    pub params: BTreeMap<String, String>,
    /// The key id in the SigV4 `Authorization` header's `Credential=` scope.
    pub access_key_id: Option<String>,
    /// The region in that scope: the regional endpoint the client meant to call.
    pub signing_region: Option<String>,
    /// The HTTP status the fake answered.
    pub status: u16,
    /// When the fake answered, to measure the gaps between refreshes.
    pub at: Instant,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Credentials the fake issued, so tests can find them in the written file (and make sure
/// they never appear in logs).
#[derive(Clone, Debug)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub assumed_role_arn: String,
    pub expiration: String,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, Script>,
    calls: Vec<Call>,
    /// By access key id.
    issued: BTreeMap<String, Issued>,
    /// Overrides `DurationSeconds` when set (see `FakeSts::set_lifetime`).
    lifetime: Option<Duration>,
    outage: Option<Outage>,
    /// How far the fake's clock is ahead of the machine's for every action (`set_clock`).
    clock_ahead: Option<time::Duration>,
    /// `AssumeRole` calls accepted in the last second, above which the fake throttles (see
    /// `limit_rate`).
    rate_limit: Option<RateWindow>,
    /// `AssumeRole` calls answered with `Throttling`, for any reason.
    throttles: usize,
    /// Access key ids STS answers `ExpiredToken` to (see `FakeSts::expire_key`).
    expired_keys: Vec<String>,
}

pub struct FakeSts {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeSts {
    pub fn start() -> FakeSts {
        FakeSts::start_pool(Duration::ZERO)
    }

    /// A fake on `ip` (`::1` for an IPv6-only test; see `http::Server::start_at`).
    pub fn start_at(ip: std::net::IpAddr) -> FakeSts {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            Server::start_at(ip, 0, move |req| handle(&mut state.lock().unwrap(), req))
        };
        FakeSts { server, state }
    }

    /// A fake that answers every request after `latency`, as many at once as the client
    /// sends, as STS does; `max_in_flight` then tells how many calls the client really had in
    /// flight.
    pub fn start_pool(latency: Duration) -> FakeSts {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            Server::start_with_latency(latency, move |req| handle(&mut state.lock().unwrap(), req))
        };
        FakeSts { server, state }
    }

    /// The value for `AWS_ENDPOINT_URL_STS`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// From now on, answers `Throttling` to any `AssumeRole` beyond `per_second` accepted in
    /// the last second (a sliding window: STS's limits are per second too).
    pub fn limit_rate(&self, per_second: usize) {
        self.state.lock().unwrap().rate_limit = Some(RateWindow::new(per_second));
    }

    /// How many `AssumeRole` calls were answered `Throttling`.
    pub fn throttles(&self) -> usize {
        self.state.lock().unwrap().throttles
    }

    /// The most requests the fake held at once.
    pub fn max_in_flight(&self) -> usize {
        self.server.max_in_flight()
    }

    /// Scripts `AssumeRole` for `role_arn` from now on.
    pub fn script(&self, role_arn: &str, script: Script) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(role_arn.to_owned(), script);
    }

    /// Issues credentials that expire `lifetime` from now, whatever `DurationSeconds` asks:
    /// the config cannot ask for less than STS's 900 s minimum, and the daemon's tests need
    /// credentials that run out within seconds.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state.lock().unwrap().lifetime = Some(lifetime);
    }

    /// Starts an outage of every `AssumeRole` (see `Outage`) until `restore`.
    pub fn break_with(&self, outage: Outage) {
        self.state.lock().unwrap().outage = Some(outage);
    }

    /// From now on, answers every call signed with `access_key_id` with 400 `ExpiredToken`,
    /// as STS does once instance-profile credentials have expired.
    pub fn expire_key(&self, access_key_id: &str) {
        self.state
            .lock()
            .unwrap()
            .expired_keys
            .push(access_key_id.to_owned());
    }

    /// From now on the fake's clock is `ahead` of the machine's (negative: behind) for every
    /// action, `GetCallerIdentity` too: every answer carries its `Date`, and a call signed more
    /// than 5 minutes off it is refused with 403 `SignatureDoesNotMatch`, as real STS does.
    pub fn set_clock(&self, ahead: time::Duration) {
        self.state.lock().unwrap().clock_ahead = Some(ahead);
    }

    /// Ends the outage `break_with` started.
    pub fn restore(&self) {
        self.state.lock().unwrap().outage = None;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// `AssumeRole` calls only.
    pub fn assume_role_calls(&self) -> Vec<Call> {
        let mut calls = self.calls();
        calls.retain(|c| c.action == "AssumeRole");
        calls
    }

    /// Every credential issued so far, oldest first.
    pub fn issued(&self) -> Vec<Issued> {
        let state = self.state.lock().unwrap();
        let mut all: Vec<Issued> = state.issued.values().cloned().collect();
        all.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
        all
    }

    /// The credentials issued last for `role_arn`.
    pub fn issued_for(&self, role_arn: &str) -> Option<Issued> {
        self.all_issued_for(role_arn).pop()
    }

    /// Every credential issued for `role_arn`, oldest first.
    pub fn all_issued_for(&self, role_arn: &str) -> Vec<Issued> {
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let account = role_arn.split(':').nth(4).unwrap_or_default();
        let prefix = format!("arn:aws:sts::{account}:assumed-role/{role_name}/");
        let mut all = self.issued();
        all.retain(|i| i.assumed_role_arn.starts_with(&prefix));
        all
    }

    /// The `AssumeRole` calls for `role_arn`, in arrival order.
    pub fn assume_role_calls_for(&self, role_arn: &str) -> Vec<Call> {
        let mut calls = self.assume_role_calls();
        calls.retain(|c| c.param("RoleArn") == Some(role_arn));
        calls
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let params = parse_form(&req.body);
    let scope = req.header("authorization").and_then(credential_scope);
    let access_key_id = scope.as_ref().and_then(|s| s.first().cloned());
    let signing_region = scope.as_ref().and_then(|s| s.get(2).cloned());
    let action = params.get("Action").cloned().unwrap_or_default();
    let signed_at = req.header("x-amz-date");
    let refused = state
        .clock_ahead
        .and_then(|ahead| skewed("SignatureDoesNotMatch", signed_at, ahead));
    let reply = match (refused, req.method.as_str(), action.as_str()) {
        (Some(refusal), _, _) => refusal,
        (None, "POST", "AssumeRole") => match &access_key_id {
            Some(key) if state.expired_keys.contains(key) => error(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
            _ => assume_role(state, &params, signed_at),
        },
        (None, "POST", "GetCallerIdentity") => caller_identity(state, access_key_id.as_deref()),
        _ => error(
            400,
            "InvalidAction",
            &format!("unsupported action {action:?}"),
        ),
    };
    let reply = match state.clock_ahead {
        Some(ahead) if reply.header_value("Date").is_none() => {
            let date = OffsetDateTime::now_utc() + ahead;
            reply.header("Date", &httpdate::fmt_http_date(date.into()))
        }
        _ => reply,
    };
    state.calls.push(Call {
        action,
        params,
        access_key_id,
        signing_region,
        status: reply.status,
        at: Instant::now(),
    });
    reply
}

fn assume_role(
    state: &mut State,
    params: &BTreeMap<String, String>,
    signed_at: Option<&str>,
) -> Reply {
    let (Some(arn), Some(session)) = (params.get("RoleArn"), params.get("RoleSessionName")) else {
        return error(
            400,
            "MissingParameter",
            "RoleArn and RoleSessionName are required",
        );
    };
    match state.outage {
        Some(Outage::ServerError) => {
            return error(500, "InternalFailure", "An internal error occurred")
        }
        Some(Outage::Throttling) => return throttle(state),
        Some(Outage::AccessDenied) => return access_denied(arn),
        Some(Outage::Skewed) => {
            if let Some(refusal) = skewed("SignatureDoesNotMatch", signed_at, STS_CLOCK_AHEAD) {
                return refusal;
            }
        }
        None => {}
    }
    if let Some(rate) = &mut state.rate_limit {
        if !rate.admit(Instant::now(), Duration::from_secs(1)) {
            return throttle(state);
        }
    }
    let script = state.scripts.get(arn).copied().unwrap_or(Script::Ok);
    match script {
        Script::AccessDenied => return access_denied(arn),
        Script::PackedPolicyTooLarge(percent) => {
            return error(
                400,
                "PackedPolicyTooLarge",
                &format!("Packed policy consumes {percent}% of allotted space, please use smaller policy for this session"),
            )
        }
        Script::DeniedBecause(reason) => {
            return error(
                403,
                "AccessDenied",
                &format!(
                    "User: {INSTANCE_CALLER} is not authorized to perform: sts:AssumeRole on \
                     resource: {arn}{reason}"
                ),
            )
        }
        Script::Throttle(n) if n > 0 => {
            state.scripts.insert(arn.clone(), Script::Throttle(n - 1));
            return throttle(state);
        }
        Script::ServerError(n) if n > 0 => {
            state
                .scripts
                .insert(arn.clone(), Script::ServerError(n - 1));
            return error(500, "InternalFailure", "An internal error occurred");
        }
        Script::Hang(n) if n > 0 => {
            state.scripts.insert(arn.clone(), Script::Hang(n - 1));
            return Reply::new(500, "").after(HANG);
        }
        Script::Skewed(code, n) if n > 0 => {
            state
                .scripts
                .insert(arn.clone(), Script::Skewed(code, n - 1));
            if let Some(refusal) = skewed(code, signed_at, STS_CLOCK_AHEAD) {
                return refusal;
            }
        }
        _ => {}
    }
    let mut fields = arn.split(':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return error(400, "ValidationError", "RoleArn is not a role ARN");
    };
    let role_name = resource.rsplit('/').next().unwrap_or_default();
    let seconds: i64 = params
        .get("DurationSeconds")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3600);
    let lifetime = match state.lifetime {
        Some(lifetime) => time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX),
        None => time::Duration::seconds(seconds),
    };
    let n = state.issued.len() + 1;
    let issued = Issued {
        access_key_id: format!("ASIASTSFAKE{n:09}"),
        secret_access_key: format!("FakeStsSecret/{n}/{:016x}", fastrand::u64(..)),
        session_token: format!("FakeStsToken/{n}/{:032x}", fastrand::u128(..)),
        assumed_role_arn: format!(
            "arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}"
        ),
        // On the fake's clock, as real STS's Expiration is on its own.
        expiration: rfc3339(
            OffsetDateTime::now_utc() + state.clock_ahead.unwrap_or_default() + lifetime,
        ),
    };
    state
        .issued
        .insert(issued.access_key_id.clone(), issued.clone());
    let bad = match script {
        Script::Malformed(bad) => Some(bad),
        _ => None,
    };
    let (access_key_id, expiration) = match bad {
        Some(Bad::EmptyAccessKeyId) => ("", issued.expiration.clone()),
        Some(Bad::AlreadyExpired) => (
            issued.access_key_id.as_str(),
            rfc3339(OffsetDateTime::now_utc() - time::Duration::hours(1)),
        ),
        Some(Bad::ExpirationNotADate) => (issued.access_key_id.as_str(), "next Tuesday".into()),
        _ => (issued.access_key_id.as_str(), issued.expiration.clone()),
    };
    let expiration = match bad {
        Some(Bad::NoExpiration) => String::new(),
        _ => format!("<Expiration>{}</Expiration>", xml(&expiration)),
    };
    let credentials = format!(
        "<Credentials>\
         <AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken>{expiration}</Credentials>",
        xml(access_key_id),
        xml(&issued.secret_access_key),
        xml(&issued.session_token),
    );
    let body = format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <AssumeRoleResult>{}\
         <AssumedRoleUser><AssumedRoleId>AROAFAKE{n:012}:{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>\
         <PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        if bad == Some(Bad::NoCredentials) {
            ""
        } else {
            &credentials
        },
        xml(session),
        xml(&issued.assumed_role_arn),
        request_id(),
    );
    let body = match bad {
        Some(Bad::Truncated) => body[..body.find("<SessionToken>").unwrap_or(0)].to_owned(),
        Some(Bad::Html) => {
            return Reply::new(
                200,
                "<html><body><h1>Welcome to Hotel WiFi</h1></body></html>",
            )
            .header("Content-Type", "text/html")
        }
        // Whitespace between elements: the XML would be valid, were it not so large.
        Some(Bad::Huge) => body.replacen(
            "<AssumeRoleResult>",
            &format!("<AssumeRoleResult>{}", " ".repeat(8 << 20)),
            1,
        ),
        _ => body,
    };
    Reply::new(200, body).header("Content-Type", "text/xml")
}

/// What real AWS answers, on a clock `ahead` of the machine's, to a request
/// whose `X-Amz-Date` is `signed_at`: `None` (accepted) within 5 minutes of that clock, else
/// the refusal with the `Date` header.
fn skewed(code: &str, signed_at: Option<&str>, ahead: time::Duration) -> Option<Reply> {
    let now = OffsetDateTime::now_utc() + ahead;
    let five = time::Duration::minutes(5);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed = signed_at
        .and_then(|s| time::PrimitiveDateTime::parse(s, format).ok())
        .map(|t| t.assume_utc());
    if signed.is_some_and(|t| (t - now).abs() <= five) {
        return None;
    }
    let amz = |t: OffsetDateTime| t.format(format).unwrap_or_default();
    let signed_text = signed_at.unwrap_or("(none)");
    let message = match signed {
        _ if code == "RequestExpired" => "Request has expired.".to_owned(),
        Some(t) if t > now => format!(
            "Signature not yet current: {signed_text} is still later than {} ({} + 5 min.)",
            amz(now + five),
            amz(now)
        ),
        _ => format!(
            "Signature expired: {signed_text} is now earlier than {} ({} - 5 min.)",
            amz(now - five),
            amz(now)
        ),
    };
    let status = if code == "SignatureDoesNotMatch" {
        403
    } else {
        400
    };
    Some(error(status, code, &message).header("Date", &httpdate::fmt_http_date(now.into())))
}

fn throttle(state: &mut State) -> Reply {
    state.throttles += 1;
    error(400, "Throttling", "Rate exceeded")
}

fn access_denied(arn: &str) -> Reply {
    error(
        403,
        "AccessDenied",
        &format!("User is not authorized to perform: sts:AssumeRole on resource: {arn}"),
    )
}

/// Who the instance-profile credentials are, as STS names its caller.
const INSTANCE_CALLER: &str =
    "arn:aws:sts::000000000000:assumed-role/EC2_PerformSecurityAudit/i-0123456789abcdef0";

fn caller_identity(state: &State, key: Option<&str>) -> Reply {
    let (arn, account) = match key.and_then(|k| state.issued.get(k)) {
        Some(i) => (
            i.assumed_role_arn.clone(),
            i.assumed_role_arn
                .split(':')
                .nth(4)
                .unwrap_or_default()
                .to_owned(),
        ),
        None if key == Some(crate::imds::ACCESS_KEY_ID) => {
            (INSTANCE_CALLER.to_owned(), "000000000000".to_owned())
        }
        None => {
            return error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        }
    };
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <GetCallerIdentityResult><Arn>{}</Arn><UserId>AROAFAKE:session</UserId>\
         <Account>{account}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        xml(&arn),
        request_id(),
    );
    Reply::new(200, body).header("Content-Type", "text/xml")
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error>\
         <RequestId>{}</RequestId></ErrorResponse>",
        xml(message),
        request_id(),
    );
    Reply::new(status, body).header("Content-Type", "text/xml")
}

fn request_id() -> String {
    let r = fastrand::u128(..);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (r >> 96) as u32,
        (r >> 80) as u16,
        (r >> 64) as u16,
        (r >> 48) as u16,
        r as u64 & 0xffff_ffff_ffff
    )
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/sts/aws4_request, SignedHeaders=...`
/// gives `[AKID, 20261123, us-east-1, sts, aws4_request]`.
pub(crate) fn credential_scope(authorization: &str) -> Option<Vec<String>> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    Some(scope.split('/').map(str::to_owned).collect())
}

/// `application/x-www-form-urlencoded`, as the SDK and the AWS CLI send it.
pub fn parse_form(body: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
