//! The policies as documents: the permission policy of every role that signs an AssumeRole
//! and the trust policy of every target role, with the conditions each needs. A pure function
//! of the config and `Options`: it must never do I/O or call AWS.

use super::yaml::{map, s, strings, Node};
use crate::config::Config;

pub(super) const VERSION: &str = "2012-10-17";
pub(super) const ASSUME: &str = "sts:AssumeRole";
const TAG_SESSION: &str = "sts:TagSession";
const SOURCE_IDENTITY: &str = "sts:SetSourceIdentity";
/// STS's own default; a role that allows longer sessions must say so.
pub(super) const DEFAULT_MAX_SESSION_SECONDS: i32 = 3600;

/// What the command line adds to the config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The instance role's account when `[instance] account_id` is not set.
    pub account_id: Option<String>,
    /// Adds `aws:PrincipalOrgID` to every trust policy.
    pub org_id: Option<String>,
    /// Trust the signer's account root (`arn:P:iam::ACCOUNT:root`) instead of the signer role.
    pub trust_account_root: bool,
    /// The target template's default `ManagedPolicyArns`.
    pub managed_policies: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error(
        "the trust policies name the instance role {role_name}, whose account is unknown: set \
         [instance] account_id in the config, or pass --account-id"
    )]
    AccountUnknown { role_name: String },
    #[error("--account-id {given} contradicts [instance] account_id = {config:?} in the config")]
    AccountMismatch { config: String, given: String },
    #[error(
        "the config's target roles have several names ({}); choose one with --role-name",
        names.join(", ")
    )]
    RoleNameNeeded { names: Vec<String> },
    #[error("no target role is named {name:?}; the config's are: {}", names.join(", "))]
    UnknownRoleName { name: String, names: Vec<String> },
    #[error(
        "{first} and {other} are both named {name} but need different trust or permission \
         policies, so one template cannot create both; align their options (external_id, \
         tags, source_identity, source_profile) or rename one"
    )]
    MixedRoles {
        name: String,
        first: String,
        other: String,
    },
}

/// A permission policy and the role it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub role: String,
    pub policy: Node,
}

/// A trust policy and the target roles that need exactly it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    pub roles: Vec<String>,
    pub policy: Node,
}

/// `arn:P:iam::ACCOUNT:role/PATH/NAME` → `PATH/NAME` (the name with its path, as IAM spells a
/// role in a template's `Path` + `RoleName`).
pub fn role_name(arn: &str) -> &str {
    arn.split_once(":role/").map_or(arn, |(_, name)| name)
}

/// The actions roles[i]'s AssumeRole needs, in both policies: tags need `sts:TagSession`; a
/// source identity set on it or on any role before it in its chain (STS carries it along)
/// needs `sts:SetSourceIdentity`.
fn actions(config: &Config, i: usize) -> Vec<&'static str> {
    let role = &config.roles[i];
    let mut actions = vec![ASSUME];
    if !role.tags.is_empty() {
        actions.push(TAG_SESSION);
    }
    let mut at = Some(i);
    let mut carried = false;
    for _ in 0..=crate::config::MAX_CHAIN_ROLES {
        let Some(j) = at else { break };
        carried |= config.roles[j].source_identity.is_some();
        at = config.source_of(j);
    }
    if carried {
        actions.push(SOURCE_IDENTITY);
    }
    actions
}

/// `items` without repeats, in first-seen order.
pub(super) fn push_new<T: PartialEq>(items: &mut Vec<T>, item: T) {
    if !items.contains(&item) {
        items.push(item);
    }
}

/// Merges `more` into `actions`, keeping the fixed order AssumeRole, TagSession,
/// SetSourceIdentity.
fn union(actions: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    [ASSUME, TAG_SESSION, SOURCE_IDENTITY]
        .into_iter()
        .filter(|a| actions.contains(a) || more.contains(a))
        .collect()
}

