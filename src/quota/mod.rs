//! Limits: keyed request-rate limiters (per client address, per account) and monthly usage.

mod limiter;
pub mod usage;

pub use limiter::KeyedLimiter;
pub use usage::{Usage, UsageError, UsageReport};
