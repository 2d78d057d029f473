//! Monthly rule usage against the tier's allowance.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::{
    domain::{
        clock::{SharedClock, month_start, next_month_start},
        tier::Tier,
    },
    store::{self, StoreError},
};

/// Rules per month on a tier; `None` is unlimited (shown as -1). Enterprise allowances are set
/// per user (`enterprise`), unlimited unless set.
pub fn monthly_allowance(tier: Tier, enterprise: Option<i32>) -> Option<i32> {
    match tier {
        Tier::Free => Some(20),
        Tier::Pro | Tier::Team => None,
        Tier::Enterprise => enterprise,
    }
}

/// Largest batch one RecordUsage call may add (keeps the monthly sum far from overflow).
const MAX_RULES_PER_RECORD: i32 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("rules must be from 1 to 1000000")]
    InvalidRules,
    #[error("no such user")]
    UnknownUser,
    #[error("the monthly rule allowance of this tier is used up")]
    TierLimitExceeded { retry_after: std::time::Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct UsageReport {
    pub used: i32,
    /// -1 when unlimited.
    pub limit: i32,
    pub tier: Tier,
    pub period_start: DateTime<Utc>,
}

/// How long a month's count read from the database answers reports. The instance that records
/// usage updates its copy at once; a count recorded through another instance shows within this
/// time. Recording itself is always decided by the database.
const REPORT_CACHE_TTL_MS: i64 = 1_000;
/// Counts remembered at most; past it they are all dropped.
const REPORT_CACHE_MAX: usize = 100_000;

/// A user and the start of one of their months.
type MonthOf = (String, i64);

pub struct Usage {
    db: DatabaseConnection,
    clock: SharedClock,
    /// Month counts by (user, period start), with when they were read.
    counts: Mutex<HashMap<MonthOf, (i32, DateTime<Utc>)>>,
}

impl Usage {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            counts: Mutex::default(),
        }
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<MonthOf, (i32, DateTime<Utc>)>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, user_id: &str, period: i64, used: i32, now: DateTime<Utc>) {
        let mut counts = self.counts();
        if counts.len() >= REPORT_CACHE_MAX {
            counts.clear();
        }
        counts.insert((user_id.to_owned(), period), (used, now));
    }

    /// The month's count: this instance's copy while it is fresh, else the database's.
    async fn used(&self, user_id: &str, period: i64) -> Result<i32, StoreError> {
        let now = self.clock.now();
        let key = (user_id.to_owned(), period);
        if let Some((used, at)) = self.counts().get(&key)
            && (now - *at).num_milliseconds() < REPORT_CACHE_TTL_MS
        {
            return Ok(*used);
        }
        let used = store::usage::used(&self.db, user_id, period).await?;
        self.remember(user_id, period, used, now);
        Ok(used)
    }

    pub async fn report(
        &self,
        user_id: &str,
        tier: Tier,
        enterprise_allowance: Option<i32>,
    ) -> Result<UsageReport, UsageError> {
        let period_start = month_start(self.clock.now());
        let used = self.used(user_id, period_start.timestamp()).await?;
        Ok(UsageReport {
            used,
            limit: monthly_allowance(tier, enterprise_allowance).unwrap_or(-1),
            tier,
            period_start,
        })
    }

    /// Adds rules to the user's month, or records nothing past the allowance.
    pub async fn record(&self, user_id: &str, rules: i32) -> Result<UsageReport, UsageError> {
        if !(1..=MAX_RULES_PER_RECORD).contains(&rules) {
            return Err(UsageError::InvalidRules);
        }
        let user = store::users::find_by_id(&self.db, user_id)
            .await?
            .ok_or(UsageError::UnknownUser)?;
        let tier = user.tier.parse().unwrap_or(Tier::Free);
        let allowance = monthly_allowance(tier, user.monthly_rule_allowance);
        let now = self.clock.now();
        let period_start = month_start(now);
        let retry_after = (next_month_start(now) - now).to_std().unwrap_or_default();
        let used = store::usage::add(
            &self.db,
            user_id,
            period_start.timestamp(),
            rules,
            allowance,
        )
        .await?
        .ok_or(UsageError::TierLimitExceeded { retry_after })?;
        self.remember(user_id, period_start.timestamp(), used, now);
        Ok(UsageReport {
            used,
            limit: allowance.unwrap_or(-1),
            tier,
            period_start,
        })
    }
}
