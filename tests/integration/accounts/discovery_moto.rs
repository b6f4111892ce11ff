//! Discovery end to end against moto: boto3 builds an organization in moto's Organizations
//! (OUs, a nested child OU, accounts created there with moto's random ids, one closed, one
//! removed), the real binary discovers it and assumes its role sets' roles with moto's STS,
//! and the AWS CLI and boto3 use the profiles. The expectations come from what the setup
//! created, never from a listing. Everything stays on loopback (moto on 127.0.0.1, the fake
//! IMDS).
//! Backs docs/accounts.md (Organizations discovery).
//!
//! What moto 5.2.5 does here, as read in its source and checked by these tests:
//! - It serves all four calls the agent makes (DescribeOrganization, ListAccounts,
//!   ListAccountsForParent, ListChildren) and paginates the two account listings by NextToken:
//!   100 accounts a page for ListAccounts, 20 for ListAccountsForParent when no MaxResults is
//!   sent (the agent sends none). ListChildren is never paginated (no NextToken, whatever the
//!   count). So the organization below has more than 100 accounts and more than 20 in one OU,
//!   which only a discovery that follows NextToken lists in full.
//! - CloseAccount makes an account SUSPENDED at once (AWS passes through PENDING_CLOSURE
//!   first); RemoveAccountFromOrganization drops it from every listing.
//! - It answers by the caller's account: keys it issued (AssumeRole) map to the role's account,
//!   unknown keys (the fake IMDS's instance credentials) to its default account,
//!   123456789012. Outside an organization DescribeOrganization, ListAccountsForParent and
//!   ListChildren fail (AWSOrganizationsNotInUseException, ParentNotFoundException) while
//!   ListAccounts answers an empty list (AWS would refuse it too).
//! - It checks no IAM policy: that the right principal signs is shown by which account's
//!   organization answers, not by a denial.

use crate::util::organizations::cache;
use crate::util::{assert_assumed_audit_role, mode, venv, TestDir};
use serde::Deserialize;
use std::collections::BTreeSet;
use testkit::moto::Moto;

/// moto's account for credentials it did not issue (the instance's, here).
const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";
/// The management account of the organization only a reader role can list.
const OTHER_MANAGEMENT_ACCOUNT: &str = "999999999999";

/// The organization the setup created, by where each account is.
#[derive(Debug, Deserialize)]
struct Org {
    management: String,
    /// The OU under the root that holds `prod`.
    workloads: String,
    /// Accounts directly under the root, under `workloads`, under `prod` (its child), and
    /// under `sandbox` (a second OU under the root).
    root_accounts: Vec<String>,
    workloads_accounts: Vec<String>,
    prod_accounts: Vec<String>,
    sandbox_accounts: Vec<String>,
    /// Closed (SUSPENDED) and removed from the organization.
    closed: String,
    removed: String,
}

