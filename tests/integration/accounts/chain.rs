//! Role chaining: a hub role assumed with the instance credentials, and spokes assumed with
//! the hub's (`source_profile = "hub"`), proven from the fake STS's record of which key signed
//! each call: in `run`, in the daemon over several refreshes of short-lived credentials, in
//! `credential-process`, and when the hub is refused.
//! Backs docs/accounts.md (chaining).

use crate::util::daemon::{key_id, start, state};
use crate::util::{
    assert_assumed_audit_role, assert_profile_written, value, TestDir, PROFILE_1, PROFILE_2,
    REFERENCE_CONFIG, ROLE_1, ROLE_2,
};
use std::time::Duration;
use testkit::imds as testkit_imds;
use testkit::sts::Script;

const HUB: &str = "arn:aws:iam::999999999999:role/AuditHub";
const DIRECT: &str = "arn:aws:iam::333333333333:role/Direct";

/// The reference story's two audit roles, reached through a hub, plus `extra` (TOML).
fn hub_config(t: &TestDir, extra: &str) -> String {
    let head = REFERENCE_CONFIG
        .split("[[role]]")
        .next()
        .unwrap_or_default();
    format!(
        "{head}[[role]]\nprofile = \"hub\"\nrole_arn = \"{HUB}\"\n\n\
         [[role_set]]\nrole_name = \"PerformSecurityAudit\"\n\
         accounts = [\"111111111111\", \"222222222222\"]\nprofile = \"audit-{{account_id}}\"\n\
         source_profile = \"hub\"\n\n\
         [daemon]\nstate_file = \"{}\"\n{extra}\n",
        t.path().join("run/state.json").display()
    )
}

/// The key id that signed each AssumeRole of `role_arn`, in order.
fn signers(t: &TestDir, role_arn: &str) -> Vec<String> {
    t.sts
        .assume_role_calls_for(role_arn)
        .into_iter()
        .map(|c| c.access_key_id.unwrap_or_default())
        .collect()
}