/// The permission policy of the signer that `signs` picks out (by the source index of a role:
/// `None` for the instance credentials): one statement per set of actions, each listing the
/// role ARNs that need exactly those.
///
/// A role set discovered from AWS Organizations (expanded by `with_wildcards`) has the ARN
/// `arn:P:iam::*:role/NAME`: its accounts are known only at run time, so its statement is
/// narrowed to the roles of one organization with `aws:ResourceOrgID`: `org_id` when given,
/// else the signer's own (`${aws:PrincipalOrgID}`). A signer that lists the accounts also gets
/// the Organizations read actions the agent calls.
fn permission_policy(
    config: &Config,
    org_id: Option<&str>,
    signs: impl Fn(Option<usize>) -> bool,
) -> Node {
    let mut needs: Vec<(&str, Vec<&'static str>)> = Vec::new();
    for i in 0..config.roles.len() {
        if !signs(config.source_of(i)) {
            continue;
        }
        let arn = config.roles[i].role_arn.as_str();
        match needs.iter_mut().find(|(a, _)| *a == arn) {
            Some((_, have)) => *have = union(have, &actions(config, i)),
            None => needs.push((arn, actions(config, i))),
        }
    }
    // (actions, in any account?) -> ARNs
    type Group<'a> = ((Vec<&'static str>, bool), Vec<&'a str>);
    let mut groups: Vec<Group> = Vec::new();
    for (arn, actions) in needs {
        let key = (actions, arn.contains(":iam::*:"));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, arns)) => arns.push(arn),
            None => groups.push((key, vec![arn])),
        }
    }
    let mut statements: Vec<Node> = groups
        .into_iter()
        .map(|((actions, anywhere), arns)| {
            let mut st = map([
                ("Effect", s("Allow")),
                ("Action", strings(&actions)),
                ("Resource", strings(&arns)),
            ]);
            if anywhere {
                let org = org_id.unwrap_or("${aws:PrincipalOrgID}");
                let equals = map([("aws:ResourceOrgID", s(org))]);
                st.push("Condition", map([("StringEquals", equals)]));
            }
            st
        })
        .collect();
    // A fleet's reader of a shared parameter does not list; its publisher does.
    let publish = config.discovery.publish;
    let lists = config.discovered.iter().any(|set| {
        let reader = set.organization.source_profile.as_deref();
        (set.organization.shared_parameter.is_none() || publish)
            && signs(reader.and_then(|p| config.roles.iter().position(|r| r.profile == p)))
    });
    if lists {
        statements.push(map([
            ("Effect", s("Allow")),
            ("Action", strings(&ORGANIZATIONS_READ)),
            ("Resource", s("*")),
        ]));
    }
    // The shared parameters' parts are read (and, by the publisher, written) with the
    // instance credentials.
    let parts: Vec<String> = config
        .discovered
        .iter()
        .filter_map(|set| set.organization.shared_parameter.as_deref())
        .map(|name| parameter_parts_arn(config, name))
        .collect();
    if signs(None) && !parts.is_empty() {
        let actions: &[&str] = if publish { &SSM_PUBLISH } else { &SSM_READ };
        statements.push(map([
            ("Effect", s("Allow")),
            ("Action", strings(actions)),
            ("Resource", strings(&parts)),
        ]));
    }
    map([
        ("Version", s(VERSION)),
        ("Statement", Node::List(statements)),
    ])
}

/// The instance role's permission policy (needs no account: its resources are the targets).
pub fn instance_permission_policy(config: &Config, org_id: Option<&str>) -> Node {
    permission_policy(config, org_id, |source| source.is_none())
}

/// What the agent calls to discover a role set's accounts (`org`).
const ORGANIZATIONS_READ: [&str; 4] = [
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
];

/// What a fleet's instance calls to read a shared account list (`shared`), and what its
/// publisher calls to write one.
const SSM_READ: [&str; 1] = ["ssm:GetParameters"];
const SSM_PUBLISH: [&str; 3] = [
    "ssm:DeleteParameters",
    "ssm:GetParameters",
    "ssm:PutParameter",
];

/// The ARN that covers a shared parameter's parts (`NAME/1`, `NAME/2`, ...): in any Region
/// (the instance's, known only at run time) of the instance's account, unless it is an ARN.
fn parameter_parts_arn(config: &Config, name: &str) -> String {
    if name.starts_with("arn:") {
        return format!("{name}/*");
    }
    let partition = config.roles.first().map_or("aws", |r| r.partition.as_str());
    let account = config.instance.account_id.as_deref().unwrap_or("*");
    format!("arn:{partition}:ssm:*:{account}:parameter{name}/*")
}

