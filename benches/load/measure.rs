//! What one run of a load generator measured, in the same terms for every generator.

use std::time::Duration;

/// One run of one load generator against one route.
pub struct Measured {
    /// Answers per second over the run.
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Successful answers the generator saw.
    pub ok: u64,
    /// Of those, the ones the server reported as counted against an API key (wrk reads the
    /// rate-limit headers; the other generators cannot tell and report `ok`).
    pub metered_ok: u64,
    /// Answers that were not successful.
    pub failed: u64,
    /// Requests the generator sent but abandoned unanswered when its time was up: the server
    /// may still have counted them.
    pub in_flight: u64,
    /// Anything else wrong that the generator's output reveals.
    pub problem: Option<String>,
}

/// The `p` quantile (0..=1) of sorted durations, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of a few values (the middle one, or the mean of the two middle ones).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
