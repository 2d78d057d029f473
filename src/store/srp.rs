//! SRP verifiers and the one-time challenges of SRP sign-ins.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

use super::{
    StoreError,
    entities::{srp_challenges, srp_verifiers},
};

pub use srp_challenges::Model as Challenge;
pub use srp_verifiers::Model as Verifier;

/// Stores (or replaces) a user's verifier.
pub async fn put_verifier(db: &impl ConnectionTrait, verifier: Verifier) -> Result<(), StoreError> {
    srp_verifiers::Entity::insert(srp_verifiers::ActiveModel::from(verifier))
        .on_conflict(
            OnConflict::column(srp_verifiers::Column::UserId)
                .update_columns([
                    srp_verifiers::Column::PoolName,
                    srp_verifiers::Column::Salt,
                    srp_verifiers::Column::Verifier,
                    srp_verifiers::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The user's verifier, if one was made under `pool_name`.
pub async fn verifier(
    db: &DatabaseConnection,
    user_id: &str,
    pool_name: &str,
) -> Result<Option<Verifier>, StoreError> {
    Ok(srp_verifiers::Entity::find_by_id(user_id)
        .filter(srp_verifiers::Column::PoolName.eq(pool_name))
        .one(db)
        .await?)
}

/// Deletes every verifier (SRP was switched off); returns how many there were.
pub async fn delete_all_verifiers(db: &DatabaseConnection) -> Result<u64, StoreError> {
    Ok(srp_verifiers::Entity::delete_many()
        .exec(db)
        .await?
        .rows_affected)
}

/// Stores a new challenge, and drops the ones that expired (there are only as many as SRP
/// sign-ins of the last few minutes, so this stays small without a separate purge).
pub async fn insert_challenge(
    db: &DatabaseConnection,
    challenge: Challenge,
    now: i64,
) -> Result<(), StoreError> {
    srp_challenges::Entity::delete_many()
        .filter(srp_challenges::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    srp_challenges::Entity::insert(srp_challenges::ActiveModel::from(challenge))
        .exec(db)
        .await?;
    Ok(())
}

/// Takes the challenge `id` out: of concurrent answers to one challenge (on any instance),
/// exactly one gets it, so a challenge is answered once.
pub async fn take_challenge(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<Challenge>, StoreError> {
    let Some(found) = srp_challenges::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let deleted = srp_challenges::Entity::delete_many()
        .filter(srp_challenges::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    Ok((deleted == 1).then_some(found))
}
