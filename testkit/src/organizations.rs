//! A fake AWS Organizations on loopback speaking the awsJson1_1 protocol aws-sdk-organizations
//! uses (`POST /`, `X-Amz-Target: AWSOrganizationsV20161128.<Operation>`, JSON in and out,
//! errors as `{"__type", "message"}`): one organization with its root, management account,
//! OUs in a tree and accounts each in one parent, which a test changes at run time (add,
//! remove, close, move) as an organization changes between two reloads. It answers
//! `DescribeOrganization`, `ListRoots`, `ListAccounts`, `ListAccountsForParent` and
//! `ListChildren`, paginated as AWS does (`MaxResults` 1 to 20, an opaque `NextToken`, a page
//! size of its own that a test can shrink), and fails as AWS does: throttling (the next N
//! calls, or above a rate), outages (5xx, access denied, no organization) and, stopped,
//! connection refused. It records every call with its input, the access key id that signed it
//! and when, so a test can say which key discovery used and how many pages it read. It does
//! not verify signatures and never forwards anything anywhere.

use crate::http::{RateWindow, Recorded, Reply, Server};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `X-Amz-Target` prefix of every operation.
pub const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";

/// The organization every fake starts with.
pub const ORGANIZATION_ID: &str = "o-exampleorg1";
pub const ROOT_ID: &str = "r-ex4m";
pub const MANAGEMENT_ACCOUNT_ID: &str = "111111111111";

/// AWS's largest `MaxResults` for the list operations, and the page the fake serves when the
/// caller asks for none (what AWS serves for `ListAccounts`).
pub const MAX_RESULTS: usize = 20;

/// `JoinedTimestamp` of the accounts the fake adds (epoch seconds: 2026-01-01T00:00:00Z).
const JOINED: f64 = 1_767_225_600.0;

/// An account's `State` (the field that replaces `Status`). `Status` is derived from it:
/// ACTIVE and PENDING_ACTIVATION answer `"ACTIVE"`, SUSPENDED and CLOSED `"SUSPENDED"`,
/// PENDING_CLOSURE `"PENDING_CLOSURE"` (the three values `Status` has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    Active,
    Suspended,
    PendingActivation,
    PendingClosure,
    Closed,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "ACTIVE",
            AccountState::Suspended => "SUSPENDED",
            AccountState::PendingActivation => "PENDING_ACTIVATION",
            AccountState::PendingClosure => "PENDING_CLOSURE",
            AccountState::Closed => "CLOSED",
        }
    }

    fn status(self) -> &'static str {
        match self {
            AccountState::Active | AccountState::PendingActivation => "ACTIVE",
            AccountState::Suspended | AccountState::Closed => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
        }
    }
}

/// An outage of the whole service: every call answers this until `FakeOrganizations::restore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// 503 with no JSON body, as a load balancer in front of a failing service answers.
    Unavailable,
    /// 500 `ServiceException`.
    ServiceError,
    /// 400 `TooManyRequestsException`.
    Throttling,
    /// 400 `AccessDeniedException`: the signing role lacks `organizations:*` permissions.
    AccessDenied,
    /// 400 `AWSOrganizationsNotInUseException`: the account belongs to no organization.
    NotInUse,
}

/// One call as the fake understood it.
#[derive(Clone, Debug)]
pub struct Call {
    /// `ListAccounts`, `DescribeOrganization`, ... (the `X-Amz-Target` after its prefix).
    pub operation: String,
    /// The JSON input (`{"NextToken": ..., "MaxResults": ...}`), `{}` when there was none.
    pub input: Value,
    pub status: u16,
    /// The `__type` of an error answer.
    pub error: Option<String>,
    /// Who signed: the key id and the region of the SigV4 `Authorization` header's
    /// `Credential=` scope.
    pub access_key_id: Option<String>,
    pub signing_region: Option<String>,
    /// When the fake answered.
    pub at: Instant,
}

