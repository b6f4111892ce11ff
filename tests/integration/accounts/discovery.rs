//! Role sets whose accounts come from AWS Organizations (`[role_set.organization]`), against
//! testkit's fake Organizations: which accounts get profiles, who signs the listing, the
//! pages it takes, the cache that carries a boot through an outage, and the daemon adding and
//! removing profiles as accounts come and go.
//! Backs docs/accounts.md (Organizations discovery).

use crate::util::daemon::{key_id, start};
use crate::util::organizations::{age_cache, cache, org_config, organization, profiles, ALL};
use crate::util::{assert_assumed_audit_role, wait_for, TestDir};
use std::time::Duration;
use testkit::imds as testkit_imds;
use testkit::organizations::{Outage, MANAGEMENT_ACCOUNT_ID, ROOT_ID};

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
    assert_assumed_audit_role(&t.caller_arn("audit-333333333333"), "333333333333");
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
