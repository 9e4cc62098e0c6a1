//! `queues.toml`: the topology and the per-integration policies (prefetch, concurrency,
//! timeout, retry schedule, rate limit, circuit breaker), typed and validated at load.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::BrokerError;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuesConfig {
    /// Prefix for every exchange and queue name (`<namespace>.<name>`); empty for none.
    /// Lets several deployments (or parallel tests) share one broker without colliding.
    #[serde(default)]
    pub namespace: String,
    /// The two exchanges.
    #[serde(default)]
    pub exchanges: Exchanges,
    /// One entry per integration, keyed by the integration's name.
    pub queues: BTreeMap<String, QueuePolicy>,
}

/// Exchange names (before the namespace prefix).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchanges {
    /// Topic exchange publishers use; the routing key is the message type.
    pub main: String,
    /// Direct exchange the work queues dead-letter to; parking queues bind to it.
    pub dead_letter: String,
}

impl Default for Exchanges {
    fn default() -> Self {
        Self {
            main: "switchyard".into(),
            dead_letter: "switchyard.dead-letter".into(),
        }
    }
}

/// One integration's queue and policies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuePolicy {
    /// Message types (routing keys) bound to the work queue, e.g. `["sms.send"]`.
    pub routing_keys: Vec<String>,
    /// Unacknowledged deliveries the broker may push at once.
    #[serde(default = "defaults::prefetch")]
    pub prefetch: u16,
    /// Handlers running at once.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// A handler taking longer is cancelled and retried.
    #[serde(default = "defaults::handler_timeout", deserialize_with = "duration")]
    pub handler_timeout: Duration,
    /// Broker-side poison guard: deliveries (including redeliveries after crashes) before the
    /// broker itself dead-letters a message. Set above `max_attempts`: retries are republished
    /// copies and do not count here, so this only trips on messages that crash workers.
    #[serde(default = "defaults::delivery_limit")]
    pub delivery_limit: u32,
    /// Attempts before a retryable error is parked.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Delays of the retry-tier queues, ascending. A retry goes to the smallest tier that is at
    /// least the computed delay (or the largest tier).
    #[serde(default = "defaults::retry_tiers", deserialize_with = "durations")]
    pub retry_tiers: Vec<Duration>,
    /// First retry delay; doubled per attempt, with jitter, capped by the largest tier.
    #[serde(default = "defaults::retry_base", deserialize_with = "duration")]
    pub retry_base: Duration,
    /// Token bucket for provider calls.
    #[serde(default)]
    pub rate_limit: RateLimitPolicy,
    /// When to stop consuming because the provider is down.
    #[serde(default)]
    pub circuit_breaker: BreakerPolicy,
}

/// Token bucket.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Sustained calls per second.
    pub per_second: u32,
    /// Calls allowed in a burst.
    pub burst: u32,
}

impl Default for RateLimitPolicy {
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 50,
        }
    }
}

/// Circuit breaker.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerPolicy {
    /// Consecutive retryable failures that open the breaker.
    pub consecutive_failures: u32,
    /// How long it stays open before the first probe.
    #[serde(deserialize_with = "duration")]
    pub open_for: Duration,
    /// Longest open period after repeated failed probes (it doubles up to this).
    #[serde(deserialize_with = "duration")]
    pub open_max: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            open_for: Duration::from_secs(10),
            open_max: Duration::from_secs(120),
        }
    }
}

mod defaults {
    use std::time::Duration;
    pub fn prefetch() -> u16 {
        32
    }
    pub fn concurrency() -> usize {
        16
    }
    pub fn handler_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn delivery_limit() -> u32 {
        20
    }
    pub fn max_attempts() -> u32 {
        8
    }
    pub fn retry_base() -> Duration {
        Duration::from_secs(1)
    }
    pub fn retry_tiers() -> Vec<Duration> {
        [1, 5, 30, 120, 600, 1800].map(Duration::from_secs).to_vec()
    }
}