impl Call {
    /// A string field of the input (`ParentId`, `NextToken`, `ChildType`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.input.get(name).and_then(Value::as_str)
    }
}

#[derive(Clone, Debug)]
struct Account {
    id: String,
    name: String,
    state: AccountState,
    parent: String,
}

#[derive(Clone, Debug)]
struct Ou {
    id: String,
    parent: String,
}

struct State {
    /// In the order they joined: `ListAccounts` answers in this order.
    accounts: Vec<Account>,
    ous: Vec<Ou>,
    page_size: usize,
    /// Token -> (what it pages: operation and parent, offset of the next page).
    tokens: HashMap<String, (String, usize)>,
    outage: Option<Outage>,
    /// Answer this many calls with `TooManyRequestsException` first.
    throttle_next: usize,
    rate: Option<RateWindow>,
    throttles: usize,
    calls: Vec<Call>,
}

pub struct FakeOrganizations {
    /// `None` while stopped (`stop`): connections are refused.
    server: Mutex<Option<Server>>,
    state: Arc<Mutex<State>>,
    url: String,
    port: u16,
}

impl FakeOrganizations {
    /// An organization of one account, its management account, in the root.
    pub fn start() -> FakeOrganizations {
        let state = Arc::new(Mutex::new(State {
            accounts: vec![Account {
                id: MANAGEMENT_ACCOUNT_ID.to_owned(),
                name: "management".to_owned(),
                state: AccountState::Active,
                parent: ROOT_ID.to_owned(),
            }],
            ous: Vec::new(),
            page_size: MAX_RESULTS,
            tokens: HashMap::new(),
            outage: None,
            throttle_next: 0,
            rate: None,
            throttles: 0,
            calls: Vec::new(),
        }));
        let server = serve(0, &state);
        let url = server.url().to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        FakeOrganizations {
            server: Mutex::new(Some(server)),
            state,
            url,
            port,
        }
    }

    /// The value for `AWS_ENDPOINT_URL_ORGANIZATIONS` (the same across `stop` and `resume`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates an OU under `parent` (the root or an OU) and returns its id.
    pub fn add_ou(&self, parent: &str) -> String {
        let mut s = self.state.lock().unwrap();
        assert!(
            s.is_parent(parent),
            "no parent {parent} in the fake organization"
        );
        let id = format!("ou-{}-{:08x}", &ROOT_ID[2..], s.ous.len() + 1);
        s.ous.push(Ou {
            id: id.clone(),
            parent: parent.to_owned(),
        });
        id
    }

    /// Adds an ACTIVE account `id` (12 digits) named `name` under `parent`.
    pub fn add_account(&self, parent: &str, id: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        assert!(
            s.is_parent(parent),
            "no parent {parent} in the fake organization"
        );
        assert!(s.account(id).is_none(), "account {id} is already a member");
        s.accounts.push(Account {
            id: id.to_owned(),
            name: name.to_owned(),
            state: AccountState::Active,
            parent: parent.to_owned(),
        });
    }

    /// Adds `n` ACTIVE accounts under `parent`, with ids not yet used, and returns the ids.
    pub fn add_accounts(&self, parent: &str, n: usize) -> Vec<String> {
        let first = 200_000_000_000 + self.state.lock().unwrap().accounts.len() as u64 * 1000;
        (0..n as u64)
            .map(|i| {
                let id = (first + i).to_string();
                self.add_account(parent, &id, &format!("account-{id}"));
                id
            })
            .collect()
    }

    /// Removes account `id` from the organization (`RemoveAccountFromOrganization`).
    pub fn remove_account(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        let before = s.accounts.len();
        s.accounts.retain(|a| a.id != id);
        assert!(s.accounts.len() < before, "no account {id} to remove");
    }

