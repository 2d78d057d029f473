//! Time is a dependency: token expiry, the UTC day and the month all come from a `Clock`, so
//! tests can move time instead of sleeping.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug)]
pub struct FakeClock {
    micros: AtomicI64,
}

impl FakeClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.micros.store(to.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// Days since 1970-01-01 in UTC: the key of a daily counter.
pub fn utc_day(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// Unix seconds of the 00:00 UTC that ends the day containing `at`.
pub fn next_utc_midnight(at: DateTime<Utc>) -> i64 {
    (utc_day(at) + 1) * 86_400
}

/// 00:00 UTC on the first day of the month containing `at`.
pub fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(at.year(), at.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    Utc.from_utc_datetime(&first)
}

/// 00:00 UTC on the first day of the month after the one containing `at`.
pub fn next_month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let start = month_start(at);
    start
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_day_turns_at_utc_midnight() {
        let before = at("2026-02-14T23:59:59Z");
        let after = at("2026-02-15T00:00:00Z");
        assert_eq!(utc_day(after), utc_day(before) + 1);
        assert_eq!(next_utc_midnight(before), after.timestamp());
        assert_eq!(next_utc_midnight(after), after.timestamp() + 86_400);
    }

    #[test]
    fn the_month_starts_on_the_first_at_midnight() {
        assert_eq!(
            month_start(at("2026-02-14T10:11:12Z")),
            at("2026-02-01T00:00:00Z")
        );
        assert_eq!(
            month_start(at("2026-12-31T23:59:59Z")),
            at("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            next_month_start(at("2026-12-31T23:59:59Z")),
            at("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_fake_clock_moves_only_when_told() {
        let clock = FakeClock::new(at("2026-02-14T10:00:00Z"));
        assert_eq!(clock.now(), at("2026-02-14T10:00:00Z"));
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(clock.now(), at("2026-02-14T10:01:30Z"));
    }
}
