//! A [`DeadLetterFilter`] as one SQL condition, shared by listing, counting, grouping and
//! purging so that "what `list` showed" and "what `purge` removed" can never differ.
//!
//! Built from typed, bound expressions only: no user input is ever spliced into SQL text.

use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::DeadLetterFilter;
use crate::schema::dead_letters::{self, dsl as d};

/// A condition on `dead_letters` rows.
pub(super) type Predicate = Box<dyn BoxableExpression<dead_letters::table, Pg, SqlType = Bool>>;

/// The condition matching `f`; an unset status means parked.
pub(super) fn predicate(f: &DeadLetterFilter) -> Predicate {
    let status: Predicate = Box::new(d::status.eq(f.status.unwrap_or_default().as_str()));
    let mut all = vec![status];
    let mut and = |next: Predicate| all.push(next);
    if !f.ids.is_empty() {
        and(Box::new(d::id.eq_any(f.ids.clone())));
    }
    if let Some(v) = &f.integration {
        and(Box::new(d::integration.eq(v.clone())));
    }
    // NULL never equals a value, so a record without a type or tenant matches no filter on one.
    if let Some(v) = &f.message_type {
        and(Box::new(d::message_type.assume_not_null().eq(v.clone())));
    }
    if let Some(v) = &f.tenant {
        and(Box::new(d::tenant.assume_not_null().eq(v.clone())));
    }
    if let Some(v) = &f.error_class {
        and(Box::new(d::error_class.eq(v.clone())));
    }
    if let Some(v) = &f.error_code {
        and(Box::new(d::error_code.eq(v.clone())));
    }
    if let Some(v) = &f.group_id {
        and(Box::new(d::group_id.eq(v.clone())));
    }
    if let Some(t) = f.since {
        and(Box::new(d::parked_at.ge(t)));
    }
    if let Some(t) = f.until {
        and(Box::new(d::parked_at.lt(t)));
    }
    if let Some(text) = &f.text {
        and(Box::new(d::reason.ilike(contains_pattern(text))));
    }
    all.into_iter()
        .reduce(|a, b| Box::new(a.and(b)))
        .expect("the status condition is always there")
}

/// An ILIKE pattern matching `text` anywhere, with `%`, `_` and `\` in `text` taken literally
/// (backslash is PostgreSQL's default LIKE escape).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn wildcards_in_search_text_are_literal() {
        assert_eq!(contains_pattern("invalid"), "%invalid%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
