//! The REST/JSON surface: a transcoding codec over the gRPC services, driven by the protos'
//! `google.api.http` annotations.

mod json;
pub mod openapi;
pub mod routes;
mod transcode;

pub use openapi::{OPENAPI_PATH, OpenApi};
pub use routes::Routes;
pub use transcode::{
    GrpcStack, MAX_BODY_BYTES, Rest, error_envelope, render_error, transcode_request,
};
