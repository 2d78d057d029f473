//! Monthly rule usage against the tier's allowance.

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

pub struct Usage {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl Usage {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    pub async fn report(
        &self,
        user_id: &str,
        tier: Tier,
        enterprise_allowance: Option<i32>,
    ) -> Result<UsageReport, UsageError> {
        let period_start = month_start(self.clock.now());
        let used = store::usage::used(&self.db, user_id, period_start.timestamp()).await?;
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
        Ok(UsageReport {
            used,
            limit: allowance.unwrap_or(-1),
            tier,
            period_start,
        })
    }
}
