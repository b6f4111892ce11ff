//! The daemon's credential endpoint: the container credential provider protocol that every
//! AWS SDK and the CLI speak (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), one URI per profile,
//! `GET /v1/credentials/PROFILE`, answered from the credentials the daemon keeps in memory
//! (`Store`): never an STS call per request.
//!
//! Who may have what: each owner of a destination's files (the user `[credentials]` writes
//! for, each `[[user]]`) gets a token file only it can read, rotated at every start, and a
//! token opens only the profiles that go to that owner's files. Tokens are compared in constant time and never logged. A refusal is a short
//! status with no detail (401 without or with an unknown token, 403 for a profile that is
//! not the token owner's, configured for another or not at all, 404 for the owner's profile
//! not assumed yet). Every answer to a credentials request goes to the audit trail (`audit`:
//! one journal event each, rate-limited per kind with a summary of what it did not log) and
//! is counted in the metrics by owner, profile and status.
//!
//! Each client is limited (`limits`): an owner by its token, any other request by its peer
//! address, `rate_per_second` on average with a `burst`; over it, 429 with `Retry-After`. One
//! runaway client cannot starve another owner's.
//!
//! Hardened as IMDSv2 is: only `GET`; a URI of at most `MAX_URI` bytes and headers of at most
//! `MAX_HEADER_BYTES`; the request head must arrive within `HEADER_TIMEOUT`; at most
//! `max_connections` connections at once (more are closed at accept); a request with
//! `X-Forwarded-For` or `Forwarded` (it came through a proxy, so its peer is not who asks) is
//! refused; and it listens only where the SDKs accept plain HTTP (loopback, and the ECS and
//! EKS container hosts; `config::rules::check_listen`).
//!
//! `GET /metrics` serves the daemon's Prometheus metrics (`metrics`) without a token, to
//! loopback peers only (403 to any other, such as a container on a bridge): they hold no
//! secret, and a scraper on the instance need not read a token; a container must not list
//! every owner's profiles. The other rules (GET only, the URI limit, no proxy) hold for it.
//!
//! `GET /healthz` is for probes (systemd, Consul, Kubernetes, a load balancer), on the same
//! terms as `/metrics`: 200 `ok` when every configured profile has unexpired credentials
//! here and its last refresh did not fail, else 503 with the names of the profiles that are
//! missing, expired or failing (`health`), one line per kind, and nothing more about them.
//!
//! An HTTP/1.1 request without `Host` is refused with 400, as RFC 9112 (3.2) requires.
//!
//! Built on hyper's HTTP/1 server (already linked for the SDK's client), not hand-written.

use super::audit::{Audit, Refusal};
use super::limits::{Client, Limits};
use crate::base::creds::{rfc3339, TemporaryCredentials};
use crate::base::metrics;
use crate::store::fileio::{self, Owner};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// The path of a profile's credentials.
pub const PREFIX: &str = "/v1/credentials/";
/// The path of the Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";
/// The path of the health check.
pub const HEALTH_PATH: &str = "/healthz";
/// Longest request URI accepted (a profile name is at most 64 bytes).
pub const MAX_URI: usize = 256;
/// hyper's read buffer, which bounds the request line and headers together.
pub const MAX_HEADER_BYTES: usize = 8192;
/// The whole request head must have arrived by then.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint serves for one profile.
#[derive(Clone, Debug)]
pub struct Served {
    pub credentials: TemporaryCredentials,
    pub role_arn: String,
}

/// The credentials the daemon holds, by profile: updated after every refresh, read by every
/// request.
#[derive(Debug, Default)]
pub struct Store(RwLock<HashMap<String, Served>>);

