//! Keyed GCRA limiters (governor) driven by the service clock, so tests move time instead of
//! sleeping: one that counts requests, and one that counts failures and then blocks.

use std::{collections::HashMap, hash::Hash, num::NonZeroU32, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use governor::{
    Quota, RateLimiter,
    clock::Clock as GovernorClockTrait,
    middleware::{NoOpMiddleware, StateInformationMiddleware},
    nanos::Nanos,
    state::keyed::DashMapStateStore,
};

use crate::domain::clock::SharedClock;

/// The service clock as governor sees it: nanoseconds since the Unix epoch.
#[derive(Clone)]
pub struct GovernorClock(SharedClock);

impl GovernorClockTrait for GovernorClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let nanos = self.0.now().timestamp_nanos_opt().unwrap_or_default();
        Nanos::from(u64::try_from(nanos).unwrap_or_default())
    }
}

pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DashMapStateStore<K>, GovernorClock, NoOpMiddleware<Nanos>>,
    clock: GovernorClock,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `burst` requests at once, refilled one every `period / count`.
    pub fn new(burst: u32, count: u32, period: Duration, clock: SharedClock) -> Self {
        let quota = quota(burst, count, period);
        let clock = GovernorClock(clock);
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// Takes one cell for `key`, or says how long until one is free.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops state of keys that are back to a full bucket, so memory stays bounded.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// `burst` cells at once, refilled one every `period / count`.
fn quota(burst: u32, count: u32, period: Duration) -> Quota {
    let count = NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period / count.get())
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(burst)
}

/// Counts failures per key. Once a key's failures use up its cells, the key is blocked until a
/// cell refills, and while it is blocked every attempt is refused before it is judged: refusing
/// only the failures would still tell a right guess (answered) from a wrong one (refused).
pub struct FailureLimiter<K: Hash + Eq + Clone> {
    failures: RateLimiter<K, DashMapStateStore<K>, GovernorClock, StateInformationMiddleware>,
    refill: Duration,
    blocked: Mutex<HashMap<K, DateTime<Utc>>>,
    clock: SharedClock,
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    /// `burst` failures at once, then one more every `period / count`.
    pub fn new(burst: u32, count: u32, period: Duration, clock: SharedClock) -> Self {
        let quota = quota(burst, count, period);
        Self {
            failures: RateLimiter::dashmap_with_clock(quota, GovernorClock(clock.clone()))
                .with_middleware(),
            refill: quota.replenish_interval(),
            blocked: Mutex::default(),
            clock,
        }
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<K, DateTime<Utc>>> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` may attempt now, or how long until it may.
    pub fn admit(&self, key: &K) -> Result<(), Duration> {
        let mut blocked = self.blocked();
        let Some(until) = blocked.get(key).copied() else {
            return Ok(());
        };
        match (until - self.clock.now()).to_std() {
            Ok(wait) if !wait.is_zero() => Err(wait),
            _ => {
                blocked.remove(key);
                Ok(())
            }
        }
    }

    /// Notes a failure of `key`; says how long the key is now blocked if this failure used up
    /// its cells.
    pub fn fail(&self, key: &K) -> Option<Duration> {
        let wait = match self.failures.check_key(key) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return None,
            Ok(_) => self.refill,
            Err(not_until) => not_until.wait_time_from(GovernorClock(self.clock.clone()).now()),
        };
        let until = self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        self.blocked().insert(key.clone(), until);
        Some(wait)
    }

    /// Drops state of keys back to a full bucket and blocks that are over.
    pub fn shrink(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let now = self.clock.now();
        let mut blocked = self.blocked();
        blocked.retain(|_, until| *until > now);
        blocked.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::clock::FakeClock;

    #[test]
    fn a_burst_is_allowed_then_the_rate_refills_with_the_clock() {
        let clock = Arc::new(FakeClock::new("2026-02-14T10:00:00Z".parse().unwrap()));
        let limiter = KeyedLimiter::new(3, 1, Duration::from_secs(1), clock.clone());
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let wait = limiter.check(&"a").unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(limiter.check(&"b").is_ok(), "keys are independent");
        clock.advance(Duration::from_secs(1));
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_err());
    }

    #[test]
    fn failures_past_the_burst_block_every_attempt_until_a_cell_refills() {
        let clock = Arc::new(FakeClock::new("2026-02-14T10:00:00Z".parse().unwrap()));
        let limiter = FailureLimiter::new(3, 60, Duration::from_secs(60), clock.clone());
        for _ in 0..2 {
            assert!(limiter.admit(&"a").is_ok());
            assert_eq!(limiter.fail(&"a"), None);
        }
        assert!(limiter.admit(&"a").is_ok());
        assert_eq!(limiter.fail(&"a"), Some(Duration::from_secs(1)));
        assert_eq!(limiter.admit(&"a"), Err(Duration::from_secs(1)));
        assert!(limiter.admit(&"b").is_ok(), "keys are independent");
        clock.advance(Duration::from_millis(400));
        assert_eq!(limiter.admit(&"a"), Err(Duration::from_millis(600)));
        clock.advance(Duration::from_millis(600));
        assert!(limiter.admit(&"a").is_ok());
        // One cell came back: one failure, then blocked again.
        assert_eq!(limiter.fail(&"a"), Some(Duration::from_secs(1)));
        assert!(limiter.admit(&"a").is_err());
        limiter.shrink();
        assert!(
            limiter.admit(&"a").is_err(),
            "a running block survives a sweep"
        );
    }
}
