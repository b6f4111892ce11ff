//! Role sets whose accounts come from AWS Organizations (`[role_set.organization]`), against
//! testkit's fake Organizations: which accounts get profiles, who signs the listing, the
//! pages it takes, the cache that carries a boot through an outage, and the daemon adding and
//! removing profiles as accounts come and go.

use crate::util::daemon::{key_id, start};
use crate::util::organizations::{cache, config_with};
use crate::util::{wait_for, TestDir};
use std::time::Duration;
use testkit::imds as testkit_imds;
use testkit::organizations::{AccountState, Outage, MANAGEMENT_ACCOUNT_ID, ROOT_ID};

/// The reference story's head, a reader role in the management account, and a role set
/// over the organization with `organization` (TOML lines of its table) and `extra` after.
fn org_config(t: &TestDir, organization: &str, extra: &str) -> String {
    let reader = format!(
        "[[role]]\nprofile = \"reader\"\n\
         role_arn = \"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/OrgReader\"\n"
    );
    config_with(t, &reader, organization, extra)
}

/// 222..., 333... active, 444... suspended, 555... excluded by the config.
fn organization(t: &TestDir) {
    for id in [
        "222222222222",
        "333333333333",
        "444444444444",
        "555555555555",
    ] {
        t.orgs.add_account(ROOT_ID, id, &format!("a{id}"));
    }
    t.orgs.set_state("444444444444", AccountState::Suspended);
}

/// Makes every cached discovery a year old.
fn age_cache(t: &TestDir) {
    let mut doc: serde_json::Value = serde_json::from_str(&t.read(cache(t))).unwrap();
    for set in doc["sets"].as_object_mut().unwrap().values_mut() {
        set["discovered"] = "2025-12-01T00:00:00Z".into();
    }
    std::fs::write(cache(t), doc.to_string()).unwrap();
}

/// The accounts `organization` gives profiles when nothing is excluded.
const ALL: [&str; 3] = ["222222222222", "333333333333", "555555555555"];