    /// Sets account `id`'s `State` (and with it `Status`).
    pub fn set_state(&self, id: &str, state: AccountState) {
        let mut s = self.state.lock().unwrap();
        s.account_mut(id).state = state;
    }

    /// Closes account `id` as `CloseAccount` does: it stays listed, SUSPENDED, for the
    /// post-closure period.
    pub fn close_account(&self, id: &str) {
        self.set_state(id, AccountState::Suspended);
    }

    /// Moves account `id` under `parent` (`MoveAccount`).
    pub fn move_account(&self, id: &str, parent: &str) {
        let mut s = self.state.lock().unwrap();
        assert!(
            s.is_parent(parent),
            "no parent {parent} in the fake organization"
        );
        s.account_mut(id).parent = parent.to_owned();
    }

    /// Serves at most `n` items a page (at least 1), whatever `MaxResults` asks.
    pub fn set_page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n.clamp(1, MAX_RESULTS);
    }

    /// The next `n` calls, of any operation, are throttled.
    pub fn throttle(&self, n: usize) {
        self.state.lock().unwrap().throttle_next = n;
    }

    /// From now on, throttles any call beyond `per_second` accepted in the last second (all
    /// operations together: the organization's quota is shared).
    pub fn limit_rate(&self, per_second: usize) {
        self.state.lock().unwrap().rate = Some(RateWindow::new(per_second));
    }

    /// How many calls were answered `TooManyRequestsException`, for any reason.
    pub fn throttles(&self) -> usize {
        self.state.lock().unwrap().throttles
    }

    /// Starts an outage of every call (see `Outage`) until `restore`.
    pub fn break_with(&self, outage: Outage) {
        self.state.lock().unwrap().outage = Some(outage);
    }

    /// Ends the outage `break_with` started.
    pub fn restore(&self) {
        self.state.lock().unwrap().outage = None;
    }

    /// Stops listening: connections to `url` are refused until `resume`. The organization
    /// and the record of calls are kept.
    pub fn stop(&self) {
        self.server.lock().unwrap().take();
    }

    /// Listens again on the same port after `stop`.
    pub fn resume(&self) {
        let mut server = self.server.lock().unwrap();
        if server.is_none() {
            *server = Some(serve(self.port, &self.state));
        }
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls of `operation` (`"ListAccounts"`), in arrival order.
    pub fn calls_to(&self, operation: &str) -> Vec<Call> {
        let mut calls = self.calls();
        calls.retain(|c| c.operation == operation);
        calls
    }
}

fn serve(port: u16, state: &Arc<Mutex<State>>) -> Server {
    let state = Arc::clone(state);
    Server::start_on(port, move |req| handle(&mut state.lock().unwrap(), req))
}

impl State {
    fn is_parent(&self, id: &str) -> bool {
        id == ROOT_ID || self.ous.iter().any(|ou| ou.id == id)
    }

    fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    fn account_mut(&mut self, id: &str) -> &mut Account {
        self.accounts
            .iter_mut()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no account {id} in the fake organization"))
    }
}

/// An error answer: the status, the `__type`, the message and, for
/// `InvalidInputException`, its `Reason`.
#[derive(Clone)]
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
    reason: Option<&'static str>,
}

