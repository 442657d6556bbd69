//! Per-client limits: failed `x-api-key` attempts, task creates and task changes (`PATCH`,
//! `DELETE`), counted per client with governor's GCRA limiter, answered with a JSON 429 and
//! `Retry-After`.
//!
//! The client is the TCP peer, unless the peer is one of `TRUSTED_PROXY_CIDRS` (the ALB's
//! subnets): then it is the right-most `X-Forwarded-For` entry that is not itself a trusted
//! proxy, because the ALB appends the address it saw and anything to its left came from the client.
//! A garbled entry there is counted under its own text, never as the proxy. Addresses are
//! canonical first (an IPv4-mapped IPv6 address, as a dual-stack `HOST=::` socket reports IPv4
//! peers, is the IPv4 address), then IPv6 clients are counted per /64, the block one subscriber
//! usually holds. Each limiter tracks at most [`MAX_TRACKED_CLIENTS`] clients, so random
//! addresses cost bounded memory.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use governor::clock::{Clock as _, DefaultClock};
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use parking_lot::Mutex;
use platform::config::{AppEnv, ConfigError, parse_bounded};
use platform::error::{ApiError, ErrorCode};

/// The code of a request refused for its rate.
pub const RATE_LIMITED: ErrorCode = ErrorCode::new(
    "rate_limited",
    StatusCode::TOO_MANY_REQUESTS,
    "Too many failed `x-api-key` attempts, creates, or changes (`PATCH`, `DELETE`) from one client; `Retry-After` says when to try again.",
);
/// Every code this room answers with.
pub const ERROR_CODES: &[ErrorCode] = &[RATE_LIMITED];

/// Default failed-key budget per client per minute (`AUTH_FAILURES_PER_MINUTE`).
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 10;
/// Default create budget per client per minute (`CREATES_PER_MINUTE`).
pub const DEFAULT_CREATES_PER_MINUTE: u32 = 60;
/// Default budget of `PATCH`es and `DELETE`s per client per minute (`CHANGES_PER_MINUTE`).
pub const DEFAULT_CHANGES_PER_MINUTE: u32 = 120;
/// Most clients one limiter tracks (and most held in the penalty box). A client first seen while
/// a limiter is full shares one overflow budget with every other such client until a sweep of
/// idle clients makes room: under a flood of made-up addresses newcomers are limited together
/// rather than memory growing (a few MiB for all the limiters at this bound). Likewise a client
/// blocked while the penalty box is full blocks every client outside the box for as long.
pub const MAX_TRACKED_CLIENTS: usize = 16_384;
/// The limiters forget idle clients every this many checks, so their memory follows the clients
/// seen in the last minute, not every client ever seen.
const FORGET_EVERY: u64 = 4096;
/// A full limiter sweeps its idle clients at most this often, so a flood of new clients cannot
/// turn every check into a sweep.
const SWEEP_WHEN_FULL_EVERY: Duration = Duration::from_secs(1);

/// The limits as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// `RATE_LIMITS=on|off`; on by default in dev and prod, off in local (demo and tests).
    pub enabled: bool,
    pub auth_failures_per_minute: NonZeroU32,
    pub creates_per_minute: NonZeroU32,
    pub changes_per_minute: NonZeroU32,
    /// `TRUSTED_PROXY_CIDRS`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// The raw variables the limits are parsed from.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThrottleVars<'a> {
    pub enabled: Option<&'a str>,
    pub auth_failures_per_minute: Option<&'a str>,
    pub creates_per_minute: Option<&'a str>,
    pub changes_per_minute: Option<&'a str>,
    pub trusted_proxies: Option<&'a str>,
}

