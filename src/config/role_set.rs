//! `[[role_set]]`: one role per account, expanded into the roles it stands for, each then
//! checked exactly like a hand-written `[[role]]` and reported under the set's own keys
//! (`role_set[1].accounts[3]`). It must never accept a profile template that would give two
//! accounts the same profile, nor a role path a `[[role]]`'s `role_arn` could not hold.

use super::check::Checker;
use super::model::{Config, DiscoveredSet, Endpoints, Organization, Role};
use super::raw::{RawOrganization, RawRoleSet};
use super::roles::{CheckedRole, Defaults};
use super::rules::{
    check_account_id, check_partition, check_profile, parse_role_arn, valid, WORST_CASE_ACCOUNT_ID,
};
use std::ops::Range;
use toml::Spanned;

/// The one placeholder of a `[[role_set]]` profile template: the target account, so that each
/// account of the set gets its own profile.
pub(super) const PROFILE_PLACEHOLDER: &str = "{account_id}";

/// What a `[[role_set]]` stands for: its roles, or with `[role_set.organization]` a set whose
/// accounts are discovered at run time.
pub(super) enum Expansion {
    Roles(Vec<CheckedRole>),
    Discovered(Box<DiscoveredSet>, Vec<Source>),
}

/// A `source_profile` a discovered set names, with its key and place, to be checked once
/// every written role is known.
pub(super) struct Source {
    pub(super) key: String,
    pub(super) profile: String,
    pub(super) span: Range<usize>,
}

