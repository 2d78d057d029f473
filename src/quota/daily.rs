//! The daily request budget of API keys, per UTC day.
//!
//! Counting must be exact across instances and decided by the database's current state (a key
//! revoked or limited on another instance counts differently on the very next request), so it
//! happens in the database, in one statement. To keep that statement off the critical path of
//! every request, requests are coalesced across all keys: while a counting statement runs, later
//! requests queue, and the next statement counts every queued request of every key at once and
//! reports how many of each key's fit. The statement never grants more than a key's limit, so
//! batching changes the number of round trips, not the result. On PostgreSQL a few statements
//! run at once (their commits overlap; each key's row serialises them); on SQLite one.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::oneshot;

use crate::{
    domain::clock::{SharedClock, next_utc_midnight, utc_day},
    store::{
        StoreError,
        api_keys::{self as store, KeyCount, MAX_KEYS_PER_STATEMENT},
    },
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
    /// The database does not count this key now: it is revoked, or its owner's tier no longer
    /// allows keys. The caller finds out which.
    #[error("the API key is not accepted")]
    NotCounted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the counting statement decided for one queued request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Counted: the key's count after this request, and its limit.
    Granted {
        count: i32,
        limit: i32,
    },
    /// The day is used up.
    Full {
        count: i32,
        limit: i32,
    },
    NotCounted,
}

type Reply = oneshot::Sender<Result<Decision, StoreError>>;

struct Waiting {
    key_id: i64,
    day: i64,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// Drain tasks running.
    running: usize,
}

type SharedQueue = Arc<Mutex<Queue>>;

/// Counting statements in flight at once on PostgreSQL.
const POSTGRES_ROUNDS_IN_FLIGHT: usize = 4;

/// Most yields a round waits for more requests to join it.
const GATHER_YIELDS: usize = 8;

fn lock(queue: &SharedQueue) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct DailyMeter {
    db: DatabaseConnection,
    clock: SharedClock,
    queue: SharedQueue,
    /// Counting statements that may run at once. PostgreSQL overlaps their commits (and
    /// serialises them per key row); SQLite has one writer, so one at a time.
    rounds_in_flight: usize,
}

impl DailyMeter {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        let rounds_in_flight = match db.get_database_backend() {
            DbBackend::Postgres => POSTGRES_ROUNDS_IN_FLIGHT,
            _ => 1,
        };
        Self {
            db,
            clock,
            queue: SharedQueue::default(),
            rounds_in_flight,
        }
    }

    fn budget(&self, limit: i32, count: i32) -> Budget {
        let now = self.clock.now();
        let reset = next_utc_midnight(now);
        Budget {
            limit,
            remaining: (limit - count).max(0),
            reset,
            reset_in: reset - now.timestamp(),
        }
    }

    /// Counts one request of the key, or refuses it (uncounted) when the day's limit is
    /// reached or the database no longer accepts the key.
    pub async fn count(&self, key_id: i64) -> Result<(Budget, Counted), DailyError> {
        let day = utc_day(self.clock.now());
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut queue = lock(&self.queue);
            queue.waiting.push(Waiting { key_id, day, reply });
            let lead = queue.running < self.rounds_in_flight;
            if lead {
                queue.running += 1;
            }
            lead
        };
        if lead {
            // A task of its own, so a client that goes away cannot strand the queue.
            tokio::spawn(drain(self.db.clone(), self.queue.clone()));
        }
        match answer.await.unwrap_or_else(|_| Err(stopped()))? {
            Decision::Granted { count, limit } => {
                Ok((self.budget(limit, count), Counted { key_id, day }))
            }
            Decision::Full { count, limit } => Err(DailyError::Exceeded {
                budget: self.budget(limit, count.max(limit)),
            }),
            Decision::NotCounted => Err(DailyError::NotCounted),
        }
    }

    /// The key's budget without counting (for the headers of a refused request).
    pub async fn peek(&self, key_id: i64, limit: i32) -> Result<Budget, StoreError> {
        let day = utc_day(self.clock.now());
        let count = store::count_of(&self.db, key_id, day).await?;
        Ok(self.budget(limit, count))
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

/// Ends a drain that stops in any way other than by emptying the queue (a panic, or the runtime
/// shutting down): the queued requests get an error instead of waiting for ever, and the next
/// request starts a fresh drain.
struct DrainGuard {
    queue: SharedQueue,
    armed: bool,
}

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut queue = lock(&self.queue);
            queue.waiting.clear();
            queue.running = queue.running.saturating_sub(1);
        }
    }
}

