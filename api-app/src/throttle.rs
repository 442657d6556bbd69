//! Per-client limits: failed `x-api-key` attempts and task creates, counted per client address with
//! governor's GCRA limiter, answered with a JSON 429 and `Retry-After`.
//!
//! The client is the TCP peer, unless the peer is one of `TRUSTED_PROXY_CIDRS` (the ALB's
//! subnets): then it is the right-most `X-Forwarded-For` address that is not itself a trusted
//! proxy, because the ALB appends the address it saw and anything to its left came from the client.
//! IPv6 clients are counted per /64, the block one subscriber usually holds.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use parking_lot::Mutex;
use platform::config::{AppEnv, ConfigError, parse_bounded};
use platform::error::{ApiError, ErrorCode};

/// The code of a request refused for its rate.
pub const RATE_LIMITED: ErrorCode = ErrorCode::new(
    "rate_limited",
    StatusCode::TOO_MANY_REQUESTS,
    "Too many failed `x-api-key` attempts, or creates, from one client; `Retry-After` says when to try again.",
);
/// Every code this room answers with.
pub const ERROR_CODES: &[ErrorCode] = &[RATE_LIMITED];

/// Default failed-key budget per client per minute (`AUTH_FAILURES_PER_MINUTE`).
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 10;
/// Default create budget per client per minute (`CREATES_PER_MINUTE`).
pub const DEFAULT_CREATES_PER_MINUTE: u32 = 60;
/// The limiters forget idle clients every this many checks, so their memory follows the clients
/// seen in the last minute, not every client ever seen.
const FORGET_EVERY: u64 = 4096;
/// Most clients held in the penalty box at once; expired entries are dropped first.
const MAX_BLOCKED: usize = 65_536;

/// The limits as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// `RATE_LIMITS=on|off`; on by default in dev and prod, off in local (demo and tests).
    pub enabled: bool,
    pub auth_failures_per_minute: NonZeroU32,
    pub creates_per_minute: NonZeroU32,
    /// `TRUSTED_PROXY_CIDRS`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl ThrottleSettings {
    /// Parses the four variables; `app_env` picks whether the limits are on by default.
    pub fn parse(
        app_env: AppEnv,
        enabled: Option<&str>,
        auth_failures_per_minute: Option<&str>,
        creates_per_minute: Option<&str>,
        trusted_proxies: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let enabled = match enabled.map(str::trim).filter(|v| !v.is_empty()) {
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
        let trusted_proxies = trusted_proxies
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
                auth_failures_per_minute,
                DEFAULT_AUTH_FAILURES_PER_MINUTE,
            )?,
            creates_per_minute: per_minute(
                "CREATES_PER_MINUTE",
                creates_per_minute,
                DEFAULT_CREATES_PER_MINUTE,
            )?,
            trusted_proxies,
        })
    }
}

/// The limiters, shared by every worker.
#[derive(Debug)]
pub struct Throttle {
    limits: Option<Limits>,
    trusted_proxies: Vec<IpNet>,
}

#[derive(Debug)]
struct Limits {
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    creates: DefaultKeyedRateLimiter<IpAddr>,
    /// Clients over their failed-key budget, until when. governor cannot look without spending a
    /// cell, and a blocked client must be refused before its key is checked: otherwise a correct
    /// guess would still show as a 200 among the 429s.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    checks: AtomicU64,
}

/// A request refused for its rate: how long until it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub Duration);