impl ThrottleSettings {
    /// Parses the variables; `app_env` picks whether the limits are on by default.
    pub fn parse(app_env: AppEnv, vars: &ThrottleVars<'_>) -> Result<Self, ConfigError> {
        let enabled = match vars.enabled.map(str::trim).filter(|v| !v.is_empty()) {
            None => app_env != AppEnv::Local,
            Some("on") => true,
            Some("off") => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: "RATE_LIMITS",
                    reason: "must be on or off".into(),
                });
            }
        };
        let per_minute = |var, raw, default| {
            parse_bounded(var, raw, default, 1..=100_000)
                .map(|n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
        };
        let trusted_proxies = vars
            .trusted_proxies
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse::<IpNet>().map_err(|_| ConfigError::Invalid {
                    var: "TRUSTED_PROXY_CIDRS",
                    reason: "must be comma-separated CIDRs such as 10.0.0.0/16".into(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            enabled,
            auth_failures_per_minute: per_minute(
                "AUTH_FAILURES_PER_MINUTE",
                vars.auth_failures_per_minute,
                DEFAULT_AUTH_FAILURES_PER_MINUTE,
            )?,
            creates_per_minute: per_minute(
                "CREATES_PER_MINUTE",
                vars.creates_per_minute,
                DEFAULT_CREATES_PER_MINUTE,
            )?,
            changes_per_minute: per_minute(
                "CHANGES_PER_MINUTE",
                vars.changes_per_minute,
                DEFAULT_CHANGES_PER_MINUTE,
            )?,
            trusted_proxies,
        })
    }
}

/// Who a request is counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// An IPv4 address, or an IPv6 client's /64.
    Addr(IpAddr),
    /// A garbled `X-Forwarded-For` entry where the client's address should be, by a hash of its
    /// text: such clients have a budget of their own, not the proxy's (which every client shares).
    Unreadable(u64),
}

impl Client {
    /// The bucket of `ip`: canonical, and an IPv6 address's /64.
    fn addr(ip: IpAddr) -> Self {
        Self::Addr(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
            v4 @ IpAddr::V4(_) => v4,
        })
    }
}

/// The limiters, shared by every worker.
#[derive(Debug)]
pub struct Throttle {
    limits: Option<Limits>,
    trusted_proxies: Vec<IpNet>,
    /// Hashes garbled `X-Forwarded-For` entries, with a key of this process's own.
    hasher: RandomState,
}

/// A per-client limiter whose memory is bounded by [`ClientStates`].
type Limiter = RateLimiter<Client, ClientStates, DefaultClock>;

#[derive(Debug)]
struct Limits {
    auth_failures: Limiter,
    creates: Limiter,
    changes: Limiter,
    /// Clients over their failed-key budget, until when. governor cannot look without spending a
    /// cell, and a blocked client must be refused before its key is checked: otherwise a correct
    /// guess would still show as a 200 among the 429s.
    blocked: Mutex<HashMap<Client, Instant>>,
    /// Until when every client not in the penalty box is refused a key check: set when a client
    /// went over its budget while the box was full, so it is refused with the others rather than
    /// let through to guess (fail closed, as the limiters' shared overflow budget). The price, paid
    /// only while someone keeps [`MAX_TRACKED_CLIENTS`] addresses blocked at once: a client outside
    /// the box, a right key and all, waits too. Evicting a block to make room instead would let the
    /// evicted address guess again at once, one guess per request for the flood as a whole.
    overflow_blocked: Mutex<Option<Instant>>,
    /// Most clients a limiter, and the penalty box, tracks.
    capacity: usize,
    checks: AtomicU64,
    started: Instant,
    /// When a full limiter may sweep next, in milliseconds since `started`.
    next_sweep_when_full: AtomicU64,
}

/// One limiter's per-client states, at most `capacity` of them, and the overflow state every
/// client shares that arrives while they are all taken.
#[derive(Debug)]
struct ClientStates {
    clients: DashMapStateStore<Client>,
    overflow: InMemoryState,
    capacity: usize,
}

impl ClientStates {
    fn new(capacity: usize) -> Self {
        Self {
            clients: DashMapStateStore::default(),
            overflow: InMemoryState::default(),
            capacity,
        }
    }
}

