//! Rules generated per user per billing month.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MonthlyUsage {
    Table,
    UserId,
    PeriodStart,
    Used,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MonthlyUsage::Table)
                    .col(ColumnDef::new(MonthlyUsage::UserId).string().not_null())
                    .col(
                        ColumnDef::new(MonthlyUsage::PeriodStart)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MonthlyUsage::Used).integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(MonthlyUsage::UserId)
                            .col(MonthlyUsage::PeriodStart),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MonthlyUsage::Table).to_owned())
            .await
    }
}
