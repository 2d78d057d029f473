//! `api_key_usage.daily_limit`: the key's limit as the last counting statement read it, so the
//! statement that counts a batch of keys can answer each key's limit with its count.
//!
//! `auth_changes`: an append-only log of changes that alter how a bearer token is answered
//! (sign-out, session revoked, refresh reuse, tier or team changed). Instances keep sessions and
//! users in memory and tail this log to drop what changed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeyUsage {
    Table,
    DailyLimit,
}

#[derive(DeriveIden)]
enum AuthChanges {
    Table,
    Seq,
    Kind,
    Subject,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeyUsage::Table)
                    .add_column(
                        ColumnDef::new(ApiKeyUsage::DailyLimit)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthChanges::Table)
                    .col(
                        ColumnDef::new(AuthChanges::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuthChanges::Kind).string().not_null())
                    .col(ColumnDef::new(AuthChanges::Subject).string().not_null())
                    .col(ColumnDef::new(AuthChanges::At).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthChanges::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeyUsage::Table)
                    .drop_column(ApiKeyUsage::DailyLimit)
                    .to_owned(),
            )
            .await
    }
}
