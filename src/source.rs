//! Where the config comes from, and the one way to load it: a local TOML file, or a parameter
//! in SSM Parameter Store (`--config ssm:/name`), so that one parameter configures a whole
//! fleet and a change to it reaches every instance at its next reload. The parameter name may
//! hold `{instance_id}`, `{account_id}` and `{region}`, filled from IMDS. A file is checked
//! (as root, nobody else may be able to change it) and parsed by `config`; a parameter is read
//! by `ssm` with the instance-profile credentials. Every command loads its config through
//! `load` here; it verifies nothing about the instance (that is `agent`'s job).

use crate::config::{self, Config};
use crate::creds::TemporaryCredentials;
use crate::error::Error;
use crate::fileio;
use crate::imds::{Identity, Imds};
use crate::logging::message_id;
use crate::ssm::{self, split_arn, SSM_PREFIX};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tracing::info;

/// What `--config` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Ssm(Parameter),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        match s.strip_prefix(SSM_PREFIX) {
            Some(name) => Parameter::parse(name).map(Source::Ssm),
            None if s.is_empty() => Err("the config path is empty".into()),
            None => Ok(Source::File(PathBuf::from(s))),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Ssm(p) => write!(f, "{SSM_PREFIX}{}", p.template),
        }
    }
}

impl Source {
    /// The source as other processes and files name it: a file's absolute path (it need not
    /// exist), `ssm:NAME` as given, placeholders and all.
    pub fn absolute(&self) -> String {
        match self {
            Source::File(path) => std::path::absolute(path)
                .unwrap_or_else(|_| path.to_owned())
                .display()
                .to_string(),
            Source::Ssm(_) => self.to_string(),
        }
    }
}

/// An SSM parameter name or ARN, possibly with placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    template: String,
}

const PLACEHOLDERS: &[&str] = &["{instance_id}", "{account_id}", "{region}"];

/// SSM's limit for a fully qualified parameter name.
const MAX_NAME_CHARS: usize = 1011;

