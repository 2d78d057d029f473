//! The audit trail: recording security events beside the changes they describe, a user's own
//! events page by page, and the operator's export.

mod trail;

pub use trail::{AuditError, AuditTrail, EventPage, Export, record_after};
