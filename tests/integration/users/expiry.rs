//! How close to expiry clients are served: a botocore client on the credential endpoint runs
//! across several refreshes and never waits on a mandatory refresh, and `credential-process`
//! prints credentials clear of the SDKs' refresh windows (or, when AWS cannot be reached,
//! the kept ones while they last). Each test prints the least time to expiry it saw.
//! Backs docs/users.md (how fresh what clients get is).
//!
//! The endpoint story runs on a scaled clock: the fake STS issues credentials of 40 s for
//! STS's shortest lifetime (900 s), a scale of 22.5, and botocore's two windows (15 and 10
//! minutes) are divided by the same scale. The daemon's rule for lifetimes too short for its
//! safety window (refresh after a quarter of the lifetime) is a share of the lifetime, so it
//! scales exactly; what does not scale (an STS call's latency, the daemon's wake-up) only
//! counts against the result, 22.5 times over.

use crate::util::daemon::{config, start};
use crate::util::endpoint::own_token_once_serving;
use crate::util::{free_port, TestDir, PROFILE_1, REFERENCE_CONFIG, ROLE_1};
use std::time::Duration;
use testkit::sts::Outage;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// STS's shortest lifetime, and the fake's stand-in for it.
const REAL_LIFETIME: f64 = 900.0;
const TEST_LIFETIME: Duration = Duration::from_secs(40);
/// How long the client keeps calling: several refreshes at a quarter of 40 s.
const CLIENT_SECONDS: u64 = 35;

/// A botocore client with the container provider, its windows scaled, observed: every
/// answer the endpoint gave (seconds to expiry when fetched), every refresh by kind, the keys
/// seen, and the slowest call.
const CLIENT: &str = r#"
import datetime, json, time
import boto3
import botocore.credentials as bc
from dateutil.parser import parse

SCALE = __SCALE__
advisory = bc._DEFAULT_ADVISORY_REFRESH_TIMEOUT / SCALE
mandatory = bc._DEFAULT_MANDATORY_REFRESH_TIMEOUT / SCALE
bc.RefreshableCredentials._advisory_refresh_timeout = advisory
bc.RefreshableCredentials._mandatory_refresh_timeout = mandatory

refreshes = {"advisory": 0, "mandatory": 0}
protected = bc.RefreshableCredentials._protected_refresh
def observed(self, is_mandatory):
    refreshes["mandatory" if is_mandatory else "advisory"] += 1
    return protected(self, is_mandatory=is_mandatory)
bc.RefreshableCredentials._protected_refresh = observed

served = []
create = bc.ContainerProvider._create_fetcher
def creating(self, full_uri, *args, **kwargs):
    fetch = create(self, full_uri, *args, **kwargs)
    def fetched():
        creds = fetch()
        now = datetime.datetime.now(datetime.timezone.utc)
        served.append((parse(creds["expiry_time"]) - now).total_seconds())
        return creds
    return fetched
bc.ContainerProvider._create_fetcher = creating

sts = boto3.Session().client("sts", region_name="us-east-1")
keys, calls, slowest = set(), 0, 0.0
end = time.time() + __SECONDS__
while time.time() < end:
    began = time.monotonic()
    sts.get_caller_identity()
    slowest = max(slowest, time.monotonic() - began)
    calls += 1
    keys.add(sts._request_signer._credentials.get_frozen_credentials().access_key)
    time.sleep(0.2)
print(json.dumps({"advisory": advisory, "mandatory": mandatory, "refreshes": refreshes,
                  "served": served, "keys": len(keys), "calls": calls, "slowest": slowest}))
"#;

