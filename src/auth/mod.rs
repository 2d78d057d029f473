//! The user pool: accounts, passwords, sign-in sessions, tokens and the keys that sign them.

mod accounts;
mod error;
pub mod keys;
mod passwords;
pub mod tokens;

pub use accounts::{Accounts, TokenSet};
pub use error::AuthError;
pub use keys::KeyRing;
pub use passwords::PasswordHasher;
pub use tokens::Tokens;
