//! Argon2id hashing on the blocking pool behind a bounded queue, so a burst of sign-ins can
//! neither occupy every runtime thread nor pile up waiting callers; unknown emails are checked
//! against a dummy hash so that they take as long as wrong passwords.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version};
use tokio::{
    sync::{Semaphore, SemaphorePermit},
    time::Instant,
};

use super::AuthError;
use crate::domain::password::Password;
use crate::metrics::Metrics;

/// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// How much hashing runs at once and how much may wait for it.
#[derive(Debug, Clone, Copy)]
pub struct HashingLimits {
    /// Hashes running at once (threads of the blocking pool).
    pub concurrency: usize,
    /// Callers that may wait for a running hash to finish; past it, callers are refused at once.
    pub queue_length: usize,
    /// The longest a caller waits, from admission to the start of its hash.
    pub max_wait: Duration,
}

pub struct PasswordHasher {
    /// One per hash running.
    permits: Semaphore,
    /// One per admitted caller, running or waiting: `concurrency + queue_length`.
    places: Semaphore,
    max_wait: Duration,
    /// Callers waiting for a permit right now.
    waiting: AtomicUsize,
    metrics: Metrics,
    dummy_hash: String,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| AuthError::Hashing)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| AuthError::Hashing)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| AuthError::Hashing)
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
        .unwrap_or(false)
}

impl PasswordHasher {
    /// Leave at least one core to the runtime (`limits.concurrency`), so other requests keep
    /// their latency while sign-ins queue.
    pub fn new(limits: HashingLimits) -> Self {
        let dummy_hash = hash_blocking("a password nobody has; for timing only")
            .expect("hashing a constant succeeds");
        let concurrency = limits.concurrency.max(1);
        Self {
            permits: Semaphore::new(concurrency),
            places: Semaphore::new(concurrency.saturating_add(limits.queue_length)),
            max_wait: limits.max_wait,
            waiting: AtomicUsize::new(0),
            dummy_hash,
            metrics: Metrics::disabled(),
        }
    }

    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// A place in the hashing queue, refused at once when the queue is full. Taken before the
    /// rest of a sign-in or sign-up, so that the whole request, not only its hash, is bounded.
    pub fn admit(&self) -> Result<Admission<'_>, AuthError> {
        let place = self.places.try_acquire().map_err(|_| self.overloaded())?;
        Ok(Admission {
            hasher: self,
            _place: place,
            // A queue wait is measured on the runtime's monotonic clock: it bounds how long a
            // caller is held, which is not a calendar time that tests need to move.
            deadline: Instant::now() + self.max_wait,
        })
    }

    /// Callers waiting for a hash to start right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// A refused caller may come back once the queue it met has drained: at most `max_wait`.
    fn overloaded(&self) -> AuthError {
        AuthError::Overloaded {
            retry_after: self.max_wait.max(Duration::from_secs(1)),
        }
    }

    /// Holds every permit, so callers queue; for tests that act while a caller waits.
    #[cfg(test)]
    pub(crate) async fn occupy(&self) -> SemaphorePermit<'_> {
        let all = u32::try_from(self.permits.available_permits()).unwrap_or(u32::MAX);
        self.permits
            .acquire_many(all)
            .await
            .expect("the semaphore is never closed")
    }
}

/// An admitted caller: its place in the queue and the deadline of its wait.
pub struct Admission<'a> {
    hasher: &'a PasswordHasher,
    _place: SemaphorePermit<'a>,
    deadline: Instant,
}

/// Counts a caller as waiting for as long as it is.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission<'_> {
    /// Runs a step that precedes the hash (waiting for another attempt on the same email)
    /// within the same deadline; past it the caller is refused as overloaded.
    pub async fn within<F: Future>(&self, step: F) -> Result<F::Output, AuthError> {
        tokio::time::timeout_at(self.deadline, step)
            .await
            .map_err(|_| self.hasher.overloaded())
    }

    async fn permit(&self) -> Result<SemaphorePermit<'_>, AuthError> {
        let _waiting = Waiting::new(&self.hasher.waiting);
        let started = Instant::now();
        let permit = self
            .within(self.hasher.permits.acquire())
            .await?
            .map_err(|_| AuthError::Hashing);
        self.hasher.metrics.hashing_wait(started.elapsed());
        permit
    }

    pub async fn hash(self, password: Password) -> Result<String, AuthError> {
        let _permit = self.permit().await?;
        tokio::task::spawn_blocking(move || hash_blocking(password.expose()))
            .await
            .map_err(|_| AuthError::Hashing)?
    }

    /// Whether `password` matches `stored`; with no stored hash, the dummy hash is checked so
    /// the answer takes the same time, and is false.
    pub async fn verify(
        self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let _permit = self.permit().await?;
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.hasher.dummy_hash.clone());
        let matched = tokio::task::spawn_blocking(move || verify_blocking(password.expose(), &phc))
            .await
            .map_err(|_| AuthError::Hashing)?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(concurrency: usize, queue_length: usize, max_wait_ms: u64) -> PasswordHasher {
        PasswordHasher::new(HashingLimits {
            concurrency,
            queue_length,
            max_wait: Duration::from_millis(max_wait_ms),
        })
    }

    fn password() -> Password {
        Password::parse("correct horse battery".to_owned()).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_and_a_wrong_password_does_not() {
        let hasher = hasher(1, 1, 5_000);
        let stored = hasher.admit().unwrap().hash(password()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let admitted = hasher.admit().unwrap();
        assert!(
            admitted
                .verify(password(), Some(stored.clone()))
                .await
                .unwrap()
        );
        let wrong = Password::parse("wrong password".to_owned()).unwrap();
        let admitted = hasher.admit().unwrap();
        assert!(!admitted.verify(wrong, Some(stored)).await.unwrap());
        let admitted = hasher.admit().unwrap();
        assert!(!admitted.verify(password(), None).await.unwrap());
    }

    #[tokio::test]
    async fn callers_past_the_queue_length_are_refused_at_once() {
        let hasher = hasher(1, 2, 60_000);
        let held: Vec<_> = (0..3).map(|_| hasher.admit().unwrap()).collect();
        let Err(AuthError::Overloaded { retry_after }) = hasher.admit() else {
            panic!("a fourth caller was admitted past one running and two waiting");
        };
        assert!(retry_after >= Duration::from_secs(1));
        drop(held);
        assert!(
            hasher.admit().is_ok(),
            "places come back when callers leave"
        );
    }

    #[tokio::test]
    async fn a_caller_waits_no_longer_than_the_bound() {
        let hasher = hasher(1, 4, 50);
        let _busy = hasher.occupy().await;
        let admitted = hasher.admit().unwrap();
        let started = std::time::Instant::now();
        let result = admitted.verify(password(), None).await;
        assert!(matches!(result, Err(AuthError::Overloaded { .. })));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(hasher.waiting(), 0, "a refused caller no longer counts");
    }
}