#[test]
fn a_botocore_client_on_the_endpoint_never_waits_on_a_mandatory_refresh() {
    let t = TestDir::new();
    t.sts.set_lifetime(TEST_LIFETIME);
    let port = free_port();
    let tokens = t.path().join("tokens");
    t.write_config(
        &(config(&t, &[(PROFILE_1, ROLE_1)], "")
            + &format!(
                "\n[endpoint]\nlisten = [\"127.0.0.1:{port}\"]\ntoken_dir = \"{}\"\n",
                tokens.display()
            )),
    );
    let d = start(&t, &[]);
    let token_file = own_token_once_serving(&t, &tokens, &d);

    let scale = REAL_LIFETIME / TEST_LIFETIME.as_secs_f64();
    let script = CLIENT
        .replace("__SCALE__", &scale.to_string())
        .replace("__SECONDS__", &CLIENT_SECONDS.to_string());
    let out = t
        .python(&script)
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{port}/v1/credentials/{PROFILE_1}"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
        .expect_exit(0);
    let seen: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}:\n{}\n{}", out.stdout, out.stderr));
    let served: Vec<f64> = seen["served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    let least = served.iter().copied().fold(f64::INFINITY, f64::min);
    let mandatory = seen["mandatory"].as_f64().unwrap();
    println!(
        "endpoint, {} s credentials standing for {REAL_LIFETIME} s: {} calls, {} answers, {} \
         keys; least time to expiry served {least:.1} s ({:.0} s at scale, {:.0}% of the \
         lifetime; the mandatory window is {mandatory:.1} s, {:.0} s at scale); refreshes {}; \
         slowest call {:.3} s",
        TEST_LIFETIME.as_secs(),
        seen["calls"],
        served.len(),
        seen["keys"],
        least * scale,
        100.0 * least / TEST_LIFETIME.as_secs_f64(),
        mandatory * scale,
        seen["refreshes"],
        seen["slowest"].as_f64().unwrap()
    );
    assert_eq!(
        seen["refreshes"]["mandatory"],
        0,
        "a call waited on a mandatory refresh (least served {least:.1} s)\n{}",
        d.stderr_so_far()
    );
    assert!(
        least > mandatory,
        "served {least} s before expiry, inside the mandatory window"
    );
    // Several refreshes of the daemon came through, and with credentials this short-lived
    // (inside the advisory window from the start) the client asked the endpoint again and again.
    assert!(
        seen["keys"].as_u64().unwrap() >= 3,
        "keys: {}",
        seen["keys"]
    );
    assert!(served.len() >= 3, "answers: {}", served.len());
}

/// The cache that `credential_process = true` keeps, and the seconds `credential-process`
/// printed before expiry, with its stderr.
fn process(t: &TestDir) -> (f64, String, String) {
    let cache = t.home().join(".aws/ec2-assume-role-cache");
    let out = t
        .cmd(&[
            "credential-process",
            "--cache",
            &cache.display().to_string(),
            "--profile",
            PROFILE_1,
        ])
        .expect_exit(0);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}:\n{}\n{}", out.stdout, out.stderr));
    let expiration = v["Expiration"].as_str().unwrap().to_owned();
    let at = OffsetDateTime::parse(&expiration, &Rfc3339).unwrap();
    let left = (at - OffsetDateTime::now_utc()).as_seconds_f64();
    (left, expiration, out.stderr)
}

#[test]
fn credential_process_hands_out_credentials_clear_of_the_clients_refresh_windows() {
    let t = TestDir::new();
    t.write_config(&REFERENCE_CONFIG.replace(
        "[credentials]\n",
        "[credentials]\ncredential_process = true\n",
    ));
    // botocore's windows, unscaled: this story runs on the real clock.
    let (advisory, mandatory) = (900.0, 600.0);

    // Kept with STS's shortest lifetime: served from the cache, no STS call.
    t.sts.set_lifetime(Duration::from_secs(900));
    t.cmd(&["run"]).expect_exit(0);
    let calls = t.sts.assume_role_calls().len();
    let (cached, _, _) = process(&t);
    assert_eq!(t.sts.assume_role_calls().len(), calls, "from the cache");
    assert!(cached > mandatory + 30.0, "{cached} s left");

    // Kept with 10 minutes left (a daemon that should have refreshed): assumed now.
    t.sts.set_lifetime(Duration::from_secs(600));
    t.cmd(&["run"]).expect_exit(0);
    t.sts.set_lifetime(Duration::from_secs(3600));
    let calls = t.sts.assume_role_calls().len();
    let (assumed, _, _) = process(&t);
    assert_eq!(t.sts.assume_role_calls().len(), calls + 1, "assumed now");
    assert!(assumed > advisory, "{assumed} s left");

    // The same, with STS refusing: the kept credentials while they last, and a warning.
    let kept = t.read(t.home().join(".aws/ec2-assume-role-cache"));
    t.sts.break_with(Outage::AccessDenied);
    let (fallback, expiration, stderr) = process(&t);
    assert!(
        kept.contains(&expiration),
        "{expiration} is not the kept one"
    );
    assert!(
        stderr.contains("handing out the kept credentials"),
        "{stderr}"
    );
    assert!(fallback > 0.0 && fallback <= 600.0, "{fallback} s left");
    println!(
        "credential-process: {cached:.0} s to expiry from the cache (900 s credentials), \
         {assumed:.0} s assumed anew instead of a cache at 600 s, {fallback:.0} s kept when STS \
         refused"
    );
}
