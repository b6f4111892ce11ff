//! Path policy: which files a config's profiles go to (the destinations: `[credentials]`'
//! and each `[[user]]`'s), who must own them, and the `credential_process` command line that
//! points AWS clients back at them. Every command that reads or writes those files (`run`,
//! `daemon`, `status`, `credential-process`) asks here, so they always agree. It resolves
//! paths and looks users up; it never opens a file.

use crate::agent::error::Error;
use crate::agent::source::Source;
use crate::config::{Config, ConfigError, ConfigErrors, User, DEFAULT_USER};
use crate::store::fileio::Owner;
use crate::store::state::{Origin, State};
use nix::unistd::Uid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The cache file's name, beside the credentials file.
pub const CACHE_FILE: &str = "ec2-assume-role-cache";

/// The files a run writes and who must own them.
pub struct Files {
    /// Where the keys go: the credentials file, or with `credential_process = true` the cache
    /// file beside it that `credential-process` reads.
    pub credentials: PathBuf,
    pub config: PathBuf,
    pub owner: Option<Owner>,
    /// With `credential_process = true`: the user's credentials file, which must not hold
    /// keys of ours.
    pub shadowed: Option<PathBuf>,
}

impl Files {
    /// Resolves the defaults of `[credentials]`; an unknown `owner` is a config error.
    pub fn resolve(config: &Config) -> Result<Files, Error> {
        let owner = match &config.credentials.owner {
            Some(name) => Some(Owner::lookup(name).map_err(|source| Error::OwnerUnknown {
                config: config.path.clone(),
                source,
            })?),
            None => None,
        };
        let credentials = match (&config.credentials.file, &owner) {
            (Some(file), _) => file.clone(),
            (None, Some(owner)) => owner.home.join(".aws/credentials"),
            (None, None) => Owner::current()
                .map_err(Error::file(
                    "finding the home directory of the running user",
                ))?
                .home
                .join(".aws/credentials"),
        };
        Ok(Files::at(
            credentials,
            config.credentials.config_file.clone(),
            owner,
            config.credentials.credential_process,
        ))
    }

    /// The files of a `[[user]]`, who owns them; an unknown user is a config error.
    fn of_user(config: &Config, n: usize, user: &User) -> Result<Files, Error> {
        let owner = Owner::lookup(&user.name).map_err(|source| Error::ConfigInvalid {
            errors: ConfigErrors {
                errors: vec![ConfigError {
                    path: config.path.clone(),
                    line: Some(user.line),
                    key: Some(format!("user[{n}].name")),
                    message: source.to_string(),
                    place: None,
                    help: None,
                }],
            },
            parameter: None,
        })?;
        let credentials = user
            .credentials_file
            .clone()
            .unwrap_or_else(|| owner.home.join(".aws/credentials"));
        Ok(Files::at(
            credentials,
            user.config_file.clone(),
            Some(owner),
            user.credential_process,
        ))
    }

    fn at(
        credentials: PathBuf,
        config_file: Option<PathBuf>,
        owner: Option<Owner>,
        credential_process: bool,
    ) -> Files {
        let config = config_file.unwrap_or_else(|| {
            credentials
                .parent()
                .unwrap_or(Path::new("/"))
                .join("config")
        });
        let (credentials, shadowed) = if credential_process {
            let cache = credentials.with_file_name(CACHE_FILE);
            (cache, Some(credentials))
        } else {
            (credentials, None)
        };
        Files {
            credentials,
            config,
            owner,
            shadowed,
        }
    }

    /// Every file written, for telling two destinations apart.
    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.credentials, &self.config]
            .into_iter()
            .chain(self.shadowed.as_ref())
    }
}

/// Where some of a config's profiles go: `[credentials]`' files or a `[[user]]`'s. A role's
/// `users` names its destinations.
pub struct Destination {
    /// `DEFAULT_USER` for `[credentials]`, else the `[[user]]` name.
    pub name: String,
    pub files: Files,
}

