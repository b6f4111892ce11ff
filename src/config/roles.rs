//! `[defaults]` and `[[role]]`: each role's options checked and `[defaults]` applied, giving a
//! `CheckedRole` that remembers where it was written. `[[role_set]]` expansion reuses
//! `Checker::options` for its roles. It must never do I/O and never echo an `external_id`.

use super::check::Checker;
use super::diagnostic::toml_key;
use super::model::*;
use super::raw::*;
use super::rules::*;
use super::template::{fill, parse_template, Piece, Placeholders};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use toml::Spanned;

impl Checker<'_> {
    pub(super) fn defaults(&mut self, raw: Option<RawDefaults>) -> Defaults {
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

    pub(super) fn role(
        &mut self,
        n: usize,
        raw: Spanned<RawRole>,
        defaults: &Defaults,
    ) -> CheckedRole {
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
    pub(super) fn policy_arns(
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
    pub(super) fn role_users(
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
    pub(super) fn session_template(
        &mut self,
        template: &Spanned<String>,
        key: &str,
        profile: &str,
    ) -> String {
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

    pub(super) fn tags(
        &mut self,
        prefix: &str,
        tags: &Spanned<BTreeMap<String, Spanned<String>>>,
    ) -> Vec<(String, String)> {
        if tags.get_ref().len() > MAX_TAGS {
            self.fail(
                Some(tags.span()),
                Some(format!("{prefix}.tags")),
                format!(
                    "{} tags; STS accepts at most {MAX_TAGS}",
                    tags.get_ref().len()
                ),
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