impl Org {
    fn all(&self) -> BTreeSet<String> {
        [
            &self.root_accounts,
            &self.workloads_accounts,
            &self.prod_accounts,
            &self.sandbox_accounts,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// Builds the organization in moto with boto3, as its management account `owner` (moto's
/// default account, or an account reached by AssumeRole): `root_fill` accounts under the
/// root, 3 under `workloads`, 22 under its child `prod`, 2 under `sandbox`; the first of
/// `prod` closed, the first of `workloads` removed.
fn organization(t: &TestDir, owner: &str, root_fill: usize) -> Org {
    let script = format!(
        r#"
import boto3, json
owner = {owner:?}
session = boto3.Session(region_name='us-east-1')
if owner != '{MOTO_DEFAULT_ACCOUNT}':
    c = session.client('sts').assume_role(
        RoleArn=f'arn:aws:iam::{{owner}}:role/OrgAdmin', RoleSessionName='setup')['Credentials']
    session = boto3.Session(region_name='us-east-1', aws_access_key_id=c['AccessKeyId'],
        aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])
o = session.client('organizations')
o.create_organization(FeatureSet='ALL')
root = o.list_roots()['Roots'][0]['Id']
def ou(parent, name):
    return o.create_organizational_unit(ParentId=parent, Name=name)['OrganizationalUnit']['Id']
workloads = ou(root, 'workloads')
prod = ou(workloads, 'prod')
sandbox = ou(root, 'sandbox')
n = 0
def accounts(parent, count):
    global n
    ids = []
    for _ in range(count):
        n += 1
        s = o.create_account(AccountName=f'account-{{n}}',
            Email=f'account-{{n}}@example.com')['CreateAccountStatus']
        assert s['State'] == 'SUCCEEDED', s
        if parent != root:
            o.move_account(AccountId=s['AccountId'], SourceParentId=root,
                DestinationParentId=parent)
        ids.append(s['AccountId'])
    return ids
org = dict(
    management=o.describe_organization()['Organization']['MasterAccountId'],
    workloads=workloads,
    root_accounts=accounts(root, {root_fill}),
    workloads_accounts=accounts(workloads, 3),
    prod_accounts=accounts(prod, 22),
    sandbox_accounts=accounts(sandbox, 2),
)
org['closed'] = org['prod_accounts'][0]
o.close_account(AccountId=org['closed'])
org['removed'] = org['workloads_accounts'][0]
o.remove_account_from_organization(AccountId=org['removed'])
print(json.dumps(org))
"#
    );
    let out = t
        .python(&script)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .expect_exit(0);
    let org: Org = serde_json::from_str(&out.stdout).expect("the setup's JSON");
    assert_eq!(
        org.management, owner,
        "moto made {owner} the management account"
    );
    let all = org.all();
    assert_eq!(
        all.len(),
        root_fill + 3 + 22 + 2,
        "moto's random account ids collided"
    );
    assert!(!all.contains(&org.management));
    org
}

/// The reference story's head, `roles` (TOML), and a role set over the organization whose
/// `[role_set.organization]` table is `organization`.
fn config(t: &TestDir, roles: &str, organization: &str) -> String {
    crate::util::organizations::config_with(t, roles, organization, "")
}

/// The accounts with an `audit-ACCOUNT` profile in the credentials file.
fn profiles(t: &TestDir) -> BTreeSet<String> {
    t.read(t.credentials_path())
        .lines()
        .filter_map(|l| l.strip_prefix("[audit-").and_then(|l| l.strip_suffix(']')))
        .map(str::to_owned)
        .collect()
}

/// A TestDir whose STS and Organizations are `moto`.
fn on_moto(moto: &Moto) -> TestDir {
    let mut t = TestDir::new();
    t.sts_url = moto.url().to_owned();
    t.orgs_url = moto.url().to_owned();
    t
}

/// `aws --profile audit-ACCOUNT sts get-caller-identity`: the account and ARN moto says.
fn caller_with_the_cli(t: &TestDir, account: &str) -> (String, String) {
    let out = t
        .aws(&[
            "--profile",
            &format!("audit-{account}"),
            "sts",
            "get-caller-identity",
        ])
        .expect_exit(0);
    let answer: serde_json::Value = serde_json::from_str(&out.stdout).expect("CLI JSON");
    (
        answer["Account"].as_str().unwrap_or_default().to_owned(),
        answer["Arn"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The whole organization, listed with the instance credentials (moto's default account is
/// the management account): more than 100 accounts, so two pages of ListAccounts; the
/// closed, removed, excluded and management accounts get no profile, until
/// `include_management_account = true` adds the management account.
#[test]
fn a_moto_organization_discovered_whole_then_used_by_the_aws_cli_and_boto3() {
    let moto = Moto::start(&venv());
    let t = on_moto(&moto);
    let org = organization(&t, MOTO_DEFAULT_ACCOUNT, 80);
    let excluded = [org.root_accounts[1].clone(), org.prod_accounts[1].clone()];
    let exclude = format!("exclude = [\"{}\", \"{}\"]", excluded[0], excluded[1]);

    t.write_config(&config(&t, "", &exclude));
    t.cmd(&["run"]).expect_exit(0);

    let mut want = org.all();
    for gone in [&org.closed, &org.removed, &excluded[0], &excluded[1]] {
        assert!(want.remove(gone));
    }
    assert!(
        want.len() > 100,
        "more than one ListAccounts page of moto's"
    );
    assert_eq!(profiles(&t), want);

    // The cache: 0600, the accounts as listed (the exclusion applies on use).
    assert_eq!(mode(cache(&t)), 0o600);
    let cached = t.read(cache(&t));
    for id in &excluded {
        assert!(cached.contains(id.as_str()), "{id} not cached:\n{cached}");
    }
    for id in [&org.closed, &org.removed, &org.management] {
        assert!(!cached.contains(id.as_str()), "{id} cached:\n{cached}");
    }

    // A real client, with a profile of an account deep in the tree and one at the root.
    let deep = org.prod_accounts.last().expect("a prod account");
    let (account, arn) = caller_with_the_cli(&t, deep);
    assert_eq!(&account, deep);
    assert_assumed_audit_role(&arn, deep);
    let top = org.root_accounts.last().expect("a root account");
    let out = t
        .python(&format!(
            "import boto3\n\
             print(boto3.Session(profile_name='audit-{top}').client('sts')\
             .get_caller_identity()['Account'])"
        ))
        .expect_exit(0);
    assert_eq!(out.stdout.trim(), top);

    let check = t.cmd(&["check"]).expect_saying(
        0,
        &[&format!(
            "role_set[1]: role PerformSecurityAudit in every ACTIVE account of the organization \
             but {}, {}; {} discovered at",
            excluded[0],
            excluded[1],
            want.len()
        )],
    );
    let line = check.stderr_line("discovered at");
    for id in &want {
        assert!(line.contains(&format!("audit-{id}")), "{id} not in: {line}");
    }
    assert!(!line.contains(&format!("audit-{}", org.closed)), "{line}");

    // With the management account in: a new query (its own cache entry), one profile more.
    t.write_config(&config(
        &t,
        "",
        &format!("{exclude}\ninclude_management_account = true"),
    ));
    t.cmd(&["run"]).expect_exit(0);
    want.insert(org.management.clone());
    assert_eq!(profiles(&t), want);
    let (account, _) = caller_with_the_cli(&t, &org.management);
    assert_eq!(account, org.management);
}

/// An OU with its nested child, in an organization whose management account is not the
/// instance's: the instance credentials cannot list it (moto: not in an organization), a
/// reader role assumed in the management account can. More than 20 accounts in the child,
/// so ListAccountsForParent takes two pages there.
#[test]
fn a_moto_ou_and_its_child_listed_by_a_reader_role_then_used_by_the_aws_cli() {
    let moto = Moto::start(&venv());
    let t = on_moto(&moto);
    let org = organization(&t, OTHER_MANAGEMENT_ACCOUNT, 3);
    let excluded = &org.workloads_accounts[1];
    let reader = format!(
        "[[role]]\nprofile = \"reader\"\n\
         role_arn = \"arn:aws:iam::{}:role/OrgReader\"\n",
        org.management
    );
    let query = format!("ous = [\"{}\"]\nexclude = [\"{excluded}\"]", org.workloads);

    // Signed with the instance credentials: moto answers as its default account, which is
    // in no organization (the first call, for the management account to leave out, fails).
    t.write_config(&config(&t, &reader, &query));
    t.cmd(&["run"]).expect_saying(
        3,
        &["DescribeOrganization: AWSOrganizationsNotInUseException"],
    );
    assert!(profiles(&t).is_empty(), "{}", t.read(t.credentials_path()));

    t.write_config(&config(
        &t,
        &reader,
        &format!("{query}\nsource_profile = \"reader\""),
    ));
    t.cmd(&["run"]).expect_exit(0);

    let want: BTreeSet<String> = org
        .workloads_accounts
        .iter()
        .chain(&org.prod_accounts)
        .filter(|a| ![&org.closed, &org.removed, excluded].contains(a))
        .cloned()
        .collect();
    assert!(
        org.prod_accounts.len() > 20,
        "more than one ListAccountsForParent page of moto's"
    );
    assert_eq!(profiles(&t), want);
    assert_eq!(mode(cache(&t)), 0o600);

    let deep = org.prod_accounts.last().expect("a prod account");
    let (account, arn) = caller_with_the_cli(&t, deep);
    assert_eq!(&account, deep);
    assert_assumed_audit_role(&arn, deep);

    t.cmd(&["check"]).expect_saying(
        0,
        &[&format!(
            "role_set[1]: role PerformSecurityAudit in the ACTIVE accounts under {} but \
             {excluded}; {} discovered at",
            org.workloads,
            want.len()
        )],
    );
}

/// One listing for the fleet, against moto's Organizations, SSM and STS: the publisher
/// lists the organization and puts the parts in moto's Parameter Store (which checks the
/// names, types and the 4 KB standard-tier limit); a second instance reads them, never
/// calling Organizations (its endpoint is a fake that would record a call), and the AWS CLI
/// uses one of the profiles it wrote.
#[test]
fn a_moto_publisher_shares_the_listing_and_a_reader_uses_it() {
    let moto = Moto::start(&venv());
    let mut publisher = on_moto(&moto);
    publisher.ssm_url = moto.url().to_owned();
    let org = organization(&publisher, MOTO_DEFAULT_ACCOUNT, 330);
    let shared = "shared_parameter = \"/ear/accounts\"";
    let text =
        config(&publisher, "", shared).replace("[discovery]\n", "[discovery]\npublish = true\n");
    publisher.write_config(&text);
    let mut want = org.all();
    for gone in [&org.closed, &org.removed] {
        assert!(want.remove(gone));
    }
    let parts = want.len().div_ceil(300);
    assert!(parts >= 2, "{} accounts", want.len());
    publisher.cmd(&["run"]).expect_saying(
        0,
        &[&format!(
            "published its {} accounts to ssm:/ear/accounts ({parts} parts)",
            want.len()
        )],
    );
    // boto3 sees the parts in moto's Parameter Store (keys moto does not know are its default
    // account's, as the fake IMDS's are).
    let out = publisher
        .python(
            "import boto3\n\
             ssm = boto3.client('ssm', region_name='us-east-1', aws_access_key_id='testing', \
             aws_secret_access_key='testing')\n\
             names = [p['Name'] for p in ssm.get_parameters_by_path(Path='/ear/accounts')['Parameters']]\n\
             print(' '.join(sorted(names)))",
        )
        .expect_exit(0);
    let names: Vec<String> = (1..=parts).map(|i| format!("/ear/accounts/{i}")).collect();
    assert_eq!(out.stdout.trim(), names.join(" "));

    let mut reader = on_moto(&moto);
    reader.ssm_url = moto.url().to_owned();
    reader.orgs_url = reader.orgs.url().to_owned();
    reader.write_config(&config(&reader, "", shared));
    reader.cmd(&["run"]).expect_exit(0);
    assert!(reader.orgs.calls().is_empty(), "{:?}", reader.orgs.calls());
    assert_eq!(profiles(&reader), want);
    let deep = org.prod_accounts.last().expect("a prod account");
    let (account, arn) = caller_with_the_cli(&reader, deep);
    assert_eq!(&account, deep);
    assert_assumed_audit_role(&arn, deep);
}
