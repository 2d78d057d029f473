//! tonic adapters: validate, call the use case, convert. `errors` is the only place that turns
//! an error into a status code.

pub mod api_keys;
pub mod auth;
pub mod client_address;
pub mod errors;
pub mod health;
pub mod usage;

/// A protobuf timestamp of whole seconds.
pub fn timestamp(unix_seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix_seconds,
        nanos: 0,
    }
}
