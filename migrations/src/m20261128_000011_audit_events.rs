//! `audit_events`: an append-only trail of security events (sign-ups, sign-ins and their
//! failures, lockouts, refresh-token reuse, sign-outs, revoked sessions, API-key changes, tier
//! changes, signing-key rotations). Rows are only ever inserted, and deleted by the retention
//! purge; nothing in a row is a secret (an API key appears by its prefix only).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    EventType,
    UserId,
    KeyPrefix,
    ClientAddress,
    UserAgent,
    RequestId,
    Detail,
}

/// A user's events, newest first, page by page.
const BY_USER: &str = "audit_events_user_id";
/// The purge deletes by age.
const BY_TIME: &str = "audit_events_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::At).big_integer().not_null())
                    .col(ColumnDef::new(AuditEvents::EventType).string().not_null())
                    // No foreign key: the trail outlives what it describes (a failure for an
                    // unknown email has no user at all).
                    .col(ColumnDef::new(AuditEvents::UserId).string().null())
                    .col(ColumnDef::new(AuditEvents::KeyPrefix).string().null())
                    .col(ColumnDef::new(AuditEvents::ClientAddress).string().null())
                    .col(ColumnDef::new(AuditEvents::UserAgent).string().null())
                    .col(ColumnDef::new(AuditEvents::RequestId).string().null())
                    .col(ColumnDef::new(AuditEvents::Detail).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_USER)
                    .table(AuditEvents::Table)
                    .col(AuditEvents::UserId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_TIME)
                    .table(AuditEvents::Table)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