/// `config` with each discovered role set standing for its role in every account
/// (`arn:P:iam::*:role/NAME`), as the policies must allow before the accounts are known.
pub fn with_wildcards(config: &Config) -> Config {
    config
        .expand(&vec![vec!["*".to_owned()]; config.discovered.len()])
        .0
}

/// The ARN of the instance role (its path is taken to be `/`: IMDS never tells it).
fn instance_arn(
    config: &Config,
    options: &Options,
    partition: &str,
) -> Result<String, PolicyError> {
    let account = instance_account(config, options)?;
    Ok(format!(
        "arn:{partition}:iam::{account}:role/{}",
        config.instance.role_name
    ))
}

fn instance_account<'a>(config: &'a Config, options: &'a Options) -> Result<&'a str, PolicyError> {
    match (&config.instance.account_id, &options.account_id) {
        (Some(config), Some(given)) if config != given => Err(PolicyError::AccountMismatch {
            config: config.clone(),
            given: given.clone(),
        }),
        (Some(account), _) | (None, Some(account)) => Ok(account),
        (None, None) => Err(PolicyError::AccountUnknown {
            role_name: config.instance.role_name.clone(),
        }),
    }
}

/// Every permission policy: the instance role's first, then each source role's, in config
/// order.
pub fn permission_policies(
    config: &Config,
    options: &Options,
) -> Result<Vec<Permission>, PolicyError> {
    let partition = config.roles.first().map_or("aws", |r| r.partition.as_str());
    let mut all = vec![Permission {
        role: instance_arn(config, options, partition)?,
        policy: instance_permission_policy(config, options.org_id.as_deref()),
    }];
    let mut hubs: Vec<&str> = Vec::new();
    for i in 0..config.roles.len() {
        if let Some(source) = config.source_of(i) {
            push_new(&mut hubs, config.roles[source].role_arn.as_str());
        }
    }
    for set in &config.discovered {
        let reader = set.organization.source_profile.as_deref();
        if let Some(r) = config
            .roles
            .iter()
            .find(|r| Some(r.profile.as_str()) == reader)
        {
            push_new(&mut hubs, r.role_arn.as_str());
        }
    }
    for hub in hubs {
        all.push(Permission {
            role: hub.to_owned(),
            policy: hub_permission_policy(config, hub, options.org_id.as_deref()),
        });
    }
    Ok(all)
}

/// What a source role needs to assume its dependents (every profile with that role ARN).
pub(super) fn hub_permission_policy(config: &Config, hub: &str, org_id: Option<&str>) -> Node {
    permission_policy(config, org_id, |source| {
        source.is_some_and(|j| config.roles[j].role_arn == hub)
    })
}

/// Who may assume roles[i] and how: the signer's ARN (or its account root), the external id,
/// the actions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Access {
    principal: String,
    external_id: Option<String>,
    actions: Vec<&'static str>,
}

fn access(config: &Config, options: &Options, i: usize) -> Result<Access, PolicyError> {
    let role = &config.roles[i];
    let signer = match config.source_of(i) {
        None => instance_arn(config, options, &role.partition)?,
        Some(j) => config.roles[j].role_arn.clone(),
    };
    let principal = if options.trust_account_root {
        // arn:P:iam::ACCOUNT:role/NAME → arn:P:iam::ACCOUNT:root
        let prefix = signer.split(":role/").next().unwrap_or(&signer);
        format!("{prefix}:root")
    } else {
        signer
    };
    Ok(Access {
        principal,
        external_id: role.external_id.clone(),
        actions: actions(config, i),
    })
}

