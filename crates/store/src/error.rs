//! What can go wrong talking to Postgres, and URL masking so no error ever carries a password.

use std::time::Duration;

use diesel_async::pooled_connection::deadpool::PoolError;

/// An error from the store. Every message says what failed and what to do about it, and none
/// contains a database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The first connection at startup failed: wrong URL, PostgreSQL down, or bad credentials.
    #[error(
        "cannot reach PostgreSQL at {url}: {reason}; is PostgreSQL running and are the URL and \
         credentials right? Start it with `docker compose up -d postgres` or set \
         SWITCHYARD_DATABASE_URL"
    )]
    Unreachable {
        /// The database URL with any password replaced by `***`.
        url: String,
        /// Why the connection failed.
        reason: String,
    },
    /// No pooled connection could be handed out (PostgreSQL went away after startup).
    #[error("no PostgreSQL connection available: {0}; check that PostgreSQL is up and reachable")]
    Pool(#[source] PoolError),
    /// PostgreSQL did not answer in time.
    #[error(
        "PostgreSQL did not answer within {0:?}; check its load and the network, or raise the \
         pool size if all connections are busy"
    )]
    Timeout(Duration),
    /// A statement failed.
    #[error("database query failed: {0}; if a table is missing, run the migrations")]
    Query(#[from] diesel::result::Error),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}; fix the database state, then restart to retry")]
    Migration(String),
    /// A column held a value this version does not know.
    #[error(
        "column {column} holds unexpected value {value:?}; was the row written by a newer \
         Switchyard? Upgrade this component"
    )]
    Corrupt {
        /// `table.column` that held the value.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// The caller passed something the store refuses to write.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// `complete` was called for an idempotency key nobody holds.
    #[error(
        "idempotency key {key:?} of integration {integration} is not claimed; call claim() \
         before complete()"
    )]
    NotClaimed {
        /// The integration the key belongs to.
        integration: String,
        /// The idempotency key.
        key: String,
    },
    /// A statement writing several callers' rows at once (group commit) failed; none of them
    /// was written.
    #[error("writing {what} together with others failed: {reason}")]
    Batch {
        /// What was being written, e.g. `delivery-log rows`.
        what: &'static str,
        /// The error of the shared statement.
        reason: String,
    },
    /// The dead-letter key list (`SWITCHYARD_DLQ_KEYS`) is malformed.
    #[error(
        "invalid SWITCHYARD_DLQ_KEYS: {0}; expected `id:BASE64KEY[,id:BASE64KEY…]` with \
         32-byte keys, the encrypting key first (make a key with `openssl rand -base64 32`)"
    )]
    PayloadKeys(String),
    /// A stored payload names a key the configuration does not have.
    #[error(
        "dead-letter payload is encrypted with key {key_id:?}, which is not configured; add \
         it to SWITCHYARD_DLQ_KEYS (after the current key) to read it"
    )]
    UnknownPayloadKey {
        /// The key id stored with the payload.
        key_id: String,
    },
    /// A stored payload failed authentication: altered, truncated, or a different key under
    /// the same id.
    #[error(
        "dead-letter payload cannot be decrypted with key {key_id:?}: it was altered, or \
         SWITCHYARD_DLQ_KEYS holds a different key under that id; restore the original key"
    )]
    PayloadUndecryptable {
        /// The key id stored with the payload.
        key_id: String,
    },
    /// The dead letter was purged, so its payload no longer exists.
    #[error("dead letter {id} was purged; its payload is gone and cannot be shown or replayed")]
    PayloadPurged {
        /// The dead letter's id.
        id: i64,
    },
}

/// A string that names no variant of one of the store's enums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct ParseEnumError {
    /// What was being parsed, e.g. `delivery status`.
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
    /// The accepted spellings.
    pub expected: &'static str,
}

/// Returns `url` with any password replaced by `***`, for logs and error messages.
///
/// Handles the URL form (`postgres://user:secret@host/db`, `?password=secret`) and the
/// key/value form (`host=db password=secret`).
pub fn mask_database_url(url: &str) -> String {
    mask_password_params(&mask_userinfo(url))
}

/// Masks the password in `scheme://user:password@host`.
fn mask_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // rsplit: a password may itself contain '@'; the host never does.
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        Some(_) | None => url.to_owned(),
    }
}

/// Masks every `password=value` (query parameter or key/value pair).
fn mask_password_params(url: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.to_ascii_lowercase().find(KEY) {
        let value_start = start + KEY.len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value_len = rest[value_start..]
            .find(['&', ' '])
            .unwrap_or(rest.len() - value_start);
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_database_url as mask;

    #[test]
    fn masks_the_password_in_the_userinfo() {
        assert_eq!(
            mask("postgres://sy:p@ss@db:5432/switchyard?sslmode=require"),
            "postgres://sy:***@db:5432/switchyard?sslmode=require"
        );
    }

    #[test]
    fn leaves_urls_without_a_password_alone() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(mask(url), url);
        assert_eq!(mask("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn masks_password_parameters() {
        assert_eq!(
            mask("postgres://db/x?user=a&password=hunter2&sslmode=disable"),
            "postgres://db/x?user=a&password=***&sslmode=disable"
        );
        assert_eq!(
            mask("host=db Password=hunter2 user=a"),
            "host=db Password=*** user=a"
        );
    }
}