impl Store {
    pub fn put(&self, profile: &str, served: Served) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.insert(profile.to_owned(), served);
    }

    /// Drops credentials that have expired (their refresh failed; the file lost them too).
    pub fn drop_expired(&self, now: time::OffsetDateTime) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, served| served.credentials.expiration > now);
    }

    /// Keeps only the profiles in `configured`.
    pub fn retain(&self, configured: &BTreeSet<String>) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|profile, _| configured.contains(profile));
    }

    fn get(&self, profile: &str) -> Option<Served> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(profile).cloned()
    }

    /// Each profile held, with when its credentials expire.
    fn expirations(&self) -> BTreeMap<String, time::OffsetDateTime> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        (map.iter())
            .map(|(p, served)| (p.clone(), served.credentials.expiration))
            .collect()
    }
}

/// What `/healthz` answers from: the profiles configured, and those whose last refresh
/// failed (the daemon says so after every batch).
#[derive(Debug, Default)]
pub struct Health(RwLock<(BTreeSet<String>, BTreeSet<String>)>);

impl Health {
    /// The profiles whose last refresh failed, as of the batch that just ended.
    pub fn set_failing(&self, failing: BTreeSet<String>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).1 = failing;
    }

    fn set_configured(&self, configured: BTreeSet<String>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).0 = configured;
    }
}

/// The health check's verdict: `None` when every `configured` profile has credentials that
/// expire after `now` and is not `failing`, else the body naming, one line per kind, the
/// profiles that are missing, expired or failing.
pub fn health(
    configured: &BTreeSet<String>,
    held: &BTreeMap<String, time::OffsetDateTime>,
    failing: &BTreeSet<String>,
    now: time::OffsetDateTime,
) -> Option<String> {
    let (mut missing, mut expired, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for profile in configured {
        match held.get(profile) {
            None => missing.push(profile.as_str()),
            Some(at) if *at <= now => expired.push(profile.as_str()),
            Some(_) => {}
        }
        if failing.contains(profile) {
            failed.push(profile.as_str());
        }
    }
    let mut body = String::new();
    for (kind, names) in [
        ("missing", missing),
        ("expired", expired),
        ("failing", failed),
    ] {
        if !names.is_empty() {
            body.push_str(&format!("{kind}: {}\n", names.join(", ")));
        }
    }
    (!body.is_empty()).then_some(body)
}

/// One owner's token and the profiles it opens.
#[derive(Clone, Debug)]
pub struct Grant {
    pub owner: Arc<str>,
    pub token: String,
    pub profiles: BTreeSet<String>,
}

/// Who may have which profile; replaced when a reload changes the profiles.
#[derive(Debug, Default)]
pub struct Access(RwLock<Vec<Grant>>);

impl Access {
    pub fn set(&self, grants: Vec<Grant>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = grants;
    }

    /// The owner whose token `given` is (its index), in constant time in the token: every
    /// grant's token is compared, whatever matched before.
    fn owner_of(grants: &[Grant], given: &[u8]) -> Option<usize> {
        let mut found = None;
        for (i, grant) in grants.iter().enumerate() {
            if constant_time_eq(grant.token.as_bytes(), given) {
                found = Some(i);
            }
        }
        found
    }

    /// The owner whose token `given` is (`None`: no grant has that token).
    fn owner(&self, given: &[u8]) -> Option<Arc<str>> {
        let grants = self.0.read().unwrap_or_else(|p| p.into_inner());
        Access::owner_of(&grants, given).map(|i| Arc::clone(&grants[i].owner))
    }

    /// Whether `owner`'s token opens `profile`. Under the read lock, without copying a grant.
    fn opens(&self, owner: &str, profile: Option<&str>) -> bool {
        let grants = self.0.read().unwrap_or_else(|p| p.into_inner());
        (grants.iter().find(|g| &*g.owner == owner))
            .is_some_and(|g| profile.is_some_and(|p| g.profiles.contains(p)))
    }
}

/// Equal bytes, in time that depends only on the lengths (which are not secret: every token
/// is 64 hex digits).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A new token: 32 bytes from the system's CSPRNG, as 64 hex digits.
pub fn new_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system's random number generator failed".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where `owner`'s token file is.
pub fn token_path(dir: &Path, owner: &str) -> PathBuf {
    dir.join(format!("{owner}.token"))
}

/// Writes `token` to `owner`'s token file in `dir`: atomically, 0600, owned by the owner (as
/// root), so that only it (and root) can read it. `dir` is created 0755 if missing (every
/// owner must reach its file; the daemon's umask is 0077); one that exists must be a real
/// directory of ours that no one else can write, or another user could swap a token file.
pub fn write_token(dir: &Path, owner: &Owner, token: &str) -> Result<PathBuf, fileio::FileError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io = |action: &'static str| {
        move |source| fileio::FileError::Io {
            action,
            path: dir.to_path_buf(),
            source,
        }
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io("creating"))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(io("setting the mode of"))?;
        }
        Err(e) => return Err(io("inspecting")(e)),
        Ok(meta) => {
            let euid = nix::unistd::geteuid().as_raw();
            if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
                let why = std::io::Error::other(format!(
                    "the token directory must be a directory of uid {euid} that no one else \
                     can write (it is uid {}, mode {:o}{})",
                    meta.uid(),
                    meta.mode() & 0o7777,
                    if meta.file_type().is_symlink() {
                        ", a symbolic link"
                    } else {
                        ""
                    }
                ));
                return Err(io("using")(why));
            }
        }
    }
    let path = token_path(dir, &owner.name);
    let who = unistd_is_root().then_some(owner);
    fileio::update(&path, who, |_| (token.as_bytes().to_vec(), ()))?;
    // `fileio` narrows a directory of the file's owner to 0700 (right for ~/.aws); this one
    // is every owner's way to its own file.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(io("setting the mode of"))?;
    Ok(path)
}