/// The trust statements for one access. `sts:ExternalId` is in the request context of
/// `sts:AssumeRole`; the tagging and source-identity actions get a statement of their own
/// without it, so that their authorization never hangs on a key IAM may not supply to them.
fn trust_statements(access: &Access, org_id: Option<&str>) -> Vec<Node> {
    let condition = |external_id: Option<&str>| {
        let mut equals = Node::Map(Vec::new());
        if let Some(id) = external_id {
            equals.push("sts:ExternalId", s(id));
        }
        if let Some(org) = org_id {
            equals.push("aws:PrincipalOrgID", s(org));
        }
        equals
    };
    let statement = |actions: &[&str], external_id: Option<&str>| {
        let mut st = map([
            ("Effect", s("Allow")),
            ("Principal", map([("AWS", s(&access.principal))])),
            ("Action", strings(actions)),
        ]);
        let equals = condition(external_id);
        if equals != Node::Map(Vec::new()) {
            st.push("Condition", map([("StringEquals", equals)]));
        }
        st
    };
    match access.external_id.as_deref() {
        None => vec![statement(&access.actions, None)],
        Some(id) => {
            let mut all = vec![statement(&[ASSUME], Some(id))];
            if access.actions.len() > 1 {
                all.push(statement(&access.actions[1..], None));
            }
            all
        }
    }
}

/// The trust policy of `arn`: a statement (or two) for every way the config assumes it.
pub(super) fn trust_policy(
    config: &Config,
    options: &Options,
    arn: &str,
) -> Result<Node, PolicyError> {
    let mut statements = Vec::new();
    for i in 0..config.roles.len() {
        if config.roles[i].role_arn != arn {
            continue;
        }
        for st in trust_statements(&access(config, options, i)?, options.org_id.as_deref()) {
            push_new(&mut statements, st);
        }
    }
    Ok(map([
        ("Version", s(VERSION)),
        ("Statement", Node::List(statements)),
    ]))
}

/// Every target role's trust policy; roles that need the same one share an entry.
pub fn trust_policies(config: &Config, options: &Options) -> Result<Vec<Trust>, PolicyError> {
    let mut arns: Vec<&str> = Vec::new();
    for role in &config.roles {
        push_new(&mut arns, role.role_arn.as_str());
    }
    let mut all: Vec<Trust> = Vec::new();
    for arn in arns {
        let policy = trust_policy(config, options, arn)?;
        match all.iter_mut().find(|t| t.policy == policy) {
            Some(t) => t.roles.push(arn.to_owned()),
            None => all.push(Trust {
                roles: vec![arn.to_owned()],
                policy,
            }),
        }
    }
    Ok(all)
}

/// The session policies that narrow the roles' sessions: `(roles, policy, policy_arns)`,
/// roles with the same ones sharing an entry, `{account_id}` filled per role. They need no
/// permission of the signer (`sts:AssumeRole` passes them) and change no trust policy; they
/// are listed so that a reviewer sees the sessions get only what both the role's policies
/// and these allow, and which managed policies must exist in each target account.
pub fn session_policies(config: &Config) -> Vec<(Vec<String>, Option<String>, Vec<String>)> {
    let mut all: Vec<(Vec<String>, Option<String>, Vec<String>)> = Vec::new();
    for role in &config.roles {
        if role.policy.is_none() && role.policy_arns.is_empty() {
            continue;
        }
        let arns = role.policy_arns();
        match all
            .iter_mut()
            .find(|(_, p, a)| *p == role.policy && *a == arns)
        {
            Some((roles, _, _)) => push_new(roles, role.role_arn.clone()),
            None => all.push((vec![role.role_arn.clone()], role.policy.clone(), arns)),
        }
    }
    all
}