fn fail(status: u16, code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        code,
        message: message.into(),
        reason: None,
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let operation = req
        .header("x-amz-target")
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or_default()
        .to_owned();
    let scope = req
        .header("authorization")
        .and_then(crate::sts::credential_scope);
    let input = match req.body.trim() {
        "" => Ok(json!({})),
        body => serde_json::from_str::<Value>(body)
            .map_err(|_| fail(400, "SerializationException", "the body is not JSON")),
    };
    let outcome = input.clone().and_then(|input| {
        if req.method != "POST" || req.path != "/" {
            return Err(fail(404, "UnknownOperationException", req.path.clone()));
        }
        admit(state)?;
        answer(state, &operation, &input)
    });
    let (status, error, reply) = match outcome {
        Ok(body) => (200, None, Reply::new(200, body.to_string())),
        Err(f) => {
            if f.code == "TooManyRequestsException" {
                state.throttles += 1;
            }
            let mut body = json!({"__type": f.code, "message": f.message});
            if let Some(reason) = f.reason {
                body["Reason"] = reason.into();
            }
            let body = match f.status {
                503 => String::new(),
                _ => body.to_string(),
            };
            (
                f.status,
                Some(f.code.to_owned()),
                Reply::new(f.status, body),
            )
        }
    };
    state.calls.push(Call {
        operation,
        input: input.unwrap_or(Value::Null),
        status,
        error,
        access_key_id: scope.as_ref().and_then(|s| s.first().cloned()),
        signing_region: scope.as_ref().and_then(|s| s.get(2).cloned()),
        at: Instant::now(),
    });
    reply
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("x-amzn-RequestId", &format!("{:032x}", fastrand::u128(..)))
}

/// The outage, the scripted throttles and the rate limit, before any operation.
fn admit(state: &mut State) -> Result<(), Failure> {
    let throttled = || {
        fail(
            400,
            "TooManyRequestsException",
            "You have sent too many requests in too short a period of time. The quota helps \
             protect against denial-of-service attacks. Try again later.",
        )
    };
    match state.outage {
        Some(Outage::Unavailable) => return Err(fail(503, "ServiceUnavailable", "")),
        Some(Outage::ServiceError) => {
            return Err(fail(
                500,
                "ServiceException",
                "AWS Organizations can't complete your request because of an internal service \
                 error. Try again later.",
            ))
        }
        Some(Outage::Throttling) => return Err(throttled()),
        Some(Outage::AccessDenied) => {
            return Err(fail(
                400,
                "AccessDeniedException",
                "You don't have permissions to access this resource.",
            ))
        }
        Some(Outage::NotInUse) => {
            return Err(fail(
                400,
                "AWSOrganizationsNotInUseException",
                "Your account is not a member of an organization.",
            ))
        }
        None => {}
    }
    if state.throttle_next > 0 {
        state.throttle_next -= 1;
        return Err(throttled());
    }
    if let Some(rate) = &mut state.rate {
        if !rate.admit(Instant::now(), Duration::from_secs(1)) {
            return Err(throttled());
        }
    }
    Ok(())
}

fn answer(state: &mut State, operation: &str, input: &Value) -> Result<Value, Failure> {
    let arn = |kind: &str, id: &str| {
        format!("arn:aws:organizations::{MANAGEMENT_ACCOUNT_ID}:{kind}/{ORGANIZATION_ID}/{id}")
    };
    match operation {
        "DescribeOrganization" => Ok(json!({"Organization": {
            "Id": ORGANIZATION_ID,
            "Arn": format!(
                "arn:aws:organizations::{MANAGEMENT_ACCOUNT_ID}:organization/{ORGANIZATION_ID}"
            ),
            "FeatureSet": "ALL",
            "MasterAccountArn": arn("account", MANAGEMENT_ACCOUNT_ID),
            "MasterAccountId": MANAGEMENT_ACCOUNT_ID,
            "MasterAccountEmail": email(MANAGEMENT_ACCOUNT_ID),
            "AvailablePolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}],
        }})),
        "ListRoots" => {
            let roots = vec![json!({
                "Id": ROOT_ID, "Arn": arn("root", ROOT_ID), "Name": "Root", "PolicyTypes": [],
            })];
            paged(state, "ListRoots", input, roots, "Roots")
        }
        "ListAccounts" => {
            let accounts = state.accounts.iter().map(|a| account(a, &arn)).collect();
            paged(state, "ListAccounts", input, accounts, "Accounts")
        }
        "ListAccountsForParent" => {
            let parent = parent_of(state, input)?;
            let accounts = state
                .accounts
                .iter()
                .filter(|a| a.parent == parent)
                .map(|a| account(a, &arn))
                .collect();
            let key = format!("ListAccountsForParent {parent}");
            paged(state, &key, input, accounts, "Accounts")
        }
        "ListChildren" => {
            let parent = parent_of(state, input)?;
            let kind = match input.get("ChildType").and_then(Value::as_str) {
                Some(kind @ ("ORGANIZATIONAL_UNIT" | "ACCOUNT")) => kind,
                other => return Err(invalid("INVALID_ENUM", &format!("ChildType {other:?}"))),
            };
            let ous = state
                .ous
                .iter()
                .map(|ou| (&ou.id, &ou.parent, "ORGANIZATIONAL_UNIT"));
            let accounts = state.accounts.iter().map(|a| (&a.id, &a.parent, "ACCOUNT"));
            let children = ous
                .chain(accounts)
                .filter(|&(_, p, t)| *p == parent && t == kind)
                .map(|(id, _, t)| json!({"Id": id, "Type": t}))
                .collect();
            let key = format!("ListChildren {parent} {}", input["ChildType"]);
            paged(state, &key, input, children, "Children")
        }
        _ => Err(fail(
            400,
            "UnknownOperationException",
            format!("unsupported operation {operation:?}"),
        )),
    }
}