fn unistd_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The endpoint's shared parts: what it serves, to whom, each client's limit and the audit
/// trail.
#[derive(Debug)]
pub struct Endpoint {
    pub store: Store,
    pub access: Access,
    pub health: Health,
    limits: Limits,
    audit: Audit,
}

impl Endpoint {
    pub fn new(settings: &crate::config::Endpoint) -> Endpoint {
        Endpoint {
            store: Store::default(),
            access: Access::default(),
            health: Health::default(),
            limits: Limits::new(settings.rate_per_second, settings.burst),
            audit: Audit::new(
                settings.audit_lines,
                Duration::from_secs(settings.audit_interval_seconds),
            ),
        }
    }
}

/// Binds every address first (so a taken port fails the start, not a request later), then
/// serves each in its own task until the process ends.
pub async fn serve(
    endpoint: Arc<Endpoint>,
    listen: &[SocketAddr],
    max_connections: usize,
) -> Result<Vec<SocketAddr>, String> {
    let mut listeners = Vec::with_capacity(listen.len());
    for addr in listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("the credential endpoint cannot listen on {addr}: {e}"))?;
        listeners.push(listener);
    }
    let connections = Arc::new(Semaphore::new(max_connections));
    let mut bound = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        info!(
            "credential endpoint listening on http://{local}{PREFIX}PROFILE (metrics: \
             http://{local}{METRICS_PATH})"
        );
        bound.push(local);
        let (endpoint, connections) = (Arc::clone(&endpoint), Arc::clone(&connections));
        tokio::spawn(accept_loop(listener, endpoint, connections));
    }
    tokio::spawn(summarise_loop(endpoint));
    Ok(bound)
}

/// At the end of each audit period, what the audit trail did not log one by one is
/// summarised, even when no request comes after a flood.
async fn summarise_loop(endpoint: Arc<Endpoint>) {
    let period = endpoint.audit.period();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        endpoint.audit.summarise();
    }
}

