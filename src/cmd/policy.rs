//! `ec2-assume-role policy`: print the IAM side of the config, ready to paste: every permission
//! and trust policy it needs (JSON or YAML), or one CloudFormation template (the instance
//! role's, or a target role's for a StackSet). The documents are `policy`'s; this file only
//! loads the config and prints. For a config file it must never call IMDS or STS, and it
//! writes nothing but stdout.

use crate::agent::error::Error;
use crate::agent::source::{self, Source};
use crate::aws::imds::Imds;
use crate::policy::{self, Options};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::time::Duration;

/// Print the IAM policies (or a CloudFormation template) the config needs.
#[derive(Debug, Args)]
pub struct Policy {
    /// json, yaml: every permission and trust policy in one document; cloudformation: the
    /// template chosen by --template, in YAML.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// With --format cloudformation: the instance role and its instance profile (instance),
    /// or a target role, to be deployed to every account of an OU (target).
    #[arg(long, value_enum, required_if_eq("format", "cloudformation"))]
    pub template: Option<Template>,

    /// With --template target: which target role, by the name in its ARN (with its path),
    /// when the config's targets have several names.
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,

    /// The instance role's account, when [instance] account_id is not set.
    #[arg(long, value_name = "ID", value_parser = account_id)]
    pub account_id: Option<String>,

    /// Allow only principals of this AWS Organization (aws:PrincipalOrgID) in every trust
    /// policy.
    #[arg(long, value_name = "o-...", value_parser = org_id)]
    pub org_id: Option<String>,

    /// Trust the signer's account root (arn:PARTITION:iam::ACCOUNT:root) instead of the
    /// signing role itself; that account's IAM policies then decide.
    #[arg(long)]
    pub trust_account_root: bool,

    /// A managed policy the target template attaches by default (repeatable), e.g.
    /// arn:aws:iam::aws:policy/SecurityAudit. Without one the template attaches none unless
    /// its ManagedPolicyArns parameter is set at deployment.
    #[arg(long = "managed-policy", value_name = "ARN", value_parser = managed_policy)]
    pub managed_policies: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
    Cloudformation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Template {
    Instance,
    Target,
}

fn account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err("an AWS account id is 12 digits".into())
    }
}

fn org_id(s: &str) -> Result<String, String> {
    let ok = s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if ok {
        Ok(s.to_owned())
    } else {
        Err("an organization id is o- and 10 to 32 lowercase letters or digits".into())
    }
}

fn managed_policy(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5].starts_with("policy/")
    {
        Ok(s.to_owned())
    } else {
        Err("a managed policy ARN looks like arn:aws:iam::aws:policy/SecurityAudit".into())
    }
}

/// Reading a config file needs no IMDS; a parameter in SSM is read as every command reads it.
const IMDS_WAIT: Duration = Duration::from_secs(10);

impl Policy {
    pub async fn run(&self, source: &Source) -> Result<(), Error> {
        if self.template.is_some() && self.format != Format::Cloudformation {
            return Err(Error::Usage(
                "--template chooses a CloudFormation template: add --format cloudformation".into(),
            ));
        }
        if self.role_name.is_some() && self.template != Some(Template::Target) {
            return Err(Error::Usage(
                "--role-name chooses the target role of --template target".into(),
            ));
        }
        let http = crate::aws::http::client();
        let imds = Imds::new(http.clone(), IMDS_WAIT);
        let config = source::load(source, &http, &imds).await?.config;
        // Role sets discovered from AWS Organizations: their role in any account of it.
        let config = policy::with_wildcards(&config);
        let options = Options {
            account_id: self.account_id.clone(),
            org_id: self.org_id.clone(),
            trust_account_root: self.trust_account_root,
            managed_policies: self.managed_policies.clone(),
        };
        let text = match (self.format, self.template) {
            (Format::Json, _) => policy::policies(&config, &options)?.to_json(),
            (Format::Yaml, _) => policy::policies(&config, &options)?.to_yaml(),
            (Format::Cloudformation, Some(Template::Instance)) => {
                policy::instance_template(&config).to_yaml()
            }
            (Format::Cloudformation, _) => {
                policy::target_template(&config, &options, self.role_name.as_deref())?.to_yaml()
            }
        };
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(Error::io("writing to stdout"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_arns_are_checked_on_the_command_line() {
        assert!(account_id("000000000000").is_ok());
        for bad in ["00000000000", "0000000000000", "00000000000a"] {
            assert!(account_id(bad).is_err(), "{bad}");
        }
        assert!(org_id("o-abcdefghij").is_ok());
        assert!(org_id("o-0123456789abcdef0123456789abcdef").is_ok());
        for bad in ["o-abc", "abcdefghijkl", "o-ABCDEFGHIJ", "o-abcdefghi-"] {
            assert!(org_id(bad).is_err(), "{bad}");
        }
        assert!(managed_policy("arn:aws:iam::aws:policy/SecurityAudit").is_ok());
        assert!(managed_policy("arn:aws-cn:iam::111111111111:policy/team/Mine").is_ok());
        for bad in [
            "SecurityAudit",
            "arn:aws:iam::aws:role/X",
            "arn:aws:s3:::policy/x",
        ] {
            assert!(managed_policy(bad).is_err(), "{bad}");
        }
    }
}