#[test]
fn the_hub_signs_its_spokes_and_the_aws_cli_uses_them() {
    let t = TestDir::new();
    t.write_config(&hub_config(&t, ""));
    t.cmd(&["run"]).expect_exit(0);

    assert_eq!(signers(&t, HUB), [testkit_imds::ACCESS_KEY_ID]);
    let hub_key = t.sts.issued_for(HUB).unwrap().access_key_id;
    for role in [ROLE_1, ROLE_2] {
        assert_eq!(signers(&t, role), [hub_key.as_str()], "{role}");
    }
    // The hub first, then its spokes.
    let calls = t.sts.assume_role_calls();
    assert_eq!(calls[0].param("RoleArn"), Some(HUB));
    assert_eq!(calls.len(), 3);
    assert_profile_written(&t, "hub", HUB);
    assert_profile_written(&t, PROFILE_1, ROLE_1);
    assert_profile_written(&t, PROFILE_2, ROLE_2);
    assert_assumed_audit_role(&t.caller_arn(PROFILE_1), "111111111111");

    let status = t.cmd(&["status"]).expect_exit(0);
    let row = |p: &str| {
        status
            .stdout
            .lines()
            .find(|l| l.starts_with(p))
            .unwrap_or_else(|| panic!("no row for {p}:\n{}", status.stdout))
            .to_owned()
    };
    assert!(
        status.stdout.contains("PROFILE             VIA"),
        "{}",
        status.stdout
    );
    assert!(row(PROFILE_1).contains(" hub "), "{}", status.stdout);
    let json = t.cmd(&["status", "--json"]).expect_exit(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let via = |p: &str| {
        doc["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["profile"] == p)
            .map(|r| r["via"].clone())
    };
    assert_eq!(via("hub"), Some(serde_json::json!([])));
    assert_eq!(via(PROFILE_2), Some(serde_json::json!(["hub"])));
}

#[test]
fn a_refused_hub_fails_its_spokes_naming_it_and_nothing_else() {
    let t = TestDir::new();
    let direct = format!("[[role]]\nprofile = \"direct\"\nrole_arn = \"{DIRECT}\"\n");
    t.write_config(&format!("{}\n{direct}", hub_config(&t, "")));
    t.sts.script(HUB, Script::AccessDenied);
    let out = t.cmd(&["run"]).expect_exit(3);

    // The spokes were never tried with anything: there was nothing to sign them with.
    assert!(signers(&t, ROLE_1).is_empty() && signers(&t, ROLE_2).is_empty());
    for profile in [PROFILE_1, PROFILE_2] {
        assert!(
            out.stderr.contains(&format!(
                "for profile {profile}: SourceFailed: its source_profile hub could not be \
                 assumed (AccessDenied"
            )),
            "{profile}:\n{}",
            out.stderr
        );
    }
    assert_profile_written(&t, "direct", DIRECT);
    let text = t.read(t.credentials_path());
    assert!(
        value(&text, PROFILE_1, "aws_access_key_id").is_none(),
        "{text}"
    );
}

/// Credentials that live 12 s are always within `SOURCE_MARGIN` of expiring, so every
/// refresh of a spoke assumes the hub again first and signs with those fresh credentials.
#[test]
fn the_daemon_refreshes_the_hub_before_its_spokes_and_signs_with_the_new_keys() {
    let t = TestDir::new();
    t.sts.set_lifetime(Duration::from_secs(12));
    t.write_config(&hub_config(&t, ""));
    let mut d = start(&t, &[]);
    let refreshed = crate::util::wait_for(Duration::from_secs(40), || {
        signers(&t, ROLE_1).len() >= 3 && signers(&t, ROLE_2).len() >= 3
    });
    d.signal("TERM");
    assert!(
        refreshed,
        "spokes not refreshed twice:\n{}",
        d.stderr_so_far()
    );
    assert!(d.wait_timeout(Duration::from_secs(10)).is_some());

    // Walk the calls in order: each spoke call is signed with the hub's newest key, issued
    // after that spoke's previous call.
    let hub_keys: Vec<String> = t
        .sts
        .all_issued_for(HUB)
        .into_iter()
        .map(|i| i.access_key_id)
        .collect();
    let (mut hub_calls, mut newest) = (0, None::<String>);
    let mut signed_by: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for call in t.sts.assume_role_calls() {
        let arn = call.param("RoleArn").unwrap_or_default().to_owned();
        if arn == HUB {
            assert_eq!(
                call.access_key_id.as_deref(),
                Some(testkit_imds::ACCESS_KEY_ID)
            );
            newest = hub_keys.get(hub_calls).cloned();
            hub_calls += 1;
        } else {
            assert_eq!(
                call.access_key_id, newest,
                "{arn} not signed by the newest hub key"
            );
            let at = hub_keys
                .iter()
                .position(|k| Some(k) == newest.as_ref())
                .unwrap();
            signed_by.entry(arn).or_default().push(at);
        }
    }
    for (arn, keys) in signed_by {
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{arn}: a refresh reused hub credentials of an earlier one: {keys:?}"
        );
    }
    let text = t.read(t.credentials_path());
    assert_eq!(key_id(&text, "hub"), hub_keys.last().cloned());
    let state = state(&t).expect("the daemon wrote its state");
    assert_eq!(state.profiles[PROFILE_1].failures, 0);
}

#[test]
fn credential_process_assumes_the_hub_then_the_spoke() {
    let t = TestDir::new();
    t.write_config(&hub_config(&t, ""));
    let out = t
        .cmd(&["credential-process", "--profile", PROFILE_1])
        .expect_exit(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let issued = t.sts.issued_for(ROLE_1).unwrap();
    assert_eq!(json["AccessKeyId"], issued.access_key_id.as_str());
    let hub_key = t.sts.issued_for(HUB).unwrap().access_key_id;
    assert_eq!(signers(&t, ROLE_1), [hub_key]);
    assert!(signers(&t, ROLE_2).is_empty(), "only the chain asked for");
    assert!(
        !t.credentials_path().exists(),
        "credential-process writes nothing"
    );
}

#[test]
fn a_chained_role_asking_for_more_than_an_hour_is_refused_before_any_call() {
    let t = TestDir::new();
    let config = hub_config(&t, "").replace(
        "source_profile = \"hub\"\n",
        "source_profile = \"hub\"\nduration_seconds = 7200\n",
    );
    t.write_config(&config);
    let said = ["role_set[1].duration_seconds", "STS caps a chained session"];
    t.cmd(&["run"]).expect_saying(4, &said);
    assert!(t.imds.requests().is_empty() && t.sts.calls().is_empty());
}