impl Throttle {
    pub fn new(settings: &ThrottleSettings) -> Self {
        let limits = settings.enabled.then(|| Limits {
            auth_failures: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                settings.auth_failures_per_minute,
            )),
            creates: DefaultKeyedRateLimiter::keyed(Quota::per_minute(settings.creates_per_minute)),
            blocked: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        });
        Self {
            limits,
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// The address a request is counted under (see the module docs).
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if trusted(&ip) => client = ip,
                Ok(ip) => return Some(ip),
                // A garbled entry: everything left of it is the client's word, not a proxy's.
                Err(_) => break,
            }
        }
        Some(client)
    }

    /// Refuses a client that spent its failed-key budget, before its key is looked at.
    pub fn check_auth_allowed(&self, client: Option<IpAddr>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        let now = Instant::now();
        let until = limits.blocked.lock().get(&bucket(client)).copied();
        match until.and_then(|until| remaining(until, now)) {
            Some(wait) => Err(Throttled(wait)),
            None => Ok(()),
        }
    }

    /// Spends one failed-key attempt; past the budget the client is refused until it refills.
    pub fn record_auth_failure(&self, client: Option<IpAddr>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        let key = bucket(client);
        limits
            .spend(&limits.auth_failures, key)
            .inspect_err(|throttled| limits.block(key, throttled.0))
    }

    /// Spends one create for the client, or says how long it must wait.
    pub fn check_create(&self, client: Option<IpAddr>) -> Result<(), Throttled> {
        let (Some(limits), Some(client)) = (&self.limits, client) else {
            return Ok(());
        };
        limits.spend(&limits.creates, bucket(client))
    }
}

