//! API keys in the database: created with a one-time token, stored hashed, looked up by hash.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::api_keys;
use crate::{ApiKeyRecord, Role, Store, StoreError, token};

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct ApiKeyRow {
    id: Uuid,
    name: String,
    role: String,
    scopes: Vec<String>,
    token_prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        let role = row.role.parse().map_err(|_| StoreError::Corrupt {
            column: "api_keys.role",
            value: row.role.clone(),
        })?;
        Ok(ApiKeyRecord {
            id: row.id,
            name: row.name,
            role,
            scopes: row.scopes,
            prefix: row.token_prefix,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        })
    }
}

fn validate(name: &str, scopes: &[String]) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("an API key needs a name".into()));
    }
    if scopes.iter().any(|s| s.trim().is_empty() || s.trim() != s) {
        return Err(StoreError::Invalid(format!(
            "scopes must be non-empty message-type prefixes without spaces, got {scopes:?}"
        )));
    }
    Ok(())
}

/// Sets `last_used_at`, unless another request did so within the last minute (by the
/// database's clock, so replicas with skewed clocks agree).
async fn touch(conn: &mut AsyncPgConnection, id: Uuid) -> diesel::QueryResult<usize> {
    let stale = "last_used_at IS NULL OR last_used_at < now() - interval '1 minute'";
    diesel::update(api_keys::table.find(id))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(stale))
        .set(api_keys::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

impl Store {
    /// Creates a key and returns it with its token. The token is shown this once: only its
    /// hash is stored, so it cannot be recovered later.
    pub async fn create_api_key(
        &self,
        name: &str,
        role: Role,
        scopes: &[String],
    ) -> Result<(ApiKeyRecord, String), StoreError> {
        validate(name, scopes)?;
        let token = token::generate();
        let mut conn = self.conn().await?;
        let row = diesel::insert_into(api_keys::table)
            .values((
                api_keys::id.eq(Uuid::new_v4()),
                api_keys::name.eq(name),
                api_keys::role.eq(role.as_str()),
                api_keys::scopes.eq(scopes),
                api_keys::token_prefix.eq(token::display_prefix(&token)),
                api_keys::token_sha256.eq(token::hash(&token)),
            ))
            .returning(ApiKeyRow::as_returning())
            .get_result(&mut conn)
            .await?;
        Ok((row.try_into()?, token))
    }

    /// The live key `token` belongs to; `None` for unknown, malformed or revoked tokens.
    pub async fn authenticate(&self, token: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        if !token::is_well_formed(token) {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let row = api_keys::table
            .filter(api_keys::token_sha256.eq(token::hash(token)))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKeyRow::as_select())
            .first(&mut conn)
            .await
            .optional()?;
        let Some(record) = row.map(ApiKeyRecord::try_from).transpose()? else {
            return Ok(None);
        };
        // Best effort and at most once a minute: a write on every request would turn each
        // publish into a row update, and a failure here must not reject a valid key.
        let recently = |at: DateTime<Utc>| Utc::now() - at < TimeDelta::minutes(1);
        if !record.last_used_at.is_some_and(recently)
            && let Err(e) = touch(&mut conn, record.id).await
        {
            tracing::warn!(key_id = %record.id, error = %e, "could not record API key use");
        }
        Ok(Some(record))
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows = api_keys::table
            .order((api_keys::created_at, api_keys::id))
            .select(ApiKeyRow::as_select())
            .load(&mut conn)
            .await?;
        rows.into_iter().map(ApiKeyRecord::try_from).collect()
    }

    /// Revokes a key at once. Returns `false` if there is no such key or it was already revoked.
    pub async fn revoke_api_key(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let rows = diesel::update(api_keys::table.find(id))
            .filter(api_keys::revoked_at.is_null())
            .set(api_keys::revoked_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await?;
        Ok(rows == 1)
    }
}
