//! Retention: a background task that purges data past its use (ended sessions and their
//! refresh tokens, stale sign-in failure records, old daily key usage, old audit events) on a
//! fixed interval.
//! Cut-offs come from the injected clock. Depends on `domain` and `store`.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    domain::clock::{SharedClock, utc_day},
    store::{
        StoreError,
        purge::{self, Cutoffs, Purged},
    },
};

const DAY_SECS: i64 = 86_400;

/// How long each kind of data is kept after it stopped mattering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// After a session expired or was revoked.
    pub sessions_days: u32,
    /// After the last failed sign-in of an email (and the end of its lock).
    pub sign_in_failures_days: u32,
    /// Daily key usage older than this many days goes.
    pub usage_days: u32,
    /// Audit events older than this many days go.
    pub audit_events_days: u32,
}

pub struct Purger {
    db: DatabaseConnection,
    clock: SharedClock,
    retention: Retention,
}

impl Purger {
    pub fn new(db: DatabaseConnection, clock: SharedClock, retention: Retention) -> Self {
        Self {
            db,
            clock,
            retention,
        }
    }

    fn cutoffs(&self) -> Cutoffs {
        let now = self.clock.now();
        let seconds = now.timestamp();
        let days = |n: u32| i64::from(n) * DAY_SECS;
        Cutoffs {
            session_ended_before: seconds - days(self.retention.sessions_days),
            sign_in_failure_before: seconds - days(self.retention.sign_in_failures_days),
            key_usage_day_before: utc_day(now) - i64::from(self.retention.usage_days),
            change_before: seconds - DAY_SECS,
            audit_event_before: seconds - days(self.retention.audit_events_days),
        }
    }

    /// One purge round.
    pub async fn run_once(&self) -> Result<Purged, StoreError> {
        let purged = purge::purge(&self.db, self.cutoffs()).await?;
        tracing::info!(
            sessions = purged.sessions,
            refresh_tokens = purged.refresh_tokens,
            sign_in_failures = purged.sign_in_failures,
            key_usage_days = purged.key_usage_days,
            changes = purged.changes,
            audit_events = purged.audit_events,
            "purged expired data"
        );
        Ok(purged)
    }

    /// Runs a purge now and then every `interval` until the handle stops it.
    pub fn start(self: Arc<Self>, interval: Duration) -> PurgeTask {
        let (stop, mut stopped) = watch::channel(false);
        let purger = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            // A round that overran is not made up for with a burst of rounds.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = ticks.tick() => {}
                }
                // A failed round (the database is down) is retried at the next tick.
                if let Err(err) = purger.run_once().await {
                    tracing::warn!(error = %err, "purge failed; retrying at the next interval");
                }
            }
        });
        PurgeTask {
            purger: self,
            stop,
            task,
        }
    }
}

/// The running purge task: stops it, or runs an extra round on demand.
pub struct PurgeTask {
    purger: Arc<Purger>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl PurgeTask {
    /// Runs one round now, beside the scheduled ones.
    pub async fn run_once(&self) -> Result<Purged, StoreError> {
        self.purger.run_once().await
    }

    /// Stops the task after the round in progress, if any, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
