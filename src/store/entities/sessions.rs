use sea_orm::entity::prelude::*;

/// A sign-in session; its id is the `origin_jti` of every token issued in it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub auth_time: i64,
    /// End of the refresh tokens' absolute lifetime (30 days from sign-in).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The client address of the sign-in.
    pub client_address: Option<String>,
    /// The User-Agent of the sign-in (at most 256 characters).
    pub user_agent: Option<String>,
    /// The app client its tokens are issued to; None for the default client.
    pub client_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