impl StateStore for ClientStates {
    type Key = Client;

    fn measure_and_replace<T, F, E>(&self, key: &Client, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if self.clients.len() >= self.capacity && !self.clients.contains_key(key) {
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        StateStore::measure_and_replace(&self.clients, key, f)
    }
}

impl ShrinkableKeyedStateStore<Client> for ClientStates {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.clients, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.clients.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.clients.len()
    }

    fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// A request refused for its rate: how long until it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub Duration);

impl Throttle {
    pub fn new(settings: &ThrottleSettings) -> Self {
        Self::with_capacity(settings, MAX_TRACKED_CLIENTS)
    }

    fn with_capacity(settings: &ThrottleSettings, capacity: usize) -> Self {
        let limiter = |per_minute| {
            RateLimiter::new(
                Quota::per_minute(per_minute),
                ClientStates::new(capacity),
                DefaultClock::default(),
            )
        };
        let limits = settings.enabled.then(|| Limits {
            auth_failures: limiter(settings.auth_failures_per_minute),
            creates: limiter(settings.creates_per_minute),
            changes: limiter(settings.changes_per_minute),
            blocked: Mutex::new(HashMap::new()),
            overflow_blocked: Mutex::new(None),
            capacity,
            checks: AtomicU64::new(0),
            started: Instant::now(),
            next_sweep_when_full: AtomicU64::new(0),
        });
        Self {
            limits,
            trusted_proxies: settings.trusted_proxies.clone(),
            hasher: RandomState::new(),
        }
    }

    /// Who a request is counted as (see the module docs).
    pub fn client(&self, req: &HttpRequest) -> Option<Client> {
        let peer = req.peer_addr()?.ip().to_canonical();
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return Some(Client::addr(peer));
        }
        // Split as bytes: a line holding a byte outside visible ASCII still carries the address the
        // proxy appended to it, after the client's own garbage.
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            let ip = std::str::from_utf8(hop)
                .ok()
                .and_then(|hop| hop.parse::<IpAddr>().ok());
            match ip.map(|ip| ip.to_canonical()) {
                Some(ip) if trusted(&ip) => client = ip,
                Some(ip) => return Some(Client::addr(ip)),
                // Nothing left of it is believed, and it is not the proxy either.
                None => return Some(Client::Unreadable(self.hasher.hash_one(hop))),
            }
        }
        Some(Client::addr(client))
    }

    /// Refuses a client that spent its failed-key budget, before its key is looked at.
    pub fn check_auth_allowed(&self, client: Option<Client>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        let now = Instant::now();
        let blocked = limits.blocked.lock();
        let until = match blocked.get(&client) {
            Some(until) => Some(*until),
            None => *limits.overflow_blocked.lock(),
        };
        match until.and_then(|until| remaining(until, now)) {
            Some(wait) => Err(Throttled(wait)),
            None => Ok(()),
        }
    }

    /// Spends one failed-key attempt; past the budget the client is refused until it refills.
    pub fn record_auth_failure(&self, client: Option<Client>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        limits
            .spend(&limits.auth_failures, client)
            .inspect_err(|throttled| limits.block(client, throttled.0))
    }

    /// Spends one create for the client, or says how long it must wait.
    pub fn check_create(&self, client: Option<Client>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        limits.spend(&limits.creates, client)
    }

    /// Spends one change (`PATCH` or `DELETE`) for the client, or says how long it must wait.
    pub fn check_change(&self, client: Option<Client>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        limits.spend(&limits.changes, client)
    }
}

