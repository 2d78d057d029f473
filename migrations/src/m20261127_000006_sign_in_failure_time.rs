//! `sign_in_failures.last_failure_at`: when the last failure was counted, so old records can
//! be purged (0 for records from before this column).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    LastFailureAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SignInFailures::Table)
                    .add_column(
                        ColumnDef::new(SignInFailures::LastFailureAt)
                            .big_integer()
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
                    .table(SignInFailures::Table)
                    .drop_column(SignInFailures::LastFailureAt)
                    .to_owned(),
            )
            .await
    }
}
