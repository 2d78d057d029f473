//! Hand-written statements for the few updates that must be one atomic SQL statement (an ORM
//! read-modify-write would race). Written with `?` placeholders and numbered for PostgreSQL.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::StoreError;

pub fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push('$');
                    numbered.push_str(&n.to_string());
                } else {
                    numbered.push(c);
                }
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The integer in the first column of the first row, or 0 when there is no row.
pub async fn integer_or_zero(
    db: &DatabaseConnection,
    sql: &str,
    values: Vec<Value>,
) -> Result<i32, StoreError> {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    })
}
