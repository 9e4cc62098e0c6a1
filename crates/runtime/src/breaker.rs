//! The per-integration circuit breaker: `failsafe`'s state machine (consecutive failures, with
//! an open period that doubles up to a maximum), instrumented so its state drives the metrics
//! gauge and a watch channel the consumer loop listens to: when it opens, the worker stops
//! consuming, so messages wait in RabbitMQ instead of burning attempts.

use failsafe::failure_policy::{ConsecutiveFailures, consecutive_failures};
use failsafe::{Config, Instrument, StateMachine};
use std::time::Duration;

use switchyard_broker::BreakerPolicy;
use switchyard_telemetry::Metrics;
use switchyard_telemetry::metrics::TransitionLabels;
use tokio::sync::watch;

/// Breaker state as seen by the consumer loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// One probe is allowed.
    HalfOpen,
    /// The provider is considered down.
    Open,
}

impl BreakerState {
    fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

/// Feeds failsafe's transitions into metrics and the watch channel.
pub struct Observer {
    integration: String,
    metrics: Metrics,
    state: watch::Sender<BreakerState>,
}

impl Observer {
    fn transition(&self, to: BreakerState) {
        // failsafe reports "closed" once at construction; that is not a transition.
        if *self.state.borrow() == to {
            return;
        }
        let label = Metrics::integration(&self.integration);
        self.metrics
            .breaker_state
            .get_or_create(&label)
            .set(to.gauge());
        let t = TransitionLabels {
            integration: self.integration.clone(),
            to: to.label().into(),
        };
        self.metrics.breaker_transitions.get_or_create(&t).inc();
        self.state.send_replace(to);
        match to {
            BreakerState::Open => {
                tracing::warn!(integration = %self.integration, "circuit breaker opened: consuming paused")
            }
            BreakerState::HalfOpen => {
                tracing::info!(integration = %self.integration, "circuit breaker half open: probing")
            }
            BreakerState::Closed => {
                tracing::info!(integration = %self.integration, "circuit breaker closed: consuming resumes")
            }
        }
    }
}

impl Instrument for Observer {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        self.transition(BreakerState::Open);
    }
    fn on_half_open(&self) {
        self.transition(BreakerState::HalfOpen);
    }
    fn on_closed(&self) {
        self.transition(BreakerState::Closed);
    }
}

/// How long the breaker stays open: `open_for`, doubling after each failed probe up to
/// `open_max`. failsafe's own exponential backoff only takes whole seconds; tests (and fast
/// providers) want less.
#[derive(Clone, Debug)]
pub struct OpenPeriods {
    next: Duration,
    max: Duration,
}

impl Iterator for OpenPeriods {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (current * 2).min(self.max);
        Some(current)
    }
}

/// The breaker: failsafe's state machine plus a receiver of its state.
#[derive(Clone)]
pub struct Breaker {
    machine: StateMachine<ConsecutiveFailures<OpenPeriods>, Observer>,
    state: watch::Receiver<BreakerState>,
}

impl Breaker {
    /// A closed breaker for `integration` with `policy`.
    pub fn new(integration: &str, policy: &BreakerPolicy, metrics: Metrics) -> Self {
        let (tx, rx) = watch::channel(BreakerState::Closed);
        let observer = Observer {
            integration: integration.into(),
            metrics,
            state: tx,
        };
        let open = OpenPeriods {
            next: policy.open_for,
            max: policy.open_max.max(policy.open_for),
        };
        let machine = Config::new()
            .failure_policy(consecutive_failures(policy.consecutive_failures, open))
            .instrument(observer)
            .build();
        Breaker { machine, state: rx }
    }

    /// Whether a call may go ahead now (moves Open → HalfOpen once the open period passed).
    pub fn permits(&self) -> bool {
        self.machine.is_call_permitted()
    }

    /// Records a call that reached a healthy provider.
    pub fn success(&self) {
        self.machine.on_success();
    }

    /// Records a call that found the provider down.
    pub fn failure(&self) {
        self.machine.on_error();
    }

    /// The latest state.
    pub fn state(&self) -> BreakerState {
        *self.state.borrow()
    }

    /// A receiver that wakes on every transition.
    pub fn watch(&self) -> watch::Receiver<BreakerState> {
        self.state.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            open_for: Duration::from_millis(50),
            open_max: Duration::from_millis(200),
        }
    }

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_a_good_probe() {
        let metrics = Metrics::new();
        let b = Breaker::new("sms", &policy(), metrics.clone());
        for _ in 0..2 {
            b.failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.permits());
        std::thread::sleep(Duration::from_millis(80));
        assert!(b.permits());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        let text = metrics.encode();
        assert!(
            text.contains("switchyard_circuit_breaker_state{integration=\"sms\"} 0"),
            "{text}"
        );
        assert!(text.contains("to=\"open\"} 1"), "{text}");
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = Breaker::new("sms", &policy(), Metrics::new());
        b.failure();
        b.failure();
        b.success();
        b.failure();
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
