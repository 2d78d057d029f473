//! Users of trusted external issuers: `users.issuer` and `users.subject` name the account at its
//! issuer (unique together; both null for our own users), and `users.external_email` holds the
//! email the issuer states. The unique `users.email` of such a user is a name of our own making
//! (`ext:` and a digest), because the same email at two issuers is two users, and the column's
//! uniqueness cannot be narrowed on SQLite without rebuilding the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Issuer,
    Subject,
    ExternalEmail,
}

const INDEX: &str = "users_issuer_subject";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [Users::Issuer, Users::Subject, Users::ExternalEmail] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(ColumnDef::new(column).string().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Users::Table)
                    .col(Users::Issuer)
                    .col(Users::Subject)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Users::Table).to_owned())
            .await?;
        for column in [Users::ExternalEmail, Users::Subject, Users::Issuer] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
