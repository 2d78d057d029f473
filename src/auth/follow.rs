//! Tails the change log into [`LiveState`]: on PostgreSQL woken by `LISTEN` on a connection of
//! its own, with a poll as the fallback; on SQLite by the poll alone (the CLI is another
//! process). Either way a change reaches every instance within one poll interval.
//!
//! Sequence numbers are taken when a transaction writes its row, not when it commits, so a
//! lower number can appear after a higher one was read. Each read therefore looks back over
//! the last [`LOOK_BACK`] numbers and applies those it has not seen.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use sea_orm::sqlx::postgres::{PgListener, PgNotification};

use super::live::LiveState;
use crate::store::{
    StoreError,
    changes::{self, CHANNEL},
};

/// How far back each read looks for changes that committed out of order.
const LOOK_BACK: i64 = 256;
/// Changes read at once; a longer backlog is read in several rounds.
const BATCH: u32 = 1_000;
/// Longest wait for the listener's connection; and the pause between attempts while the
/// database cannot be reached.
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const LISTEN_RETRY: Duration = Duration::from_secs(5);

struct Reader {
    live: Arc<LiveState>,
    /// Highest sequence number read.
    last: i64,
    /// Numbers within the look-back window already applied.
    seen: BTreeSet<i64>,
}

impl Reader {
    async fn read(&mut self) -> Result<(), StoreError> {
        loop {
            let from = (self.last - LOOK_BACK).max(0);
            let read = changes::since(self.live.db(), from, BATCH).await?;
            let full = read.len() == BATCH as usize;
            let new: Vec<_> = read
                .into_iter()
                .filter(|change| !self.seen.contains(&change.seq))
                .collect();
            for change in &new {
                self.seen.insert(change.seq);
                self.last = self.last.max(change.seq);
            }
            let floor = self.last - LOOK_BACK;
            self.seen = self.seen.split_off(&floor);
            self.live.apply_logged(&new, self.last);
            if !full || new.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Runs until the task is aborted. `listen_url` is the PostgreSQL URL to listen on, or `None`
/// (SQLite) to poll only.
pub async fn follow(live: Arc<LiveState>, from: i64, poll: Duration, listen_url: Option<String>) {
    let mut reader = Reader {
        live,
        last: from,
        seen: BTreeSet::new(),
    };
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listener: Option<PgListener> = None;
    let mut next_listen_attempt = tokio::time::Instant::now();
    loop {
        if listener.is_none()
            && let Some(url) = &listen_url
            && tokio::time::Instant::now() >= next_listen_attempt
        {
            listener = listen(url).await;
            if listener.is_none() {
                next_listen_attempt = tokio::time::Instant::now() + LISTEN_RETRY;
            }
            // Notifications sent while there was no listener are lost: read the log now.
            read_logged(&mut reader).await;
        }
        tokio::select! {
            notified = notification(&mut listener) => match notified {
                Ok(Some(_)) => {}
                // The connection dropped and comes back on the next receive; what was sent
                // meanwhile is lost, so the read below catches up.
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "change notifications stopped; polling");
                    listener = None;
                    next_listen_attempt = tokio::time::Instant::now() + LISTEN_RETRY;
                }
            },
            _ = ticker.tick() => {}
        }
        read_logged(&mut reader).await;
    }
}

async fn read_logged(reader: &mut Reader) {
    if let Err(err) = reader.read().await {
        tracing::debug!(error = %err, "cannot read the change log");
    }
}

async fn listen(url: &str) -> Option<PgListener> {
    let connect = async {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok::<_, sea_orm::sqlx::Error>(listener)
    };
    match tokio::time::timeout(LISTEN_CONNECT_TIMEOUT, connect).await {
        Ok(Ok(listener)) => Some(listener),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "cannot listen for changes; polling");
            None
        }
        Err(_) => {
            tracing::warn!("cannot listen for changes (timed out); polling");
            None
        }
    }
}

async fn notification(
    listener: &mut Option<PgListener>,
) -> Result<Option<PgNotification>, sea_orm::sqlx::Error> {
    match listener {
        Some(listener) => listener.try_recv().await,
        None => std::future::pending().await,
    }
}
