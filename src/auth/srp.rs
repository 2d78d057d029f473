//! SRP sign-in, as Cognito's `USER_SRP_AUTH` and `PASSWORD_VERIFIER` steps: the same accounts,
//! lockout and sessions as a password sign-in, proven without the password crossing the wire.
//! A challenge lives in the database, so its answer may reach any instance, and is taken by the
//! first answer, so it cannot be replayed.

use base64::{Engine, engine::general_purpose::STANDARD};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use super::{Accounts, AuthError, TokenSet, accounts::Login};
use crate::{
    domain::{app_client::AppClient, origin::RequestOrigin, password::Password, srp},
    store::{srp as store, users as users_store},
};

/// How long a challenge waits for its answer.
const CHALLENGE_SECS: i64 = 300;
/// How far the answer's TIMESTAMP may be from the service clock.
const TIMESTAMP_SKEW_SECS: i64 = 300;
/// Random bytes of a SECRET_BLOCK.
const SECRET_BLOCK_BYTES: usize = 48;
/// Longest SECRET_BLOCK and signature accepted (base64).
const MAX_ANSWER_FIELD_LEN: usize = 1024;
/// Bytes of a verifier (of N, the 3072-bit group's modulus).
const VERIFIER_BYTES: usize = 384;
/// Separates the answers made up for unknown usernames from other uses of the secret.
const UNKNOWN_USER_CONTEXT: &[u8] = b"cloudsigma-auth srp unknown user v1\0";

/// The verifiers of one pool (SRP hashes the pool's name into each).
#[derive(Debug, Clone)]
pub struct SrpVerifiers {
    pool_name: String,
}

impl SrpVerifiers {
    pub fn new(pool_name: &str) -> Self {
        Self {
            pool_name: pool_name.to_owned(),
        }
    }

    /// Makes and stores the user's verifier for `password` (replacing an older one).
    pub(super) async fn store(
        &self,
        db: &DatabaseConnection,
        user_id: &str,
        password: Password,
        now: i64,
    ) -> Result<(), AuthError> {
        let (pool_name, id) = (self.pool_name.clone(), user_id.to_owned());
        // One 3072-bit exponentiation: off the runtime threads.
        let (salt, verifier) = tokio::task::spawn_blocking(move || {
            let salt = srp::new_salt();
            let verifier = srp::verifier(&pool_name, &id, password.expose(), &salt);
            (salt, verifier)
        })
        .await
        .map_err(|_| AuthError::Hashing)?;
        store::put_verifier(
            db,
            store::Verifier {
                user_id: user_id.to_owned(),
                pool_name: self.pool_name.clone(),
                salt: hex::encode(salt),
                verifier: hex::encode(verifier),
                created_at: now,
            },
        )
        .await?;
        Ok(())
    }

    /// Stores a verifier unless the user has one for this pool.
    pub(super) async fn store_if_missing(
        &self,
        db: &DatabaseConnection,
        user_id: &str,
        password: Password,
        now: i64,
    ) -> Result<(), AuthError> {
        if store::verifier(db, user_id, &self.pool_name)
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.store(db, user_id, password, now).await
    }
}

/// The `PASSWORD_VERIFIER` challenge, as its parameters are sent.
pub struct SrpChallenge {
    pub user_id_for_srp: String,
    pub salt_hex: String,
    pub srp_b_hex: String,
    pub secret_block: String,
}

/// The client's answer to a challenge.
pub struct SrpAnswer<'a> {
    pub secret_block: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// What a challenge is computed from: a user's verifier, or one made up for a username that
/// names nobody (or nobody with a verifier), so the answer cannot tell the two apart.
struct Basis {
    user_id: Option<String>,
    user_id_for_srp: String,
    salt: Vec<u8>,
    verifier: Vec<u8>,
}

impl Accounts {
    /// Starts an SRP sign-in of `username` with the client's public value `srp_a`.
    pub async fn start_srp(
        &self,
        username: &str,
        srp_a: &str,
        client: &AppClient,
        origin: RequestOrigin,
    ) -> Result<SrpChallenge, AuthError> {
        let verifiers = self.srp.clone().ok_or(AuthError::SrpBadParameter(
            "USER_SRP_AUTH is not enabled on this user pool",
        ))?;
        let client_public = srp::parse_client_public(srp_a)
            .map_err(|_| AuthError::SrpBadParameter("SRP_A is not a valid SRP public value"))?;
        let login = self.lock_key(Login::Username(username)).await?;
        if let Some(login) = &login {
            self.refuse_if_locked(login, &origin).await?;
        }
        let basis = self.basis(&verifiers, username, login.as_deref()).await?;
        let now = self.now();
        let verifier = basis.verifier.clone();
        let (srp_b_hex, session_key) = tokio::task::spawn_blocking(move || {
            let server = srp::server_ephemeral(&verifier);
            srp::session_key(&client_public, &server, &verifier)
                .map(|key| (server.public_hex(), key))
        })
        .await
        .map_err(|_| AuthError::Hashing)?
        .map_err(|_| AuthError::SrpBadParameter("SRP_A is not a valid SRP public value"))?;

        let mut block = [0u8; SECRET_BLOCK_BYTES];
        getrandom::fill(&mut block).expect("the operating system's random source failed");
        let secret_block = STANDARD.encode(block);
        store::insert_challenge(
            &self.db,
            store::Challenge {
                id: challenge_id(&secret_block),
                user_id: basis.user_id,
                login: login.unwrap_or_default(),
                client_id: client.id.clone(),
                session_key: hex::encode(session_key),
                expires_at: now + CHALLENGE_SECS,
            },
            now,
        )
        .await?;
        Ok(SrpChallenge {
            user_id_for_srp: basis.user_id_for_srp,
            salt_hex: hex::encode(&basis.salt),
            srp_b_hex,
            secret_block,
        })
    }

