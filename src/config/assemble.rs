//! The whole file, in order: every table checked, the roles of `[[role]]` and `[[role_set]]`
//! in file order with one profile each, then the chains and the discovered sets' sources, and
//! the `Config` built from them. It must never do I/O and never check a single value itself
//! (the steps it calls do).

use super::check::Checker;
use super::model::*;
use super::raw::*;
use super::role_set::Expansion;
use std::collections::HashMap;
use toml::Spanned;

impl Checker<'_> {
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
            warnings: std::mem::take(&mut self.warnings),
        }
    }
}
