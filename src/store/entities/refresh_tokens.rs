use sea_orm::entity::prelude::*;

/// A refresh token, stored as the hex SHA-256 of the token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: String,
    pub session_id: String,
    pub created_at: i64,
    /// When it was exchanged; a later use past the grace period revokes the session.
    pub rotated_at: Option<i64>,
    /// Digest of the one token it was exchanged for; every answer to this token carries that
    /// same successor.
    pub successor_digest: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::sessions::Entity",
        from = "Column::SessionId",
        to = "super::sessions::Column::Id"
    )]
    Session,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