fn account(a: &Account, arn: &dyn Fn(&str, &str) -> String) -> Value {
    json!({
        "Id": a.id,
        "Arn": arn("account", &a.id),
        "Email": email(&a.id),
        "Name": a.name,
        "Status": a.state.status(),
        "State": a.state.as_str(),
        "JoinedMethod": if a.id == MANAGEMENT_ACCOUNT_ID { "INVITED" } else { "CREATED" },
        "JoinedTimestamp": JOINED,
    })
}

fn email(id: &str) -> String {
    format!("aws+{id}@example.com")
}

/// The `ParentId` of the input, which must be the root or an OU.
fn parent_of(state: &State, input: &Value) -> Result<String, Failure> {
    match input.get("ParentId").and_then(Value::as_str) {
        None => Err(invalid("INPUT_REQUIRED", "ParentId is required")),
        Some(p) if state.is_parent(p) => Ok(p.to_owned()),
        Some(p) => Err(fail(
            400,
            "ParentNotFoundException",
            format!("We can't find a root or OU with the ParentId that you specified: {p}"),
        )),
    }
}

fn invalid(reason: &'static str, message: &str) -> Failure {
    Failure {
        reason: Some(reason),
        ..fail(400, "InvalidInputException", message)
    }
}

/// One page of `items` under `field`, from the input's `NextToken` (issued for the same
/// `key`), at most `MaxResults` (1 to 20) and the fake's page size, with a `NextToken` when
/// more remain.
fn paged(
    state: &mut State,
    key: &str,
    input: &Value,
    items: Vec<Value>,
    field: &str,
) -> Result<Value, Failure> {
    let size = match input.get("MaxResults").map(Value::as_i64) {
        None => state.page_size,
        Some(Some(n)) if n < 1 => return Err(invalid("MIN_VALUE_EXCEEDED", "MaxResults < 1")),
        Some(Some(n)) if n > MAX_RESULTS as i64 => {
            return Err(invalid("MAX_VALUE_EXCEEDED", "MaxResults > 20"))
        }
        Some(Some(n)) => (n as usize).min(state.page_size),
        Some(None) => return Err(invalid("INVALID_INPUT", "MaxResults is not a number")),
    };
    let start = match input.get("NextToken") {
        None | Some(Value::Null) => 0,
        Some(token) => match token.as_str().and_then(|t| state.tokens.get(t)) {
            Some((issued_for, offset)) if issued_for == key => *offset,
            _ => {
                return Err(invalid(
                    "INVALID_NEXT_TOKEN",
                    "The NextToken value is not valid.",
                ))
            }
        },
    };
    let end = (start + size).min(items.len());
    let page: Vec<Value> = items.get(start..end).unwrap_or_default().to_vec();
    let mut out = json!({ field: page });
    if end < items.len() {
        let token = format!("{:064x}", fastrand::u128(..));
        state.tokens.insert(token.clone(), (key.to_owned(), end));
        out["NextToken"] = Value::String(token);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The fake driven by the real aws-sdk-organizations client, through its paginators, as
    //! the agent drives it.

    use super::*;
    use aws_sdk_organizations::config::retry::RetryConfig;
    use aws_sdk_organizations::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_organizations::error::ProvideErrorMetadata;
    use aws_sdk_organizations::types::{AccountState as SdkState, AccountStatus, ChildType};
    use aws_sdk_organizations::Client;
    use std::collections::BTreeSet;

    const KEY: &str = "ASIAHUBFAKE000000001";

    /// A client signing with `KEY`, trying each call `attempts` times (backoff of a
    /// millisecond, so that a test of retries stays fast).
    fn client(fake: &FakeOrganizations, attempts: u32) -> Client {
        let retry = RetryConfig::standard()
            .with_max_attempts(attempts)
            .with_initial_backoff(Duration::from_millis(1));
        let conf = aws_sdk_organizations::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(KEY, "secret", None, None, "test"))
            .endpoint_url(fake.url())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config(retry)
            .build();
        Client::from_conf(conf)
    }

    async fn all_accounts(client: &Client, page_size: Option<i32>) -> Vec<String> {
        let mut pages = client.list_accounts().into_paginator();
        if let Some(n) = page_size {
            pages = pages.page_size(n);
        }
        let pages = pages.send().collect::<Result<Vec<_>, _>>().await.unwrap();
        pages
            .iter()
            .flat_map(|p| p.accounts())
            .map(|a| a.id().unwrap().to_owned())
            .collect()
    }

    /// Every account under `parent` and its OUs, walked as the agent walks them.
    async fn accounts_under(client: &Client, parent: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut parents = vec![parent.to_owned()];
        while let Some(parent) = parents.pop() {
            let pages = client
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap();
            found.extend(pages.iter().flat_map(|p| p.accounts()).map(|a| {
                assert_eq!(a.state(), Some(&SdkState::Active), "{a:?}");
                a.id().unwrap().to_owned()
            }));
            let pages = client
                .list_children()
                .parent_id(&parent)
                .child_type(ChildType::OrganizationalUnit)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap();
            parents.extend(
                pages
                    .iter()
                    .flat_map(|p| p.children())
                    .map(|c| c.id().unwrap().to_owned()),
            );
        }
        found
    }

    #[tokio::test]
    async fn list_accounts_pages_of_twenty_through_the_paginator() {
        let fake = FakeOrganizations::start();
        let added = fake.add_accounts(ROOT_ID, 45);
        let client = client(&fake, 1);

        let ids = all_accounts(&client, None).await;
        assert_eq!(ids.len(), 46);
        assert_eq!(ids[0], MANAGEMENT_ACCOUNT_ID);
        assert_eq!(ids[1..], added[..]);
        // 46 accounts in pages of 20: 3 calls, the first without a token, each signed by KEY.
        let calls = fake.calls_to("ListAccounts");
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].param("NextToken"), None);
        assert!(calls[1..].iter().all(|c| c.param("NextToken").is_some()));
        assert!(calls.iter().all(|c| c.access_key_id.as_deref() == Some(KEY)
            && c.signing_region.as_deref() == Some("us-east-1")
            && c.status == 200));

        // The paginator's MaxResults, and the fake's own smaller page size.
        all_accounts(&client, Some(5)).await;
        assert_eq!(fake.calls_to("ListAccounts").len(), 3 + 10);
        fake.set_page_size(7);
        assert_eq!(all_accounts(&client, None).await.len(), 46);
        assert_eq!(fake.calls_to("ListAccounts").len(), 3 + 10 + 7);
    }

    #[tokio::test]
    async fn the_sdk_parses_the_organization_its_root_and_each_accounts_status_and_state() {
        let fake = FakeOrganizations::start();
        fake.add_account(ROOT_ID, "222222222222", "workload");
        let client = client(&fake, 1);

        let org = client.describe_organization().send().await.unwrap();
        let org = org.organization().unwrap();
        assert_eq!(org.id(), Some(ORGANIZATION_ID));
        assert_eq!(org.master_account_id(), Some(MANAGEMENT_ACCOUNT_ID));
        let roots = client.list_roots().send().await.unwrap();
        assert_eq!(roots.roots()[0].id(), Some(ROOT_ID));

        fake.close_account("222222222222");
        let page = client.list_accounts().send().await.unwrap();
        let closed = &page.accounts()[1];
        assert_eq!(closed.name(), Some("workload"));
        assert_eq!(closed.status(), Some(&AccountStatus::Suspended));
        assert_eq!(closed.state(), Some(&SdkState::Suspended));
        assert_eq!(
            closed.arn(),
            Some("arn:aws:organizations::111111111111:account/o-exampleorg1/222222222222")
        );
        assert_eq!(closed.joined_timestamp().unwrap().secs(), JOINED as i64);
        fake.set_state("222222222222", AccountState::PendingActivation);
        let page = client.list_accounts().send().await.unwrap();
        assert_eq!(page.accounts()[1].status(), Some(&AccountStatus::Active));
        assert_eq!(
            page.accounts()[1].state(),
            Some(&SdkState::PendingActivation)
        );
    }

    #[tokio::test]
    async fn ous_are_walked_with_list_children_and_change_between_walks() {
        let fake = FakeOrganizations::start();
        let prod = fake.add_ou(ROOT_ID);
        let prod_eu = fake.add_ou(&prod);
        let prod_eu_web = fake.add_ou(&prod_eu);
        let sandbox = fake.add_ou(ROOT_ID);
        let in_prod = fake.add_accounts(&prod, 3);
        let deep = fake.add_accounts(&prod_eu_web, 25);
        let in_sandbox = fake.add_accounts(&sandbox, 2);
        let client = client(&fake, 1);

        let want: BTreeSet<String> = in_prod.iter().chain(&deep).cloned().collect();
        assert_eq!(accounts_under(&client, &prod).await, want);
        // Three OUs below prod; 25 accounts in two pages.
        assert_eq!(fake.calls_to("ListChildren").len(), 3);
        assert_eq!(fake.calls_to("ListAccountsForParent").len(), 4);
        assert!(fake
            .calls_to("ListChildren")
            .iter()
            .all(|c| { c.param("ChildType") == Some("ORGANIZATIONAL_UNIT") }));

        // Between two reloads: one account joins prod, one leaves, one moves to sandbox.
        fake.add_account(&prod_eu, "333333333333", "new");
        fake.remove_account(&deep[0]);
        fake.move_account(&in_prod[0], &sandbox);
        let mut want = want;
        want.insert("333333333333".to_owned());
        want.remove(&deep[0]);
        want.remove(&in_prod[0]);
        assert_eq!(accounts_under(&client, &prod).await, want);
        let mut sandboxed: BTreeSet<String> = in_sandbox.into_iter().collect();
        sandboxed.insert(in_prod[0].clone());
        assert_eq!(accounts_under(&client, &sandbox).await, sandboxed);

        // ChildType ACCOUNT lists the accounts directly in a parent.
        let children = client
            .list_children()
            .parent_id(&sandbox)
            .child_type(ChildType::Account)
            .send()
            .await
            .unwrap();
        assert_eq!(children.children().len(), 3);
        assert!(children
            .children()
            .iter()
            .all(|c| c.r#type() == Some(&ChildType::Account)));
    }

    #[tokio::test]
    async fn errors_are_the_sdks_typed_errors() {
        let fake = FakeOrganizations::start();
        let client = client(&fake, 1);

        fake.throttle(1);
        let err = client.list_accounts().send().await.unwrap_err();
        assert!(err
            .as_service_error()
            .unwrap()
            .is_too_many_requests_exception());
        assert_eq!(fake.throttles(), 1);
        assert_eq!(fake.calls()[0].status, 400);

        fake.break_with(Outage::AccessDenied);
        let err = client.list_accounts().send().await.unwrap_err();
        assert!(err.as_service_error().unwrap().is_access_denied_exception());
        fake.break_with(Outage::NotInUse);
        let err = client.describe_organization().send().await.unwrap_err();
        assert!(err
            .as_service_error()
            .unwrap()
            .is_aws_organizations_not_in_use_exception());
        fake.break_with(Outage::ServiceError);
        let err = client.list_children().send().await.unwrap_err();
        assert!(err.as_service_error().unwrap().is_service_exception());
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 500);
        fake.break_with(Outage::Unavailable);
        let err = client.list_accounts().send().await.unwrap_err();
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
        fake.restore();

        let forged = client
            .list_accounts()
            .next_token("not-a-token-the-fake-issued");
        let invalid = forged.send().await.unwrap_err().into_service_error();
        assert!(invalid.is_invalid_input_exception(), "{invalid:?}");
        let aws_sdk_organizations::operation::list_accounts::ListAccountsError::InvalidInputException(e) =
            invalid
        else {
            unreachable!()
        };
        assert_eq!(
            e.reason().map(|r| r.as_str()),
            Some("INVALID_NEXT_TOKEN"),
            "{e:?}"
        );
        let err = client.list_accounts().max_results(21).send().await;
        assert_eq!(
            err.unwrap_err().into_service_error().code(),
            Some("InvalidInputException")
        );
        let unknown = client
            .list_accounts_for_parent()
            .parent_id("ou-ex4m-deadbeef");
        let err = unknown.send().await.unwrap_err();
        assert!(err
            .as_service_error()
            .unwrap()
            .is_parent_not_found_exception());
        // A token is good for the listing it was issued for only.
        fake.add_accounts(ROOT_ID, 20);
        let page = client.list_accounts().send().await.unwrap();
        let err = client
            .list_children()
            .parent_id(ROOT_ID)
            .child_type(ChildType::Account)
            .next_token(page.next_token().unwrap())
            .send()
            .await
            .unwrap_err();
        assert!(err.as_service_error().unwrap().is_invalid_input_exception());
    }

    #[tokio::test]
    async fn the_sdk_retries_throttled_calls_and_the_rate_limit_throttles() {
        let fake = FakeOrganizations::start();
        fake.throttle(2);
        client(&fake, 3)
            .describe_organization()
            .send()
            .await
            .unwrap();
        let statuses: Vec<u16> = fake.calls().iter().map(|c| c.status).collect();
        assert_eq!(statuses, [400, 400, 200]);

        fake.limit_rate(3);
        let client = client(&fake, 1);
        let mut ok = 0;
        for _ in 0..5 {
            ok += usize::from(client.list_roots().send().await.is_ok());
        }
        assert_eq!((ok, fake.throttles()), (3, 2 + 2));
    }

    #[tokio::test]
    async fn stopped_it_refuses_connections_and_resumed_it_serves_the_same_organization() {
        let fake = FakeOrganizations::start();
        fake.add_accounts(ROOT_ID, 2);
        let client = client(&fake, 1);
        fake.stop();
        let err = client.list_accounts().send().await.unwrap_err();
        assert!(err.raw_response().is_none(), "{err:?}");
        fake.resume();
        assert_eq!(all_accounts(&client, None).await.len(), 3);
        assert_eq!(fake.calls().len(), 1);
    }
}