async fn accept_loop(listener: TcpListener, endpoint: Arc<Endpoint>, connections: Arc<Semaphore>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // EMFILE and friends: wait a little rather than spin.
                warn!("credential endpoint: accepting a connection: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            // Over the cap: closed at once, before reading a byte.
            drop(stream);
            continue;
        };
        let endpoint = Arc::clone(&endpoint);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let endpoint = Arc::clone(&endpoint);
                async move { Ok::<_, std::convert::Infallible>(endpoint.answer(&req, peer)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            // A client that goes away or sends garbage ends only its own connection.
            let _ = connection.await;
            drop(permit);
        });
    }
}

impl Endpoint {
    fn answer(&self, req: &Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        // Who asks: the owner of the one token it carries, else its address.
        let mut tokens = req.headers().get_all(AUTHORIZATION).iter();
        let token = match (tokens.next(), tokens.next()) {
            (Some(token), None) => Ok(token.as_bytes()),
            (None, _) => Err(Refusal::NoToken),
            (Some(_), Some(_)) => Err(Refusal::BadToken),
        };
        let owner = token.and_then(|t| self.access.owner(t).ok_or(Refusal::BadToken));
        let client = match &owner {
            Ok(owner) => Client::Owner(Arc::clone(owner)),
            Err(_) => Client::Peer(peer.ip()),
        };
        let admitted = self.limits.admit(&client, Instant::now());
        if path == METRICS_PATH || path == HEALTH_PATH {
            let checked = admitted
                .map_err(Refusal::Limited)
                .and_then(|()| check_loopback(req, peer));
            return match checked {
                Ok(()) if path == METRICS_PATH => metrics(),
                Ok(()) => self.healthz(),
                Err(refusal) => {
                    self.audit
                        .record(owner.as_ref().ok(), path, peer.ip(), Err(refusal));
                    refused(refusal)
                }
            };
        }
        let asked = path.strip_prefix(PREFIX).unwrap_or(path);
        let outcome = admitted
            .map_err(Refusal::Limited)
            .and_then(|()| self.check(req, owner.clone()));
        let logged = self.audit.record(
            owner.as_ref().ok(),
            asked,
            peer.ip(),
            outcome.as_ref().map(|_| ()).map_err(|r| *r),
        );
        let status = match &outcome {
            Ok(_) => 200,
            Err(refusal) => refusal.status().as_u16(),
        };
        let owner_label = owner.as_deref().unwrap_or(metrics::NO_OWNER);
        let configured =
            (self.health.0.read().unwrap_or_else(|p| p.into_inner()).0).contains(asked);
        let profile_label = if configured {
            asked
        } else {
            metrics::UNKNOWN_PROFILE
        };
        metrics::endpoint_response(owner_label, profile_label, status, logged);
        match outcome {
            Ok(served) => ok(&served),
            Err(refusal) => refused(refusal),
        }
    }

    /// `/healthz`: 200 `ok`, or 503 naming the profiles that are not.
    fn healthz(&self) -> Response<Full<Bytes>> {
        let now = crate::aws::skew::now();
        let (configured, failing) = &*self.health.0.read().unwrap_or_else(|p| p.into_inner());
        let (status, body) = match health(configured, &self.store.expirations(), failing, now) {
            None => (StatusCode::OK, "ok\n".to_owned()),
            Some(names) => (StatusCode::SERVICE_UNAVAILABLE, names),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }

    /// A credentials request of `owner` (or why it has none): the request rules, then the
    /// token, then the profile.
    fn check(
        &self,
        req: &Request<Incoming>,
        owner: Result<Arc<str>, Refusal>,
    ) -> Result<Served, Refusal> {
        check_request(req)?;
        let owner = owner?;
        let profile = req
            .uri()
            .path()
            .strip_prefix(PREFIX)
            .filter(|p| !p.is_empty() && !p.contains('/'));
        // Another owner's, or no one's: the same answer, so that a token cannot probe which
        // profiles exist.
        if !self.access.opens(&owner, profile) {
            return Err(Refusal::OtherOwner);
        }
        let profile = profile.ok_or(Refusal::NotFound)?;
        self.store.get(profile).ok_or(Refusal::NotFound)
    }
}

/// What every request must be: a GET, within the URI limit, not through a proxy, with the
/// `Host` HTTP/1.1 requires.
fn check_request(req: &Request<Incoming>) -> Result<(), Refusal> {
    if req.method() != Method::GET {
        return Err(Refusal::Method);
    }
    if req.version() == Version::HTTP_11 && !req.headers().contains_key(HOST) {
        return Err(Refusal::NoHost);
    }
    let uri = req.uri();
    let length = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if length > MAX_URI {
        return Err(Refusal::UriTooLong);
    }
    let headers = req.headers();
    if headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded") {
        return Err(Refusal::Proxied);
    }
    Ok(())
}

