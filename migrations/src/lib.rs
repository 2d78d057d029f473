//! Schema migrations, one file per change; each runs the same on SQLite and PostgreSQL.
//! Times are Unix seconds (BIGINT) and digests lowercase hex, so both databases store them
//! alike.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_users_and_sessions;
mod m20261126_000002_monthly_usage;
mod m20261126_000003_api_keys;
mod m20261126_000004_usage_last_grant;
mod m20261126_000005_enterprise_rule_allowance;
mod m20261127_000006_sign_in_failure_time;
mod m20261127_000007_refresh_lineage;
mod m20261127_000008_exact_counting_and_changes;
mod m20261127_000009_session_client;
mod m20261128_000010_external_users;
mod m20261128_000011_audit_events;
mod m20261128_000012_cognito;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_users_and_sessions::Migration),
            Box::new(m20261126_000002_monthly_usage::Migration),
            Box::new(m20261126_000003_api_keys::Migration),
            Box::new(m20261126_000004_usage_last_grant::Migration),
            Box::new(m20261126_000005_enterprise_rule_allowance::Migration),
            Box::new(m20261127_000006_sign_in_failure_time::Migration),
            Box::new(m20261127_000007_refresh_lineage::Migration),
            Box::new(m20261127_000008_exact_counting_and_changes::Migration),
            Box::new(m20261127_000009_session_client::Migration),
            Box::new(m20261128_000010_external_users::Migration),
            Box::new(m20261128_000011_audit_events::Migration),
            Box::new(m20261128_000012_cognito::Migration),
        ]
    }
}
