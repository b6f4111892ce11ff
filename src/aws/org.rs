//! Discovering a role set's accounts from AWS Organizations: every ACTIVE account of the
//! organization (`ListAccounts`), or those under given OUs and their children
//! (`ListAccountsForParent`, `ListChildren`), without the management account unless asked
//! (`DescribeOrganization` names it; it is not called when the management account is in). Every call is paginated by hand, each page retried under
//! `retry::Policy` (throttling, 5xx whatever their body, resets and timeouts, as
//! `retry::sdk_failure` says; the SDK's own retries are off, as for STS and SSM),
//! signed with the credentials given (the instance's, or a reader role's) and sent to the
//! Organizations endpoint of the partition (`AWS_ENDPOINT_URL_ORGANIZATIONS` overrides it).
//! It only reads the organization; it never writes, and never logs more than account ids.

use crate::aws::retry::Policy;
use crate::base::creds::TemporaryCredentials;
use crate::config::Endpoints;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus, ChildType};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::time::Duration;

/// Which accounts to list.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// OU or root ids; empty: the whole organization.
    pub ous: &'a [String],
    pub include_management_account: bool,
}

/// Why the accounts could not be listed. `code` is Organizations' error code
/// (`AccessDeniedException`, `TooManyRequestsException`, `AWSOrganizationsNotInUseException`,
/// ...) or one of ours (`Timeout`, `Network`, `BadResponse`).
pub type Error = crate::aws::http::CallError;

/// Organizations at boot, when a fleet asks at once: back off further than for STS.
pub const POLICY: Policy = Policy {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(10),
    deadline: Duration::from_secs(60),
};

/// The Region whose endpoint serves Organizations in `partition`: it is a global service
/// with one endpoint per partition, which the SDK's rules pick from any Region of it.
pub fn region_of(partition: &str) -> &'static str {
    crate::base::partitions::by_id(partition)
        .map_or("us-east-1", |p| p.outputs.implicit_global_region.as_str())
}

/// The ids of the accounts `query` covers, sorted.
pub async fn discover(
    http: SharedHttpClient,
    signer: &TemporaryCredentials,
    partition: &str,
    query: Query<'_>,
    endpoints: Endpoints,
    policy: Policy,
) -> Result<Vec<String>, Error> {
    let config =
        crate::aws::http::instance_profile_config(http, signer, region_of(partition), endpoints)
            .load()
            .await;
    let client = aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(&config)
            .interceptor(crate::aws::skew::Watch("Organizations"))
            .build(),
    );
    // Only to leave the management account out; with it included, one call fewer.
    let management = if query.include_management_account {
        None
    } else {
        call(policy, "DescribeOrganization", || {
            client.describe_organization().send()
        })
        .await?
        .organization()
        .and_then(|o| o.master_account_id())
        .map(str::to_owned)
    };

    let mut accounts = BTreeSet::new();
    let mut keep = |page: &[Account]| {
        for account in page.iter().filter(|a| active(a)) {
            if let Some(id) = account.id() {
                accounts.insert(id.to_owned());
            }
        }
    };
    if query.ous.is_empty() {
        let mut token = None;
        loop {
            let page = call(policy, "ListAccounts", || {
                client.list_accounts().set_next_token(token.clone()).send()
            })
            .await?;
            keep(page.accounts());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    } else {
        let mut parents: VecDeque<String> = query.ous.iter().cloned().collect();
        let mut seen = BTreeSet::new();
        while let Some(parent) = parents.pop_front() {
            if !seen.insert(parent.clone()) {
                continue;
            }
            let mut token = None;
            loop {
                let page = call(policy, "ListAccountsForParent", || {
                    client
                        .list_accounts_for_parent()
                        .parent_id(&parent)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
                keep(page.accounts());
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            loop {
                let page = call(policy, "ListChildren", || {
                    client
                        .list_children()
                        .parent_id(&parent)
                        .child_type(ChildType::OrganizationalUnit)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
                parents.extend(
                    page.children()
                        .iter()
                        .filter_map(|c| c.id().map(str::to_owned)),
                );
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
    }
    if let Some(id) = &management {
        accounts.remove(id);
    }
    Ok(accounts.into_iter().collect())
}

/// ACTIVE by `State`, or by `Status` where an older answer has only that (AWS retires
/// `Status` in September 2026).
fn active(account: &Account) -> bool {
    match (account.state(), account.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

/// One call, retried under `policy` while the failure is worth another try.
async fn call<T, E, F, Fut>(policy: Policy, operation: &'static str, f: F) -> Result<T, Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let doing = "listing the organization's accounts";
    crate::aws::http::call_retried(policy, "Organizations", operation, doing, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_its_organizations_region() {
        for (partition, region) in [
            ("aws", "us-east-1"),
            ("aws-cn", "cn-northwest-1"),
            ("aws-us-gov", "us-gov-west-1"),
            ("aws-iso-b", "us-isob-east-1"),
        ] {
            assert_eq!(region_of(partition), region);
        }
    }
}
