use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub tier: String,
    pub team_id: Option<String>,
    pub created_at: i64,
    /// Monthly rule allowance of an enterprise user; `None` is unlimited.
    pub monthly_rule_allowance: Option<i32>,
}

/// The password hash is left out: a row printed while debugging must not hand it to an offline
/// guesser.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[REDACTED]")
            .field("tier", &self.tier)
            .field("team_id", &self.team_id)
            .field("created_at", &self.created_at)
            .field("monthly_rule_allowance", &self.monthly_rule_allowance)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
