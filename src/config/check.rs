//! The `Checker`: turns the raw file (`raw`) into a `Config`, running every value through its
//! rule (`rules`) and applying `[defaults]` and the built-in defaults, and collects every
//! problem with its span and key rather than stopping at the first. `[[role_set]]` expansion
//! lives beside it in `role_set`. It must never do I/O, never format a line number itself
//! (`diagnostic` does), and never echo an `external_id`.

use super::diagnostic::{printable, toml_key, ConfigError, ConfigErrors, Lines};
use super::model::*;
use super::raw::*;
use super::role_set::Expansion;
use super::rules::*;
use super::template::{fill, parse_template, Piece};
use std::collections::{BTreeMap, HashMap};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Collects problems while turning the raw file into a `Config`. Values that fail a check are
/// replaced by placeholders; the `Config` is only returned when no problem was found.
pub(super) struct Checker<'a> {
    /// The text's newlines, for the line of a span.
    pub(super) lines: Lines,
    pub(super) path: &'a Path,
    pub(super) errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(super) fn fail(
        &mut self,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: impl Into<String>,
    ) {
        let error = ConfigError {
            path: self.path.to_path_buf(),
            line: span.map(|s| self.lines.of(s.start)),
            key: key.as_deref().map(printable),
            message: printable(&message.into()),
        };
        // Templates inherited from [defaults] are checked once per role; one report is enough.
        if !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }

    /// Runs `rule` on a present value; on failure records the problem and returns `None`.
    pub(super) fn check<T, U>(
        &mut self,
        value: &Spanned<T>,
        key: &str,
        rule: impl FnOnce(&T) -> Result<U, String>,
    ) -> Option<U> {
        match rule(value.get_ref()) {
            Ok(u) => Some(u),
            Err(message) => {
                self.fail(Some(value.span()), Some(key.to_owned()), message);
                None
            }
        }
    }

    /// A present integer checked by `rules::in_ranges`; `None` when absent or refused.
    fn integer<T: TryFrom<i64> + PartialOrd>(
        &mut self,
        value: Option<&Spanned<Integer>>,
        key: &str,
        ranges: &[RangeInclusive<T>],
        accepted: &str,
    ) -> Option<T> {
        value.and_then(|v| self.check(v, key, |n| in_ranges(n.0, ranges, accepted)))
    }

    /// Runs `rule` on a required value; a missing one is reported at its table's `header`,
    /// with `hint`. Either way a problem leaves the default.
    fn required<U: Default>(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        header: &Range<usize>,
        hint: &str,
        rule: impl FnOnce(&String) -> Result<U, String>,
    ) -> U {
        match value {
            Some(v) => self.check(v, key, rule).unwrap_or_default(),
            None => {
                let message = format!("missing; {hint}");
                self.fail(Some(header.clone()), Some(key.to_owned()), message);
                U::default()
            }
        }
    }

    pub(super) fn finish(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|e| e.line);
        ConfigErrors {
            errors: self.errors,
        }
    }

    pub(super) fn config(&mut self, raw: RawFile) -> Config {
        let instance = self.instance(raw.instance);
        let credentials = raw
            .credentials
            .map(|c| self.credentials(c))
            .unwrap_or_default();
        let daemon = raw.daemon.map(|d| self.daemon(d)).unwrap_or_default();
        let sts = raw.sts.map(|s| self.sts(s)).unwrap_or_default();
        let users = self.users(raw.user, &credentials);
        let mut defaults = self.defaults(raw.defaults);
        defaults.users = users.iter().map(|u| u.name.clone()).collect();
        if raw.role.is_empty() && raw.role_set.is_empty() {
            self.fail(
                None,
                Some("role".into()),
                "no [[role]] or [[role_set]] table; add one for each role to assume",
            );
        }
        let publish_span = raw.discovery.as_ref().and_then(|d| d.publish.as_ref());
        let publish_span = publish_span.map(Spanned::span);
        let discovery = raw.discovery.map(|d| self.discovery(d)).unwrap_or_default();
        let endpoint = raw.endpoint.map(|e| self.endpoint(e.into_inner()));
        let mut checked = Vec::with_capacity(raw.role.len());
        for (i, role) in raw.role.into_iter().enumerate() {
            checked.push(self.role(i + 1, role, &defaults));
        }
        let (mut discovered, mut discovered_sources) = (Vec::new(), Vec::new());
        for (i, set) in raw.role_set.into_iter().enumerate() {
            match self.role_set(i + 1, set, &defaults) {
                Expansion::Roles(roles) => checked.extend(roles),
                Expansion::Discovered(set, sources) => {
                    discovered.push(*set);
                    discovered_sources.extend(sources);
                }
            }
        }
        // File order (stable: a set's roles keep their accounts' order), so that a duplicate
        // names the place that comes first.
        checked.sort_by_key(|c| c.role.line);
        let mut profiles: HashMap<String, (String, usize)> = HashMap::new();
        let mut roles = Vec::with_capacity(checked.len());
        let mut sources = Vec::with_capacity(checked.len());
        for c in checked {
            sources.push((c.source_key.clone(), c.source_span.clone()));
            if let Some((other, line)) = profiles.get(&c.role.profile) {
                let message = format!(
                    "{:?} is already the profile of {other} (line {line}); each role needs its \
                     own profile",
                    c.role.profile
                );
                self.fail(c.profile_span, Some(c.profile_key), message);
            } else if !c.role.profile.is_empty() {
                profiles.insert(c.role.profile.clone(), (c.origin, c.role.line));
            }
            roles.push(c.role);
        }
        self.chains(&roles, &sources);
        self.discovered_sources(&roles, &discovered_sources);
        let shared = |d: &DiscoveredSet| d.organization.shared_parameter.is_some();
        if discovery.publish && !discovered.iter().any(shared) {
            self.fail(
                publish_span,
                Some("discovery.publish".into()),
                "no [role_set.organization] has a shared_parameter, so there is nothing to \
                 publish; add one, or remove publish",
            );
        }
        Config {
            path: self.path.to_path_buf(),
            instance,
            credentials,
            daemon,
            sts,
            roles,
            discovered,
            discovery,
            users,
            endpoint,
        }
    }

    fn endpoint(&mut self, raw: RawEndpoint) -> Endpoint {
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
        let accepted = format!("from 1 to {MAX_CONNECTIONS} connections at once");
        let max_connections = self
            .integer(
                raw.max_connections.as_ref(),
                "endpoint.max_connections",
                &[1..=MAX_CONNECTIONS],
                &accepted,
            )
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        Endpoint {
            listen,
            token_dir,
            max_connections,
        }
    }

    /// `[[user]]` tables: names that are user names, each once and not `DEFAULT_USER`; and
    /// no file written by two of them (or by one of them and `[credentials]`).
    fn users(&mut self, raw: Vec<Spanned<RawUser>>, credentials: &Credentials) -> Vec<User> {
        let mut names: HashMap<String, usize> = HashMap::new();
        // Every file given explicitly, with who has it: a second writer is an error.
        let mut paths: HashMap<PathBuf, String> = HashMap::new();
        if let Some(file) = &credentials.file {
            paths.insert(file.clone(), "[credentials] file".into());
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

    fn discovery(&mut self, raw: RawDiscovery) -> Discovery {
        let mut discovery = Discovery::default();
        if let Some(v) = &raw.cache_file {
            if let Some(path) = self.check(v, "discovery.cache_file", |s| absolute_file(s)) {
                discovery.cache_file = path;
            }
        }
        discovery.publish = raw.publish.as_ref().is_some_and(|p| *p.get_ref());
        discovery
    }

    fn sts(&mut self, raw: RawSts) -> StsOptions {
        let built_in = StsOptions::default();
        let in_flight = [1..=MAX_CONCURRENCY];
        let at_once = format!("from 1 to {MAX_CONCURRENCY} AssumeRole calls in flight at once");
        let waits = [0..=MAX_BOOT_JITTER_SECONDS];
        let wait = format!("from 0 (no wait) to {MAX_BOOT_JITTER_SECONDS} seconds");
        let (n, j) = (
            raw.max_concurrency.as_ref(),
            raw.boot_jitter_seconds.as_ref(),
        );
        let n = self.integer(n, "sts.max_concurrency", &in_flight, &at_once);
        let j = self.integer(j, "sts.boot_jitter_seconds", &waits, &wait);
        StsOptions {
            max_concurrency: n.unwrap_or(built_in.max_concurrency),
            boot_jitter_seconds: j.unwrap_or(built_in.boot_jitter_seconds),
        }
    }

    fn daemon(&mut self, raw: RawDaemon) -> Daemon {
        let built_in = Daemon::default();
        let refresh_at = raw
            .refresh_at
            .as_ref()
            .and_then(|v| {
                self.check(v, "daemon.refresh_at", |&f| {
                    if (0.1..=0.9).contains(&f) {
                        Ok(f)
                    } else {
                        Err(format!(
                            "{f} is out of range: give the fraction of the credentials' lifetime \
                             after which to refresh, from 0.1 to 0.9 (0.5 = half-way)"
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
                    if (0.0..=0.4).contains(&f)
                        && (refresh_at - f) >= 0.05
                        && refresh_at + f <= 0.95
                    {
                        Ok(f)
                    } else {
                        Err(format!(
                            "{f} is out of range: from 0 to 0.4, and refresh_at \u{b1} jitter must \
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
                &[30..=3600],
                "from 30 to 3600 seconds",
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
            &[0..=0, MIN_RELOAD_SECONDS..=86_400],
            &format!("0 (reload on SIGHUP only) or from {MIN_RELOAD_SECONDS} to 86400 seconds"),
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

    fn instance(&mut self, raw: Option<Spanned<RawInstance>>) -> Instance {
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

    fn credentials(&mut self, raw: RawCredentials) -> Credentials {
        let file = raw
            .file
            .as_ref()
            .and_then(|v| self.check(v, "credentials.file", |s| absolute_file(s)));
        let config_file = raw
            .config_file
            .as_ref()
            .and_then(|v| self.check(v, "credentials.config_file", |s| absolute_file(s)));
        // Writing both kinds of profile into one file would corrupt it for the AWS tools.
        if let (Some(file), Some(file_value)) = (&file, &raw.file) {
            let config = config_file
                .clone()
                .unwrap_or_else(|| file.with_file_name("config"));
            let (key, value) = match &raw.config_file {
                Some(v) => ("credentials.config_file", v),
                None => ("credentials.file", file_value),
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

    fn defaults(&mut self, raw: Option<RawDefaults>) -> Defaults {
        let Some(raw) = raw else {
            return Defaults::default();
        };
        let duration_seconds = raw
            .duration_seconds
            .as_ref()
            .and_then(|v| self.check(v, "defaults.duration_seconds", |d| check_duration(d.0)));
        let region = raw.region.as_ref().and_then(|v| {
            self.check(v, "defaults.region", |s| {
                check_region(s).map(|()| s.clone())
            })
        });
        // The template's syntax is checked here, once; its filled length per role, since
        // `{profile}` differs.
        let role_session_name = raw.role_session_name.and_then(|v| {
            self.check(&v, "defaults.role_session_name", |s| {
                parse_template(s).map(|_| ())
            })
            .map(|()| v)
        });
        Defaults {
            duration_seconds,
            role_session_name,
            region,
            users: Vec::new(),
            endpoints: Endpoints {
                fips: raw.use_fips_endpoint.map(Spanned::into_inner),
                dual_stack: raw.use_dualstack_endpoint.map(Spanned::into_inner),
            },
        }
    }

    fn role(&mut self, n: usize, raw: Spanned<RawRole>, defaults: &Defaults) -> CheckedRole {
        let header = raw.span();
        let line = self.lines.of(header.start);
        let raw = raw.into_inner();
        let prefix = format!("role[{n}]");
        let key = |name: &str| format!("{prefix}.{name}");

        // There is deliberately no derived default: the profile is always written by the user,
        // so `default` (which AWS tools use when no profile is named) is only ever overwritten
        // when the config says so.
        let profile = self.required(
            raw.profile.as_ref(),
            &key("profile"),
            &header,
            "name the profile to write, e.g. profile = \"audit-111111111111\"",
            |s| valid(s, check_profile, "cannot be a profile name"),
        );
        let (role_arn, partition, account_id) = self.required(
            raw.role_arn.as_ref(),
            &key("role_arn"),
            &header,
            "e.g. role_arn = \"arn:aws:iam::111111111111:role/NAME\"",
            |s| {
                parse_role_arn(s)
                    .map(|(p, a)| (s.clone(), p.to_owned(), a.to_owned()))
                    .map_err(|why| format!("{s:?} is not a role ARN: {why}"))
            },
        );
        let options = self.options(&prefix, &raw.options(), defaults, &partition, &header);
        let role_session_name =
            self.role_session_name(&prefix, raw.role_session_name.as_ref(), defaults, &profile);
        CheckedRole {
            role: options.role(
                profile,
                role_arn,
                partition,
                account_id,
                role_session_name,
                line,
            ),
            origin: prefix.clone(),
            profile_key: key("profile"),
            profile_span: raw.profile.map(|p| p.span()),
            source_key: key("source_profile"),
            source_span: options.source_span(),
        }
    }

    /// Checks the options a `[[role]]` and a `[[role_set]]` share, but for the session name,
    /// which depends on the profile.
    pub(super) fn options(
        &mut self,
        prefix: &str,
        raw: &RawOptions,
        defaults: &Defaults,
        partition: &str,
        header: &Range<usize>,
    ) -> Options {
        let key = |name: &str| format!("{prefix}.{name}");
        let external_id = raw.external_id.and_then(|v| {
            self.check(v, &key("external_id"), |s| {
                check_external_id(s).map(|()| s.clone())
            })
        });
        let source_identity = raw.source_identity.and_then(|v| {
            self.check(v, &key("source_identity"), |s| {
                valid(s, check_source_identity, "is not a valid source identity")
            })
        });
        let duration_seconds = match raw.duration_seconds {
            Some(v) => self.check(v, &key("duration_seconds"), |d| check_duration(d.0)),
            None => defaults.duration_seconds,
        }
        .unwrap_or(DEFAULT_DURATION_SECONDS);
        let region = match raw.region {
            Some(v) => self.check(v, &key("region"), |s| check_region(s).map(|()| s.clone())),
            None => defaults.region.clone(),
        };
        // A role is assumed in its own partition: a region of another is a mistake the SDK
        // would only report as a signature STS does not know. An unknown partition ("")
        // was reported already.
        if let Some(Err(why)) = region
            .as_deref()
            .filter(|_| !partition.is_empty())
            .map(|r| check_region_in(r, partition))
        {
            let (span, at) = match raw.region {
                Some(v) => (v.span(), key("region")),
                None => (header.clone(), "defaults.region".to_owned()),
            };
            self.fail(Some(span), Some(at), why);
        }
        let tags = raw.tags.map(|t| self.tags(prefix, t)).unwrap_or_default();
        let users = match raw.users {
            Some(list) => self.role_users(&key("users"), list, &defaults.users),
            None => vec![DEFAULT_USER.to_owned()],
        };
        let source_profile = raw.source_profile.and_then(|v| {
            let source = self.check(v, &key("source_profile"), |s| {
                valid(s, check_profile, "cannot be a profile name")
            })?;
            if duration_seconds > MAX_CHAINED_DURATION_SECONDS {
                // Reported where the duration was written: the role, or [defaults].
                let (span, at) = match raw.duration_seconds {
                    Some(d) => (d.span(), key("duration_seconds")),
                    None => (v.span(), key("source_profile")),
                };
                self.fail(
                    Some(span),
                    Some(at),
                    format!(
                        "duration_seconds = {duration_seconds}, but STS caps a chained session \
                         (one assumed with source_profile {source:?}'s credentials) at \
                         {MAX_CHAINED_DURATION_SECONDS} seconds; give at most \
                         {MAX_CHAINED_DURATION_SECONDS}"
                    ),
                );
            }
            Some((source, v.span()))
        });
        let policy = raw
            .policy
            .and_then(|v| self.check(v, &key("policy"), |s| session_policy(s)));
        let policy_arns = raw
            .policy_arns
            .map(|list| self.policy_arns(&key("policy_arns"), list, partition))
            .unwrap_or_default();
        let endpoints = Endpoints {
            fips: raw
                .use_fips_endpoint
                .map(|v| *v.get_ref())
                .or(defaults.endpoints.fips),
            dual_stack: raw
                .use_dualstack_endpoint
                .map(|v| *v.get_ref())
                .or(defaults.endpoints.dual_stack),
        };
        Options {
            external_id,
            duration_seconds,
            region,
            source_identity,
            tags,
            source_profile,
            users,
            policy,
            policy_arns,
            endpoints,
        }
    }

    /// A role's `policy_arns`: policy ARNs in its partition, each once, at most
    /// `MAX_POLICY_ARNS`.
    fn policy_arns(
        &mut self,
        key: &str,
        list: &Spanned<Vec<Spanned<String>>>,
        partition: &str,
    ) -> Vec<String> {
        if list.get_ref().len() > MAX_POLICY_ARNS {
            self.fail(
                Some(list.span()),
                Some(key.to_owned()),
                format!(
                    "{} policy ARNs; STS accepts at most {MAX_POLICY_ARNS}",
                    list.get_ref().len()
                ),
            );
        }
        let mut arns: Vec<String> = Vec::new();
        for (i, v) in list.get_ref().iter().enumerate() {
            let at = format!("{key}[{}]", i + 1);
            let Some(arn) = self.check(v, &at, |s| {
                check_policy_arn(s, partition)
                    .map(|()| s.clone())
                    .map_err(|why| format!("{s:?} is not a policy ARN: {why}"))
            }) else {
                continue;
            };
            if arns.contains(&arn) {
                self.fail(Some(v.span()), Some(at), format!("{arn:?} is listed twice"));
            } else {
                arns.push(arn);
            }
        }
        arns
    }

    /// A role's `users`: `DEFAULT_USER` or a `[[user]]` name each, each once, at least one.
    fn role_users(
        &mut self,
        key: &str,
        list: &Spanned<Vec<Spanned<String>>>,
        known: &[String],
    ) -> Vec<String> {
        if list.get_ref().is_empty() {
            self.fail(
                Some(list.span()),
                Some(key.to_owned()),
                format!(
                    "an empty list writes the role nowhere; name {DEFAULT_USER:?} ([credentials]) \
                     or [[user]] names, or remove users"
                ),
            );
        }
        let mut users: Vec<String> = Vec::new();
        for name in list.get_ref() {
            let n = name.get_ref();
            if users.contains(n) {
                self.fail(
                    Some(name.span()),
                    Some(key.to_owned()),
                    format!("{n:?} is listed twice"),
                );
            } else if n != DEFAULT_USER && !known.contains(n) {
                let mut choices = vec![format!("{DEFAULT_USER:?} ([credentials])")];
                choices.extend(known.iter().map(|k| format!("{k:?}")));
                self.fail(
                    Some(name.span()),
                    Some(key.to_owned()),
                    format!(
                        "{n:?} is not a [[user]] of this config; known: {}",
                        choices.join(", ")
                    ),
                );
            } else {
                users.push(n.clone());
            }
        }
        users
    }

    /// The session-name template for `profile`: the role's own, else `[defaults]`', else the
    /// built-in one; checked filled.
    pub(super) fn role_session_name(
        &mut self,
        prefix: &str,
        own: Option<&Spanned<String>>,
        defaults: &Defaults,
        profile: &str,
    ) -> String {
        match (own, &defaults.role_session_name) {
            (Some(own), _) => {
                self.session_template(own, &format!("{prefix}.role_session_name"), profile)
            }
            (None, Some(inherited)) => {
                self.session_template(inherited, "defaults.role_session_name", profile)
            }
            (None, None) => DEFAULT_SESSION_NAME.to_owned(),
        }
    }

    /// Checks a template and, filled with worst-case values and `profile`, its result.
    fn session_template(&mut self, template: &Spanned<String>, key: &str, profile: &str) -> String {
        let worst = Placeholders {
            instance_id: WORST_CASE_INSTANCE_ID,
            account_id: WORST_CASE_ACCOUNT_ID,
        };
        self.check(template, key, |s| {
            let pieces = parse_template(s)?;
            let filled = fill(&pieces, &worst, profile);
            check_session_name(&filled).map_err(|why| {
                let mut given = String::new();
                if pieces.contains(&Piece::Profile) {
                    given += &format!(" for profile {profile:?}");
                }
                if pieces.contains(&Piece::InstanceId) {
                    given += " with the longest instance id";
                }
                format!("{s:?} gives {filled:?}{given}, which is not a valid session name: {why}")
            })
        });
        template.get_ref().clone()
    }

    fn tags(
        &mut self,
        prefix: &str,
        tags: &Spanned<BTreeMap<String, Spanned<String>>>,
    ) -> Vec<(String, String)> {
        if tags.get_ref().len() > 50 {
            self.fail(
                Some(tags.span()),
                Some(format!("{prefix}.tags")),
                format!("{} tags; STS accepts at most 50", tags.get_ref().len()),
            );
        }
        let mut seen: HashMap<String, &str> = HashMap::new();
        let mut out = Vec::with_capacity(tags.get_ref().len());
        for (k, v) in tags.get_ref() {
            let key = format!("{prefix}.tags.{}", toml_key(k));
            let checked = self.check(v, &key, |value| check_tag(k, value));
            if let Some(first) = seen.insert(k.to_lowercase(), k) {
                self.fail(
                    Some(v.span()),
                    Some(key),
                    format!(
                        "{first:?} and {k:?} differ only in case; STS treats tag keys \
                         case-insensitively"
                    ),
                );
            }
            if checked.is_some() {
                out.push((k.clone(), v.get_ref().clone()));
            }
        }
        out
    }
}

#[derive(Default)]
pub(super) struct Defaults {
    pub(super) duration_seconds: Option<i32>,
    pub(super) role_session_name: Option<Spanned<String>>,
    pub(super) region: Option<String>,
    /// The `[[user]]` names a role's `users` may give (besides `DEFAULT_USER`).
    pub(super) users: Vec<String>,
    pub(super) endpoints: Endpoints,
}

/// Checked options shared by a `[[role]]` and the roles of a `[[role_set]]`.
#[derive(Clone)]
pub(super) struct Options {
    external_id: Option<String>,
    duration_seconds: i32,
    region: Option<String>,
    source_identity: Option<String>,
    tags: Vec<(String, String)>,
    /// The profile and where it was written.
    source_profile: Option<(String, Range<usize>)>,
    users: Vec<String>,
    policy: Option<String>,
    policy_arns: Vec<String>,
    endpoints: Endpoints,
}

impl Options {
    /// Where the role's `source_profile` was written, if it has one.
    pub(super) fn source_span(&self) -> Option<Range<usize>> {
        self.source_profile.as_ref().map(|(_, span)| span.clone())
    }

    pub(super) fn role(
        &self,
        profile: String,
        role_arn: String,
        partition: String,
        account_id: String,
        role_session_name: String,
        line: usize,
    ) -> Role {
        let o = self.clone();
        Role {
            profile,
            role_arn,
            partition,
            account_id,
            external_id: o.external_id,
            role_session_name,
            duration_seconds: o.duration_seconds,
            region: o.region,
            source_identity: o.source_identity,
            tags: o.tags,
            source_profile: o.source_profile.map(|(p, _)| p),
            users: o.users,
            policy: o.policy,
            policy_arns: o.policy_arns,
            endpoints: o.endpoints,
            line,
        }
    }
}

pub(super) struct CheckedRole {
    pub(super) role: Role,
    /// Where the role was written, for messages: `role[2]`, `role_set[1].accounts[3]`.
    pub(super) origin: String,
    /// The key a duplicate profile is reported under, and where it is.
    pub(super) profile_key: String,
    pub(super) profile_span: Option<Range<usize>>,
    /// The key and place of `source_profile` (the role's, or its set's).
    pub(super) source_key: String,
    pub(super) source_span: Option<Range<usize>>,
}
