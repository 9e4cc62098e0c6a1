//! Where a retry goes: exponential backoff with jitter (or the provider's `Retry-After`),
//! rounded up to the smallest retry tier that is at least that long.

use std::time::Duration;

use switchyard_broker::QueuePolicy;
use switchyard_contract::Failure;

/// What to do with a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Republish to the retry tier with this delay.
    Retry(Duration),
    /// Park it: permanent, or out of attempts.
    Park,
}

/// Decides retry or park for `failure` on attempt number `attempt` (1-based).
pub fn decide(policy: &QueuePolicy, failure: &Failure, attempt: u32) -> Decision {
    let retryable = match failure {
        Failure::Retryable { .. }
        | Failure::RateLimited { .. }
        | Failure::OutcomeUnknown { .. } => true,
        Failure::Permanent { .. } => false,
    };
    if !retryable || attempt >= policy.max_attempts {
        return Decision::Park;
    }
    let delay = failure
        .retry_after()
        .unwrap_or_else(|| backoff(policy.retry_base, attempt));
    Decision::Retry(tier_for(&policy.retry_tiers, delay))
}

/// `base · 2^(attempt-1)`, with "equal jitter" (between half and all of it) so a burst of
/// failures does not come back as a burst.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let half = exp / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The smallest tier ≥ `delay`, or the largest tier when `delay` exceeds them all.
pub fn tier_for(tiers: &[Duration], delay: Duration) -> Duration {
    tiers
        .iter()
        .copied()
        .find(|t| *t >= delay)
        .unwrap_or_else(|| *tiers.last().expect("validated non-empty"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_broker::QueuesConfig;

    fn policy() -> QueuePolicy {
        let text = "[queues.sms]\nrouting_keys=[\"sms.send\"]\nmax_attempts=4\nretry_base=\"1s\"\nretry_tiers=[\"1s\",\"5s\",\"30s\"]\n";
        QueuesConfig::parse(text)
            .unwrap()
            .queues
            .remove("sms")
            .unwrap()
    }

    #[test]
    fn picks_the_smallest_tier_at_least_the_delay() {
        let tiers = policy().retry_tiers;
        assert_eq!(
            tier_for(&tiers, Duration::from_millis(300)),
            Duration::from_secs(1)
        );
        assert_eq!(
            tier_for(&tiers, Duration::from_secs(2)),
            Duration::from_secs(5)
        );
        assert_eq!(
            tier_for(&tiers, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(
            tier_for(&tiers, Duration::from_secs(600)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        for attempt in 1..=5 {
            let full = Duration::from_secs(1 << (attempt - 1));
            let d = backoff(Duration::from_secs(1), attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn tiers() -> impl Strategy<Value = Vec<Duration>> {
            proptest::collection::btree_set(1u64..3_600_000, 1..8)
                .prop_map(|set| set.into_iter().map(Duration::from_millis).collect())
        }

        proptest! {
            #[test]
            fn backoff_stays_within_its_jitter_band(base_ms in 1u64..10_000, attempt in 1u32..30) {
                let base = Duration::from_millis(base_ms);
                let full = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
                let d = backoff(base, attempt);
                prop_assert!(d >= full / 2 && d <= full, "{d:?} outside [{:?}, {full:?}]", full / 2);
            }

            #[test]
            fn the_band_never_shrinks_as_attempts_grow(base_ms in 1u64..10_000, attempt in 1u32..29) {
                let base = Duration::from_millis(base_ms);
                let upper = |a: u32| base.saturating_mul(1u32 << a.saturating_sub(1).min(20));
                prop_assert!(upper(attempt + 1) >= upper(attempt));
            }

            #[test]
            fn the_tier_is_the_smallest_at_least_the_delay_or_the_largest(tiers in tiers(), delay_ms in 0u64..7_200_000) {
                let delay = Duration::from_millis(delay_ms);
                let tier = tier_for(&tiers, delay);
                prop_assert!(tiers.contains(&tier));
                match tiers.iter().find(|t| **t >= delay) {
                    Some(smallest) => prop_assert_eq!(tier, *smallest),
                    None => prop_assert_eq!(tier, *tiers.last().unwrap()),
                }
            }

            #[test]
            fn retry_after_is_honoured_and_attempts_are_bounded(secs in 0u64..3_600, attempt in 1u32..12) {
                let p = policy();
                let hint = Duration::from_secs(secs);
                let limited = Failure::RateLimited { code: "x", retry_after: Some(hint) };
                match decide(&p, &limited, attempt) {
                    Decision::Retry(tier) => {
                        prop_assert!(attempt < p.max_attempts);
                        prop_assert!(tier >= hint || tier == *p.retry_tiers.last().unwrap());
                    }
                    Decision::Park => prop_assert!(attempt >= p.max_attempts),
                }
            }
        }
    }

    #[test]
    fn retry_after_wins_and_attempts_run_out() {
        let p = policy();
        let limited = Failure::RateLimited {
            code: "x",
            retry_after: Some(Duration::from_secs(20)),
        };
        assert_eq!(
            decide(&p, &limited, 1),
            Decision::Retry(Duration::from_secs(30))
        );
        let retry = Failure::Retryable {
            code: "x",
            retry_after: None,
        };
        assert!(matches!(decide(&p, &retry, 3), Decision::Retry(_)));
        assert_eq!(decide(&p, &retry, 4), Decision::Park);
        assert_eq!(
            decide(&p, &Failure::Permanent { code: "x" }, 1),
            Decision::Park
        );
    }
}
