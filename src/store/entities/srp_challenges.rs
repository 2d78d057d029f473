use sea_orm::entity::prelude::*;

/// An SRP challenge waiting for its answer; taken (deleted) by the first answer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "srp_challenges")]
pub struct Model {
    /// SHA-256 digest (hex) of the challenge's SECRET_BLOCK.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// None when the username named no user: the answer fails like a wrong password.
    pub user_id: Option<String>,
    /// What the sign-in's lockout is counted under (the user's email, or what was sent).
    pub login: String,
    pub client_id: String,
    /// The 16-byte key both sides derive (hex); good for this one answer only.
    pub session_key: String,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