impl Limits {
    fn spend(
        &self,
        limiter: &DefaultKeyedRateLimiter<IpAddr>,
        key: IpAddr,
    ) -> Result<(), Throttled> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.forget_idle();
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| Throttled(not_until.wait_time_from(DefaultClock::default().now())))
    }

    fn block(&self, key: IpAddr, wait: Duration) {
        let now = Instant::now();
        let mut blocked = self.blocked.lock();
        if blocked.len() >= MAX_BLOCKED {
            blocked.retain(|_, until| remaining(*until, now).is_some());
        }
        if blocked.len() < MAX_BLOCKED {
            blocked.insert(key, now + wait);
        }
    }

    fn forget_idle(&self) {
        for limiter in [&self.auth_failures, &self.creates] {
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

/// The key a client is counted under: its IPv4 address, or its IPv6 /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
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
    use actix_web::test::TestRequest;

    use super::*;

    fn settings(env: AppEnv, enabled: Option<&str>, trusted: Option<&str>) -> ThrottleSettings {
        ThrottleSettings::parse(env, enabled, Some("3"), Some("2"), trusted).unwrap()
    }

    #[test]
    fn limits_are_on_in_dev_and_prod_and_off_in_local_unless_told() {
        assert!(settings(AppEnv::Dev, None, None).enabled);
        assert!(settings(AppEnv::Prod, None, None).enabled);
        assert!(!settings(AppEnv::Local, None, None).enabled);
        assert!(settings(AppEnv::Local, Some("on"), None).enabled);
        assert!(!settings(AppEnv::Prod, Some("off"), None).enabled);
        let err = ThrottleSettings::parse(AppEnv::Dev, Some("yes"), None, None, None).unwrap_err();
        assert!(err.to_string().contains("RATE_LIMITS"), "{err}");
        let err = ThrottleSettings::parse(AppEnv::Dev, None, None, None, Some("10.0.0.0/33"))
            .unwrap_err();
        assert!(err.to_string().contains("TRUSTED_PROXY_CIDRS"), "{err}");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let alb: std::net::SocketAddr = "10.0.1.5:40000".parse().unwrap();
        let stranger: std::net::SocketAddr = "203.0.113.9:40000".parse().unwrap();
        let req = |peer| {
            TestRequest::default()
                .peer_addr(peer)
                .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.7"))
                .to_http_request()
        };
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        assert_eq!(
            throttle.client(&req(alb)),
            Some("198.51.100.7".parse().unwrap()),
            "the address the ALB appended, not what the client wrote before it"
        );
        assert_eq!(
            throttle.client(&req(stranger)),
            Some(stranger.ip()),
            "a client cannot pick its own address"
        );
        let untrusting = Throttle::new(&settings(AppEnv::Dev, None, None));
        assert_eq!(untrusting.client(&req(alb)), Some(alb.ip()));
    }

    #[test]
    fn proxies_in_a_chain_are_skipped_to_the_first_untrusted_address() {
        let alb: std::net::SocketAddr = "10.0.1.5:40000".parse().unwrap();
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, Some("10.0.0.0/16")));
        let forwarded = |xff| {
            let req = TestRequest::default()
                .peer_addr(alb)
                .insert_header(("x-forwarded-for", xff))
                .to_http_request();
            throttle.client(&req)
        };
        assert_eq!(
            forwarded("6.6.6.6, 198.51.100.7, 10.0.2.9"),
            Some("198.51.100.7".parse().unwrap()),
            "a second trusted proxy is a hop, not the client"
        );
        assert_eq!(
            forwarded("10.0.3.1, 10.0.2.9"),
            Some("10.0.3.1".parse().unwrap()),
            "all trusted: the left-most is as far as the chain goes"
        );
        assert_eq!(
            forwarded("198.51.100.7, not-an-address, 10.0.2.9"),
            Some("10.0.2.9".parse().unwrap()),
            "nothing left of a garbled entry is believed"
        );
    }

    #[test]
    fn the_penalty_box_holds_at_most_max_blocked_clients_and_drops_ended_blocks_first() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        let limits = throttle.limits.as_ref().expect("limits are on in dev");
        let now = Instant::now();
        let ended = now.checked_sub(Duration::from_secs(1)).unwrap();
        let nth = |n: usize| IpAddr::from(u32::try_from(n).unwrap().to_be_bytes());
        limits
            .blocked
            .lock()
            .extend((0..MAX_BLOCKED).map(|n| (nth(n), ended)));
        let newcomer = nth(MAX_BLOCKED);
        limits.block(newcomer, Duration::from_mins(1));
        assert_eq!(limits.blocked.lock().len(), 1, "the ended blocks made room");
        assert!(throttle.check_auth_allowed(Some(newcomer)).is_err());

        let later = now + Duration::from_hours(1);
        limits
            .blocked
            .lock()
            .extend((0..MAX_BLOCKED - 1).map(|n| (nth(n), later)));
        let full = limits.blocked.lock().len();
        assert_eq!(full, MAX_BLOCKED, "{full}");
        let one_more = nth(MAX_BLOCKED + 1);
        limits.block(one_more, Duration::from_mins(1));
        assert_eq!(limits.blocked.lock().len(), MAX_BLOCKED, "never more");
        assert!(
            throttle.check_auth_allowed(Some(nth(7))).is_err(),
            "blocks kept"
        );
    }

    #[test]
    fn forgetting_idle_clients_drops_ended_blocks_and_keeps_running_ones() {
        let throttle = Throttle::new(&settings(AppEnv::Dev, None, None));
        let limits = throttle.limits.as_ref().expect("limits are on in dev");
        let running: IpAddr = "198.51.100.1".parse().unwrap();
        let ended: IpAddr = "198.51.100.2".parse().unwrap();
        limits.block(running, Duration::from_mins(1));
        limits.blocked.lock().insert(
            ended,
            Instant::now().checked_sub(Duration::from_secs(1)).unwrap(),
        );
        // The FORGET_EVERY-th check sweeps.
        let other = Some("203.0.113.1".parse().unwrap());
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
        let client: IpAddr = "198.51.100.1".parse().unwrap();
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
        let a = Some("198.51.100.1".parse().unwrap());
        let b = Some("198.51.100.2".parse().unwrap());
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
            let ip = format!("2001:db8:1:2::{host}").parse().ok();
            assert_eq!(throttle.check_create(ip), Ok(()));
        }
        assert!(
            throttle
                .check_create("2001:db8:1:2::ffff".parse().ok())
                .is_err()
        );
        assert_eq!(
            throttle.check_create("2001:db8:1:3::1".parse().ok()),
            Ok(())
        );
    }

    #[test]
    fn with_limits_off_nothing_is_refused() {
        let throttle = Throttle::new(&settings(AppEnv::Local, None, None));
        let a = Some("198.51.100.1".parse().unwrap());
        for _ in 0..100 {
            assert_eq!(throttle.record_auth_failure(a), Ok(()));
            assert_eq!(throttle.check_create(a), Ok(()));
        }
    }
}
