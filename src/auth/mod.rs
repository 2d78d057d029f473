//! The user pool: accounts, passwords, sign-in sessions, tokens and the keys that sign them.

mod accounts;
mod error;
mod external;
pub mod follow;
pub mod issuers;
pub mod keys;
pub mod live;
mod password_change;
mod passwords;
mod refresh;
mod sign_in;
mod srp;
pub mod tokens;
mod turns;

pub use accounts::{Accounts, ClientProof, Login, Rotate, TokenSet};
pub use error::AuthError;
pub use keys::KeyRing;
pub use live::LiveState;
pub use passwords::{HashingLimits, PasswordHasher};
pub use refresh::{Lineage, RefreshRules};
pub use srp::{SrpAnswer, SrpChallenge, SrpVerifiers};
pub use tokens::Tokens;
