//! The config file's shape as serde reads it: one struct per TOML table, every value still
//! `Spanned` so that a problem can name its line. Every field is optional, so that a missing
//! one is reported by `check` with its table's line and a hint. It must never check a value:
//! what a value may be is `rules`' and `check`'s.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) instance: Option<Spanned<RawInstance>>,
    pub(super) credentials: Option<RawCredentials>,
    pub(super) daemon: Option<RawDaemon>,
    pub(super) sts: Option<RawSts>,
    pub(super) defaults: Option<RawDefaults>,
    #[serde(default)]
    pub(super) role: Vec<Spanned<RawRole>>,
    #[serde(default)]
    pub(super) role_set: Vec<Spanned<RawRoleSet>>,
}

// Every field is optional here so that a missing one is reported by `Checker`, with its
// table's line and a hint, instead of serde's bare "missing field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    pub(super) role_name: Option<Spanned<String>>,
    pub(super) account_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredentials {
    pub(super) file: Option<Spanned<String>>,
    pub(super) config_file: Option<Spanned<String>>,
    pub(super) owner: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) replace_unmanaged: bool,
    #[serde(default)]
    pub(super) credential_process: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub(super) refresh_at: Option<Spanned<f64>>,
    pub(super) jitter: Option<Spanned<f64>>,
    pub(super) safety_window_seconds: Option<Spanned<i64>>,
    pub(super) remove_expired: Option<bool>,
    pub(super) state_file: Option<Spanned<String>>,
    pub(super) reload_interval_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSts {
    pub(super) max_concurrency: Option<Spanned<i64>>,
    pub(super) boot_jitter_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) duration_seconds: Option<Spanned<i64>>,
    pub(super) role_session_name: Option<Spanned<String>>,
    pub(super) region: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    pub(super) profile: Option<Spanned<String>>,
    pub(super) role_arn: Option<Spanned<String>>,
    pub(super) external_id: Option<Spanned<String>>,
    pub(super) role_session_name: Option<Spanned<String>>,
    pub(super) duration_seconds: Option<Spanned<i64>>,
    pub(super) region: Option<Spanned<String>>,
    pub(super) source_identity: Option<Spanned<String>>,
    pub(super) tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

// The per-role options repeat RawRole's: serde's `flatten` cannot be combined with
// `deny_unknown_fields`, and a typo must stay an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoleSet {
    pub(super) role_name: Option<Spanned<String>>,
    pub(super) accounts: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) profile: Option<Spanned<String>>,
    pub(super) partition: Option<Spanned<String>>,
    pub(super) external_id: Option<Spanned<String>>,
    pub(super) role_session_name: Option<Spanned<String>>,
    pub(super) duration_seconds: Option<Spanned<i64>>,
    pub(super) region: Option<Spanned<String>>,
    pub(super) source_identity: Option<Spanned<String>>,
    pub(super) tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// The options a `[[role]]` and a `[[role_set]]` share, as written.
pub(super) struct RawOptions<'r> {
    pub(super) external_id: Option<&'r Spanned<String>>,
    pub(super) duration_seconds: Option<&'r Spanned<i64>>,
    pub(super) region: Option<&'r Spanned<String>>,
    pub(super) source_identity: Option<&'r Spanned<String>>,
    pub(super) tags: Option<&'r Spanned<BTreeMap<String, Spanned<String>>>>,
}

macro_rules! raw_options {
    ($($raw:ty),*) => {$(
        impl $raw {
            pub(super) fn options(&self) -> RawOptions<'_> {
                RawOptions {
                    external_id: self.external_id.as_ref(),
                    duration_seconds: self.duration_seconds.as_ref(),
                    region: self.region.as_ref(),
                    source_identity: self.source_identity.as_ref(),
                    tags: self.tags.as_ref(),
                }
            }
        }
    )*};
}
raw_options!(RawRole, RawRoleSet);
