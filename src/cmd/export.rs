//! `ec2-assume-role export --profile NAME --format FORMAT`: one profile's credentials as the
//! shell lines (or JSON) of `aws configure export-credentials`, for
//! `eval "$(ec2-assume-role export --profile NAME)"`. The formats and variable names are the
//! AWS CLI's (`awscli/customizations/configure/exportcreds.py`): `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_CREDENTIAL_EXPIRATION`; `json` (or the
//! CLI's name for it, `process`) is the `credential_process` JSON. The credentials come from
//! where `credential-process` takes them: the daemon's fresh ones, else the role assumed now.
//! stdout carries only that; nothing is written, and an error prints nothing there.

use crate::agent::error::Error;
use crate::agent::source::Source;
use crate::base::creds::{rfc3339, TemporaryCredentials};
use crate::cmd::credential_process::{fresh, json, print};
use clap::{Args, ValueEnum};
use std::time::Duration;

/// Print one profile's credentials as shell variables (or JSON), as
/// `aws configure export-credentials` does.
#[derive(Debug, Args)]
pub struct Export {
    /// The profile (as configured) to print credentials for.
    #[arg(long)]
    pub profile: String,

    /// env: `export AWS_ACCESS_KEY_ID=...`; env-no-export: `AWS_ACCESS_KEY_ID=...`; fish:
    /// `set -gx AWS_ACCESS_KEY_ID "..."`; powershell: `$Env:AWS_ACCESS_KEY_ID="..."`;
    /// windows-cmd: `set AWS_ACCESS_KEY_ID=...`; json (alias process): the credential_process
    /// JSON.
    #[arg(long, value_enum, default_value_t = Format::Env)]
    pub format: Format,

    /// How long to wait for IMDS when the role must be assumed now, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub wait: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Env,
    EnvNoExport,
    Fish,
    Powershell,
    WindowsCmd,
    #[value(alias = "process")]
    Json,
}

impl Export {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        let wait = Duration::from_secs(self.wait);
        let creds = fresh(source, &self.profile, wait, None).await?;
        print(&render(&creds, self.format))
    }
}

/// The lines (or JSON) of `creds` in `format`.
pub fn render(creds: &TemporaryCredentials, format: Format) -> String {
    let line: fn(&str, &str) -> String = match format {
        Format::Json => return json(creds),
        Format::Env => |k, v| format!("export {k}={}\n", posix_word(v)),
        Format::EnvNoExport => |k, v| format!("{k}={}\n", posix_word(v)),
        Format::Fish => |k, v| format!("set -gx {k} {}\n", fish_word(v)),
        Format::Powershell => |k, v| format!("$Env:{k}=\"{}\"\n", v.replace('`', "``")),
        Format::WindowsCmd => |k, v| format!("set {k}={v}\n"),
    };
    let expiration = rfc3339(creds.expiration);
    [
        ("AWS_ACCESS_KEY_ID", creds.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key.expose()),
        ("AWS_SESSION_TOKEN", creds.session_token.expose()),
        ("AWS_CREDENTIAL_EXPIRATION", expiration.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| line(k, v))
    .collect()
}

/// Keys, tokens and times are base64 and RFC 3339 and go bare, as the AWS CLI prints them;
/// anything else is single-quoted, so that `eval` can never run part of a value.
fn posix_word(v: &str) -> String {
    if !v.is_empty() && v.bytes().all(safe) {
        v.to_owned()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// fish's double quotes, as the AWS CLI writes them, with `\`, `"` and `$` escaped.
fn fish_word(v: &str) -> String {
    let escaped: String = v
        .chars()
        .flat_map(|c| match c {
            '\\' | '"' | '$' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

fn safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+/=-_.:".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::creds::Secret;
    use time::macros::datetime;

    fn creds(secret: &str) -> TemporaryCredentials {
        TemporaryCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new(secret),
            session_token: Secret::new("IQoJb3JpZ2luX2Vj/+="),
            expiration: datetime!(2026-12-02 02:00 UTC),
        }
    }

    #[test]
    fn each_format_is_the_aws_cli_s() {
        let c = creds("wJalr/K7MDENG+bPxRfiCY=");
        assert_eq!(
            render(&c, Format::Env),
            "export AWS_ACCESS_KEY_ID=ASIAEXAMPLE\n\
             export AWS_SECRET_ACCESS_KEY=wJalr/K7MDENG+bPxRfiCY=\n\
             export AWS_SESSION_TOKEN=IQoJb3JpZ2luX2Vj/+=\n\
             export AWS_CREDENTIAL_EXPIRATION=2026-12-02T02:00:00Z\n"
        );
        assert_eq!(
            render(&c, Format::EnvNoExport).lines().next(),
            Some("AWS_ACCESS_KEY_ID=ASIAEXAMPLE")
        );
        assert_eq!(
            render(&c, Format::Fish).lines().nth(1),
            Some("set -gx AWS_SECRET_ACCESS_KEY \"wJalr/K7MDENG+bPxRfiCY=\"")
        );
        assert_eq!(
            render(&c, Format::Powershell).lines().nth(2),
            Some("$Env:AWS_SESSION_TOKEN=\"IQoJb3JpZ2luX2Vj/+=\"")
        );
        assert_eq!(
            render(&c, Format::WindowsCmd).lines().nth(3),
            Some("set AWS_CREDENTIAL_EXPIRATION=2026-12-02T02:00:00Z")
        );
        let doc: serde_json::Value = serde_json::from_str(&render(&c, Format::Json)).unwrap();
        assert_eq!(doc["Version"], 1);
        assert_eq!(doc["SessionToken"], "IQoJb3JpZ2luX2Vj/+=");
        assert_eq!(doc["Expiration"], "2026-12-02T02:00:00Z");
    }

    #[test]
    fn a_value_a_shell_would_read_otherwise_is_quoted() {
        let c = creds("a'b $(reboot) `x`\\\"");
        let env = render(&c, Format::Env);
        assert!(
            env.contains("export AWS_SECRET_ACCESS_KEY='a'\\''b $(reboot) `x`\\\"'\n"),
            "{env}"
        );
        let fish = render(&c, Format::Fish);
        assert!(
            fish.contains("set -gx AWS_SECRET_ACCESS_KEY \"a'b \\$(reboot) `x`\\\\\\\"\"\n"),
            "{fish}"
        );
        let ps = render(&c, Format::Powershell);
        assert!(ps.contains("\"a'b $(reboot) ``x``\\\"\""), "{ps}");
    }
}
