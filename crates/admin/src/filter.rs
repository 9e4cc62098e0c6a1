//! The filter every listing and bulk operation takes, as query parameters (API) and flags
//! (CLI) both spell it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use switchyard_contract::FieldError;
use switchyard_store::dead_letters::{DeadLetterFilter, DeadLetterStatus};

/// Filter fields as text, before validation.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterArgs {
    /// Record ids, comma-separated.
    pub id: Option<String>,
    /// Integration (`sms`).
    pub integration: Option<String>,
    /// Message type (`sms.send`).
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Error class.
    pub class: Option<String>,
    /// Error code.
    pub code: Option<String>,
    /// Group id (from `groups`).
    pub group: Option<String>,
    /// Parked at or after (RFC 3339).
    pub since: Option<String>,
    /// Parked before (RFC 3339).
    pub until: Option<String>,
    /// Text in the reason.
    pub search: Option<String>,
    /// Status (default parked).
    pub status: Option<String>,
    /// Page size (API listing only).
    pub limit: Option<i64>,
    /// Page offset (API listing only).
    pub offset: Option<i64>,
}

impl FilterArgs {
    /// Validates into a store filter; errors name the field.
    pub fn to_filter(&self) -> Result<DeadLetterFilter, Vec<FieldError>> {
        let mut errors = Vec::new();
        let ids = match &self.id {
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<i64>())
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|_| {
                    errors.push(FieldError::new(
                        "id",
                        "must be record ids separated by commas",
                    ));
                    Vec::new()
                }),
            None => Vec::new(),
        };
        let since = time("since", &self.since, &mut errors);
        let until = time("until", &self.until, &mut errors);
        let status = self
            .status
            .as_deref()
            .and_then(|s| match s.parse::<DeadLetterStatus>() {
                Ok(status) => Some(status),
                Err(_) => {
                    errors.push(FieldError::new(
                        "status",
                        "one of parked, replayed, resolved, purged, archived",
                    ));
                    None
                }
            });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DeadLetterFilter {
            ids,
            integration: self.integration.clone(),
            message_type: self.message_type.clone(),
            tenant: self.tenant.clone(),
            error_class: self.class.clone(),
            error_code: self.code.clone(),
            group_id: self.group.clone(),
            since,
            until,
            text: self.search.clone(),
            status,
        })
    }
}

fn time(
    field: &str,
    value: &Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let text = value.as_deref()?;
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 time, e.g. 2026-11-28T00:00:00Z",
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_fields_are_named() {
        let args = FilterArgs {
            id: Some("1,x".into()),
            since: Some("yesterday".into()),
            status: Some("gone".into()),
            ..Default::default()
        };
        let fields: Vec<String> = args
            .to_filter()
            .unwrap_err()
            .into_iter()
            .map(|f| f.pointer)
            .collect();
        assert_eq!(fields, vec!["id", "since", "status"]);
        let ok = FilterArgs {
            id: Some("3, 4".into()),
            code: Some("invalid_number".into()),
            ..Default::default()
        }
        .to_filter()
        .unwrap();
        assert_eq!(ok.ids, vec![3, 4]);
        assert_eq!(ok.error_code.as_deref(), Some("invalid_number"));
    }
}