/// `/metrics` and `/healthz`: the request rules, and a peer on loopback (an IPv4-mapped one
/// too).
fn check_loopback(req: &Request<Incoming>, peer: SocketAddr) -> Result<(), Refusal> {
    check_request(req)?;
    if !on_loopback(peer.ip()) {
        return Err(Refusal::NotLoopback);
    }
    Ok(())
}

fn on_loopback(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

fn metrics() -> Response<Full<Bytes>> {
    let text = crate::base::metrics::render(crate::aws::skew::now());
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::base::metrics::CONTENT_TYPE),
    );
    response
}

fn ok(served: &Served) -> Response<Full<Bytes>> {
    let c = &served.credentials;
    let body = serde_json::json!({
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key.expose(),
        "Token": c.session_token.expose(),
        "Expiration": rfc3339(c.expiration),
        "RoleArn": served.role_arn,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn refused(refusal: Refusal) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"refused\n")));
    *response.status_mut() = refusal.status();
    if let Refusal::Limited(seconds) = refusal {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The endpoint of a running daemon: its shared parts, and the tokens it handed out at
/// start, one per owner (a reload changes which profiles a token opens, never the token).
pub struct Serving {
    pub endpoint: Arc<Endpoint>,
    /// (owner, token, the destinations whose files it owns)
    tokens: Vec<(String, String, Vec<String>)>,
}

impl Serving {
    /// Hands the owner of each destination's files (the user `[credentials]` writes for, else
    /// the one the daemon runs as; each `[[user]]`) a new token, one per owner, then listens.
    pub async fn start(
        config: &crate::config::Config,
        destinations: &[crate::agent::files::Destination],
    ) -> Result<Option<Serving>, String> {
        let Some(settings) = &config.endpoint else {
            return Ok(None);
        };
        let mut tokens: Vec<(String, String, Vec<String>)> = Vec::new();
        for destination in destinations {
            let owner = match &destination.files.owner {
                Some(owner) => owner.clone(),
                None => Owner::current().map_err(|e| e.to_string())?,
            };
            if let Some(entry) = tokens.iter_mut().find(|(name, _, _)| *name == owner.name) {
                entry.2.push(destination.name.clone());
                continue;
            }
            let token = new_token()?;
            let path = write_token(&settings.token_dir, &owner, &token)
                .map_err(|e| format!("writing the credential endpoint's token: {e}"))?;
            info!(
                file = %path.display(),
                owner = %owner.name,
                "credential endpoint: the token of {} is in {}",
                owner.name,
                path.display()
            );
            tokens.push((owner.name, token, vec![destination.name.clone()]));
        }
        let serving = Serving {
            endpoint: Arc::new(Endpoint::new(settings)),
            tokens,
        };
        serving.configure(config);
        serve(
            Arc::clone(&serving.endpoint),
            &settings.listen,
            settings.max_connections,
        )
        .await?;
        Ok(Some(serving))
    }

    /// Who may have what under `config`: each owner the profiles that go to its files.
    pub fn configure(&self, config: &crate::config::Config) {
        let profiles: BTreeSet<String> = config.roles.iter().map(|r| r.profile.clone()).collect();
        self.endpoint.store.retain(&profiles);
        self.endpoint.health.set_configured(profiles.clone());
        let grants = self
            .tokens
            .iter()
            .map(|(owner, token, destinations)| Grant {
                owner: Arc::from(owner.as_str()),
                token: token.clone(),
                profiles: config
                    .roles
                    .iter()
                    .filter(|r| destinations.iter().any(|d| r.goes_to(d)))
                    .map(|r| r.profile.clone())
                    .collect(),
            })
            .collect();
        self.endpoint.access.set(grants);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn equality_is_by_content_and_length() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn metrics_and_health_are_for_loopback_peers_only() {
        for (peer, allowed) in [
            ("127.0.0.1", true),
            ("127.1.2.3", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("169.254.170.2", false),
            ("169.254.170.23", false),
            ("fd00:ec2::23", false),
            ("10.0.0.9", false),
            ("::ffff:10.0.0.9", false),
        ] {
            assert_eq!(on_loopback(peer.parse().unwrap()), allowed, "{peer}");
        }
    }

    #[test]
    fn a_token_opens_only_its_owner_s_profiles() {
        let access = Access::default();
        access.set(vec![
            Grant {
                owner: "ec2-user".into(),
                token: "a".repeat(64),
                profiles: BTreeSet::from(["p1".to_owned()]),
            },
            Grant {
                owner: "runner".into(),
                token: "b".repeat(64),
                profiles: BTreeSet::from(["p2".to_owned()]),
            },
        ]);
        let runner = access.owner("b".repeat(64).as_bytes()).unwrap();
        assert_eq!(&*runner, "runner");
        assert!(access.opens(&runner, Some("p2")));
        assert!(!access.opens(&runner, Some("p1")));
        assert!(!access.opens(&runner, None));
        assert_eq!(access.owner("c".repeat(64).as_bytes()), None);
        assert_eq!(access.owner(b""), None);
    }

    /// 200 only when every configured profile is held unexpired and not failing; else each
    /// kind names its profiles, and nothing else is said of them.
    #[test]
    fn health_names_the_profiles_that_are_not_fresh() {
        let now = time::macros::datetime!(2026-12-07 12:00 UTC);
        let set =
            |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
        let held = |names: &[(&str, i64)]| -> BTreeMap<String, time::OffsetDateTime> {
            (names.iter())
                .map(|(n, m)| (n.to_string(), now + time::Duration::minutes(*m)))
                .collect()
        };
        // (configured, held with minutes left, failing, the answer's body)
        type Row<'a> = (
            &'a [&'a str],
            &'a [(&'a str, i64)],
            &'a [&'a str],
            Option<&'a str>,
        );
        let table: &[Row] = &[
            (&["a", "b"], &[("a", 30), ("b", 1)], &[], None),
            (&[], &[], &[], None),
            (&["a", "b"], &[("a", 30)], &[], Some("missing: b\n")),
            (
                &["a", "b"],
                &[("a", 30), ("b", 0)],
                &[],
                Some("expired: b\n"),
            ),
            (
                &["a", "b"],
                &[("a", 30), ("b", 30)],
                &["a"],
                Some("failing: a\n"),
            ),
            (
                &["a", "b", "c"],
                &[("b", -5), ("c", 10)],
                &["b", "c", "gone"],
                Some("missing: a\nexpired: b\nfailing: b, c\n"),
            ),
            // A profile held but no longer configured says nothing.
            (&["a"], &[("a", 30), ("old", -1)], &[], None),
        ];
        for (configured, held_now, failing, want) in table {
            let got = health(&set(configured), &held(held_now), &set(failing), now);
            assert_eq!(
                got.as_deref(),
                *want,
                "{configured:?} {held_now:?} {failing:?}"
            );
        }
    }
}