impl Limits {
    fn spend(&self, limiter: &Limiter, key: Client) -> Result<(), Throttled> {
        let periodic =
            self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1;
        if periodic || (limiter.len() >= self.capacity && self.sweep_when_full_due()) {
            self.forget_idle();
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| Throttled(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Whether a full limiter (or penalty box) may sweep now: at most once per
    /// [`SWEEP_WHEN_FULL_EVERY`], by one caller.
    fn sweep_when_full_due(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_sweep_when_full.load(Ordering::Relaxed);
        let every = u64::try_from(SWEEP_WHEN_FULL_EVERY.as_millis()).unwrap_or(u64::MAX);
        now >= next
            && self
                .next_sweep_when_full
                .compare_exchange(
                    next,
                    now.saturating_add(every),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn block(&self, key: Client, wait: Duration) {
        // A full box makes room by forgetting ended blocks, at most once per sweep period: under
        // a flood of new clients, scanning it on every refusal would cost more than the box saves.
        if self.blocked.lock().len() >= self.capacity && self.sweep_when_full_due() {
            self.forget_idle();
        }
        let mut blocked = self.blocked.lock();
        let until = Instant::now() + wait;
        if blocked.len() < self.capacity || blocked.contains_key(&key) {
            blocked.insert(key, until);
        } else {
            let mut overflow = self.overflow_blocked.lock();
            *overflow = Some(overflow.map_or(until, |running| running.max(until)));
        }
    }

    fn forget_idle(&self) {
        for limiter in [&self.auth_failures, &self.creates, &self.changes] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked
            .lock()
            .retain(|_, until| remaining(*until, now).is_some());
    }
}

/// What is left at `now` of a block that ends at `until`; `None` once it has ended.
fn remaining(until: Instant, now: Instant) -> Option<Duration> {
    Some(until.saturating_duration_since(now)).filter(|wait| !wait.is_zero())
}

impl Throttled {
    /// The JSON 429, with `Retry-After` in whole seconds (at least 1), set the way every retryable
    /// error sets it ([`ApiError::with_retry_after`]).
    pub fn response(self, what: &str) -> HttpResponse {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        let secs = u32::try_from(secs.max(1)).unwrap_or(u32::MAX);
        ApiError::new(
            RATE_LIMITED,
            format!("too many {what} from this client; retry in {secs} s"),
        )
        .with_retry_after(secs)
        .error_response()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use actix_web::test::TestRequest;

    use super::*;

    fn settings(env: AppEnv, enabled: Option<&str>, trusted: Option<&str>) -> ThrottleSettings {
        ThrottleSettings::parse(
            env,
            &ThrottleVars {
                enabled,
                auth_failures_per_minute: Some("3"),
                creates_per_minute: Some("2"),
                changes_per_minute: Some("2"),
                trusted_proxies: trusted,
            },
        )
        .unwrap()
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "the limiters take what `Throttle::client` gives: an Option"
    )]
    fn ip(text: &str) -> Option<Client> {
        Some(Client::addr(text.parse().unwrap()))
    }

    /// The client of a request from `peer` with `X-Forwarded-For: xff` (if any).
    fn client_of(throttle: &Throttle, peer: &str, xff: Option<&str>) -> Option<Client> {
        let mut req = TestRequest::default().peer_addr(peer.parse::<SocketAddr>().unwrap());
        if let Some(xff) = xff {
            req = req.insert_header(("x-forwarded-for", xff));
        }
        throttle.client(&req.to_http_request())
    }

    #[test]
    fn limits_are_on_in_dev_and_prod_and_off_in_local_unless_told() {
        assert!(settings(AppEnv::Dev, None, None).enabled);
        assert!(settings(AppEnv::Prod, None, None).enabled);
        assert!(!settings(AppEnv::Local, None, None).enabled);
        assert!(settings(AppEnv::Local, Some("on"), None).enabled);
        assert!(!settings(AppEnv::Prod, Some("off"), None).enabled);
        let parse = |vars: ThrottleVars<'_>| ThrottleSettings::parse(AppEnv::Dev, &vars);
        for (vars, named) in [
            (
                ThrottleVars {
                    enabled: Some("yes"),
                    ..ThrottleVars::default()
                },
                "RATE_LIMITS",
            ),
            (
                ThrottleVars {
                    trusted_proxies: Some("10.0.0.0/33"),
                    ..ThrottleVars::default()
                },
                "TRUSTED_PROXY_CIDRS",
            ),
            (
                ThrottleVars {
                    changes_per_minute: Some("0"),
                    ..ThrottleVars::default()
                },
                "CHANGES_PER_MINUTE",
            ),
        ] {
            let err = parse(vars).unwrap_err();
            assert!(err.to_string().contains(named), "{err}");
        }
        let defaults = parse(ThrottleVars::default()).unwrap();
        assert_eq!(
            defaults.changes_per_minute.get(),
            DEFAULT_CHANGES_PER_MINUTE
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        let xff = Some("6.6.6.6, 198.51.100.7");
        assert_eq!(
            client_of(&throttle, "10.0.1.5:40000", xff),
            ip("198.51.100.7"),
            "the address the ALB appended, not what the client wrote before it"
        );
        assert_eq!(
            client_of(&throttle, "203.0.113.9:40000", xff),
            ip("203.0.113.9"),
            "a client cannot pick its own address"
        );
        let untrusting = Throttle::new(&settings(AppEnv::Dev, None, None));
        assert_eq!(
            client_of(&untrusting, "10.0.1.5:40000", xff),
            ip("10.0.1.5")
        );
    }

    #[test]
    fn proxies_in_a_chain_are_skipped_to_the_first_untrusted_address() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        let forwarded = |xff| client_of(&throttle, "10.0.1.5:40000", Some(xff));
        assert_eq!(
            forwarded("6.6.6.6, 198.51.100.7, 10.0.2.9"),
            ip("198.51.100.7"),
            "a second trusted proxy is a hop, not the client"
        );
        assert_eq!(
            forwarded("10.0.3.1, 10.0.2.9"),
            ip("10.0.3.1"),
            "all trusted: the left-most is as far as the chain goes"
        );
    }

    #[test]
    fn a_garbled_entry_is_counted_as_itself_never_as_the_proxy() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        let forwarded = |xff| client_of(&throttle, "10.0.1.5:40000", Some(xff));
        let garbled = forwarded("198.51.100.7, not-an-address, 10.0.2.9");
        assert!(
            matches!(garbled, Some(Client::Unreadable(_))),
            "{garbled:?}"
        );
        assert_eq!(garbled, forwarded("6.6.6.6, not-an-address"), "by its text");
        assert_ne!(garbled, forwarded("something-else"));
        for proxy in [ip("10.0.1.5"), ip("10.0.2.9")] {
            assert_ne!(garbled, proxy, "never the proxy's bucket");
        }
        // Its own budget: spending it leaves the proxy's (and everyone behind it) untouched.
        for _ in 0..2 {
            assert_eq!(throttle.check_create(garbled), Ok(()));
        }
        assert!(throttle.check_create(garbled).is_err());
        assert_eq!(throttle.check_create(forwarded("10.0.2.9")), Ok(()));
    }

    /// A byte outside visible ASCII makes a header line unreadable as text, yet the proxy still
    /// appended the address it saw to that line: the client is that address, or the garbage
    /// itself where the garbage is the last entry, never the proxy.
    #[test]
    fn a_line_with_bytes_outside_ascii_still_names_its_client() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        let forwarded = |xff: &[u8]| {
            let value = actix_web::http::header::HeaderValue::from_bytes(xff).unwrap();
            let req = TestRequest::default()
                .peer_addr("10.0.1.5:40000".parse::<SocketAddr>().unwrap())
                .insert_header(("x-forwarded-for", value))
                .to_http_request();
            throttle.client(&req)
        };
        assert_eq!(forwarded(b"\xff, 198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(
            forwarded(b"\xff\xfe, 198.51.100.7, 10.0.2.9"),
            ip("198.51.100.7")
        );
        let garbled = forwarded(b"198.51.100.7, \xff");
        assert!(
            matches!(garbled, Some(Client::Unreadable(_))),
            "{garbled:?}"
        );
        assert_eq!(garbled, forwarded(b"6.6.6.6, \xff"), "by its bytes");
        assert_ne!(garbled, ip("10.0.1.5"), "never the proxy's bucket");
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4_for_the_trust_check_and_the_bucket() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        // What a dual-stack `HOST=::` socket reports for IPv4 peers.
        assert_eq!(
            client_of(&throttle, "[::ffff:10.0.1.5]:40000", Some("198.51.100.7")),
            ip("198.51.100.7"),
            "an IPv4 proxy range still matches"
        );
        let a = client_of(&throttle, "[::ffff:198.51.100.1]:40000", None);
        let b = client_of(&throttle, "[::ffff:198.51.100.2]:40000", None);
        assert_eq!(a, ip("198.51.100.1"));
        assert_ne!(a, b, "two IPv4 clients are not one IPv6 /64");
        assert_eq!(
            client_of(&throttle, "10.0.1.5:40000", Some("::ffff:198.51.100.3")),
            ip("198.51.100.3"),
            "a mapped address in X-Forwarded-For too"
        );
    }

    #[test]
    fn a_limiter_tracks_at_most_its_capacity_and_newcomers_then_share_one_budget() {
        let throttle = Throttle::with_capacity(&settings(AppEnv::Dev, None, None), 4);
        let limits = throttle.limits.as_ref().expect("limits are on in dev");
        let nth = |n: u32| Some(Client::Addr(IpAddr::from(n.to_be_bytes())));
        for n in 0..4 {
            assert_eq!(throttle.check_create(nth(n)), Ok(()));
        }
        assert_eq!(limits.creates.len(), 4);
        // Full of clients seen just now: newcomers share the overflow budget (2 a minute here).
        assert_eq!(throttle.check_create(nth(100)), Ok(()));
        assert_eq!(throttle.check_create(nth(101)), Ok(()));
        assert!(
            throttle.check_create(nth(102)).is_err(),
            "the shared budget is spent"
        );
        assert_eq!(limits.creates.len(), 4, "never more than the capacity");
        assert_eq!(
            throttle.check_create(nth(0)),
            Ok(()),
            "a tracked client keeps its own"
        );
    }

    #[test]
    fn the_penalty_box_holds_at_most_its_capacity_and_drops_ended_blocks_first() {
        let capacity = 64;
        let throttle = Throttle::with_capacity(&settings(AppEnv::Dev, None, None), capacity);
        let limits = throttle.limits.as_ref().expect("limits are on in dev");
        let now = Instant::now();
        let ended = now.checked_sub(Duration::from_secs(1)).unwrap();
        let nth = |n: usize| Client::Addr(IpAddr::from(u32::try_from(n).unwrap().to_be_bytes()));
        limits
            .blocked
            .lock()
            .extend((0..capacity).map(|n| (nth(n), ended)));
        let newcomer = nth(capacity);
        limits.block(newcomer, Duration::from_mins(1));
        assert_eq!(limits.blocked.lock().len(), 1, "the ended blocks made room");
        assert!(throttle.check_auth_allowed(Some(newcomer)).is_err());

        let later = now + Duration::from_hours(1);
        limits
            .blocked
            .lock()
            .extend((0..capacity - 1).map(|n| (nth(n), later)));
        assert_eq!(limits.blocked.lock().len(), capacity);
        assert_eq!(
            throttle.check_auth_allowed(Some(nth(capacity + 2))),
            Ok(()),
            "a client outside a full box is not refused before anyone overflows it"
        );
        limits.block(nth(capacity + 1), Duration::from_mins(1));
        assert_eq!(limits.blocked.lock().len(), capacity, "never more");
        assert!(
            throttle.check_auth_allowed(Some(nth(7))).is_err(),
            "blocks kept"
        );
        // Fail closed: the client the full box could not hold is refused before its key is
        // checked, and so is every other client outside the box until that block ends.
        for outside in [capacity + 1, capacity + 2] {
            assert!(
                throttle.check_auth_allowed(Some(nth(outside))).is_err(),
                "{outside}"
            );
        }
    }

    #[test]
    fn forgetting_idle_clients_drops_ended_blocks_and_keeps_running_ones() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        let limits = throttle.limits.as_ref().expect("limits are on in dev");
        let running = ip("198.51.100.1").unwrap();
        let ended = ip("198.51.100.2").unwrap();
        limits.block(running, Duration::from_mins(1));
        limits.blocked.lock().insert(
            ended,
            Instant::now().checked_sub(Duration::from_secs(1)).unwrap(),
        );
        // The FORGET_EVERY-th check sweeps.
        let other = ip("203.0.113.1");
        for _ in 0..FORGET_EVERY {
            let _ = throttle.check_create(other);
        }
        let blocked = limits.blocked.lock();
        assert!(blocked.contains_key(&running), "a running block stays");
        assert!(!blocked.contains_key(&ended), "an ended block is forgotten");
    }

    #[test]
    fn retry_after_is_the_wait_rounded_up_to_whole_seconds_and_at_least_one() {
        for (wait, header) in [
            (Duration::ZERO, "1"),
            (Duration::from_millis(300), "1"),
            (Duration::from_secs(2), "2"),
            (Duration::from_millis(2001), "3"),
        ] {
            let res = Throttled(wait).response("creates");
            assert_eq!(res.status(), 429);
            assert_eq!(
                res.headers().get("retry-after").unwrap(),
                header,
                "{wait:?}"
            );
        }
    }

    #[test]
    fn a_block_ends_when_its_time_is_up() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        let client = ip("198.51.100.1").unwrap();
        let limits = throttle.limits.as_ref().expect("limits are on in dev");
        limits.block(client, Duration::from_mins(1));
        assert!(throttle.check_auth_allowed(Some(client)).is_err());
        let expired = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .expect("the clock has run for a second");
        limits.blocked.lock().insert(client, expired);
        assert_eq!(throttle.check_auth_allowed(Some(client)), Ok(()));
    }

    #[test]
    fn a_blocked_client_is_refused_before_its_key_is_checked_and_others_are_not() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        let a = ip("198.51.100.1");
        let b = ip("198.51.100.2");
        for _ in 0..3 {
            assert_eq!(throttle.check_auth_allowed(a), Ok(()));
            assert_eq!(throttle.record_auth_failure(a), Ok(()));
        }
        let Err(Throttled(wait)) = throttle.record_auth_failure(a) else {
            panic!("the fourth failure in a minute is refused");
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            throttle.check_auth_allowed(a).is_err(),
            "blocked before the key check"
        );
        assert_eq!(throttle.check_auth_allowed(b), Ok(()));
        assert_eq!(throttle.record_auth_failure(b), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        for host in 1..=2 {
            assert_eq!(
                throttle.check_create(ip(&format!("2001:db8:1:2::{host}"))),
                Ok(())
            );
        }
        assert!(throttle.check_create(ip("2001:db8:1:2::ffff")).is_err());
        assert_eq!(throttle.check_create(ip("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn changes_have_a_budget_of_their_own() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        let a = ip("198.51.100.1");
        for _ in 0..2 {
            assert_eq!(throttle.check_change(a), Ok(()));
        }
        assert!(throttle.check_change(a).is_err());
        assert_eq!(
            throttle.check_create(a),
            Ok(()),
            "creates are counted apart"
        );
    }

    #[test]
    fn with_limits_off_nothing_is_refused() {
        let throttle = Throttle::new(&settings(AppEnv::Local, None, None));
        let a = ip("198.51.100.1");
        for _ in 0..100 {
            assert_eq!(throttle.record_auth_failure(a), Ok(()));
            assert_eq!(throttle.check_create(a), Ok(()));
            assert_eq!(throttle.check_change(a), Ok(()));
        }
    }
}