/// `{"permission_policies": [{"role", "policy"}], "trust_policies": [{"roles", "policy"}]}`,
/// and `"session_policies": [{"roles", "policy", "policy_arns"}]` when some role has them
/// (`policy` as the minified JSON STS is sent).
pub fn policies(config: &Config, options: &Options) -> Result<Node, PolicyError> {
    let permissions = permission_policies(config, options)?
        .into_iter()
        .map(|p| map([("role", s(p.role)), ("policy", p.policy)]))
        .collect();
    let trusts = trust_policies(config, options)?
        .into_iter()
        .map(|t| map([("roles", strings(&t.roles)), ("policy", t.policy)]))
        .collect();
    let mut out = vec![
        ("permission_policies".to_owned(), Node::List(permissions)),
        ("trust_policies".to_owned(), Node::List(trusts)),
    ];
    let sessions: Vec<Node> = session_policies(config)
        .into_iter()
        .map(|(roles, policy, arns)| {
            let mut entry = vec![("roles".to_owned(), strings(&roles))];
            if let Some(policy) = policy {
                entry.push(("policy".to_owned(), s(policy)));
            }
            if !arns.is_empty() {
                entry.push(("policy_arns".to_owned(), strings(&arns)));
            }
            Node::Map(entry)
        })
        .collect();
    if !sessions.is_empty() {
        out.push(("session_policies".to_owned(), Node::List(sessions)));
    }
    Ok(Node::Map(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{instance_template, target_template};
    use serde_json::{json, Value};
    use std::path::Path;

    const INSTANCE: &str = "arn:aws:iam::000000000000:role/EC2_PerformSecurityAudit";
    const ROLE_1: &str = "arn:aws:iam::111111111111:role/PerformSecurityAudit";
    const ROLE_2: &str = "arn:aws:iam::222222222222:role/PerformSecurityAudit";
    const HUB: &str = "arn:aws:iam::333333333333:role/Hub";

    /// The reference story's `[instance]`, then `roles`.
    fn config(roles: &str) -> Config {
        let text = format!(
            "[instance]\nrole_name = \"EC2_PerformSecurityAudit\"\naccount_id = \"000000000000\"\n\
             {roles}"
        );
        crate::config::parse(&text, Path::new("test.toml")).expect("a valid config")
    }

    fn role(profile: &str, arn: &str, extra: &str) -> String {
        format!("[[role]]\nprofile = \"{profile}\"\nrole_arn = \"{arn}\"\n{extra}\n")
    }

    fn story(extra_1: &str, extra_2: &str) -> Config {
        config(&format!(
            "{}{}",
            role("audit-111111111111", ROLE_1, extra_1),
            role("audit-222222222222", ROLE_2, extra_2)
        ))
    }

    fn value(node: &Node) -> Value {
        serde_json::to_value(node).unwrap()
    }

    fn statement(actions: &[&str], resources: &[&str]) -> Value {
        json!({"Effect": "Allow", "Action": actions, "Resource": resources})
    }

    fn trusts(principal: &str, actions: &[&str]) -> Value {
        json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions})
    }

    fn doc(statements: Vec<Value>) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    fn all(config: &Config, options: &Options) -> Value {
        value(&policies(config, options).unwrap())
    }

    #[test]
    fn the_reference_story_needs_exactly_its_two_roles_and_trusts_the_instance_role() {
        assert_eq!(
            all(&story("", ""), &Options::default()),
            json!({
                "permission_policies": [{
                    "role": INSTANCE,
                    "policy": doc(vec![statement(&[ASSUME], &[ROLE_1, ROLE_2])]),
                }],
                "trust_policies": [{
                    "roles": [ROLE_1, ROLE_2],
                    "policy": doc(vec![trusts(INSTANCE, &[ASSUME])]),
                }],
            })
        );
    }

    #[test]
    fn tagging_and_source_identity_actions_only_for_the_roles_that_use_them() {
        let table = [
            ("tags = { team = \"audit\" }", vec![ASSUME, TAG_SESSION]),
            ("source_identity = \"alice\"", vec![ASSUME, SOURCE_IDENTITY]),
            (
                "tags = { team = \"audit\" }\nsource_identity = \"alice\"",
                vec![ASSUME, TAG_SESSION, SOURCE_IDENTITY],
            ),
        ];
        for (extra, actions) in table {
            let got = all(&story(extra, ""), &Options::default());
            assert_eq!(
                got["permission_policies"][0]["policy"],
                doc(vec![
                    statement(&actions, &[ROLE_1]),
                    statement(&[ASSUME], &[ROLE_2]),
                ]),
                "{extra}"
            );
            assert_eq!(
                got["trust_policies"],
                json!([
                    {"roles": [ROLE_1], "policy": doc(vec![trusts(INSTANCE, &actions)])},
                    {"roles": [ROLE_2], "policy": doc(vec![trusts(INSTANCE, &[ASSUME])])},
                ]),
                "{extra}"
            );
        }
    }

    #[test]
    fn external_id_is_a_condition_of_assume_role_alone() {
        let with_id = |actions: &[&str], org: Option<&str>| {
            let mut st = trusts(INSTANCE, actions);
            st["Condition"] = json!({"StringEquals": {"sts:ExternalId": "ext-1"}});
            if let Some(org) = org {
                st["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = json!(org);
            }
            st
        };
        let got = all(&story("external_id = \"ext-1\"", ""), &Options::default());
        assert_eq!(
            got["trust_policies"][0],
            json!({"roles": [ROLE_1], "policy": doc(vec![with_id(&[ASSUME], None)])})
        );
        // The permission policy never names the external id.
        assert_eq!(
            got["permission_policies"][0]["policy"],
            doc(vec![statement(&[ASSUME], &[ROLE_1, ROLE_2])])
        );

        let config = story("external_id = \"ext-1\"\ntags = { team = \"audit\" }", "");
        let org = Options {
            org_id: Some("o-abcdefghij".into()),
            ..Options::default()
        };
        let mut tag = trusts(INSTANCE, &[TAG_SESSION]);
        tag["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}});
        assert_eq!(
            all(&config, &org)["trust_policies"][0]["policy"],
            doc(vec![with_id(&[ASSUME], Some("o-abcdefghij")), tag])
        );
    }

    #[test]
    fn org_id_narrows_every_trust_policy_and_no_permission_policy() {
        let org = Options {
            org_id: Some("o-abcdefghij".into()),
            ..Options::default()
        };
        let got = all(&story("", ""), &org);
        let mut st = trusts(INSTANCE, &[ASSUME]);
        st["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}});
        assert_eq!(got["trust_policies"][0]["policy"], doc(vec![st]));
        assert_eq!(
            got["permission_policies"][0]["policy"],
            doc(vec![statement(&[ASSUME], &[ROLE_1, ROLE_2])])
        );
    }

    /// A hub assumed with the instance credentials, and the story's two roles assumed with
    /// the hub's.
    fn chained(hub_extra: &str) -> Config {
        config(&format!(
            "{}{}{}",
            role("hub", HUB, hub_extra),
            role("audit-111111111111", ROLE_1, "source_profile = \"hub\""),
            role("audit-222222222222", ROLE_2, "source_profile = \"hub\""),
        ))
    }

    /// A role set over the organization, listed by a reader in the management account and
    /// assumed through the hub: a wildcard narrowed to the organization, the read actions
    /// for the reader only, and one trust policy for the role in every account.
    #[test]
    fn a_discovered_role_set_is_narrowed_to_the_organization() {
        const READER: &str = "arn:aws:iam::999999999999:role/OrgReader";
        const ANY: &str = "arn:aws:iam::*:role/PerformSecurityAudit";
        let config = with_wildcards(&config(&format!(
            "{}{}[[role_set]]\nrole_name = \"PerformSecurityAudit\"\n\
             profile = \"audit-{{account_id}}\"\nsource_profile = \"hub\"\n\
             [role_set.organization]\nsource_profile = \"reader\"\n",
            role("hub", HUB, ""),
            role("reader", READER, ""),
        )));
        let narrowed = |org: &str| {
            json!({"Effect": "Allow", "Action": [ASSUME], "Resource": [ANY],
                   "Condition": {"StringEquals": {"aws:ResourceOrgID": org}}})
        };
        let read = json!({"Effect": "Allow", "Action": ORGANIZATIONS_READ, "Resource": "*"});
        let got = all(&config, &Options::default());
        assert_eq!(
            got["permission_policies"],
            json!([
                {"role": INSTANCE, "policy": doc(vec![statement(&[ASSUME], &[HUB, READER])])},
                {"role": HUB, "policy": doc(vec![narrowed("${aws:PrincipalOrgID}")])},
                {"role": READER, "policy": doc(vec![read])},
            ])
        );
        assert_eq!(
            got["trust_policies"][1],
            json!({"roles": [ANY], "policy": doc(vec![trusts(HUB, &[ASSUME])])})
        );
        let options = Options {
            org_id: Some("o-abcd1234ef".into()),
            ..Options::default()
        };
        let got = all(&config, &options);
        assert_eq!(
            got["permission_policies"][1]["policy"],
            doc(vec![narrowed("o-abcd1234ef")])
        );
    }

    /// A fleet sharing one listing: its instances read the parts and never call
    /// Organizations; the publisher lists and writes them.
    #[test]
    fn a_shared_list_is_read_by_the_fleet_and_written_by_its_publisher() {
        const ANY: &str = "arn:aws:iam::*:role/PerformSecurityAudit";
        const PARTS: &str = "arn:aws:ssm:*:000000000000:parameter/ear/accounts/*";
        let text = "[[role_set]]\nrole_name = \"PerformSecurityAudit\"\n\
                    profile = \"audit-{account_id}\"\n[role_set.organization]\n\
                    shared_parameter = \"/ear/accounts\"\n";
        let narrowed = json!({"Effect": "Allow", "Action": [ASSUME], "Resource": [ANY],
            "Condition": {"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}}});
        let reader = with_wildcards(&config(text));
        let got = all(&reader, &Options::default());
        assert_eq!(
            got["permission_policies"],
            json!([{"role": INSTANCE, "policy": doc(vec![
                narrowed.clone(),
                statement(&SSM_READ, &[PARTS]),
            ])}])
        );

        let publisher = with_wildcards(&config(&format!("{text}[discovery]\npublish = true\n")));
        let read = json!({"Effect": "Allow", "Action": ORGANIZATIONS_READ, "Resource": "*"});
        let got = all(&publisher, &Options::default());
        assert_eq!(
            got["permission_policies"],
            json!([{"role": INSTANCE, "policy": doc(vec![
                narrowed,
                read,
                statement(&SSM_PUBLISH, &[PARTS]),
            ])}])
        );
    }

    #[test]
    fn chaining_gives_the_hub_its_own_policy_and_its_dependents_trust_it() {
        assert_eq!(
            all(&chained(""), &Options::default()),
            json!({
                "permission_policies": [
                    {"role": INSTANCE, "policy": doc(vec![statement(&[ASSUME], &[HUB])])},
                    {"role": HUB, "policy": doc(vec![statement(&[ASSUME], &[ROLE_1, ROLE_2])])},
                ],
                "trust_policies": [
                    {"roles": [HUB], "policy": doc(vec![trusts(INSTANCE, &[ASSUME])])},
                    {"roles": [ROLE_1, ROLE_2], "policy": doc(vec![trusts(HUB, &[ASSUME])])},
                ],
            })
        );
    }

    #[test]
    fn a_source_identity_is_carried_down_the_chain() {
        let both = [ASSUME, SOURCE_IDENTITY];
        let got = all(&chained("source_identity = \"alice\""), &Options::default());
        assert_eq!(
            got["permission_policies"][1]["policy"],
            doc(vec![statement(&both, &[ROLE_1, ROLE_2])])
        );
        assert_eq!(
            got["trust_policies"][1]["policy"],
            doc(vec![trusts(HUB, &both)])
        );
    }

    #[test]
    fn the_account_root_only_when_asked_and_then_the_signers_account() {
        let root = Options {
            trust_account_root: true,
            ..Options::default()
        };
        let got = all(&chained(""), &root);
        assert_eq!(
            got["trust_policies"][0]["policy"],
            doc(vec![trusts("arn:aws:iam::000000000000:root", &[ASSUME])])
        );
        assert_eq!(
            got["trust_policies"][1]["policy"],
            doc(vec![trusts("arn:aws:iam::333333333333:root", &[ASSUME])])
        );
    }

    #[test]
    fn the_instance_account_comes_from_the_config_or_the_command_line() {
        let text = format!(
            "[instance]\nrole_name = \"EC2_PerformSecurityAudit\"\n{}",
            role("audit-111111111111", ROLE_1, "")
        );
        let no_account = crate::config::parse(&text, Path::new("t.toml")).unwrap();
        assert_eq!(
            policies(&no_account, &Options::default()),
            Err(PolicyError::AccountUnknown {
                role_name: "EC2_PerformSecurityAudit".into()
            })
        );
        let given = |id: &str| Options {
            account_id: Some(id.into()),
            ..Options::default()
        };
        let got = value(&policies(&no_account, &given("000000000000")).unwrap());
        assert_eq!(got["permission_policies"][0]["role"], INSTANCE);
        assert_eq!(
            policies(&story("", ""), &given("999999999999")),
            Err(PolicyError::AccountMismatch {
                config: "000000000000".into(),
                given: "999999999999".into()
            })
        );
        // The instance template names no account: it works without one.
        let template = value(&instance_template(&no_account));
        assert_eq!(
            template["Resources"]["InstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"],
            doc(vec![statement(&[ASSUME], &[ROLE_1])])
        );
    }

    #[test]
    fn one_target_template_per_role_name() {
        let options = Options {
            managed_policies: vec![
                "arn:aws:iam::aws:policy/SecurityAudit".into(),
                "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
            ],
            ..Options::default()
        };
        let t = value(&target_template(&story("", ""), &options, None).unwrap());
        let props = &t["Resources"]["Role"]["Properties"];
        assert_eq!(
            props["AssumeRolePolicyDocument"],
            doc(vec![trusts(INSTANCE, &[ASSUME])])
        );
        assert_eq!(props["Path"], "/");
        assert_eq!(props.get("Policies"), None);
        assert_eq!(props.get("MaxSessionDuration"), None);
        assert_eq!(
            t["Parameters"]["RoleName"]["Default"],
            "PerformSecurityAudit"
        );
        assert_eq!(
            t["Parameters"]["ManagedPolicyArns"]["Default"],
            "arn:aws:iam::aws:policy/SecurityAudit,arn:aws:iam::aws:policy/ReadOnlyAccess"
        );

        let long =
            value(&target_template(&story("duration_seconds = 7200", ""), &options, None).unwrap());
        assert_eq!(
            long["Resources"]["Role"]["Properties"]["MaxSessionDuration"],
            7200
        );

        let chained = chained("");
        assert_eq!(
            target_template(&chained, &options, None),
            Err(PolicyError::RoleNameNeeded {
                names: vec!["Hub".into(), "PerformSecurityAudit".into()]
            })
        );
        assert!(matches!(
            target_template(&chained, &options, Some("Nope")),
            Err(PolicyError::UnknownRoleName { .. })
        ));
        let hub = value(&target_template(&chained, &options, Some("Hub")).unwrap());
        assert_eq!(
            hub["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"],
            doc(vec![statement(&[ASSUME], &[ROLE_1, ROLE_2])])
        );
        let spoke =
            value(&target_template(&chained, &options, Some("PerformSecurityAudit")).unwrap());
        assert_eq!(
            spoke["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"],
            doc(vec![trusts(HUB, &[ASSUME])])
        );

        assert_eq!(
            target_template(&story("external_id = \"ext-1\"", ""), &options, None),
            Err(PolicyError::MixedRoles {
                name: "PerformSecurityAudit".into(),
                first: ROLE_1.into(),
                other: ROLE_2.into()
            })
        );
    }

    #[test]
    fn session_policies_are_listed_per_role_and_change_no_other_policy() {
        let plain = story("", "");
        let narrowed = story(
            "policy = '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:Get*\", \
             \"Resource\": \"*\"}}'\npolicy_arns = [\"arn:aws:iam::{account_id}:policy/Narrow\"]\n",
            "policy_arns = [\"arn:aws:iam::aws:policy/SecurityAudit\"]\n",
        );
        let (a, b) = (
            all(&plain, &Options::default()),
            all(&narrowed, &Options::default()),
        );
        assert_eq!(a["permission_policies"], b["permission_policies"]);
        assert_eq!(a["trust_policies"], b["trust_policies"]);
        assert_eq!(a.get("session_policies"), None);
        assert_eq!(
            b["session_policies"],
            json!([
                {
                    "roles": [ROLE_1],
                    "policy": r#"{"Statement":{"Action":"s3:Get*","Effect":"Allow","Resource":"*"}}"#,
                    "policy_arns": ["arn:aws:iam::111111111111:policy/Narrow"],
                },
                {
                    "roles": [ROLE_2],
                    "policy_arns": ["arn:aws:iam::aws:policy/SecurityAudit"],
                },
            ])
        );
    }

    #[test]
    fn a_role_path_goes_to_the_template_path() {
        let arn = "arn:aws:iam::111111111111:role/audit/team/Reader";
        let config = config(&role("r", arn, ""));
        let t = value(
            &target_template(&config, &Options::default(), Some("audit/team/Reader")).unwrap(),
        );
        assert_eq!(t["Resources"]["Role"]["Properties"]["Path"], "/audit/team/");
        assert_eq!(t["Parameters"]["RoleName"]["Default"], "Reader");
    }
}