impl Checker<'_> {
    /// The roles a `[[role_set]]` stands for: `role_name` in each of `accounts`, one profile
    /// per account. Each is checked like a `[[role]]`; problems name the set's keys. With
    /// `[role_set.organization]` instead of `accounts`, the same checks run on a template
    /// role (the longest account id standing in), and the set is returned for discovery.
    pub(super) fn role_set(
        &mut self,
        n: usize,
        raw: Spanned<RawRoleSet>,
        defaults: &Defaults,
    ) -> Expansion {
        let header = raw.span();
        let line = self.lines.of(header.start);
        let raw = raw.into_inner();
        let prefix = format!("role_set[{n}]");
        let key = |name: &str| format!("{prefix}.{name}");
        let missing = |c: &mut Self, name: &str, hint: &str| {
            c.fail(
                Some(header.clone()),
                Some(key(name)),
                format!("missing; {hint}"),
            );
        };

        let partition = match &raw.partition {
            Some(v) => self.check(v, &key("partition"), |s| {
                check_partition(s).map(|()| s.clone())
            }),
            None => Some("aws".to_owned()),
        };
        let role_name = match &raw.role_name {
            Some(v) => self.check(v, &key("role_name"), |s| {
                valid(s, check_role_path, "is not a role name")
            }),
            None => {
                missing(
                    self,
                    "role_name",
                    "e.g. role_name = \"PerformSecurityAudit\"",
                );
                None
            }
        };
        let template = match &raw.profile {
            Some(v) => self.check(v, &key("profile"), |s| {
                check_profile_template(s).map(|()| s.clone())
            }),
            None => {
                missing(
                    self,
                    "profile",
                    "give a template such as profile = \"audit-{account_id}\"",
                );
                None
            }
        };
        let organization = match (&raw.accounts, &raw.organization) {
            (Some(list), Some(_)) => {
                self.fail(
                    Some(list.span()),
                    Some(key("accounts")),
                    "and [role_set.organization] both say which accounts; give one of them",
                );
                None
            }
            (None, Some(org)) => self.organization(&prefix, org),
            (_, None) => None,
        };
        let mut accounts = Vec::new();
        match &raw.accounts {
            Some(list) if list.get_ref().is_empty() => self.fail(
                Some(list.span()),
                Some(key("accounts")),
                "is empty; list the 12-digit ids of the accounts to assume role_name in",
            ),
            Some(list) => {
                for (i, account) in list.get_ref().iter().enumerate() {
                    let account_key = format!("{prefix}.accounts[{}]", i + 1);
                    let checked = self.check(account, &account_key, |s| {
                        valid(s, check_account_id, "is not an account id")
                    });
                    if let Some(id) = checked {
                        accounts.push((id, account_key, account.span()));
                    }
                }
            }
            None if raw.organization.is_some() => {}
            None => missing(
                self,
                "accounts",
                "e.g. accounts = [\"111111111111\", \"222222222222\"], or take them from \
                 AWS Organizations with a [role_set.organization] table",
            ),
        }
        let options = self.options(
            &prefix,
            &raw.options(),
            defaults,
            partition.as_deref().unwrap_or_default(),
            &header,
        );
        let (Some(partition), Some(role_name), Some(template)) = (partition, role_name, template)
        else {
            return Expansion::Roles(Vec::new());
        };
        if let Some(organization) = organization {
            let mut sources = Vec::new();
            let org_source = raw
                .organization
                .as_ref()
                .and_then(|o| o.get_ref().source_profile.as_ref());
            for (name, v) in [
                ("source_profile", raw.source_profile.as_ref()),
                ("organization.source_profile", org_source),
            ] {
                if let Some(v) = v {
                    sources.push(Source {
                        key: key(name),
                        profile: v.get_ref().clone(),
                        span: v.span(),
                    });
                }
            }
            let profile = template.replace(PROFILE_PLACEHOLDER, WORST_CASE_ACCOUNT_ID);
            let role_session_name =
                self.role_session_name(&prefix, raw.role_session_name.as_ref(), defaults, &profile);
            return Expansion::Discovered(
                Box::new(DiscoveredSet {
                    origin: prefix,
                    role_name,
                    partition: partition.clone(),
                    profile: template,
                    organization,
                    template: options.role(
                        String::new(),
                        String::new(),
                        partition,
                        String::new(),
                        role_session_name,
                        line,
                    ),
                }),
                sources,
            );
        }
        let mut roles = Vec::with_capacity(accounts.len());
        for (account_id, account_key, span) in accounts {
            let profile = template.replace(PROFILE_PLACEHOLDER, &account_id);
            let role_arn = format!("arn:{partition}:iam::{account_id}:role/{role_name}");
            let role_session_name =
                self.role_session_name(&prefix, raw.role_session_name.as_ref(), defaults, &profile);
            roles.push(CheckedRole {
                role: options.role(
                    profile,
                    role_arn,
                    partition.clone(),
                    account_id,
                    role_session_name,
                    line,
                ),
                origin: account_key.clone(),
                profile_key: account_key,
                profile_span: Some(span),
                source_key: key("source_profile"),
                source_span: options.source_span(),
            });
        }
        Expansion::Roles(roles)
    }

    /// `[role_set.organization]`: OU and account ids as Organizations writes them.
    fn organization(
        &mut self,
        prefix: &str,
        raw: &Spanned<RawOrganization>,
    ) -> Option<Organization> {
        let key = |name: &str| format!("{prefix}.organization.{name}");
        let errors = self.errors.len();
        let list = |c: &mut Self,
                    name: &str,
                    v: &Option<Spanned<Vec<Spanned<String>>>>,
                    rule: fn(&str) -> Result<(), String>,
                    what: &str| {
            let mut out = Vec::new();
            for (i, item) in v.iter().flat_map(|l| l.get_ref()).enumerate() {
                let k = format!("{}[{}]", key(name), i + 1);
                if let Some(s) = c.check(item, &k, |s| valid(s, rule, what)) {
                    out.push(s);
                }
            }
            out
        };
        let raw = raw.get_ref();
        let ous = list(
            self,
            "ous",
            &raw.ous,
            check_ou_id,
            "is not an OU or root id",
        );
        let exclude = list(
            self,
            "exclude",
            &raw.exclude,
            check_account_id,
            "is not an account id",
        );
        let source_profile = raw.source_profile.as_ref().and_then(|v| {
            self.check(v, &key("source_profile"), |s| {
                valid(s, check_profile, "cannot be a profile name")
            })
        });
        let shared_parameter = raw.shared_parameter.as_ref().and_then(|v| {
            self.check(v, &key("shared_parameter"), |s| {
                check_shared_parameter(s).map(|()| s.clone())
            })
        });
        (self.errors.len() == errors).then(|| Organization {
            ous,
            exclude,
            include_management_account: raw.include_management_account.unwrap_or(false),
            source_profile,
            shared_parameter,
        })
    }
}

