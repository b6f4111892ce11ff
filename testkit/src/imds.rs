//! A fake EC2 instance metadata service (IMDSv2) on loopback, for the tests and the demo
//! (the `fake imds` binary serves it, so there is one fake, not two). It serves the
//! paths ec2-assume-role reads, with knobs for the failures that matter: 503s at boot, a
//! service that refuses the IMDSv2 token (v1 only), another role or account. It answers 401 to
//! any GET without the token it issued, and records every request so a test can prove that no
//! tokenless request was made. It never forwards anything anywhere.

use crate::http::{Recorded, Reply, Server};
use crate::rfc3339;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

pub const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// The instance-profile credentials the fake hands out. Tests look for them in stderr (they
/// must never appear) and in STS's Authorization headers (the key id must).
pub const ACCESS_KEY_ID: &str = "ASIAIMDSFAKE00000001";
pub const SECRET_ACCESS_KEY: &str = "FakeImdsSecret/NeverLogThis+0000000000001";
pub const SESSION_TOKEN: &str = "FakeImdsSessionToken/NeverLogThis+0000000000000000000001";

/// The instance-profile credentials after a rotation (`rotate_credentials_after_reads`).
pub const ROTATED_ACCESS_KEY_ID: &str = "ASIAIMDSFAKE00000002";
pub const ROTATED_SECRET_ACCESS_KEY: &str = "FakeImdsSecret/NeverLogThis+0000000000002";
pub const ROTATED_SESSION_TOKEN: &str = "FakeImdsSessionToken/NeverLogThis+0000000000000000000002";

/// What the fake says about the instance, and how it misbehaves.
#[derive(Clone, Debug)]
pub struct ImdsConfig {
    pub role_name: String,
    pub instance_profile_arn: String,
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    /// The first N requests (of any kind) get 503, as IMDS does while the instance boots.
    pub fail_first: usize,
    /// `Some(status)`: a v1-only service: the token PUT gets `status` (403 or 405) and GETs
    /// are served without a token.
    pub refuse_token: Option<u16>,
    /// The instance-profile credentials' expiration.
    pub expiration: OffsetDateTime,
    /// `Some(n)`: after the n-th GET, every token issued so far is refused (401), as when a
    /// token expires or IMDS restarts mid-run; a new PUT gets a new token that works.
    pub revoke_tokens_after_gets: Option<usize>,
    /// Bodies served instead of the real documents, by path (malformed-answer tests).
    pub bodies: Vec<(String, String)>,
    /// `Some(n)`: the first n reads of the instance-profile credentials get the first set,
    /// every later one the `ROTATED_*` set, as when EC2 rotates them.
    pub rotate_credentials_after_reads: Option<usize>,
    /// Every answer is held back this long (a slow metadata service).
    pub delay: Duration,
    /// The token PUT is answered only after this long: what a process sees when the
    /// instance's hop limit (`HttpPutResponseHopLimit`) is too low for it, and the answer is
    /// dropped on the way.
    pub token_delay: Option<Duration>,
}

impl Default for ImdsConfig {
    /// The reference story's instance.
    fn default() -> ImdsConfig {
        ImdsConfig {
            role_name: "EC2_PerformSecurityAudit".into(),
            instance_profile_arn:
                "arn:aws:iam::000000000000:instance-profile/EC2_PerformSecurityAudit".into(),
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            fail_first: 0,
            refuse_token: None,
            expiration: OffsetDateTime::now_utc() + time::Duration::hours(6),
            revoke_tokens_after_gets: None,
            bodies: Vec::new(),
            rotate_credentials_after_reads: None,
            delay: Duration::ZERO,
            token_delay: None,
        }
    }
}

pub struct FakeImds {
    server: Server,
    config: Arc<Mutex<ImdsConfig>>,
}

/// The tokens the fake issues: this prefix and a generation; only the current one works.
const TOKEN: &str = "fake-imds-session-token-v2";

#[derive(Default)]
struct Counts {
    served: usize,
    gets: usize,
    generation: usize,
    credential_reads: usize,
}

fn token(generation: usize) -> String {
    format!("{TOKEN}.{generation}")
}

impl FakeImds {
    pub fn start(config: ImdsConfig) -> FakeImds {
        FakeImds::start_on(0, config)
    }

    /// Serves on loopback `port` (0: any free port).
    pub fn start_on(port: u16, config: ImdsConfig) -> FakeImds {
        FakeImds::start_at(std::net::Ipv4Addr::LOCALHOST.into(), port, config)
    }

