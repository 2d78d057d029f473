//! The daily request budget of API keys, per UTC day.
//!
//! Counting must be exact across instances, so it happens in the database, in one statement.
//! To keep that off the critical path of every request, concurrent requests of one key are
//! coalesced: while a counting statement for a key runs, later requests queue, and the next
//! statement counts them all at once and reports how many fit. The statement never grants
//! more than the limit allows, so batching changes the number of round trips, not the result.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;

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

impl Budget {
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.reset_in).unwrap_or(1).max(1))
    }
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

/// The answer to one queued request: the key's count after it, or `None` when it did not fit.
type Reply = oneshot::Sender<Result<Option<i32>, StoreError>>;

#[derive(Default)]
struct Queue {
    waiting: Vec<Reply>,
    limit: i32,
    running: bool,
}

type Queues = Arc<Mutex<HashMap<(i64, i64), Queue>>>;

pub struct DailyMeter {
    db: DatabaseConnection,
    clock: SharedClock,
    queues: Queues,
}

impl DailyMeter {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            queues: Queues::default(),
        }
    }

    fn budget(&self, limit: i32, count: i32) -> (Budget, i64) {
        let now = self.clock.now();
        let reset = next_utc_midnight(now);
        let budget = Budget {
            limit,
            remaining: (limit - count).max(0),
            reset,
            reset_in: reset - now.timestamp(),
        };
        (budget, utc_day(now))
    }

    /// Counts one request, or refuses it (uncounted) when the day's limit is reached.
    pub async fn count(&self, key_id: i64, limit: i32) -> Result<(Budget, Counted), DailyError> {
        let day = utc_day(self.clock.now());
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = queues.entry((key_id, day)).or_default();
            queue.waiting.push(reply);
            // The newest limit wins: a PATCH during a burst applies to the next statement.
            queue.limit = limit;
            !std::mem::replace(&mut queue.running, true)
        };
        if lead {
            // A task of its own, so a client that goes away cannot strand the queue.
            tokio::spawn(drain(self.db.clone(), self.queues.clone(), key_id, day));
        }
        let counted = answer.await.unwrap_or_else(|_| Err(stopped()))?;
        match counted {
            Some(count) => Ok((self.budget(limit, count).0, Counted { key_id, day })),
            None => Err(DailyError::Exceeded {
                budget: self.budget(limit, limit).0,
            }),
        }
    }

    /// The key's budget without counting (for the headers of a refused request).
    pub async fn peek(&self, key_id: i64, limit: i32) -> Result<Budget, StoreError> {
        let day = utc_day(self.clock.now());
        let count = store::count_of(&self.db, key_id, day).await?;
        Ok(self.budget(limit, count).0)
    }

    /// Gives a counted request back (its answer was an error). The statement runs on a task of
    /// its own, so it completes even when the caller stops waiting (the client went away).
    pub async fn refund(&self, counted: Counted) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::spawn(async move { store::uncount_request(&db, counted.key_id, counted.day).await })
            .await
            .unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Other(sea_orm::DbErr::Custom("counter stopped".into()))
}

/// Removes a key's queue when its drain task ends in any way (a panic, or the runtime shutting
/// down): the waiters then get an error instead of waiting for ever, and the next request
/// starts a fresh queue.
struct DrainGuard {
    queues: Queues,
    slot: (i64, i64),
    /// Cleared when the drain ends normally: it removed the queue itself, under the lock, and a
    /// queue under the same key now belongs to a newer drain.
    armed: bool,
}

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if self.armed {
            self.queues
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.slot);
        }
    }
}

/// Counts the queued requests of one key in batches until the queue is empty.
async fn drain(db: DatabaseConnection, queues: Queues, key_id: i64, day: i64) {
    let mut guard = DrainGuard {
        queues: queues.clone(),
        slot: (key_id, day),
        armed: true,
    };
    loop {
        let (batch, limit) = {
            let mut queues = queues.lock().unwrap_or_else(|e| e.into_inner());
            let Some(queue) = queues.get_mut(&(key_id, day)) else {
                guard.armed = false;
                return;
            };
            // A request whose client went away while it waited is neither counted nor kept.
            queue.waiting.retain(|reply| !reply.is_closed());
            if queue.waiting.is_empty() {
                queues.remove(&(key_id, day));
                guard.armed = false;
                return;
            }
            (std::mem::take(&mut queue.waiting), queue.limit)
        };
        let requests = i32::try_from(batch.len()).unwrap_or(i32::MAX);
        match store::count_requests(&db, key_id, day, requests, limit).await {
            Ok((count, granted)) => {
                let before = count - granted;
                for (position, reply) in (0..).zip(batch) {
                    let answer = (position < granted).then_some(before + position + 1);
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(err) => {
                // Requests that queued while the statement failed share its answer: the
                // database just refused, and another attempt would make each of them wait a
                // second acquire timeout behind this one (a 503 must come within one).
                let queued = {
                    let mut queues = queues.lock().unwrap_or_else(|e| e.into_inner());
                    queues
                        .remove(&(key_id, day))
                        .map(|queue| queue.waiting)
                        .unwrap_or_default()
                };
                guard.armed = false;
                for reply in batch.into_iter().chain(queued) {
                    let _ = reply.send(Err(err.clone()));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::{Clock, FakeClock};

    #[tokio::test]
    async fn a_request_whose_client_went_away_is_not_counted_and_leaves_no_queue() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/meter.db?mode=rwc", dir.path().display());
        let db = crate::store::connect(Some(&url)).await.unwrap();
        let clock = Arc::new(FakeClock::new(chrono::Utc::now()));
        let meter = DailyMeter::new(db.clone(), clock.clone());
        let day = utc_day(clock.now());
        let (reply, answer) = oneshot::channel();
        drop(answer);
        meter.queues.lock().unwrap().insert(
            (7, day),
            Queue {
                waiting: vec![reply],
                limit: 10,
                running: true,
            },
        );

        drain(db.clone(), meter.queues.clone(), 7, day).await;

        assert!(meter.queues.lock().unwrap().is_empty());
        assert_eq!(store::count_of(&db, 7, day).await.unwrap(), 0);
    }
}
