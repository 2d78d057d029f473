//! Argon2id hashing on the blocking pool behind a semaphore, so a burst of sign-ins cannot
//! occupy every runtime thread, and unknown emails are checked against a dummy hash so that
//! they take as long as wrong passwords.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use super::AuthError;
use crate::domain::password::Password;

/// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

pub struct PasswordHasher {
    permits: Arc<Semaphore>,
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

impl PasswordHasher {
    /// `concurrency` hashes run at once; the rest wait for a permit. Leave at least one core
    /// to the runtime so other requests keep their latency while sign-ins queue.
    pub fn new(concurrency: usize) -> Self {
        let dummy_hash = hash_blocking("a password nobody has; for timing only")
            .expect("hashing a constant succeeds");
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash,
        }
    }

    pub async fn hash(&self, password: Password) -> Result<String, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Hashing)?;
        tokio::task::spawn_blocking(move || hash_blocking(password.expose()))
            .await
            .map_err(|_| AuthError::Hashing)?
    }

    /// Whether `password` matches `stored`; with no stored hash, the dummy hash is checked so
    /// the answer takes the same time, and is false.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|hash| {
                    argon2()
                        .verify_password(password.expose().as_bytes(), &hash)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && matched
    }
}