    /// Serves on `ip` and `port`: `::1`, or IMDS's own `fd00:ec2::254` port 80 inside a
    /// network namespace a test made (see `http::Server::start_at`).
    pub fn start_at(ip: std::net::IpAddr, port: u16, config: ImdsConfig) -> FakeImds {
        let config = Arc::new(Mutex::new(config));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let server = {
            let config = Arc::clone(&config);
            Server::start_at(ip, port, move |req| {
                let config = config.lock().unwrap().clone();
                let mut counts = counts.lock().unwrap();
                counts.served += 1;
                if counts.served <= config.fail_first {
                    return Reply::new(503, "Service Unavailable");
                }
                let mut rotated = false;
                if req.method == "GET" {
                    counts.gets += 1;
                    if config.revoke_tokens_after_gets == Some(counts.gets - 1) {
                        counts.generation += 1;
                    }
                    if req.path == credentials_path(&config) {
                        counts.credential_reads += 1;
                        rotated = config
                            .rotate_credentials_after_reads
                            .is_some_and(|n| counts.credential_reads > n);
                    }
                }
                let reply = answer(&config, counts.generation, rotated, req);
                match config.token_delay {
                    Some(delay) if req.method == "PUT" => reply.after(delay),
                    _ => reply.after(config.delay),
                }
            })
        };
        FakeImds { server, config }
    }

    /// The value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Changes the fake's answers from now on.
    pub fn configure(&self, change: impl FnOnce(&mut ImdsConfig)) {
        change(&mut self.config.lock().unwrap());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }

    /// GETs that did not carry the token this fake issued (IMDSv1-style requests).
    pub fn tokenless_gets(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.method == "GET" && !r.header(TOKEN_HEADER).is_some_and(|t| t.starts_with(TOKEN))
            })
            .count()
    }

    /// GETs of metadata (token requests excluded).
    pub fn gets(&self) -> usize {
        self.requests().iter().filter(|r| r.method == "GET").count()
    }
}

fn credentials_path(c: &ImdsConfig) -> String {
    format!("/latest/meta-data/iam/security-credentials/{}", c.role_name)
}

fn answer(config: &ImdsConfig, generation: usize, rotated: bool, req: &Recorded) -> Reply {
    if req.method == "PUT" {
        if req.path != "/latest/api/token" {
            return Reply::new(405, "");
        }
        if let Some(status) = config.refuse_token {
            return Reply::new(status, "");
        }
        // Real IMDS requires the TTL header and echoes it; the SDK requires the echo.
        return match req.header(TOKEN_TTL_HEADER) {
            Some(ttl) => Reply::new(200, token(generation)).header(TOKEN_TTL_HEADER, ttl),
            None => Reply::new(400, "Missing token TTL"),
        };
    }
    if req.method != "GET" {
        return Reply::new(405, "");
    }
    if config.refuse_token.is_none() && req.header(TOKEN_HEADER) != Some(token(generation).as_str())
    {
        return Reply::new(401, "");
    }
    match document(config, rotated, &req.path) {
        Some(body) => Reply::new(200, body),
        None => Reply::new(404, "Not Found"),
    }
}

fn document(c: &ImdsConfig, rotated: bool, path: &str) -> Option<String> {
    if let Some((_, body)) = c.bodies.iter().find(|(p, _)| p == path) {
        return Some(body.clone());
    }
    let updated = rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(5));
    let role_path = credentials_path(c);
    let (key, secret, token) = if rotated {
        (
            ROTATED_ACCESS_KEY_ID,
            ROTATED_SECRET_ACCESS_KEY,
            ROTATED_SESSION_TOKEN,
        )
    } else {
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
    };
    let body = match path {
        "/latest/meta-data/instance-id" => c.instance_id.clone(),
        "/latest/meta-data/iam/info" => serde_json::json!({
            "Code": "Success",
            "LastUpdated": updated,
            "InstanceProfileArn": c.instance_profile_arn,
            "InstanceProfileId": "AIPAFAKEINSTANCEPROFILE",
        })
        .to_string(),
        "/latest/meta-data/iam/security-credentials/" => c.role_name.clone(),
        p if p == role_path => serde_json::json!({
            "Code": "Success",
            "LastUpdated": updated,
            "Type": "AWS-HMAC",
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": rfc3339(c.expiration),
        })
        .to_string(),
        "/latest/dynamic/instance-identity/document" => serde_json::json!({
            "accountId": c.account_id,
            "architecture": "x86_64",
            "availabilityZone": format!("{}a", c.region),
            "billingProducts": null,
            "devpayProductCodes": null,
            "marketplaceProductCodes": null,
            "imageId": "ami-0123456789abcdef0",
            "instanceId": c.instance_id,
            "instanceType": "t3.micro",
            "kernelId": null,
            "pendingTime": updated,
            "privateIp": "10.0.0.10",
            "ramdiskId": null,
            "region": c.region,
            "version": "2017-09-30",
        })
        .to_string(),
        _ => return None,
    };
    Some(body)
}
