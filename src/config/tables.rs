//! The single tables: `[instance]`, `[credentials]`, `[daemon]`, `[sts]`, `[discovery]`,
//! `[endpoint]` and `[[user]]`, each checked key by key with the built-in defaults applied.
//! It must never do I/O and never echo an `external_id`.

use super::check::Checker;
use super::keys::*;
use super::model::*;
use super::raw::*;
use super::rules::*;
use std::collections::HashMap;
use std::path::PathBuf;
use toml::Spanned;

impl Checker<'_> {
    pub(super) fn endpoint(&mut self, raw: RawEndpoint) -> Endpoint {
        let mut listen = Vec::new();
        match &raw.listen {
            None => listen.extend(DEFAULT_ENDPOINT_LISTEN.parse::<std::net::SocketAddr>()),
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.fail(
                        Some(list.span()),
                        Some("endpoint.listen".into()),
                        "is empty; give at least one address, or remove [endpoint] to turn it off",
                    );
                }
                for (i, v) in list.get_ref().iter().enumerate() {
                    let key = format!("endpoint.listen[{}]", i + 1);
                    listen.extend(self.check(v, &key, |s| check_listen(s)));
                }
            }
        }
        let token_dir = raw
            .token_dir
            .as_ref()
            .and_then(|v| self.check(v, "endpoint.token_dir", |s| absolute_file(s)))
            .unwrap_or_else(|| DEFAULT_TOKEN_DIR.into());
        let max_connections = self
            .integer(
                raw.max_connections.as_ref(),
                "endpoint.max_connections",
                &MAX_CONNECTIONS_KEY,
            )
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let rate_per_second = self
            .integer(
                raw.rate_per_second.as_ref(),
                "endpoint.rate_per_second",
                &RATE_PER_SECOND_KEY,
            )
            .unwrap_or(DEFAULT_RATE_PER_SECOND);
        let burst = self
            .integer(raw.burst.as_ref(), "endpoint.burst", &BURST_KEY)
            .unwrap_or(DEFAULT_BURST);
        let audit_interval_seconds = self
            .integer(
                raw.audit_interval_seconds.as_ref(),
                "endpoint.audit_interval_seconds",
                &AUDIT_INTERVAL_KEY,
            )
            .unwrap_or(DEFAULT_AUDIT_INTERVAL_SECONDS);
        let audit_lines = self
            .integer(
                raw.audit_lines.as_ref(),
                "endpoint.audit_lines",
                &AUDIT_LINES_KEY,
            )
            .unwrap_or(DEFAULT_AUDIT_LINES);
        Endpoint {
            listen,
            token_dir,
            max_connections,
            rate_per_second,
            burst,
            audit_interval_seconds,
            audit_lines,
        }
    }

    /// `[[user]]` tables: names that are user names, each once and not `DEFAULT_USER`; and
    /// no file written by two of them (or by one of them and `[credentials]`).
    pub(super) fn users(
        &mut self,
        raw: Vec<Spanned<RawUser>>,
        credentials: &Credentials,
    ) -> Vec<User> {
        let mut names: HashMap<String, usize> = HashMap::new();
        // Every file given explicitly, with who has it: a second writer is an error.
        let mut paths: HashMap<PathBuf, String> = HashMap::new();
        if let Some(file) = &credentials.file {
            paths.insert(file.clone(), "[credentials] credentials_file".into());
        }
        if let Some(file) = &credentials.config_file {
            paths.insert(file.clone(), "[credentials] config_file".into());
        }
        let mut users = Vec::with_capacity(raw.len());
        for (i, raw) in raw.into_iter().enumerate() {
            let header = raw.span();
            let line = self.lines.of(header.start);
            let raw = raw.into_inner();
            let prefix = format!("user[{}]", i + 1);
            let key = |name: &str| format!("{prefix}.{name}");
            let name: String = self.required(
                raw.name.as_ref(),
                &key("name"),
                &header,
                "name the local user whose files these are, e.g. name = \"alice\"",
                |s| {
                    valid(s, check_user_name, "is not a user name")?;
                    if s == DEFAULT_USER {
                        Err(format!(
                            "{s:?} is how a role's users names [credentials]' files; use \
                             [credentials] owner for that user"
                        ))
                    } else {
                        Ok(s.clone())
                    }
                },
            );
            if let (Some(&first), Some(v)) = (names.get(&name), &raw.name) {
                self.fail(
                    Some(v.span()),
                    Some(key("name")),
                    format!("user {name:?} is already user[{first}]; give each user one table"),
                );
            } else if !name.is_empty() {
                names.insert(name.clone(), i + 1);
            }
            let mut file = |this: &mut Self, v: &Option<Spanned<String>>, what: &str| {
                let v = v.as_ref()?;
                let path = this.check(v, &key(what), |s| absolute_file(s))?;
                let mine = format!("{prefix} {what}");
                match paths.get(&path) {
                    Some(other) => this.fail(
                        Some(v.span()),
                        Some(key(what)),
                        format!(
                            "{} is already {other}; each file gets one writer",
                            path.display()
                        ),
                    ),
                    None => {
                        paths.insert(path.clone(), mine);
                    }
                }
                Some(path)
            };
            let credentials_file = file(self, &raw.credentials_file, "credentials_file");
            let config_file = file(self, &raw.config_file, "config_file");
            if let (Some(c), None, Some(v)) =
                (&credentials_file, &config_file, &raw.credentials_file)
            {
                if c.file_name().is_some_and(|n| n == "config") {
                    self.fail(
                        Some(v.span()),
                        Some(key("credentials_file")),
                        format!(
                            "{} would be both the credentials file and the config file; set \
                             config_file to another file",
                            c.display()
                        ),
                    );
                }
            }
            users.push(User {
                name,
                credentials_file,
                config_file,
                credential_process: raw.credential_process,
                line,
            });
        }
        users
    }

    pub(super) fn discovery(&mut self, raw: RawDiscovery) -> Discovery {
        let mut discovery = Discovery::default();
        if let Some(v) = &raw.cache_file {
            if let Some(path) = self.check(v, "discovery.cache_file", |s| absolute_file(s)) {
                discovery.cache_file = path;
            }
        }
        discovery.publish = raw.publish.as_ref().is_some_and(|p| *p.get_ref());
        discovery
    }

    pub(super) fn sts(&mut self, raw: RawSts) -> StsOptions {
        let built_in = StsOptions::default();
        let (n, j) = (
            raw.max_concurrency.as_ref(),
            raw.boot_jitter_seconds.as_ref(),
        );
        let n = self.integer(n, "sts.max_concurrency", &MAX_CONCURRENCY_KEY);
        let j = self.integer(j, "sts.boot_jitter_seconds", &BOOT_JITTER_KEY);
        StsOptions {
            max_concurrency: n.unwrap_or(built_in.max_concurrency),
            boot_jitter_seconds: j.unwrap_or(built_in.boot_jitter_seconds),
        }
    }

    pub(super) fn daemon(&mut self, raw: RawDaemon) -> Daemon {
        let built_in = Daemon::default();
        let refresh_at = raw
            .refresh_at
            .as_ref()
            .and_then(|v| {
                self.check(v, "daemon.refresh_at", |&f| {
                    if (MIN_REFRESH_AT..=MAX_REFRESH_AT).contains(&f) {
                        Ok(f)
                    } else {
                        Err(format!(
                            "{f} is out of range: give the fraction of the credentials' lifetime \
                             after which to refresh, from {MIN_REFRESH_AT} to {MAX_REFRESH_AT} \
                             (0.5 = half-way)"
                        ))
                    }
                })
            })
            .unwrap_or(built_in.refresh_at);
        let jitter = raw
            .jitter
            .as_ref()
            .and_then(|v| {
                self.check(v, "daemon.jitter", |&f| {
                    if (0.0..=MAX_JITTER).contains(&f)
                        && (refresh_at - f) >= 0.05
                        && refresh_at + f <= 0.95
                    {
                        Ok(f)
                    } else {
                        Err(format!(
                            "{f} is out of range: from 0 to {MAX_JITTER}, and refresh_at \u{b1} jitter must \
                             stay between 0.05 and 0.95 (refresh_at is {refresh_at})"
                        ))
                    }
                })
            })
            .unwrap_or(built_in.jitter);
        let safety_window_seconds = self
            .integer(
                raw.safety_window_seconds.as_ref(),
                "daemon.safety_window_seconds",
                &SAFETY_WINDOW_KEY,
            )
            .unwrap_or(built_in.safety_window_seconds);
        let state_file = raw
            .state_file
            .as_ref()
            .and_then(|v| self.check(v, "daemon.state_file", |s| absolute_file(s)))
            .unwrap_or(built_in.state_file);
        let metrics_file = raw
            .metrics_file
            .as_ref()
            .and_then(|v| self.check(v, "daemon.metrics_file", |s| metrics_file(s)));
        let reload_interval_seconds = self.integer(
            raw.reload_interval_seconds.as_ref(),
            "daemon.reload_interval_seconds",
            &RELOAD_INTERVAL_KEY,
        );
        Daemon {
            refresh_at,
            jitter,
            safety_window_seconds,
            remove_expired: raw.remove_expired.unwrap_or(built_in.remove_expired),
            state_file,
            metrics_file,
            reload_interval_seconds,
        }
    }

    pub(super) fn instance(&mut self, raw: Option<Spanned<RawInstance>>) -> Instance {
        let Some(raw) = raw else {
            self.fail(
                None,
                Some("instance".into()),
                "missing; add an [instance] table with role_name = the instance profile's role",
            );
            return Instance {
                role_name: String::new(),
                account_id: None,
            };
        };
        let span = raw.span();
        let raw = raw.into_inner();
        let role_name = match &raw.role_name {
            Some(v) => self.check(v, "instance.role_name", |s| {
                valid(s, check_role_name, "is not an IAM role name")
            }),
            None => {
                self.fail(
                    Some(span),
                    Some("instance.role_name".into()),
                    "missing; set it to the role of the instance profile this agent must run under",
                );
                None
            }
        };
        let account_id = raw.account_id.as_ref().and_then(|v| {
            self.check(v, "instance.account_id", |s| {
                valid(s, check_account_id, "is not an account id")
            })
        });
        Instance {
            role_name: role_name.unwrap_or_default(),
            account_id,
        }
    }

    pub(super) fn credentials(&mut self, raw: RawCredentials) -> Credentials {
        // `file` is the former name: still read, with a warning; both at once is a mistake.
        let (file_value, file_key) = match (&raw.credentials_file, &raw.file) {
            (Some(_), Some(old)) => {
                self.fail(
                    Some(old.span()),
                    Some("credentials.file".into()),
                    "and credentials_file both name the credentials file; keep credentials_file \
                     (file is its former name)",
                );
                (None, "")
            }
            (Some(v), None) => (Some(v), "credentials.credentials_file"),
            (None, Some(old)) => {
                self.warn(
                    old.span(),
                    "credentials.file",
                    "is the former name of credentials_file; rename it to credentials_file",
                );
                (Some(old), "credentials.file")
            }
            (None, None) => (None, ""),
        };
        let file = file_value.and_then(|v| self.check(v, file_key, |s| absolute_file(s)));
        let config_file = raw
            .config_file
            .as_ref()
            .and_then(|v| self.check(v, "credentials.config_file", |s| absolute_file(s)));
        // Writing both kinds of profile into one file would corrupt it for the AWS tools.
        if let (Some(file), Some(file_value)) = (&file, file_value) {
            let config = config_file
                .clone()
                .unwrap_or_else(|| file.with_file_name("config"));
            let (key, value) = match &raw.config_file {
                Some(v) => ("credentials.config_file", v),
                None => (file_key, file_value),
            };
            if &config == file {
                self.fail(
                    Some(value.span()),
                    Some(key.into()),
                    format!(
                        "{:?} would be both the credentials file and the config file; set \
                         config_file to another file",
                        file.display()
                    ),
                );
            }
        }
        let owner = raw.owner.as_ref().and_then(|v| {
            self.check(v, "credentials.owner", |s| {
                valid(s, check_user_name, "is not a user name")
            })
        });
        Credentials {
            file,
            config_file,
            owner,
            replace_unmanaged: raw.replace_unmanaged,
            credential_process: raw.credential_process,
        }
    }
}
