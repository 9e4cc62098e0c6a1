//! Fault configuration: what can go wrong on purpose, and the checks that keep a typo from
//! silently injecting nothing (or everything).

use serde::{Deserialize, Serialize};

/// The faults the sandbox injects into provider requests (never into `/_sandbox` or
/// `/healthz`). The default injects nothing.
///
/// They are checked after authentication, in field order: `latency_ms`, then
/// `next_statuses`, `outage`, `rate_limit` and `error_rate`; the first that fires answers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Share of provider requests answered 500, from 0.0 (none) to 1.0 (all).
    pub error_rate: f64,
    /// Milliseconds added before answering each provider request, to exercise timeouts.
    pub latency_ms: u64,
    /// Statuses (400..=599) for the next provider requests, one consumed per request, in
    /// order: `[503, 503]` fails two calls, then the sandbox behaves again.
    pub next_statuses: Vec<u16>,
    /// Every provider request is answered with the outage's status until it ends.
    pub outage: Option<Outage>,
    /// Every provider request is answered 429 with `Retry-After`.
    pub rate_limit: Option<RateLimit>,
    /// The status the callbacks end with: `delivered` (when `None`), `undelivered` or
    /// `failed`. Read when a message is created, so changing it later does not affect
    /// messages already accepted.
    pub final_status: Option<String>,
    /// Faults of the SMTP relays (see [`crate::SmtpFaults`]).
    pub smtp: crate::smtp::SmtpFaults,
}

/// A provider outage: every request fails with `status` for a while.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Status every request gets during the outage (400..=599), typically 503.
    pub status: u16,
    /// How long the outage lasts from the moment it is set; `None` lasts until cleared.
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// Provider-side rate limiting: every request is answered 429.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Value of the `Retry-After` header, in seconds.
    pub retry_after_secs: u64,
}

/// A fault configuration that cannot be applied, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FaultError {
    /// The offending field, e.g. `error_rate` or `next_statuses[1]`.
    pub field: String,
    /// What is wrong with it and what is accepted instead.
    pub reason: String,
}

impl FaultError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl FaultConfig {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), FaultError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            let got = self.error_rate;
            return Err(FaultError::new(
                "error_rate",
                format!("must be between 0.0 and 1.0, got {got}"),
            ));
        }
        for (i, status) in self.next_statuses.iter().enumerate() {
            check_error_status(&format!("next_statuses[{i}]"), *status)?;
        }
        if let Some(outage) = &self.outage {
            check_error_status("outage.status", outage.status)?;
        }
        FinalStatus::parse(self.final_status.as_deref())?;
        self.smtp.validate()?;
        Ok(())
    }
}

/// Injected statuses are errors: a 2xx without a created message would lie to the worker.
fn check_error_status(field: &str, status: u16) -> Result<(), FaultError> {
    if (400..=599).contains(&status) {
        return Ok(());
    }
    Err(FaultError::new(
        field,
        format!("must be an error status between 400 and 599, got {status}"),
    ))
}

/// Where a message's status callbacks end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinalStatus {
    Delivered,
    Undelivered,
    Failed,
}

impl FinalStatus {
    /// Parses [`FaultConfig::final_status`]; `None` means delivered.
    pub(crate) fn parse(value: Option<&str>) -> Result<Self, FaultError> {
        match value {
            None | Some("delivered") => Ok(Self::Delivered),
            Some("undelivered") => Ok(Self::Undelivered),
            Some("failed") => Ok(Self::Failed),
            Some(other) => Err(FaultError::new(
                "final_status",
                format!("must be \"delivered\", \"undelivered\" or \"failed\", got {other:?}"),
            )),
        }
    }

    /// Twilio's `MessageStatus` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
        }
    }

    /// The `ErrorCode` Twilio reports with this status: 30003 "Unreachable destination
    /// handset" and 30008 "Unknown error" are the ones real deliveries most often end with.
    pub(crate) fn error_code(self) -> Option<&'static str> {
        match self {
            Self::Delivered => None,
            Self::Undelivered => Some("30003"),
            Self::Failed => Some("30008"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: &FaultConfig) -> String {
        config
            .validate()
            .expect_err("config should be invalid")
            .field
    }

    #[test]
    fn default_injects_nothing_and_is_valid() {
        let config = FaultConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert!(config.next_statuses.is_empty() && config.outage.is_none());
    }

    #[test]
    fn rejects_out_of_range_values_naming_the_field() {
        let rate = FaultConfig {
            error_rate: 1.5,
            ..FaultConfig::default()
        };
        assert_eq!(field_of(&rate), "error_rate");
        let nan = FaultConfig {
            error_rate: f64::NAN,
            ..FaultConfig::default()
        };
        assert_eq!(field_of(&nan), "error_rate");
        let next = FaultConfig {
            next_statuses: vec![503, 200],
            ..FaultConfig::default()
        };
        assert_eq!(field_of(&next), "next_statuses[1]");
        let outage = Outage {
            status: 99,
            seconds: None,
        };
        let outage = FaultConfig {
            outage: Some(outage),
            ..FaultConfig::default()
        };
        assert_eq!(field_of(&outage), "outage.status");
        let fin = FaultConfig {
            final_status: Some("lost".into()),
            ..FaultConfig::default()
        };
        assert_eq!(field_of(&fin), "final_status");
    }

    #[test]
    fn deserializes_partial_json_and_rejects_unknown_fields() {
        let json = r#"{"outage":{"status":503},"rate_limit":{"retry_after_secs":2}}"#;
        let config: FaultConfig = serde_json::from_str(json).expect("valid fault JSON");
        assert_eq!(
            config.outage,
            Some(Outage {
                status: 503,
                seconds: None
            })
        );
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                retry_after_secs: 2
            })
        );
        assert_eq!(config.error_rate, 0.0);
        let err = serde_json::from_str::<FaultConfig>(r#"{"eror_rate":1}"#).expect_err("typo");
        assert!(err.to_string().contains("eror_rate"), "{err}");
    }

    #[test]
    fn final_status_error_codes_follow_twilio() {
        assert_eq!(FinalStatus::parse(None), Ok(FinalStatus::Delivered));
        assert_eq!(FinalStatus::Delivered.error_code(), None);
        assert_eq!(FinalStatus::Undelivered.error_code(), Some("30003"));
        assert_eq!(FinalStatus::Failed.as_str(), "failed");
        assert_eq!(FinalStatus::Failed.error_code(), Some("30008"));
    }
}
