use sea_orm::entity::prelude::*;

/// A user's SRP verifier (`g^x mod N`) and salt, as hex; kept only while SRP is on.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "srp_verifiers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// The pool name hashed into the verifier.
    pub pool_name: String,
    pub salt: String,
    pub verifier: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
