//! Integration tests: the real application on port 0 against a fresh database, called through
//! real clients (reqwest, tonic, tonic-web). Set `TEST_DATABASE_URL` to a PostgreSQL URL to run
//! the same suite on PostgreSQL (each test gets a database of its own).

mod api_keys;
mod audit;
mod auth;
mod cognito;
mod cognito_pool;
mod foundation;
mod fuzzing;
mod gateway;
mod hardening_connections;
mod hardening_faults;
mod hardening_floods;
mod hardening_refresh;
mod helpers;
mod issuers;
mod logs;
mod metering;
mod metrics;
mod openapi;
mod propagation;
mod sessions;
mod srp_client;
