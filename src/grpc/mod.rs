//! tonic adapters: validate, call the use case, convert. `errors` is the only place that turns
//! an error into a status code.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod client_address;
pub mod errors;
pub mod health;
pub mod usage;

/// Where the request came from, as the authentication layer read it (empty outside it, as in
/// unit tests of an adapter).
pub fn origin<T>(request: &tonic::Request<T>) -> crate::domain::origin::RequestOrigin {
    request
        .extensions()
        .get::<crate::domain::origin::RequestOrigin>()
        .cloned()
        .unwrap_or_default()
}

/// A protobuf timestamp of whole seconds.
pub fn timestamp(unix_seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix_seconds,
        nanos: 0,
    }
}

/// Copies HTTP headers (the rate-limit headers of an API key) into gRPC metadata.
pub fn insert_headers(metadata: &mut tonic::metadata::MetadataMap, headers: &http::HeaderMap) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_bytes()),
        ) {
            metadata.insert(name, value);
        }
    }
}
