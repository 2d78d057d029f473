//! The Cognito wire API: the app client each session's tokens are issued to, and SRP — a
//! verifier per user (kept only while SRP is on) and the one-time challenges of SRP sign-ins.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ClientId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SrpVerifiers {
    Table,
    UserId,
    PoolName,
    Salt,
    Verifier,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SrpChallenges {
    Table,
    Id,
    UserId,
    Login,
    ClientId,
    SessionKey,
    ExpiresAt,
}

/// The purge deletes expired challenges.
const CHALLENGES_BY_EXPIRY: &str = "srp_challenges_expires_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Null for sessions from before app clients: their tokens go to the default client.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::ClientId).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SrpVerifiers::Table)
                    .col(
                        ColumnDef::new(SrpVerifiers::UserId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // The verifier hashes the pool name in: one made under another pool id
                    // cannot be used.
                    .col(ColumnDef::new(SrpVerifiers::PoolName).string().not_null())
                    .col(ColumnDef::new(SrpVerifiers::Salt).string().not_null())
                    .col(ColumnDef::new(SrpVerifiers::Verifier).string().not_null())
                    .col(
                        ColumnDef::new(SrpVerifiers::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SrpVerifiers::Table, SrpVerifiers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SrpChallenges::Table)
                    // The SHA-256 digest of the challenge's SECRET_BLOCK.
                    .col(
                        ColumnDef::new(SrpChallenges::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    // No user for a challenge answered to an unknown username: it fails.
                    .col(ColumnDef::new(SrpChallenges::UserId).string().null())
                    .col(ColumnDef::new(SrpChallenges::Login).string().not_null())
                    .col(ColumnDef::new(SrpChallenges::ClientId).string().not_null())
                    .col(
                        ColumnDef::new(SrpChallenges::SessionKey)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SrpChallenges::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(CHALLENGES_BY_EXPIRY)
                    .table(SrpChallenges::Table)
                    .col(SrpChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SrpChallenges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SrpVerifiers::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::ClientId)
                    .to_owned(),
            )
            .await
    }
}
