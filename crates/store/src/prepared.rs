//! Statements prepared once per connection and reused.
//!
//! diesel never caches `sql_query` text, nor UPDATEs, nor INSERTs with a `DEFAULT` in them,
//! because their SQL may differ between two values of the same Rust type. diesel-async then
//! prepares such a statement afresh on every call: a Parse round trip, and Postgres parsing and
//! planning it again, before the Bind/Execute round trip. [`Prepared`] marks a statement whose
//! SQL is fixed text (or one of a few fixed texts) as safe to cache; the connection's statement
//! cache then keys it by its SQL and bind types, so each distinct text is prepared once per
//! connection. Only wrap statements whose SQL comes from a small fixed set (never `IN` lists of
//! varying length), or the cache grows without bound.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// `query`, prepared once per connection (keyed by its SQL text) instead of on every call.
#[derive(Debug, Clone)]
pub(crate) struct Prepared<Q>(pub(crate) Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: the cache key is the SQL text, so two texts never share a cached statement.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}
