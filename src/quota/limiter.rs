//! A keyed GCRA limiter (governor) driven by the service clock, so tests move time instead of
//! sleeping.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use governor::{
    Quota, RateLimiter, clock::Clock as GovernorClockTrait, middleware::NoOpMiddleware,
    nanos::Nanos, state::keyed::DashMapStateStore,
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
        let count = NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period / count.get())
            .unwrap_or_else(|| Quota::per_second(count))
            .allow_burst(burst);
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
}