    async fn basis(
        &self,
        verifiers: &SrpVerifiers,
        username: &str,
        login: Option<&str>,
    ) -> Result<Basis, AuthError> {
        if let Some(login) = login
            && let Some(user) = users_store::find_by_email(&self.db, login).await?
            && let Some(stored) = store::verifier(&self.db, &user.id, &verifiers.pool_name).await?
            && let (Ok(salt), Ok(verifier)) =
                (hex::decode(&stored.salt), hex::decode(&stored.verifier))
        {
            return Ok(Basis {
                user_id_for_srp: user.id.clone(),
                user_id: Some(user.id),
                salt,
                verifier,
            });
        }
        // The same made-up salt and user id every time for one username, as for a real user.
        let tag = self
            .refresh
            .lineage
            .tag(UNKNOWN_USER_CONTEXT, username.to_lowercase().as_bytes());
        let user_id_for_srp = if username.contains('@') {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&tag[16..]);
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string()
        } else {
            username.to_owned()
        };
        // Random bytes stand in for the verifier: it never leaves the service, and B hides it
        // either way. Making a real one would cost an exponentiation that a known user's
        // challenge does not, and the difference in time would tell the two apart.
        let mut verifier = vec![0u8; VERIFIER_BYTES];
        getrandom::fill(&mut verifier).expect("the operating system's random source failed");
        Ok(Basis {
            user_id: None,
            user_id_for_srp,
            salt: tag[..16].to_vec(),
            verifier,
        })
    }

    /// Checks the answer to a challenge and, when it proves the password, starts a session
    /// for the challenge's app client. A wrong proof counts as a failed sign-in.
    pub async fn answer_srp(
        &self,
        answer: SrpAnswer<'_>,
        client: &AppClient,
        origin: RequestOrigin,
    ) -> Result<TokenSet, AuthError> {
        let verifiers = self.srp.clone().ok_or(AuthError::SrpBadParameter(
            "USER_SRP_AUTH is not enabled on this user pool",
        ))?;
        if answer.secret_block.is_empty() || answer.secret_block.len() > MAX_ANSWER_FIELD_LEN {
            return Err(AuthError::SrpSessionInvalid);
        }
        if answer.signature.len() > MAX_ANSWER_FIELD_LEN {
            return Err(AuthError::SrpBadParameter(
                "PASSWORD_CLAIM_SIGNATURE is too long",
            ));
        }
        let now = self.now();
        let challenge = store::take_challenge(&self.db, &challenge_id(answer.secret_block))
            .await?
            .filter(|c| c.expires_at >= now && c.client_id == client.id)
            .ok_or(AuthError::SrpSessionInvalid)?;
        let at = srp::parse_timestamp(answer.timestamp).ok_or(AuthError::SrpBadParameter(
            "TIMESTAMP must read like \"Tue Sep 25 00:09:40 UTC 2018\"",
        ))?;
        if (at.timestamp() - now).abs() > TIMESTAMP_SKEW_SECS {
            return Err(AuthError::SrpStaleTimestamp);
        }
        let _turn = match challenge.login.as_str() {
            "" => None,
            login => Some(self.turn(login).await),
        };
        if !challenge.login.is_empty() {
            self.refuse_if_locked(&challenge.login, &origin).await?;
        }
        let proven = match (&challenge.user_id, hex::decode(&challenge.session_key)) {
            (Some(user_id), Ok(key)) if key.len() == 16 => {
                let mut session_key = [0u8; 16];
                session_key.copy_from_slice(&key);
                let block = STANDARD.decode(answer.secret_block).unwrap_or_default();
                srp::signature_matches(
                    &session_key,
                    &verifiers.pool_name,
                    user_id,
                    &block,
                    answer.timestamp,
                    answer.signature,
                )
            }
            _ => false,
        };
        let user = match (&challenge.user_id, proven) {
            (Some(user_id), true) => users_store::find_by_id(&self.db, user_id).await?,
            _ => None,
        };
        let Some(user) = user else {
            if !challenge.login.is_empty() {
                self.record_failure(&challenge.login, origin).await?;
            }
            return Err(AuthError::BadCredentials);
        };
        users_store::clear_sign_in_failures(&self.db, &challenge.login).await?;
        self.start_session(&user, Some(client), origin).await
    }
}

/// What a challenge is stored under: the digest of its SECRET_BLOCK, never the block itself.
fn challenge_id(secret_block: &str) -> String {
    hex::encode(Sha256::digest(secret_block.as_bytes()))
}