impl Destination {
    /// Every destination of `config`: `[credentials]` first when a role goes there (always,
    /// without `[[user]]` tables), then each `[[user]]` in file order (even one no role names
    /// now, so that the profiles it had are removed). An unknown user, or a file that two
    /// destinations would write (the paths known only once homes are looked up), is a
    /// config error.
    pub fn resolve_all(config: &Config) -> Result<Vec<Destination>, Error> {
        let mut all = Vec::with_capacity(config.users.len() + 1);
        if config.goes_to(DEFAULT_USER) {
            all.push(Destination {
                name: DEFAULT_USER.to_owned(),
                files: Files::resolve(config)?,
            });
        }
        for (i, user) in config.users.iter().enumerate() {
            let files = Files::of_user(config, i + 1, user)?;
            let clash = all.iter().find_map(|d: &Destination| {
                let theirs: Vec<&PathBuf> = d.files.paths().collect();
                files.paths().find(|p| theirs.contains(p)).map(|p| (d, p))
            });
            if let Some((other, path)) = clash {
                let other = if other.name == DEFAULT_USER {
                    "[credentials]".to_owned()
                } else {
                    format!("user {:?}", other.name)
                };
                return Err(Error::ConfigInvalid {
                    errors: ConfigErrors {
                        errors: vec![ConfigError {
                            path: config.path.clone(),
                            line: Some(user.line),
                            key: Some(format!("user[{}].credentials_file", i + 1)),
                            message: format!(
                                "user {:?} would write {}, which {other} writes; give it a \
                                 credentials_file (and config_file) of its own",
                                user.name,
                                path.display()
                            ),
                            place: None,
                            help: None,
                        }],
                    },
                    parameter: None,
                });
            }
            all.push(Destination {
                name: user.name.clone(),
                files,
            });
        }
        Ok(all)
    }

    /// What a state file written for these destinations and `source` says it describes.
    pub fn origin<'a>(all: impl IntoIterator<Item = &'a Destination>, source: &Source) -> Origin {
        Origin {
            config: source.absolute(),
            files: all
                .into_iter()
                .map(|d| d.files.credentials.clone())
                .collect(),
        }
    }

    /// What `status` and `doctor` look at when run by the user they run as: every destination
    /// and the daemon's state file, or for an owner of profiles who is not root and cannot
    /// read that file (it is root's), that owner's destinations only and the state file the
    /// daemon keeps for them (`State::owner_path`), so that they see nothing of anyone else's.
    pub fn seen_by_running_user<'a>(
        all: &'a [Destination],
        state_file: &Path,
    ) -> (Vec<&'a Destination>, PathBuf) {
        let me = Some(nix::unistd::geteuid())
            .filter(|uid| !uid.is_root())
            .and_then(|_| Owner::current().ok());
        let Some(me) = me else {
            return (all.iter().collect(), state_file.to_path_buf());
        };
        let own = State::owner_path(state_file, &me.name);
        let theirs = nix::unistd::access(state_file, nix::unistd::AccessFlags::R_OK)
            == Err(nix::errno::Errno::EACCES);
        if !theirs && !own.exists() {
            return (all.iter().collect(), state_file.to_path_buf());
        }
        let mine = |d: &&Destination| d.files.owner.as_ref().is_some_and(|o| o.uid == me.uid);
        (all.iter().filter(mine).collect(), own)
    }

    /// The destinations of each owner other than `uid` (the daemon's user), by owner name:
    /// those get a state file of their own (`State::owner_path`).
    pub fn by_other_owner(
        all: &[Destination],
        uid: Uid,
    ) -> BTreeMap<&str, (&Owner, Vec<&Destination>)> {
        let mut owners: BTreeMap<&str, (&Owner, Vec<&Destination>)> = BTreeMap::new();
        for dest in all {
            if let Some(owner) = dest.files.owner.as_ref().filter(|o| o.uid != uid) {
                owners
                    .entry(&owner.name)
                    .or_insert((owner, Vec::new()))
                    .1
                    .push(dest);
            }
        }
        owners
    }
}

/// The variables with which AWS tools choose their credentials and config files, and the key
/// of `[credentials]` that chooses the agent's.
const FILE_VARIABLES: [(&str, &str); 2] = [
    ("AWS_SHARED_CREDENTIALS_FILE", "credentials_file"),
    ("AWS_CONFIG_FILE", "config_file"),
];