impl QueuesConfig {
    /// Parses and validates the text of a `queues.toml`.
    pub fn parse(text: &str) -> Result<Self, BrokerError> {
        let config: QueuesConfig =
            toml::from_str(text).map_err(|e| BrokerError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, BrokerError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BrokerError::Config(format!(
                "cannot read {}: {e}; pass --queues PATH or set SWITCHYARD_QUEUES",
                path.display()
            ))
        })?;
        // `parse` only ever fails with `Config`; prefix it with the file name.
        Self::parse(&text).map_err(|e| BrokerError::Config(format!("{}: {e}", path.display())))
    }

    /// The policy of `integration`, if it has a queue.
    pub fn policy(&self, integration: &str) -> Option<&QueuePolicy> {
        self.queues.get(integration)
    }

    fn validate(&self) -> Result<(), BrokerError> {
        if self.queues.is_empty() {
            return Err(BrokerError::Config("no [queues.<name>] entries".into()));
        }
        for (name, q) in &self.queues {
            q.validate()
                .map_err(|m| BrokerError::Config(format!("[queues.{name}] {m}")))?;
        }
        Ok(())
    }
}

impl QueuePolicy {
    fn validate(&self) -> Result<(), String> {
        if self.routing_keys.is_empty() {
            return Err("routing_keys must list at least one message type".into());
        }
        if self.prefetch == 0 || self.concurrency == 0 {
            return Err("prefetch and concurrency must be at least 1".into());
        }
        if self.concurrency > usize::from(self.prefetch) {
            return Err(format!(
                "concurrency ({}) cannot exceed prefetch ({}): the extra handlers would idle",
                self.concurrency, self.prefetch
            ));
        }
        if self.max_attempts == 0 || self.delivery_limit == 0 {
            return Err("max_attempts and delivery_limit must be at least 1".into());
        }
        if self.retry_tiers.is_empty() || self.retry_tiers.windows(2).any(|w| w[0] >= w[1]) {
            return Err("retry_tiers must be a non-empty, strictly ascending list".into());
        }
        if self.retry_tiers.iter().any(|d| d.as_millis() == 0) {
            return Err("retry_tiers must be longer than 0ms".into());
        }
        if self.rate_limit.per_second == 0 || self.rate_limit.burst == 0 {
            return Err("rate_limit.per_second and rate_limit.burst must be at least 1".into());
        }
        if self.circuit_breaker.consecutive_failures == 0 {
            return Err("circuit_breaker.consecutive_failures must be at least 1".into());
        }
        Ok(())
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 5s"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1_000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("`{text}`: use a unit of ms, s, m or h (e.g. 30s)")),
    };
    Ok(Duration::from_millis(ms))
}

/// Formats a duration the way `parse_duration` reads it (used in retry-tier queue names).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| parse_duration(t).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[queues.sms]\nrouting_keys = [\"sms.send\"]\n";

    #[test]
    fn defaults_fill_what_is_not_given() {
        let c = QueuesConfig::parse(MINIMAL).unwrap();
        let sms = c.policy("sms").unwrap();
        assert_eq!(sms.prefetch, 32);
        assert_eq!(sms.retry_tiers.len(), 6);
        assert_eq!(c.exchanges.main, "switchyard");
    }

    #[test]
    fn durations_round_trip() {
        for text in ["250ms", "5s", "2m", "1h"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn bad_files_say_what_to_fix() {
        let cases = [
            (
                "[queues.sms]\nrouting_keys = []\n",
                "[queues.sms] routing_keys",
            ),
            (
                "[queues.sms]\nrouting_keys=[\"sms.send\"]\nretry_tiers=[\"5s\",\"1s\"]\n",
                "ascending",
            ),
            (
                "[queues.sms]\nrouting_keys=[\"sms.send\"]\nprefetch=2\nconcurrency=4\n",
                "cannot exceed",
            ),
            (
                "[queues.sms]\nrouting_keys=[\"sms.send\"]\nprefetch_count=2\n",
                "unknown field",
            ),
            (
                "[queues.sms]\nrouting_keys=[\"sms.send\"]\nhandler_timeout=\"5 min\"\n",
                "unit",
            ),
            ("namespace = \"x\"\n", "queues"),
        ];
        for (text, expected) in cases {
            let err = QueuesConfig::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?} gave {err}");
        }
    }
}