/// A parameter name (`/a/b`, from the root) or its ARN, that the published parts
/// (`NAME/1`, `NAME/2`, ...) can be put under: SSM's characters, no `aws`/`ssm` prefix, room
/// for the part suffix within SSM's 1,011 characters.
pub(super) fn check_shared_parameter(s: &str) -> Result<(), String> {
    let (name, _) = super::rules::split_arn(s)?;
    let hint = "an SSM parameter name from the root, such as /ec2-assume-role/accounts/audit";
    if !name.starts_with('/') {
        return Err(format!("is not {hint}"));
    }
    if name.len() > 1000 {
        return Err("is longer than 1,000 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c)))
    {
        return Err(format!(
            "has {c:?}: SSM parameter names take letters, digits, _ . - and /"
        ));
    }
    if name.ends_with('/') || name.contains("//") {
        return Err(format!("has an empty path segment; it must be {hint}"));
    }
    let first = name[1..]
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("begins with aws or ssm, which SSM reserves".into());
    }
    Ok(())
}

/// An OU id (`ou-` 4 to 32 lowercase letters or digits, `-`, 8 to 32 more) or a root id
/// (`r-` 4 to 32), as the Organizations API defines them.
pub(super) fn check_ou_id(s: &str) -> Result<(), String> {
    let alnum = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let ok = match (s.strip_prefix("ou-"), s.strip_prefix("r-")) {
        (Some(rest), _) => rest
            .split_once('-')
            .is_some_and(|(root, ou)| alnum(root, 4, 32) && alnum(ou, 8, 32)),
        (_, Some(root)) => alnum(root, 4, 32),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("OU ids look like ou-ab12-cdef3456 and root ids like r-ab12".into())
    }
}

impl DiscoveredSet {
    /// FIPS and dual-stack endpoints for the set's own calls (Organizations, the shared list):
    /// its roles' settings.
    pub fn endpoints(&self) -> Endpoints {
        self.template.endpoints
    }

    /// The set's role in `account_id`.
    pub fn role(&self, account_id: &str) -> Role {
        Role {
            profile: self.profile.replace(PROFILE_PLACEHOLDER, account_id),
            role_arn: format!(
                "arn:{}:iam::{account_id}:role/{}",
                self.partition, self.role_name
            ),
            account_id: account_id.to_owned(),
            ..self.template.clone()
        }
    }
}

impl Config {
    /// This config with each discovered set's roles in `accounts[i]` (for `discovered[i]`)
    /// added after the others, minus its `exclude` list. A profile that a written role already
    /// has stays that role's; such profiles are returned, to be reported.
    pub fn expand(&self, accounts: &[Vec<String>]) -> (Config, Vec<String>) {
        let mut config = self.clone();
        let mut shadowed = Vec::new();
        for (set, accounts) in self.discovered.iter().zip(accounts) {
            for account in accounts {
                if set.organization.exclude.contains(account) {
                    continue;
                }
                let role = set.role(account);
                if config.roles.iter().any(|r| r.profile == role.profile) {
                    shadowed.push(role.profile);
                } else {
                    config.roles.push(role);
                }
            }
        }
        (config, shadowed)
    }
}

/// A `[[role_set]]` `role_name`: `[PATH/]NAME` as it follows `role/` in the role's ARN.
pub(super) fn check_role_path(s: &str) -> Result<(), String> {
    if s.starts_with('/') {
        return Err("write the path without its leading \"/\", e.g. \"audit/NAME\"".into());
    }
    // Checked as part of an ARN so that paths and names obey exactly the [[role]] rules.
    parse_role_arn(&format!("arn:aws:iam::{WORST_CASE_ACCOUNT_ID}:role/{s}")).map(|_| ())
}

/// A `[[role_set]]` profile template: a valid profile name holding `{account_id}`, its only
/// placeholder (without it every account would get the same profile).
pub(super) fn check_profile_template(s: &str) -> Result<(), String> {
    if !s.contains(PROFILE_PLACEHOLDER) {
        return Err(format!(
            "{s:?} does not contain {PROFILE_PLACEHOLDER}; without it every account of the set \
             would write the same profile"
        ));
    }
    if s.replace(PROFILE_PLACEHOLDER, "").contains(['{', '}']) {
        return Err(format!(
            "{s:?}: {PROFILE_PLACEHOLDER} (the target account) is the only placeholder of a \
             role_set profile"
        ));
    }
    check_profile(s).map_err(|why| format!("{s:?} cannot be a profile name: {why}"))
}
