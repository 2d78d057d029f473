//! Plain types and rules of the service: tiers, emails, passwords, API keys, limits, the clock,
//! where a request comes from and the audit trail's events.
//! Nothing here knows about tonic, prost, axum or sea-orm.

pub mod api_key;
pub mod app_client;
pub mod audit;
pub mod client_address;
pub mod clock;
pub mod email;
pub mod origin;
pub mod password;
pub mod srp;
pub mod tier;
