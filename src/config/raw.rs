//! The config file's shape as serde reads it: one struct per TOML table, every value still
//! `Spanned` so that a problem can name its line. Every field is optional, so that a missing
//! one is reported by `check` with its table's line and a hint. It must never check a value:
//! what a value may be is `rules`' and `check`'s.

use serde::de::{Error, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// A TOML table as serde reads it: its keys and no others ("a table" in serde's messages), each
/// visible to `check`. `role_table!` adds the options of a role.
macro_rules! table {
    ($name:ident { $($(#[$attr:meta])* $key:ident: $ty:ty),* $(,)? }) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, expecting = "a table")]
        pub(super) struct $name {
            $($(#[$attr])* pub(super) $key: $ty,)*
        }
    };
}

/// A string value as written.
type Text = Option<Spanned<String>>;

table!(RawFile {
    instance: Option<Spanned<RawInstance>>,
    credentials: Option<RawCredentials>,
    daemon: Option<RawDaemon>,
    sts: Option<RawSts>,
    defaults: Option<RawDefaults>,
    discovery: Option<RawDiscovery>,
    endpoint: Option<Spanned<RawEndpoint>>,
    #[serde(default)]
    role: Vec<Spanned<RawRole>>,
    #[serde(default)]
    role_set: Vec<Spanned<RawRoleSet>>,
    #[serde(default)]
    user: Vec<Spanned<RawUser>>,
});

// Every field is optional here so that a missing one is reported by `Checker`, with its
// table's line and a hint, instead of serde's bare "missing field".
table!(RawInstance {
    role_name: Text,
    account_id: Text,
});

table!(RawCredentials {
    credentials_file: Text,
    /// The former name of `credentials_file`: accepted with a warning.
    file: Text,
    config_file: Text,
    owner: Text,
    #[serde(default)]
    replace_unmanaged: bool,
    #[serde(default)]
    credential_process: bool,
});

table!(RawUser {
    name: Text,
    credentials_file: Text,
    config_file: Text,
    #[serde(default)]
    credential_process: bool,
});

table!(RawDaemon {
    refresh_at: Option<Spanned<f64>>,
    jitter: Option<Spanned<f64>>,
    safety_window_seconds: Option<Spanned<Integer>>,
    remove_expired: Option<bool>,
    state_file: Text,
    metrics_file: Text,
    reload_interval_seconds: Option<Spanned<Integer>>,
});

table!(RawSts {
    max_concurrency: Option<Spanned<Integer>>,
    boot_jitter_seconds: Option<Spanned<Integer>>,
});

table!(RawDiscovery {
    cache_file: Text,
    publish: Option<Spanned<bool>>,
});

/// A list of strings as written.
type Texts = Option<Spanned<Vec<Spanned<String>>>>;

table!(RawEndpoint {
    listen: Texts,
    token_dir: Text,
    max_connections: Option<Spanned<Integer>>,
    rate_per_second: Option<Spanned<Integer>>,
    burst: Option<Spanned<Integer>>,
    audit_interval_seconds: Option<Spanned<Integer>>,
    audit_lines: Option<Spanned<Integer>>,
});

table!(RawOrganization {
    ous: Texts,
    exclude: Texts,
    include_management_account: Option<bool>,
    source_profile: Text,
    shared_parameter: Text,
});

table!(RawDefaults {
    duration_seconds: Option<Spanned<Integer>>,
    role_session_name: Text,
    region: Text,
    use_fips_endpoint: Option<Spanned<bool>>,
    use_dualstack_endpoint: Option<Spanned<bool>>,
});

/// A table that stands for roles: its own fields, then the options every role takes (which
/// `check` reads through `options()`). One declaration for both, since serde's `flatten`
/// cannot be combined with `deny_unknown_fields`, and a typo must stay an error.
macro_rules! role_table {
    ($name:ident { $($own:tt)* }) => {
        table!($name {
            $($own)*
            external_id: Text,
            role_session_name: Text,
            duration_seconds: Option<Spanned<Integer>>,
            region: Text,
            source_identity: Text,
            tags: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
            source_profile: Text,
            users: Texts,
            policy: Text,
            policy_arns: Texts,
            use_fips_endpoint: Option<Spanned<bool>>,
            use_dualstack_endpoint: Option<Spanned<bool>>,
        });

        impl $name {
            pub(super) fn options(&self) -> RawOptions<'_> {
                RawOptions {
                    external_id: self.external_id.as_ref(),
                    duration_seconds: self.duration_seconds.as_ref(),
                    region: self.region.as_ref(),
                    source_identity: self.source_identity.as_ref(),
                    tags: self.tags.as_ref(),
                    source_profile: self.source_profile.as_ref(),
                    users: self.users.as_ref(),
                    policy: self.policy.as_ref(),
                    policy_arns: self.policy_arns.as_ref(),
                    use_fips_endpoint: self.use_fips_endpoint.as_ref(),
                    use_dualstack_endpoint: self.use_dualstack_endpoint.as_ref(),
                }
            }
        }
    };
}

role_table!(RawRole {
    profile: Text,
    role_arn: Text,
});

role_table!(RawRoleSet {
    role_name: Text,
    accounts: Texts,
    organization: Option<Spanned<RawOrganization>>,
    profile: Text,
    partition: Text,
});

/// The options a `[[role]]` and a `[[role_set]]` share, as written.
pub(super) struct RawOptions<'r> {
    pub(super) external_id: Option<&'r Spanned<String>>,
    pub(super) duration_seconds: Option<&'r Spanned<Integer>>,
    pub(super) region: Option<&'r Spanned<String>>,
    pub(super) source_identity: Option<&'r Spanned<String>>,
    pub(super) tags: Option<&'r Spanned<BTreeMap<String, Spanned<String>>>>,
    pub(super) source_profile: Option<&'r Spanned<String>>,
    pub(super) users: Option<&'r Spanned<Vec<Spanned<String>>>>,
    pub(super) policy: Option<&'r Spanned<String>>,
    pub(super) policy_arns: Option<&'r Spanned<Vec<Spanned<String>>>>,
    pub(super) use_fips_endpoint: Option<&'r Spanned<bool>>,
    pub(super) use_dualstack_endpoint: Option<&'r Spanned<bool>>,
}

/// The keys serde accepts in a table, by the names of the tables it is in (`["role"]` for any
/// `[[role]]`); `None` where any key goes (`tags`) or no table is ours.
pub(super) fn keys_of(tables: &[String]) -> Option<&'static [&'static str]> {
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    Some(match tables[..] {
        [] => fields::<RawFile>(),
        ["instance"] => fields::<RawInstance>(),
        ["credentials"] => fields::<RawCredentials>(),
        ["user"] => fields::<RawUser>(),
        ["daemon"] => fields::<RawDaemon>(),
        ["sts"] => fields::<RawSts>(),
        ["defaults"] => fields::<RawDefaults>(),
        ["discovery"] => fields::<RawDiscovery>(),
        ["endpoint"] => fields::<RawEndpoint>(),
        ["role_set", "organization"] => fields::<RawOrganization>(),
        ["role"] => fields::<RawRole>(),
        ["role_set"] => fields::<RawRoleSet>(),
        _ => return None,
    })
}

/// The field names serde's derive gave `T`, as it hands them to `deserialize_struct`.
fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{value::Error, Error as _, Visitor};

    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Fields<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("only the fields were wanted"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// An integer as serde reads an `i64`, but with TOML's words in its type errors: "an integer"
/// (not "i64") was expected, and a "table" (not a "map") was given.
pub(super) struct Integer(pub(super) i64);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Expected;
        impl<'de> Visitor<'de> for Expected {
            type Value = Integer;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: Error>(self, n: i64) -> Result<Integer, E> {
                Ok(Integer(n))
            }
            // As serde's own `i64` does, so that only the words differ.
            fn visit_u64<E: Error>(self, n: u64) -> Result<Integer, E> {
                i64::try_from(n)
                    .map(Integer)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(n), &self))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Integer, A::Error> {
                Err(A::Error::invalid_type(Unexpected::Other("table"), &self))
            }
        }
        d.deserialize_i64(Expected)
    }
}
