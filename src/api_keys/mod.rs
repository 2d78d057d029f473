//! The API-key lifecycle: create, list, update, revoke — always for the caller's own keys.

mod keys;

pub use keys::{ApiKeyError, ApiKeys, CreatedKey, MAX_HISTORY_DAYS};