impl Parameter {
    /// Checks a name as SSM would (after filling placeholders with worst-case values), so that a
    /// typo is a usage error at once rather than a `ValidationException` from every instance.
    pub fn parse(template: &str) -> Result<Parameter, String> {
        let mut filled = template.to_owned();
        for (placeholder, worst) in
            PLACEHOLDERS
                .iter()
                .zip(["i-0123456789abcdef0", "000000000000", "ap-southeast-5"])
        {
            filled = filled.replace(placeholder, worst);
        }
        if let Some(open) = filled.find('{') {
            let end = filled[open..]
                .find('}')
                .map_or(filled.len(), |e| open + e + 1);
            return Err(format!(
                "{SSM_PREFIX}{template}: unknown placeholder {}; the name may use {}",
                &filled[open..end],
                PLACEHOLDERS.join(", ")
            ));
        }
        let (name, _) =
            split_arn(&filled).map_err(|why| format!("{SSM_PREFIX}{template}: {why}"))?;
        if name.is_empty() || name == "/" {
            return Err(format!(
                "{SSM_PREFIX}{template}: the parameter name is empty (e.g. ssm:/ec2-assume-role/config)"
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "_.-/".contains(c)))
        {
            return Err(format!(
                "{SSM_PREFIX}{template}: {bad:?} cannot be in an SSM parameter name \
                 (letters, digits, _ . - / only)"
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "{SSM_PREFIX}{template}: longer than SSM's {MAX_NAME_CHARS} characters"
            ));
        }
        Ok(Parameter {
            template: template.to_owned(),
        })
    }

    /// The name (or ARN) for this instance, placeholders filled.
    pub fn resolve(&self, identity: &Identity) -> String {
        self.template
            .replace("{instance_id}", &identity.instance_id)
            .replace("{account_id}", &identity.account_id)
            .replace("{region}", &identity.region)
    }
}
/// A config as loaded, with what reading it needed.
pub struct Loaded {
    pub config: Config,
    /// The SSM parameter's version, for a config from Parameter Store.
    pub version: Option<i64>,
    /// The identity IMDS gave, when reading the config needed it (a parameter in SSM).
    pub identity: Option<Identity>,
}

/// Loads and validates the config from `source`. A file must be trusted (`fileio::check_trusted`)
/// and parse; a parameter in SSM is read through `imds` with the instance-profile
/// credentials (its name's placeholders filled from the identity), and must parse.
pub async fn load(source: &Source, http: &SharedHttpClient, imds: &Imds) -> Result<Loaded, Error> {
    match source {
        Source::File(path) => Ok(Loaded {
            config: load_file(path)?,
            version: None,
            identity: None,
        }),
        Source::Ssm(parameter) => {
            let identity = read_identity(imds).await?;
            let instance = instance_credentials(imds, &identity).await?;
            let (config, version) = fetch(http, &instance, &identity, parameter).await?;
            Ok(Loaded {
                config,
                version: Some(version),
                identity: Some(identity),
            })
        }
    }
}

/// The instance identity, as IMDS tells it.
pub async fn read_identity(imds: &Imds) -> Result<Identity, Error> {
    imds.identity()
        .await
        .map_err(Error::imds("reading the instance identity"))
}

/// The instance-profile credentials IMDS serves now (they rotate: read them every time).
pub async fn instance_credentials(
    imds: &Imds,
    identity: &Identity,
) -> Result<TemporaryCredentials, Error> {
    imds.role_credentials(&identity.role_name)
        .await
        .map_err(Error::imds("reading the instance-profile credentials"))
}

fn load_file(path: &Path) -> Result<Config, Error> {
    // As root, a config another user can edit would let them choose where root writes.
    if let Err(err) = fileio::check_trusted(path) {
        if path.exists() {
            return Err(Error::ConfigUntrusted(err));
        }
    }
    config::load(path).map_err(|errors| Error::ConfigInvalid {
        errors,
        parameter: None,
    })
}

/// Reads the config from SSM Parameter Store and parses it. Returns the config and the
/// parameter's version.
async fn fetch(
    http: &SharedHttpClient,
    instance: &TemporaryCredentials,
    identity: &Identity,
    parameter: &Parameter,
) -> Result<(Config, i64), Error> {
    let name = parameter.resolve(identity);
    let fetched = ssm::fetch(http.clone(), instance, identity, &name, ssm::POLICY)
        .await
        .map_err(|source| Error::ConfigUnavailable {
            parameter: name.clone(),
            source: Box::new(source),
        })?;
    let config = config::parse(&fetched.text, Path::new(&fetched.label)).map_err(|errors| {
        Error::ConfigInvalid {
            errors,
            parameter: Some((name.clone(), fetched.version)),
        }
    })?;
    info!(
        message_id = message_id::CONFIG_LOADED,
        parameter = %name,
        version = fetched.version,
        "read the config from {} (version {}, {} roles)",
        fetched.label,
        fetched.version,
        config.roles.len()
    );
    Ok((config, fetched.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "000000000000".into(),
            region: "eu-west-1".into(),
            instance_profile_arn: "arn:aws:iam::000000000000:instance-profile/p".into(),
            role_name: "EC2_PerformSecurityAudit".into(),
        }
    }

    #[test]
    fn config_argument_is_a_file_unless_it_starts_with_ssm() {
        assert_eq!(
            "/etc/ec2-assume-role/config.toml".parse::<Source>(),
            Ok(Source::File("/etc/ec2-assume-role/config.toml".into()))
        );
        assert_eq!(
            "./ssm:x".parse::<Source>(),
            Ok(Source::File("./ssm:x".into()))
        );
        let source: Source = "ssm:/ear/{account_id}/config".parse().unwrap();
        assert_eq!(source.to_string(), "ssm:/ear/{account_id}/config");
        assert!("".parse::<Source>().is_err());
    }

    #[test]
    fn names_are_checked_as_ssm_would() {
        let ok = [
            "/ec2-assume-role/config",
            "ec2-assume-role.config",
            "/ear/{account_id}/{region}/{instance_id}",
            "arn:aws:ssm:us-east-1:111111111111:parameter/shared/ear",
            "arn:aws-cn:ssm:cn-north-1:111111111111:parameter/x",
        ];
        for name in ok {
            assert!(Parameter::parse(name).is_ok(), "{name}");
        }
        let bad = [
            ("", "is empty"),
            ("/", "is empty"),
            ("/ear/{acount_id}", "unknown placeholder {acount_id}"),
            ("/ear/{account_id", "unknown placeholder {account_id"),
            ("/ear config", "' ' cannot be in an SSM parameter name"),
            ("arn:aws:s3:::bucket/key", "not an SSM parameter ARN"),
            (
                "arn:aws:ssm:us-east-1:111111111111:document/x",
                "ends in :parameter/NAME",
            ),
        ];
        for (name, want) in bad {
            let err = Parameter::parse(name).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
            assert!(err.starts_with("ssm:"), "{name}: {err}");
        }
        let long = format!("/{}", "a".repeat(MAX_NAME_CHARS));
        assert!(Parameter::parse(&long).unwrap_err().contains("1011"));
    }

    #[test]
    fn placeholders_come_from_the_instance() {
        let p = Parameter::parse("/ear/{account_id}/{region}/{instance_id}/{account_id}").unwrap();
        assert_eq!(
            p.resolve(&identity()),
            "/ear/000000000000/eu-west-1/i-0123456789abcdef0/000000000000"
        );
    }
}
