//! The credential endpoint's audit trail: one journal event (`ENDPOINT_RESPONSE`) per answer
//! to a credentials request, with the owner whose token it carried (if any), the profile as
//! asked, the peer's address, the status and, for a refusal, its reason; and why a request is
//! refused (`Refusal`), with its status.
//!
//! A flood must not fill the journal, and must not blind it either: each kind of event (a
//! profile served to one owner; each reason of refusal) is logged at most `lines` times per
//! period, and what was not logged is counted and summarised at the period's end
//! (`ENDPOINT_UNLOGGED`, one line per kind with the count and the last peer). So an attack
//! leaves a trace, and after any flood the next refusal of another kind is logged at once,
//! one of the same kind within a period. The kinds are bounded (owners × their profiles, and
//! the reasons), so is what is remembered.
//!
//! It must never log a token or a key: only owner and profile names, addresses and statuses;
//! a profile as asked is the client's text, so it is cut and made printable first.

use hyper::StatusCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

use crate::base::logging::message_id;

/// Why a request was refused, and its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    Method,
    UriTooLong,
    Proxied,
    NoHost,
    NoToken,
    BadToken,
    OtherOwner,
    NotFound,
    NotLoopback,
    /// Over the client's rate limit; retry after so many seconds.
    Limited(u64),
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Method => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::UriTooLong => StatusCode::URI_TOO_LONG,
            Refusal::Proxied | Refusal::NoHost => StatusCode::BAD_REQUEST,
            Refusal::NoToken | Refusal::BadToken => StatusCode::UNAUTHORIZED,
            Refusal::OtherOwner | Refusal::NotLoopback => StatusCode::FORBIDDEN,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Method => "a method other than GET",
            Refusal::UriTooLong => "a URI over the limit",
            Refusal::Proxied => "a request that came through a proxy",
            Refusal::NoHost => "an HTTP/1.1 request without Host",
            Refusal::NoToken => "no authorization token",
            Refusal::BadToken => "an unknown authorization token",
            Refusal::OtherOwner => "another owner's profile",
            Refusal::NotFound => "a profile not configured or not assumed yet",
            Refusal::NotLoopback => "metrics or health to a peer not on loopback",
            Refusal::Limited(_) => "over the client's rate limit",
        }
    }
}

/// A kind of event, counted apart from the others.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Served {
        owner: Arc<str>,
        profile: String,
    },
    /// By reason: every `Limited` is one kind, whatever its wait.
    Refused(&'static str),
}

#[derive(Debug)]
struct Tally {
    logged: u32,
    dropped: u64,
    status: u16,
    last_peer: IpAddr,
    /// The last owner seen among the dropped (refusals), if any.
    last_owner: Option<Arc<str>>,
}

/// The kinds seen this period and how many of each were logged or dropped.
#[derive(Debug)]
pub struct Audit {
    lines: u32,
    period: Duration,
    seen: Mutex<HashMap<Kind, Tally>>,
}

