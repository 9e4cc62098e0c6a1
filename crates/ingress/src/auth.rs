//! Bearer API keys: `Authorization: Bearer sy_…`, checked against the hashed keys in Postgres,
//! then scoped by message-type prefix.

use axum::http::{HeaderMap, StatusCode, header};
use switchyard_store::{ApiKeyRecord, Store};

use crate::key_cache::KeyCache;
use crate::problem::Problem;

/// Authenticates the request's bearer key through the publisher key cache.
pub async fn authenticate_cached(
    cache: &KeyCache,
    store: &Store,
    headers: &HeaderMap,
) -> Result<ApiKeyRecord, Problem> {
    let token = bearer(headers)?;
    if let Some(key) = cache.get(token) {
        return Ok(key);
    }
    let key = lookup(store, token).await?;
    cache.put(token, &key);
    Ok(key)
}

/// Authenticates the request's bearer key (always against Postgres).
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<ApiKeyRecord, Problem> {
    lookup(store, bearer(headers)?).await
}

fn bearer(headers: &HeaderMap) -> Result<&str, Problem> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized("missing Authorization header; send `Authorization: Bearer <api key>` (create one with `switchyard keys create`)")
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <api key>`"))?;
    Ok(token)
}

async fn lookup(store: &Store, token: &str) -> Result<ApiKeyRecord, Problem> {
    match store.authenticate(token).await {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(unauthorized("unknown or revoked API key")),
        Err(error) => {
            tracing::error!(%error, "cannot check API keys");
            Err(Problem::unavailable(
                "cannot verify the API key right now (database unavailable); retry later",
            ))
        }
    }
}

/// Refuses a key that may not publish `message_type`.
pub fn authorize(key: &ApiKeyRecord, message_type: &str) -> Result<(), Problem> {
    if key.allows(message_type) {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Not allowed",
        format!(
            "API key `{}` may publish {}; not `{message_type}`. Ask an admin for a key with that scope",
            key.name,
            if key.scopes.is_empty() {
                "nothing".to_owned()
            } else {
                key.scopes.join(", ")
            }
        ),
    ))
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        detail,
    )
}
