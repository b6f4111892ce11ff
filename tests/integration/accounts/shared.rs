//! The fleet-shared list (docs/accounts.md, `shared_parameter`): one publisher lists the
//! organization and writes the accounts to Parameter Store in parts; the rest of the fleet
//! reads the parameter instead of calling AWS Organizations, keeps what it had when the list
//! is missing or half written, and a publisher that cannot publish still writes its own
//! profiles (exit 3). Against testkit's fake Organizations and SSM.

use crate::util::organizations::{age_cache, org_config, organization, profiles, ALL};
use crate::util::TestDir;
use testkit::imds as testkit_imds;
use testkit::organizations::ROOT_ID;

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