/// Counts the queued requests in rounds, one statement per day in the round (one in all but a
/// round that spans midnight), until the queue is empty.
async fn drain(db: DatabaseConnection, queue: SharedQueue) {
    let mut guard = DrainGuard {
        queue: queue.clone(),
        armed: true,
    };
    loop {
        gather(&queue).await;
        let round = {
            let mut queue = lock(&queue);
            // A request whose client went away while it waited is neither counted nor kept.
            queue.waiting.retain(|waiting| !waiting.reply.is_closed());
            if queue.waiting.is_empty() {
                queue.running -= 1;
                guard.armed = false;
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        if let Err(err) = count_round(&db, round).await {
            // Requests that queued while the statement failed share its answer: the database
            // just refused, and another attempt would make each of them wait a second acquire
            // timeout behind this one (a 503 must come within one).
            let queued = {
                let mut queue = lock(&queue);
                queue.running -= 1;
                std::mem::take(&mut queue.waiting)
            };
            guard.armed = false;
            for waiting in queued {
                let _ = waiting.reply.send(Err(err.clone()));
            }
            return;
        }
    }
}

/// Lets requests that are already being handled join the coming round: yields to the runtime
/// while the queue keeps growing (a few times at most). This costs no timer and no wait when
/// nothing else is running, and turns many small statements into fewer large ones under load.
async fn gather(queue: &SharedQueue) {
    let mut queued = lock(queue).waiting.len();
    for _ in 0..GATHER_YIELDS {
        tokio::task::yield_now().await;
        let now = lock(queue).waiting.len();
        if now == queued {
            return;
        }
        queued = now;
    }
}

/// Counts one round of requests and answers each of them. On an error every request of the
/// round not yet answered gets it, and so does the caller.
async fn count_round(db: &DatabaseConnection, round: Vec<Waiting>) -> Result<(), StoreError> {
    // Requests by day and key, each key's in arrival order.
    let mut by_day: HashMap<i64, HashMap<i64, Vec<Reply>>> = HashMap::new();
    for waiting in round {
        by_day
            .entry(waiting.day)
            .or_default()
            .entry(waiting.key_id)
            .or_default()
            .push(waiting.reply);
    }
    let mut failure = None;
    for (day, mut keys) in by_day {
        let ids: Vec<i64> = keys.keys().copied().collect();
        for chunk in ids.chunks(MAX_KEYS_PER_STATEMENT) {
            let requests: Vec<(i64, i32)> = chunk
                .iter()
                .map(|id| (*id, i32::try_from(keys[id].len()).unwrap_or(i32::MAX)))
                .collect();
            let counted = match &failure {
                Some(err) => Err(StoreError::clone(err)),
                None => store::count_requests(db, day, &requests).await,
            };
            let counted: HashMap<i64, KeyCount> = match counted {
                Ok(rows) => rows.into_iter().map(|row| (row.key_id, row)).collect(),
                Err(err) => {
                    for id in chunk {
                        for reply in keys.remove(id).unwrap_or_default() {
                            let _ = reply.send(Err(err.clone()));
                        }
                    }
                    failure = Some(err);
                    continue;
                }
            };
            for id in chunk {
                let replies = keys.remove(id).unwrap_or_default();
                answer(counted.get(id), replies);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Hands out one key's share of a statement: the first `granted` requests, in arrival order,
/// are counted.
fn answer(counted: Option<&KeyCount>, replies: Vec<Reply>) {
    let Some(counted) = counted else {
        for reply in replies {
            let _ = reply.send(Ok(Decision::NotCounted));
        }
        return;
    };
    let before = counted.count - counted.granted;
    for (position, reply) in (0..).zip(replies) {
        let decision = if position < counted.granted {
            Decision::Granted {
                count: before + position + 1,
                limit: counted.limit,
            }
        } else {
            Decision::Full {
                count: counted.count,
                limit: counted.limit,
            }
        };
        let _ = reply.send(Ok(decision));
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
        let created_at = clock.now().timestamp();
        crate::store::users::insert_user(
            &db,
            crate::store::users::UserRow {
                id: "u1".into(),
                email: "meter@example.com".into(),
                password_hash: String::new(),
                tier: "pro".into(),
                team_id: None,
                created_at,
                monthly_rule_allowance: None,
                issuer: None,
                subject: None,
                external_email: None,
            },
        )
        .await
        .unwrap();
        store::insert(
            &db,
            store::NewKey {
                prefix: "abcd1234".into(),
                digest: "00".repeat(32),
                user_id: "u1".into(),
                name: "k".into(),
                daily_limit: 10,
                created_at,
            },
        )
        .await
        .unwrap();
        let key_id = store::find_by_digest(&db, &"00".repeat(32))
            .await
            .unwrap()
            .unwrap()
            .0
            .id;
        let (gone, gone_answer) = oneshot::channel();
        drop(gone_answer);
        let (stays, stays_answer) = oneshot::channel();
        {
            let mut queue = lock(&meter.queue);
            queue.running = 1;
            for reply in [gone, stays] {
                queue.waiting.push(Waiting { key_id, day, reply });
            }
        }

        drain(db.clone(), meter.queue.clone()).await;

        assert_eq!(
            stays_answer.await.unwrap().unwrap(),
            Decision::Granted {
                count: 1,
                limit: 10
            }
        );
        {
            let queue = lock(&meter.queue);
            assert!(queue.waiting.is_empty() && queue.running == 0);
        }
        assert_eq!(store::count_of(&db, key_id, day).await.unwrap(), 1);
    }
}