/// The profile as asked, cut to 64 characters and made printable: it is the client's text.
pub fn printable(asked: &str) -> String {
    (asked.chars().take(64))
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

impl Audit {
    pub fn new(lines: u32, period: Duration) -> Audit {
        Audit {
            lines: lines.max(1),
            period,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// One answer: `owner` whose token it carried, the profile `asked` (or the path), `peer`,
    /// and `Ok` (the credentials served) or the refusal. Logged unless this period already
    /// logged `lines` of its kind; then counted. Returns whether it was logged.
    pub fn record(
        &self,
        owner: Option<&Arc<str>>,
        asked: &str,
        peer: IpAddr,
        outcome: Result<(), Refusal>,
    ) -> bool {
        let (kind, status) = match (outcome, owner) {
            (Ok(()), Some(owner)) => (
                Kind::Served {
                    owner: Arc::clone(owner),
                    profile: asked.to_owned(),
                },
                200,
            ),
            (Ok(()), None) => return false,
            (Err(refusal), _) => (Kind::Refused(refusal.reason()), refusal.status().as_u16()),
        };
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let tally = seen.entry(kind).or_insert(Tally {
                logged: 0,
                dropped: 0,
                status,
                last_peer: peer,
                last_owner: None,
            });
            if tally.logged >= self.lines {
                tally.dropped += 1;
                tally.last_peer = peer;
                tally.last_owner = owner.cloned();
                return false;
            }
            tally.logged += 1;
        }
        let profile = printable(asked);
        let owner = owner.map_or("", |o| o);
        match outcome {
            Ok(()) => info!(
                message_id = message_id::ENDPOINT_RESPONSE,
                owner,
                profile = %profile,
                peer = %peer,
                status,
                "credential endpoint: served {profile} to {owner} at {peer} (200)"
            ),
            Err(refusal) => {
                let whose = if owner.is_empty() {
                    String::new()
                } else {
                    format!(" of {owner}")
                };
                warn!(
                    message_id = message_id::ENDPOINT_RESPONSE,
                    owner,
                    profile = %profile,
                    peer = %peer,
                    status,
                    reason = refusal.reason(),
                    "credential endpoint: refused {} from {peer}{whose} for profile {profile:?} \
                     ({status})",
                    refusal.reason(),
                )
            }
        }
        true
    }

    /// Ends the period: one line per kind with what was not logged, then every count starts
    /// again. Returns how many lines it wrote.
    pub fn summarise(&self) -> usize {
        let ended: Vec<(Kind, Tally)> = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.drain().filter(|(_, t)| t.dropped > 0).collect()
        };
        let seconds = self.period.as_secs();
        for (kind, tally) in &ended {
            let (dropped, status, peer) = (tally.dropped, tally.status, tally.last_peer);
            match kind {
                Kind::Served { owner, profile } => warn!(
                    message_id = message_id::ENDPOINT_UNLOGGED,
                    owner = &**owner,
                    profile = %profile,
                    peer = %peer,
                    status,
                    dropped,
                    "credential endpoint: served {profile} to {owner} {dropped} more times in the \
                     last {seconds} s, not logged one by one (the last at {peer})"
                ),
                Kind::Refused(reason) => {
                    let owner = tally.last_owner.as_deref().unwrap_or("");
                    warn!(
                        message_id = message_id::ENDPOINT_UNLOGGED,
                        owner,
                        peer = %peer,
                        status,
                        reason,
                        dropped,
                        "credential endpoint: {dropped} more refusals of {reason} ({status}) in \
                         the last {seconds} s, not logged one by one (the last from {peer})"
                    )
                }
            }
        }
        ended.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lines` of a kind are logged per period, the rest counted; other kinds are logged
    /// meanwhile; the summary has one line per kind that dropped some, and the count starts
    /// again after it.
    #[test]
    fn each_kind_is_logged_up_to_its_lines_then_summarised() {
        let audit = Audit::new(3, Duration::from_secs(60));
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let a: Arc<str> = Arc::from("alice");
        let logged = |outcome, owner: Option<&Arc<str>>, profile: &str| {
            audit.record(owner, profile, peer, outcome)
        };
        let flood: Vec<bool> = (0..100)
            .map(|i| logged(Err(Refusal::NoToken), None, &format!("p{i}")))
            .collect();
        assert_eq!(flood.iter().filter(|l| **l).count(), 3);
        // Another reason, and a success, are still logged during the flood.
        assert!(logged(Err(Refusal::Method), None, "p"));
        assert!(logged(Err(Refusal::Limited(3)), Some(&a), "p"));
        assert!(logged(Ok(()), Some(&a), "p"));
        // Successes: per owner and profile.
        for _ in 0..5 {
            logged(Ok(()), Some(&a), "q");
        }
        // A 200 without an owner cannot happen; it is not counted as one.
        assert!(!logged(Ok(()), None, "p"));
        // NoToken dropped 97, (alice, q) 2.
        assert_eq!(audit.summarise(), 2);
        assert_eq!(audit.summarise(), 0, "the counts start again");
        assert!(logged(Err(Refusal::NoToken), None, "p"));
    }

    #[test]
    fn a_profile_as_asked_is_cut_and_printable() {
        assert_eq!(printable("a\nb\u{7f}é"), "a?b??");
        assert_eq!(printable(&"x".repeat(100)).len(), 64);
    }
}
