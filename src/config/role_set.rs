//! `[[role_set]]`: one role per account, expanded into the roles it stands for, each then
//! checked exactly like a hand-written `[[role]]` and reported under the set's own keys
//! (`role_set[1].accounts[3]`). It must never accept a profile template that would give two
//! accounts the same profile, nor a role path a `[[role]]`'s `role_arn` could not hold.

use super::check::{CheckedRole, Checker, Defaults};
use super::diagnostic::line_of;
use super::raw::RawRoleSet;
use super::rules::{
    check_account_id, check_partition, check_profile, parse_role_arn, valid, WORST_CASE_ACCOUNT_ID,
};
use toml::Spanned;

/// The one placeholder of a `[[role_set]]` profile template: the target account, so that each
/// account of the set gets its own profile.
pub(super) const PROFILE_PLACEHOLDER: &str = "{account_id}";

impl Checker<'_> {
    /// The roles a `[[role_set]]` stands for: `role_name` in each of `accounts`, one profile
    /// per account. Each is checked like a `[[role]]`; problems name the set's keys.
    pub(super) fn role_set(
        &mut self,
        n: usize,
        raw: Spanned<RawRoleSet>,
        defaults: &Defaults,
    ) -> Vec<CheckedRole> {
        let header = raw.span();
        let line = line_of(self.text.as_bytes(), header.start);
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
            None => missing(
                self,
                "accounts",
                "e.g. accounts = [\"111111111111\", \"222222222222\"]",
            ),
        }
        let options = self.options(&prefix, &raw.options(), defaults);
        let (Some(partition), Some(role_name), Some(template)) = (partition, role_name, template)
        else {
            return Vec::new();
        };
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
        roles
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
