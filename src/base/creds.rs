//! Credential types. Secrets live only here: `Debug` and `Display` redact them, and the only
//! way to read a secret is `expose()`, which the credentials-file writer and the STS signer use.
//! Nothing in this module logs or formats a secret.

use std::fmt;
use time::OffsetDateTime;

/// A secret string whose `Debug`/`Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call sites are few and reviewed: the file writer and the signer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// RFC 3339 in UTC with whole seconds (`2026-11-23T10:00:00Z`), the way IMDS and STS write
/// times. Formatted by hand because, unlike `time`'s formatters, this cannot fail.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Temporary credentials: an instance profile's (from IMDS) or an assumed role's (from STS).
/// The access key id is not secret on its own (it appears in CloudTrail), but it is kept out
/// of logs all the same.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: OffsetDateTime,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_secrets() {
        let c = TemporaryCredentials {
            access_key_id: "ASIAEXAMPLEKEY".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI"),
            session_token: Secret::new("FwoGZXIvYXdzEBY"),
            expiration: time::macros::datetime!(2026-11-23 10:00 UTC),
        };
        let shown = format!("{c:?} {} {:?}", c.session_token, c.secret_access_key);
        for secret in ["ASIAEXAMPLEKEY", "wJalrXUtnFEMI", "FwoGZXIvYXdzEBY"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("2026-11-23"));
    }
}
