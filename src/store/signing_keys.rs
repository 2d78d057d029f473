//! Token signing keys, shared by every instance through the database.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait, sea_query::Expr,
};

use super::{StoreError, entities::signing_keys};

pub use signing_keys::Model as SigningKeyRow;

/// Every key, newest first.
pub async fn all(db: &DatabaseConnection) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(signing_keys::Entity::find()
        .order_by_desc(signing_keys::Column::CreatedAt)
        .order_by_desc(signing_keys::Column::Kid)
        .all(db)
        .await?)
}

/// Makes `key` the active key and retires the others as of `now`.
pub async fn activate(
    db: &DatabaseConnection,
    key: SigningKeyRow,
    now: i64,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(now))
        .filter(signing_keys::Column::RetiredAt.is_null())
        .exec(&txn)
        .await?;
    signing_keys::ActiveModel::from(key).insert(&txn).await?;
    txn.commit().await?;
    Ok(())
}
