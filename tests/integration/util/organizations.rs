//! A role set over an AWS Organization as the discovery stories configure it: the reference
//! story's head, their roles, the role set's `[role_set.organization]` table, and the
//! discovery cache and daemon state kept in the test dir.

use std::path::PathBuf;

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
