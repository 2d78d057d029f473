//! `api_key_usage.last_grant`: how many requests the last counting statement granted, so that
//! one statement can count a batch of concurrent requests and report how many fit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeyUsage {
    Table,
    LastGrant,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeyUsage::Table)
                    .add_column(
                        ColumnDef::new(ApiKeyUsage::LastGrant)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeyUsage::Table)
                    .drop_column(ApiKeyUsage::LastGrant)
                    .to_owned(),
            )
            .await
    }
}