fn profiles(t: &TestDir) -> Vec<String> {
    let text = t.read(t.credentials_path());
    text.lines()
        .filter_map(|l| l.strip_prefix("[audit-").and_then(|l| l.strip_suffix(']')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_active_account_but_the_management_and_excluded_ones_gets_a_profile() {
    let t = TestDir::new();
    organization(&t);
    t.orgs.set_page_size(2);
    t.write_config(&org_config(&t, "exclude = [\"555555555555\"]", ""));
    t.cmd(&["run"]).expect_exit(0);

    assert_eq!(profiles(&t), ["222222222222", "333333333333"]);
    // 5 accounts in pages of 2; every listing signed with the instance credentials.
    assert_eq!(t.orgs.calls_to("ListAccounts").len(), 3);
    assert_eq!(t.orgs.calls_to("DescribeOrganization").len(), 1);
    for call in t.orgs.calls() {
        assert_eq!(
            call.access_key_id.as_deref(),
            Some(testkit_imds::ACCESS_KEY_ID)
        );
    }
    assert!(t
        .caller_arn("audit-333333333333")
        .starts_with("arn:aws:sts::333333333333:assumed-role/PerformSecurityAudit/"));
    // The cache: 0600, the accounts as listed (the exclusion applies on use).
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(cache(&t)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let cached = t.read(cache(&t));
    assert!(
        cached.contains("555555555555") && !cached.contains("444444444444"),
        "{cached}"
    );
    assert!(!cached.contains(MANAGEMENT_ACCOUNT_ID), "{cached}");

    t.cmd(&["check"]).expect_saying(
        0,
        &[
            "role_set[1]: role PerformSecurityAudit in every ACTIVE account of the organization \
             but 555555555555; 2 discovered at",
            "audit-222222222222, audit-333333333333",
        ],
    );
    let status = t.cmd(&["status"]).expect_exit(0);
    assert!(
        status.stdout.contains("audit-333333333333"),
        "{}",
        status.stdout
    );
}

#[test]
fn ous_are_walked_with_their_children_and_a_reader_role_signs() {
    let t = TestDir::new();
    let ou = t.orgs.add_ou(ROOT_ID);
    let child = t.orgs.add_ou(&ou);
    t.orgs.add_account(ROOT_ID, "222222222222", "outside");
    t.orgs.add_account(&ou, "333333333333", "in the OU");
    t.orgs.add_account(&child, "444444444444", "in its child");
    t.write_config(&org_config(
        &t,
        &format!(
            "ous = [\"{ou}\"]\nsource_profile = \"reader\"\ninclude_management_account = true"
        ),
        "",
    ));
    t.cmd(&["run"]).expect_exit(0);

    assert_eq!(profiles(&t), ["333333333333", "444444444444"]);
    // The reader is assumed first, for the listing (and again later, as its own profile).
    let reader = t
        .sts
        .all_issued_for(&format!(
            "arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/OrgReader"
        ))
        .remove(0);
    for call in t.orgs.calls() {
        assert_eq!(
            call.access_key_id.as_deref(),
            Some(reader.access_key_id.as_str())
        );
    }
    let parents: Vec<String> = t
        .orgs
        .calls_to("ListChildren")
        .iter()
        .filter_map(|c| c.param("ParentId").map(str::to_owned))
        .collect();
    assert_eq!(parents, [ou, child]);
    // The management account is in: nothing to look up.
    assert!(t.orgs.calls_to("DescribeOrganization").is_empty());
}

#[test]
fn an_outage_at_boot_uses_the_cache_and_without_one_keeps_what_was_written() {
    let t = TestDir::new();
    organization(&t);
    t.write_config(&org_config(&t, "", ""));
    // Throttling is retried.
    t.orgs.throttle(2);
    t.cmd(&["run"]).expect_exit(0);
    assert_eq!(t.orgs.throttles(), 2);
    assert_eq!(profiles(&t), ALL);

    // A reboot within a day of the discovery: the cache answers, Organizations is not asked.
    let calls = t.orgs.calls().len();
    let said = ["role_set[1]: using the 3 accounts discovered at"];
    t.cmd(&["run"]).expect_saying(0, &said);
    assert_eq!(t.orgs.calls().len(), calls);

    // A day later, with Organizations down: the stale cache still writes every profile.
    age_cache(&t);
    t.orgs.break_with(Outage::Unavailable);
    t.cmd(&["run"])
        .expect_saying(0, &["using the 3 accounts discovered at"]);
    assert_eq!(profiles(&t), ALL);

    std::fs::remove_file(cache(&t)).unwrap();
    let before = t.read(t.credentials_path());
    t.cmd(&["run"])
        .expect_saying(3, &["no accounts were discovered before"]);
    // The written profiles stay (their accounts may still be in the organization); the
    // reader's was refreshed.
    assert_eq!(profiles(&t), ALL);
    assert_ne!(
        key_id(&t.read(t.credentials_path()), "reader"),
        key_id(&before, "reader")
    );
}

#[test]
fn the_daemon_adds_and_removes_profiles_as_accounts_come_and_go() {
    let t = TestDir::new();
    organization(&t);
    t.write_config(&org_config(&t, "", "reload_interval_seconds = 5"));
    let mut d = start(&t, &[]);
    let first = wait_for(Duration::from_secs(20), || {
        t.credentials_path().exists() && profiles(&t).len() == 3
    });
    assert!(first, "no first write:\n{}", d.stderr_so_far());

    t.orgs.add_account(ROOT_ID, "666666666666", "new");
    t.orgs.remove_account("333333333333");
    let changed = wait_for(Duration::from_secs(30), || {
        profiles(&t) == ["222222222222", "555555555555", "666666666666"]
    });
    d.signal("TERM");
    assert!(changed, "{:?}\n{}", profiles(&t), d.stderr_so_far());
    assert!(d.wait_timeout(Duration::from_secs(10)).is_some());
    let stderr = d.stderr_so_far();
    assert!(
        stderr.contains("role_set[1]: 3 accounts in AWS Organizations; added: 666666666666; removed: 333333333333"),
        "{stderr}"
    );
}

/// `org_config` for one host of a fleet sharing the listing through `/ear/accounts`: the
/// publisher when `publish`, else a reader.
fn shared_config(t: &TestDir, organization: &str, publish: bool) -> String {
    let organization = format!("shared_parameter = \"{SHARED}\"\n{organization}");
    let text = org_config(t, &organization, "");
    if publish {
        text.replace("[discovery]\n", "[discovery]\npublish = true\n")
    } else {
        text
    }
}

const SHARED: &str = "/ear/accounts";

/// The parts the publisher has put, by name.
fn parts(t: &TestDir) -> Vec<String> {
    t.ssm.names()
}

#[test]
fn one_publisher_lists_the_organization_and_the_fleet_reads_the_parameter() {
    let publisher = TestDir::new();
    let listed = publisher.orgs.add_accounts(ROOT_ID, 650);
    publisher.write_config(&shared_config(&publisher, "", true));
    publisher.cmd(&["run"]).expect_saying(
        0,
        &["role_set[1]: published its 650 accounts to ssm:/ear/accounts (3 parts)"],
    );
    assert_eq!(
        parts(&publisher),
        ["/ear/accounts/1", "/ear/accounts/2", "/ear/accounts/3"]
    );
    let first = publisher.ssm.value("/ear/accounts/1").unwrap();
    assert!(
        first.starts_with("ec2-assume-role accounts v1 published=") && first.len() <= 4096,
        "{first}"
    );
    // PutParameter and the probe for stale parts, all with the instance credentials.
    let ssm = publisher.ssm.calls();
    assert_eq!(
        ssm.iter().filter(|c| c.operation == "PutParameter").count(),
        3
    );
    assert!(ssm
        .iter()
        .all(|c| c.access_key_id.as_deref() == Some(testkit_imds::ACCESS_KEY_ID)));

    // A reader: its own Organizations is never asked; one GetParameters call reads 3 parts.
    let mut reader = TestDir::new();
    reader.ssm_url = publisher.ssm.url().to_owned();
    let excluded = &listed[7];
    let organization = format!("exclude = [\"{excluded}\"]");
    reader.write_config(&shared_config(&reader, &organization, false));
    let before = publisher.ssm.calls().len();
    reader.cmd(&["run"]).expect_exit(0);
    assert!(reader.orgs.calls().is_empty(), "{:?}", reader.orgs.calls());
    let reads = &publisher.ssm.calls()[before..];
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].operation, "GetParameters");
    assert_eq!(
        reads[0].access_key_id.as_deref(),
        Some(testkit_imds::ACCESS_KEY_ID)
    );
    let mut want: Vec<String> = listed.iter().filter(|a| *a != excluded).cloned().collect();
    want.sort();
    assert_eq!(profiles(&reader), want);
    reader.cmd(&["check"]).expect_saying(
        0,
        &["(read from ssm:/ear/accounts, where the publisher puts them); 649 discovered at"],
    );

    // Accounts leave: the publisher's next listing is one part, and the stale two go.
    for id in &listed[..400] {
        publisher.orgs.remove_account(id);
    }
    age_cache(&publisher);
    publisher.cmd(&["run"]).expect_saying(
        0,
        &["role_set[1]: published its 250 accounts to ssm:/ear/accounts (1 parts)"],
    );
    assert_eq!(parts(&publisher), ["/ear/accounts/1"]);
    age_cache(&reader);
    reader.cmd(&["run"]).expect_saying(
        0,
        &["role_set[1]: 250 accounts published in ssm:/ear/accounts; added: none; removed:"],
    );
    let mut want: Vec<String> = listed[400..].to_vec();
    want.sort();
    assert_eq!(profiles(&reader), want);
}

#[test]
fn a_reader_keeps_what_it_had_when_the_list_is_missing_or_half_written() {
    let t = TestDir::new();
    t.write_config(&shared_config(&t, "", false));
    // Nothing published yet and no cache: no profile, exit 3, the parameter named.
    t.cmd(&["run"]).expect_saying(
        3,
        &["ssm:/ear/accounts/1: no such parameter: nothing is published there"],
    );
    assert!(t.orgs.calls().is_empty());

    // Published (by hand here, in the publisher's format): read and cached.
    let header = |stamp: &str, part: usize| {
        format!("ec2-assume-role accounts v1 published={stamp} part={part}/2 accounts=2\n")
    };
    let now = "2026-12-02T00:00:00Z";
    t.ssm
        .put("/ear/accounts/1", &(header(now, 1) + "222222222222\n"));
    t.ssm
        .put("/ear/accounts/2", &(header(now, 2) + "333333333333\n"));
    t.cmd(&["run"]).expect_exit(0);
    assert_eq!(profiles(&t), ["222222222222", "333333333333"]);

    // Half of a newer publication: refused, the cached accounts are kept.
    t.ssm.put(
        "/ear/accounts/1",
        &(header("2026-12-03T00:00:00Z", 1) + "444444444444\n"),
    );
    age_cache(&t);
    t.cmd(&["run"]).expect_saying(
        0,
        &[
            "ssm:/ear/accounts/2: part 2/2 of the list published at 2026-12-02T00:00:00Z among \
             the parts of the one published at 2026-12-03T00:00:00Z",
            "using the 2 accounts discovered at",
        ],
    );
    assert_eq!(profiles(&t), ["222222222222", "333333333333"]);
}

#[test]
fn a_publisher_that_cannot_publish_writes_its_profiles_and_exits_3() {
    let t = TestDir::new();
    organization(&t);
    t.ssm.deny("/ear/accounts/1");
    t.write_config(&shared_config(&t, "", true));
    t.cmd(&["run"]).expect_saying(
        3,
        &[
            "role_set[1]: publishing its accounts to ssm:/ear/accounts failed: PutParameter: \
             AccessDeniedException",
            "the accounts of role_set[1] could not be published",
        ],
    );
    assert_eq!(profiles(&t), ALL);
    t.cmd(&["check"])
        .expect_saying(0, &["(listed here and published to ssm:/ear/accounts)"]);
}
