//! tonic adapters: validate, call the use case, convert. `errors` is the only place that turns
//! an error into a status code.

pub mod errors;
pub mod health;
