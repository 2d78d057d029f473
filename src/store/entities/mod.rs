//! sea-orm entities, one module per table (see migrations/ for the schema).

pub mod api_keys;
pub mod refresh_tokens;
pub mod sessions;
pub mod sign_in_failures;
pub mod signing_keys;
pub mod srp_challenges;
pub mod srp_verifiers;
pub mod users;
