//! The authentication layer: one tower layer in front of every gRPC service, so native gRPC,
//! gRPC-web and REST (transcoded onto gRPC) pass through the same checks and counting.

pub mod bearer;
mod error;
mod gate;
mod layer;
mod principal;

pub use bearer::BearerError;
pub use error::AuthnError;
pub use gate::{Admission, Gate, budget_headers};
pub use layer::AuthLayer;
pub use principal::{AuthMethod, Principal};
