//! Turns: one async lock per key (an email), so attempts on one key run one after the other
//! on this instance. An entry lives while someone holds or waits for its turn, including a
//! waiter that gives up (a request cancelled or past its deadline), so the map follows the
//! attempts in flight and nothing more.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::{Mutex, OwnedMutexGuard};

struct Entry {
    lock: Arc<Mutex<()>>,
    /// Turns holding or waiting for this lock.
    users: usize,
}

#[derive(Default)]
pub struct Turns {
    entries: std::sync::Mutex<HashMap<String, Entry>>,
}

/// A turn, held or being waited for; leaving it (also by being dropped while waiting) lets the
/// next caller in and forgets the key when nobody else wants it.
pub struct Turn<'a> {
    turns: &'a Turns,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    pub async fn turn(&self, key: &str) -> Turn<'_> {
        let lock = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let entry = entries.entry(key.to_owned()).or_insert_with(|| Entry {
                lock: Arc::default(),
                users: 0,
            });
            entry.users += 1;
            entry.lock.clone()
        };
        // Built before waiting, so that a cancelled wait still runs `Drop` and is uncounted.
        let mut turn = Turn {
            turns: self,
            key: key.to_owned(),
            guard: None,
        };
        turn.guard = Some(lock.lock_owned().await);
        turn
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut entries = self.turns.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.users = entry.users.saturating_sub(1);
            if entry.users == 0 {
                entries.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_key_is_forgotten_when_its_last_turn_ends_even_a_cancelled_one() {
        let turns = Turns::default();
        let first = turns.turn("a@example.com").await;
        let waited = tokio::time::timeout(Duration::from_millis(20), turns.turn("a@example.com"));
        assert!(waited.await.is_err(), "the second turn waits for the first");
        assert_eq!(turns.len(), 1);
        drop(first);
        assert_eq!(turns.len(), 0);
        let _again = turns.turn("a@example.com").await;
        assert_eq!(turns.len(), 1);
    }
}
