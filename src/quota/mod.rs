//! Limits: the daily budget of API keys, keyed request-rate limiters (per client address, per
//! account) and monthly usage.

pub mod daily;
mod limiter;
pub mod usage;

pub use daily::{Budget, Counted, DailyError, DailyMeter};
pub use limiter::{FailureLimiter, KeyedLimiter};
pub use usage::{Usage, UsageError, UsageReport};