/// A warning for each of `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` that `env` sets
/// to another file than the one `[credentials]`' profiles go to (`files`). The agent never
/// follows them: it runs as root for several users, and root's variable cannot say where
/// each user's files are. But AWS tools run with the same environment would look there and
/// not find the profiles. Pure: the environment is passed in.
pub fn env_mismatches(files: &Files, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let written = [
        files.shadowed.as_ref().unwrap_or(&files.credentials),
        &files.config,
    ];
    FILE_VARIABLES
        .iter()
        .zip(written)
        .filter_map(|((var, key), written)| {
            let set = env(var).filter(|v| !v.is_empty())?;
            (Path::new(&set) != written).then(|| {
                format!(
                    "{var} is {set} here, but the profiles of [credentials] go to {}; AWS tools \
                     run with this environment read {set} and will not find them. The agent \
                     does not follow {var}: set [credentials] {key} = {set:?} to write there, \
                     or unset {var}",
                    written.display()
                )
            })
        })
        .collect()
}

/// `env_mismatches` for the process's environment, logged once per process.
pub fn warn_env_mismatches(all: &[Destination]) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let Some(default) = all.iter().find(|d| d.name == DEFAULT_USER) else {
        return;
    };
    ONCE.call_once(|| {
        for warning in env_mismatches(&default.files, |v| std::env::var(v).ok()) {
            tracing::warn!("{warning}");
        }
    });
}

/// `credential_process` command for this binary and config, up to `--profile`. AWS clients run
/// it through a shell (the Rust SDK) or split it like one (botocore), so quote what needs it.
/// A config from SSM is passed on as `ssm:NAME`, placeholders and all. `--cache` names the file
/// the keys are in, which `credential-process` reads before (and usually instead of) the config.
pub fn process_command(source: &Source, cache: &Path) -> Result<String, Error> {
    let exe = std::env::current_exe().map_err(Error::io(
        "finding this program's own path for credential_process",
    ))?;
    Ok(format!(
        "{} credential-process --config {} --cache {}",
        quote(exe.display().to_string()),
        quote(source.absolute()),
        quote(cache.display().to_string())
    ))
}

/// `s` as one word for a POSIX shell (and botocore's shlex split): as it is when it holds only
/// safe characters, else in single quotes.
fn quote(s: String) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_file_variables_that_point_elsewhere_are_named_with_both_files() {
        let plain = Files::at("/home/a/.aws/credentials".into(), None, None, false);
        let process = Files::at("/home/a/.aws/credentials".into(), None, None, true);
        let env = |creds: Option<&'static str>, conf: Option<&'static str>| {
            move |v: &str| match v {
                "AWS_SHARED_CREDENTIALS_FILE" => creds.map(str::to_owned),
                "AWS_CONFIG_FILE" => conf.map(str::to_owned),
                _ => None,
            }
        };
        // Unset, empty, or the very files written: nothing to say.
        assert!(env_mismatches(&plain, env(None, None)).is_empty());
        assert!(env_mismatches(&plain, env(Some(""), Some(""))).is_empty());
        let same = env(
            Some("/home/a/.aws/credentials"),
            Some("/home/a/.aws/config"),
        );
        assert!(env_mismatches(&plain, same).is_empty());
        // With credential_process the keys go to the cache, but the user's file is the one.
        assert!(env_mismatches(&process, same).is_empty());
        let other = env(Some("/srv/creds"), Some("/srv/conf"));
        let said = env_mismatches(&plain, other);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].starts_with(
                "AWS_SHARED_CREDENTIALS_FILE is /srv/creds here, but the \
                 profiles of [credentials] go to /home/a/.aws/credentials"
            ) && said[0].contains("credentials_file = \"/srv/creds\""),
            "{}",
            said[0]
        );
        assert!(
            said[1].starts_with("AWS_CONFIG_FILE is /srv/conf here")
                && said[1].contains("/home/a/.aws/config")
                && said[1].contains("config_file = \"/srv/conf\""),
            "{}",
            said[1]
        );
    }

    #[test]
    fn words_a_shell_would_split_are_quoted() {
        for (word, want) in [
            ("/usr/bin/ec2-assume-role", "/usr/bin/ec2-assume-role"),
            ("ssm:/ear/{account_id}", "'ssm:/ear/{account_id}'"),
            ("/home/a b/.aws/c", "'/home/a b/.aws/c'"),
            ("/tmp/it's", r"'/tmp/it'\''s'"),
        ] {
            assert_eq!(quote(word.to_owned()), want, "{word}");
        }
    }
}
