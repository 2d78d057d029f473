//! The authentication layer: one tower layer in front of every gRPC service, so native gRPC,
//! gRPC-web and REST (transcoded onto gRPC) pass through the same checks and counting.

mod bearer;
mod gate;
mod layer;
mod principal;

pub use bearer::{Bearer, parse_authorization};
pub use gate::{Admission, Gate, RateLimitInfo};
pub use layer::AuthLayer;
pub use principal::{AuthMethod, Principal};
