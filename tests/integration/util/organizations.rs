//! A role set over an AWS Organization as the discovery stories configure it: the reference
//! story's head, their roles, the role set's `[role_set.organization]` table, and the
//! discovery cache and daemon state kept in the test dir.

use std::path::PathBuf;
use testkit::organizations::{AccountState, MANAGEMENT_ACCOUNT_ID, ROOT_ID};

use super::daemon::state_path;
use super::{TestDir, REFERENCE_CONFIG};

/// The reference story's head, `roles` (TOML), a role set over the organization whose
/// `[role_set.organization]` table is `organization`, the cache and state in `t`, and
/// `extra` lines of `[daemon]`.
pub fn config_with(t: &TestDir, roles: &str, organization: &str, extra: &str) -> String {
    let head = REFERENCE_CONFIG
        .split("[[role]]")
        .next()
        .unwrap_or_default();
    format!(
        "{head}{roles}\n\
         [[role_set]]\nrole_name = \"PerformSecurityAudit\"\nprofile = \"audit-{{account_id}}\"\n\
         [role_set.organization]\n{organization}\n\n\
         [discovery]\ncache_file = \"{}\"\n\n[daemon]\nstate_file = \"{}\"\n{extra}\n",
        cache(t).display(),
        state_path(t).display()
    )
}

pub fn cache(t: &TestDir) -> PathBuf {
    t.path().join("lib/accounts.json")
}

/// The reference story's head, a reader role in the management account, and a role set
/// over the organization with `organization` (TOML lines of its table) and `extra` after.
pub fn org_config(t: &TestDir, organization: &str, extra: &str) -> String {
    let reader = format!(
        "[[role]]\nprofile = \"reader\"\n\
         role_arn = \"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/OrgReader\"\n"
    );
    config_with(t, &reader, organization, extra)
}

/// 222..., 333... active, 444... suspended, 555... excluded by the config.
pub fn organization(t: &TestDir) {
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
pub fn age_cache(t: &TestDir) {
    let mut doc: serde_json::Value = serde_json::from_str(&t.read(cache(t))).unwrap();
    for set in doc["sets"].as_object_mut().unwrap().values_mut() {
        set["discovered"] = "2025-12-01T00:00:00Z".into();
    }
    std::fs::write(cache(t), doc.to_string()).unwrap();
}

/// The accounts `organization` gives profiles when nothing is excluded.
pub const ALL: [&str; 3] = ["222222222222", "333333333333", "555555555555"];

pub fn profiles(t: &TestDir) -> Vec<String> {
    let text = t.read(t.credentials_path());
    text.lines()
        .filter_map(|l| l.strip_prefix("[audit-").and_then(|l| l.strip_suffix(']')))
        .map(str::to_owned)
        .collect()
}
