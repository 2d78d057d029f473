//! cloudsigma-auth: the authentication and API-key service of the CloudSigma API.
//!
//! Layers depend in one direction: `domain` (plain rules) ← use cases (`auth`, `api_keys`,
//! `quota`) ← `store` (SQL) and the adapters `grpc` (tonic) and `rest` (transcoding over
//! gRPC), plus the doors `gateway` (gateway checks) and `cognito` (the Cognito user-pool wire
//! API); `startup` wires them together.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod authn;
pub mod cli;
pub mod cognito;
pub mod config;
pub mod descriptors;
pub mod domain;
pub mod gateway;
pub mod grpc;
pub mod metrics;
pub mod quota;
pub mod rest;
pub mod retention;
pub mod startup;
pub mod store;
pub mod telemetry;

/// Generated protobuf and tonic code, and the encoded descriptor set.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/protos.rs"));

    /// Every compiled proto with its options, for reflection and the REST routes.
    pub const DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/cloudsigma_descriptor.bin"));
}
