//! The credential endpoint's per-client limits: a token bucket for each owner (a request with
//! a valid token, whichever profile it asks for) and for each peer address (every request
//! without a valid token, `/metrics` and `/healthz` included), `rate` requests a second on
//! average and `burst` at once, as the ECS agent limits each client of its endpoint. A client
//! over its limit is told how many whole seconds to wait (`Retry-After`).
//!
//! It must never block, sleep or grow without bound: owners are as many as the daemon handed
//! tokens to, and at most `MAX_PEERS` peers are remembered. A bucket that has refilled is the
//! same as none, so those are forgotten when room is needed; while `MAX_PEERS` peers are all
//! busy, any other peer shares one bucket, so a flood from many addresses (all of 127/8 is
//! loopback) limits only tokenless requests, which are refused anyway, never an owner's.
//!
//! Hand-written rather than the `governor` crate: a bucket is a float and an instant, while
//! `governor` brings its own clock (`quanta`), `dashmap`, `parking_lot` and futures utilities
//! to the static binary, and its keyed limiter forgets idle keys only when asked to.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Peer addresses remembered at most.
pub const MAX_PEERS: usize = 4096;
/// Refilled buckets are looked for at most this often when the peers are full.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Who a request counts against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    /// The owner whose token the request carries.
    Owner(Arc<str>),
    /// The peer's address: no token, or not a valid one.
    Peer(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    /// Tokens as of `now`, without changing the bucket.
    fn level(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }

    /// Takes one token, or says how many whole seconds until there is one (at least 1).
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), u64> {
        self.tokens = self.level(now, rate, burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err((((1.0 - self.tokens) / rate).ceil() as u64).max(1))
    }
}

#[derive(Debug)]
struct State {
    owners: HashMap<Arc<str>, Bucket>,
    peers: HashMap<IpAddr, Bucket>,
    /// Shared by the peers that find no room while every remembered one is busy.
    overflow: Bucket,
    swept: Option<Instant>,
}

/// Every client's bucket.
#[derive(Debug)]
pub struct Limits {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

impl Limits {
    pub fn new(rate_per_second: u32, burst: u32) -> Limits {
        let burst = f64::from(burst.max(1));
        Limits {
            rate: f64::from(rate_per_second.max(1)),
            burst,
            state: Mutex::new(State {
                owners: HashMap::new(),
                peers: HashMap::new(),
                overflow: Bucket::full(burst, Instant::now()),
                swept: None,
            }),
        }
    }

    /// One request of `client` at `now`: `Ok`, or `Err(seconds)` to wait before the next.
    pub fn admit(&self, client: &Client, now: Instant) -> Result<(), u64> {
        let (rate, burst) = (self.rate, self.burst);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        match client {
            Client::Owner(owner) => {
                let bucket = match state.owners.get_mut(owner) {
                    Some(bucket) => bucket,
                    None => (state.owners)
                        .entry(Arc::clone(owner))
                        .or_insert(Bucket::full(burst, now)),
                };
                bucket.take(now, rate, burst)
            }
            Client::Peer(ip) => {
                if let Some(bucket) = state.peers.get_mut(ip) {
                    return bucket.take(now, rate, burst);
                }
                let due = state.swept.is_none_or(|at| now >= at + SWEEP_EVERY);
                if state.peers.len() >= MAX_PEERS && due {
                    state.swept = Some(now);
                    (state.peers).retain(|_, b| b.level(now, rate, burst) < burst);
                }
                if state.peers.len() >= MAX_PEERS {
                    return state.overflow.take(now, rate, burst);
                }
                let bucket = state.peers.entry(*ip).or_insert(Bucket::full(burst, now));
                bucket.take(now, rate, burst)
            }
        }
    }

    /// Peers remembered now.
    #[cfg(test)]
    fn peers(&self) -> usize {
        self.state.lock().unwrap().peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str) -> Client {
        Client::Owner(Arc::from(name))
    }

    /// A burst at once, then one request per 1/rate seconds; the wait is whole seconds,
    /// rounded up; one client's use leaves another's bucket full.
    #[test]
    fn a_burst_then_the_rate_and_each_client_its_own() {
        let limits = Limits::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limits.admit(&owner("a"), t0), Ok(()));
        }
        assert_eq!(limits.admit(&owner("a"), t0), Err(1));
        // Half a second later: one token back (2 a second).
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limits.admit(&owner("a"), t1), Ok(()));
        assert_eq!(limits.admit(&owner("a"), t1), Err(1));
        // Another owner and a peer are untouched by a's use.
        for _ in 0..3 {
            assert_eq!(limits.admit(&owner("b"), t1), Ok(()));
        }
        let peer = Client::Peer("127.0.0.1".parse().unwrap());
        assert_eq!(limits.admit(&peer, t1), Ok(()));
        // Refilled, never over the burst.
        let later = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limits.admit(&owner("a"), later), Ok(()));
        }
        assert!(limits.admit(&owner("a"), later).is_err());
    }

    /// The wait is rounded up to whole seconds: at 1 request in 10 s, an empty bucket says 10.
    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let limits = Limits::new(1, 1);
        let t0 = Instant::now();
        assert_eq!(limits.admit(&owner("a"), t0), Ok(()));
        assert_eq!(limits.admit(&owner("a"), t0), Err(1));
        assert_eq!(
            limits.admit(&owner("a"), t0 + Duration::from_millis(100)),
            Err(1)
        );
        assert_eq!(
            limits.admit(&owner("a"), t0 + Duration::from_millis(1000)),
            Ok(())
        );
    }

    /// A flood of new peers never remembers more than MAX_PEERS; idle ones make room, and
    /// while all are busy the others share one bucket.
    #[test]
    fn peers_are_bounded_and_idle_ones_forgotten() {
        let limits = Limits::new(1, 2);
        let t0 = Instant::now();
        let peer = |i: u32| Client::Peer(IpAddr::from(std::net::Ipv4Addr::from(0x7f00_0000 + i)));
        for i in 0..(MAX_PEERS as u32 + 100) {
            let _ = limits.admit(&peer(i), t0);
        }
        assert_eq!(limits.peers(), MAX_PEERS);
        // The ones past the cap shared one bucket of 2: the third of them is refused.
        assert!(limits.admit(&peer(MAX_PEERS as u32 + 200), t0).is_err());
        // A known busy peer keeps its own bucket.
        assert_eq!(limits.admit(&peer(0), t0), Ok(()));
        assert!(limits.admit(&peer(0), t0).is_err());
        // Once they have refilled, a new peer makes room for itself.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limits.admit(&peer(MAX_PEERS as u32 + 300), later), Ok(()));
        assert!(limits.peers() <= 1, "{}", limits.peers());
    }
}
