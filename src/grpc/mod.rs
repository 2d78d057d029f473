//! tonic adapters: validate, call the use case, convert. `errors` is the only place that turns
//! an error into a status code.

pub mod auth;
pub mod client_address;
pub mod errors;
pub mod health;
pub mod usage;
