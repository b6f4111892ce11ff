//! Path policy: which files a config's profiles go to (the destinations: `[credentials]`'
//! and each `[[user]]`'s), who must own them, and the `credential_process` command line that
//! points AWS clients back at them. Every command that reads or writes those files (`run`,
//! `daemon`, `status`, `credential-process`) asks here, so they always agree. It resolves
//! paths and looks users up; it never opens a file.

use crate::agent::error::Error;
use crate::agent::source::Source;
use crate::config::{Config, ConfigError, ConfigErrors, User, DEFAULT_USER};
use crate::store::fileio::Owner;
use crate::store::state::Origin;
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
    pub fn origin(all: &[Destination], source: &Source) -> Origin {
        Origin {
            config: source.absolute(),
            files: all.iter().map(|d| d.files.credentials.clone()).collect(),
        }
    }
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
