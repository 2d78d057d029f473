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
    /// The trusted external issuer of the account (`None`: one of ours).
    pub issuer: Option<String>,
    /// The account's `sub` at its external issuer.
    pub subject: Option<String>,
    /// The email its external issuer states (the `email` column of such a user is a name of our
    /// own making, unique like every other).
    pub external_email: Option<String>,
}

impl Model {
    /// The user's email: the one they signed up with, or the one their issuer states.
    pub fn email_address(&self) -> &str {
        match &self.issuer {
            Some(_) => self.external_email.as_deref().unwrap_or_default(),
            None => &self.email,
        }
    }
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
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("external_email", &self.external_email)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
