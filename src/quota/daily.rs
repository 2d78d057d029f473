//! The daily request budget of API keys: one atomic count per request, per UTC day.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::{
    domain::clock::{SharedClock, next_utc_midnight, utc_day},
    store::{StoreError, api_keys as store},
};

/// A key's budget after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: i32,
    pub remaining: i32,
    /// Unix seconds of the next 00:00 UTC.
    pub reset: i64,
    /// Seconds until `reset`.
    pub reset_in: i64,
}

/// A request counted against `key_id` on `day`, so an error answer can give it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub key_id: i64,
    pub day: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DailyError {
    #[error("the daily request limit of this API key is used up")]
    Exceeded { budget: Budget },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Budget {
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.reset_in).unwrap_or(1).max(1))
    }
}

pub struct DailyMeter {
    db: DatabaseConnection,
    clock: SharedClock,
}

/// `last_used_at` is refreshed at most this often per key (the contract asks for a minute).
const LAST_USED_RESOLUTION_SECS: i64 = 60;

impl DailyMeter {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// Counts one request, or refuses it (uncounted) when the day's limit is reached.
    pub async fn count(
        &self,
        key_id: i64,
        limit: i32,
        last_used_at: Option<i64>,
    ) -> Result<(Budget, Counted), DailyError> {
        let now = self.clock.now();
        let day = utc_day(now);
        let reset = next_utc_midnight(now);
        let reset_in = reset - now.timestamp();
        let counted = store::count_request(&self.db, key_id, day, limit).await?;
        let Some(count) = counted else {
            return Err(DailyError::Exceeded {
                budget: Budget {
                    limit,
                    remaining: 0,
                    reset,
                    reset_in,
                },
            });
        };
        let now_secs = now.timestamp();
        if last_used_at.is_none_or(|t| now_secs - t >= LAST_USED_RESOLUTION_SECS) {
            store::touch(&self.db, key_id, now_secs).await?;
        }
        Ok((
            Budget {
                limit,
                remaining: (limit - count).max(0),
                reset,
                reset_in,
            },
            Counted { key_id, day },
        ))
    }

    /// Gives a counted request back (its answer was an error).
    pub async fn refund(&self, counted: Counted) -> Result<(), StoreError> {
        store::uncount_request(&self.db, counted.key_id, counted.day).await
    }
}
