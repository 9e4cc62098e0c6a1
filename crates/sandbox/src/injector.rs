//! The live fault state: decides, request by request, whether the sandbox answers as the
//! provider would or with an injected failure.

use std::time::Duration;

use tokio::time::Instant;

use crate::faults::FaultConfig;

/// An injected failure, in place of the provider's normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Answer with this status and the matching Twilio error body.
    Status(u16),
    /// Answer 429 with `Retry-After` set to this many seconds.
    RateLimited {
        /// Seconds for the `Retry-After` header.
        retry_after_secs: u64,
    },
}

/// The current [`FaultConfig`] plus what it needs at run time (when the outage began).
#[derive(Debug)]
pub(crate) struct FaultState {
    config: FaultConfig,
    /// An outage's `seconds` count from the moment it was set, not from the first request,
    /// so "503 for 2 s" means the same thing however busy the sandbox is.
    set_at: Instant,
}

impl FaultState {
    /// Starts with `config`, set at `now`.
    pub(crate) fn new(config: FaultConfig, now: Instant) -> Self {
        Self {
            config,
            set_at: now,
        }
    }

    /// The configuration in force, with an expired outage already removed.
    pub(crate) fn config(&mut self, now: Instant) -> FaultConfig {
        self.expire_outage(now);
        self.config.clone()
    }

    /// Replaces every fault; a new outage starts counting at `now`.
    pub(crate) fn replace(&mut self, config: FaultConfig, now: Instant) {
        self.config = config;
        self.set_at = now;
    }

    /// The SMTP section, for the SMTP relays to consume their one-shot faults under the lock.
    pub(crate) fn smtp_mut(&mut self) -> &mut crate::smtp::SmtpFaults {
        &mut self.config.smtp
    }

    /// The latency to add before answering.
    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.config.latency_ms)
    }

    /// The fault for the request being answered at `now`, if any. `roll` is a uniform draw
    /// from `0.0..1.0`, passed in so the decision itself is deterministic.
    pub(crate) fn next_fault(&mut self, now: Instant, roll: f64) -> Option<Injected> {
        if !self.config.next_statuses.is_empty() {
            return Some(Injected::Status(self.config.next_statuses.remove(0)));
        }
        self.expire_outage(now);
        if let Some(outage) = &self.config.outage {
            return Some(Injected::Status(outage.status));
        }
        if let Some(limit) = &self.config.rate_limit {
            let retry_after_secs = limit.retry_after_secs;
            return Some(Injected::RateLimited { retry_after_secs });
        }
        (roll < self.config.error_rate).then_some(Injected::Status(500))
    }

    /// Clears an outage whose time is up, so `GET /_sandbox/faults` shows it ended.
    fn expire_outage(&mut self, now: Instant) {
        let Some(seconds) = self.config.outage.as_ref().and_then(|o| o.seconds) else {
            return;
        };
        if now >= self.set_at + Duration::from_secs(seconds) {
            self.config.outage = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Outage, RateLimit};

    fn state(config: FaultConfig) -> (FaultState, Instant) {
        let now = Instant::now();
        (FaultState::new(config, now), now)
    }

    #[test]
    fn no_faults_means_no_injection() {
        let (mut faults, now) = state(FaultConfig::default());
        assert_eq!(faults.next_fault(now, 0.0), None);
        assert_eq!(faults.latency(), Duration::ZERO);
    }

    #[test]
    fn next_statuses_are_consumed_in_order_before_other_faults() {
        let config = FaultConfig {
            next_statuses: vec![503, 502],
            rate_limit: Some(RateLimit {
                retry_after_secs: 7,
            }),
            ..FaultConfig::default()
        };
        let (mut faults, now) = state(config);
        assert_eq!(faults.next_fault(now, 0.9), Some(Injected::Status(503)));
        assert_eq!(faults.next_fault(now, 0.9), Some(Injected::Status(502)));
        let limited = Injected::RateLimited {
            retry_after_secs: 7,
        };
        assert_eq!(faults.next_fault(now, 0.9), Some(limited));
        assert!(faults.config(now).next_statuses.is_empty());
    }

    #[test]
    fn outage_ends_after_its_seconds() {
        let outage = Outage {
            status: 503,
            seconds: Some(2),
        };
        let config = FaultConfig {
            outage: Some(outage),
            ..FaultConfig::default()
        };
        let (mut faults, start) = state(config);
        let during = start + Duration::from_millis(1999);
        assert_eq!(faults.next_fault(during, 0.9), Some(Injected::Status(503)));
        let after = start + Duration::from_secs(2);
        assert_eq!(faults.next_fault(after, 0.9), None);
        assert_eq!(faults.config(after).outage, None);
    }

    #[test]
    fn outage_without_seconds_lasts_until_replaced() {
        let outage = Outage {
            status: 502,
            seconds: None,
        };
        let config = FaultConfig {
            outage: Some(outage),
            ..FaultConfig::default()
        };
        let (mut faults, start) = state(config);
        let much_later = start + Duration::from_secs(86_400);
        assert_eq!(
            faults.next_fault(much_later, 0.9),
            Some(Injected::Status(502))
        );
        faults.replace(FaultConfig::default(), much_later);
        assert_eq!(faults.next_fault(much_later, 0.9), None);
    }

    #[test]
    fn error_rate_fires_below_the_rate_only() {
        let config = FaultConfig {
            error_rate: 0.25,
            ..FaultConfig::default()
        };
        let (mut faults, now) = state(config);
        assert_eq!(faults.next_fault(now, 0.1), Some(Injected::Status(500)));
        assert_eq!(faults.next_fault(now, 0.25), None);
        let (mut always, now) = state(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        });
        assert_eq!(
            always.next_fault(now, 0.999_999),
            Some(Injected::Status(500))
        );
    }
}
