//! Every metric Switchyard exports, in one place so names and labels stay consistent.
//!
//! Names follow `switchyard_<what>_<unit>[_total]`. Labels are bounded: integration, queue,
//! outcome, error class and code, provider, status class, route. Never ids, tenants, URLs or
//! error text — those belong in logs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label: one integration (`sms`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrationLabel {
    /// Integration name.
    pub integration: String,
}

/// Labels: integration and outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Integration name.
    pub integration: String,
    /// `succeeded`, `retried`, `parked`, `duplicate`.
    pub outcome: String,
}

/// Labels: integration, error class and code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Integration name.
    pub integration: String,
    /// `retryable`, `rate_limited`, `permanent`.
    pub class: String,
    /// Bounded error code.
    pub code: String,
}

/// Labels: provider and HTTP status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    /// Provider (`twilio`).
    pub provider: String,
    /// `2xx`, `4xx`, `5xx`, or `error` when no response arrived.
    pub status_class: String,
}

/// Label: a dependency a process's readiness depends on.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabel {
    /// `rabbitmq`, `postgres`.
    pub dependency: String,
}

/// Labels: breaker transition target state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// Integration name.
    pub integration: String,
    /// `closed`, `half_open`, `open`.
    pub to: String,
}

/// Label: a RabbitMQ queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// Queue name.
    pub queue: String,
}

/// Labels: ingress route (the matched pattern, never the raw path) and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Matched route pattern.
    pub route: String,
    /// HTTP status code.
    pub status: String,
}

/// Label: the encoding an SMS went out in (`gsm7` or `ucs2`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SmsEncodingLabel {
    /// `gsm7` or `ucs2`.
    pub encoding: String,
}

/// Labels: a webhook provider kind and what became of the request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// Provider kind (`stripe`, `paypal`, `zoom`, `graph`, `hmac`, `standard`, `twilio`), or
    /// `unknown` for a path no source is configured for (never the path itself).
    pub provider: String,
    /// `accepted`, `duplicate`, `handshake`, `bad_signature`, `stale`, `malformed`,
    /// `unknown_source`, `unavailable`.
    pub result: String,
}

/// Label: ingress route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Matched route pattern.
    pub route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s: covers a provider call and a confirm alike.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn end_to_end_histogram() -> Histogram {
    // 5 ms … ~45 min: end-to-end latency includes retry tiers.
    Histogram::new(exponential_buckets(0.005, 2.5, 15))
}

/// All metric handles. Cheap to clone (every field is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    /// Deliveries taken from a work queue.
    pub messages_received: Family<IntegrationLabel, Counter>,
    /// Deliveries finished, by outcome.
    pub messages_finished: Family<OutcomeLabels, Counter>,
    /// Handler duration.
    pub handler_duration: HistogramFamily<IntegrationLabel>,
    /// Now minus the envelope's `occurred_at`, at success.
    pub end_to_end_latency: HistogramFamily<IntegrationLabel>,
    /// Handler errors by class and code.
    pub errors: Family<ErrorLabels, Counter>,
    /// Provider HTTP requests by status class.
    pub provider_requests: Family<ProviderLabels, Counter>,
    /// Breaker state: 0 closed, 1 half open, 2 open.
    pub breaker_state: Family<IntegrationLabel, Gauge>,
    /// Breaker transitions.
    pub breaker_transitions: Family<TransitionLabels, Counter>,
    /// Times a delivery waited for the rate limiter.
    pub rate_limit_waits: Family<IntegrationLabel, Counter>,
    /// 1 while the worker consumes its queue, 0 while paused (breaker open, reconnecting).
    pub consumer_active: Family<IntegrationLabel, Gauge>,
    /// Ready messages per queue, polled.
    pub queue_depth: Family<QueueLabel, Gauge>,
    /// Ingress requests by route and status.
    pub ingress_requests: Family<RouteLabels, Counter>,
    /// Ingress request duration by route.
    pub ingress_duration: HistogramFamily<RouteLabel>,
    /// Time from publish to broker confirm.
    pub publish_confirm: Histogram,
    /// 1 while connected to RabbitMQ.
    pub broker_connected: Gauge,
    /// Successful reconnections to RabbitMQ.
    pub broker_reconnects: Counter,
    /// 1 when the dependency passed this process's readiness check at the last scrape.
    pub dependency_up: Family<DependencyLabel, Gauge>,
    /// Dead letters parked in Postgres, by integration (polled).
    pub dead_letters_parked: Family<IntegrationLabel, Gauge>,
    /// Dead letters ingested from the parking queues.
    pub dead_letters_ingested: Family<IntegrationLabel, Counter>,
    /// Dead letters replayed (including edit-and-replay).
    pub dead_letters_replayed: Family<IntegrationLabel, Counter>,
    /// Dead letters purged.
    pub dead_letters_purged: Counter,
    /// SMS parts sent, by encoding: what the provider bills.
    pub sms_segments: Family<SmsEncodingLabel, Counter>,
    /// Provider webhooks received, by provider kind and result.
    pub webhooks: Family<WebhookLabels, Counter>,
    /// Provider events the payments worker took, by provider and result (applied, unchanged,
    /// ignored).
    pub payment_events: Family<WebhookLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let m = Metrics {
            registry: Arc::default(),
            messages_received: Family::default(),
            messages_finished: Family::default(),
            handler_duration: Family::new_with_constructor(latency_histogram),
            end_to_end_latency: Family::new_with_constructor(end_to_end_histogram),
            errors: Family::default(),
            provider_requests: Family::default(),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            rate_limit_waits: Family::default(),
            consumer_active: Family::default(),
            queue_depth: Family::default(),
            ingress_requests: Family::default(),
            ingress_duration: Family::new_with_constructor(latency_histogram),
            publish_confirm: latency_histogram(),
            broker_connected: Gauge::default(),
            broker_reconnects: Counter::default(),
            dependency_up: Family::default(),
            dead_letters_parked: Family::default(),
            dead_letters_ingested: Family::default(),
            dead_letters_replayed: Family::default(),
            dead_letters_purged: Counter::default(),
            sms_segments: Family::default(),
            webhooks: Family::default(),
            payment_events: Family::default(),
        };
        m.register_all();
        m
    }

    fn register_all(&self) {
        let mut r = self
            .registry
            .lock()
            .expect("metrics registry lock poisoned");
        let s = &mut *r;
        s.register(
            "switchyard_messages_received",
            "Deliveries taken from a work queue",
            self.messages_received.clone(),
        );
        s.register(
            "switchyard_messages_finished",
            "Deliveries finished, by outcome",
            self.messages_finished.clone(),
        );
        s.register(
            "switchyard_handler_duration_seconds",
            "Handler duration",
            self.handler_duration.clone(),
        );
        s.register(
            "switchyard_end_to_end_latency_seconds",
            "Time from occurred_at to successful delivery",
            self.end_to_end_latency.clone(),
        );
        s.register(
            "switchyard_errors",
            "Handler errors by class and code",
            self.errors.clone(),
        );
        s.register(
            "switchyard_provider_requests",
            "Provider HTTP requests by status class",
            self.provider_requests.clone(),
        );
        s.register(
            "switchyard_circuit_breaker_state",
            "Circuit breaker state (0 closed, 1 half open, 2 open)",
            self.breaker_state.clone(),
        );
        s.register(
            "switchyard_circuit_breaker_transitions",
            "Circuit breaker state transitions",
            self.breaker_transitions.clone(),
        );
        s.register(
            "switchyard_rate_limit_waits",
            "Deliveries that waited for the rate limiter",
            self.rate_limit_waits.clone(),
        );
        s.register(
            "switchyard_consumer_active",
            "1 while the worker consumes its queue",
            self.consumer_active.clone(),
        );
        s.register(
            "switchyard_queue_depth_messages",
            "Messages ready in a queue (polled)",
            self.queue_depth.clone(),
        );
        s.register(
            "switchyard_ingress_requests",
            "Ingress HTTP requests by route and status",
            self.ingress_requests.clone(),
        );
        s.register(
            "switchyard_ingress_request_duration_seconds",
            "Ingress request duration",
            self.ingress_duration.clone(),
        );
        s.register(
            "switchyard_publish_confirm_duration_seconds",
            "Time from publish to broker confirm",
            self.publish_confirm.clone(),
        );
        s.register(
            "switchyard_broker_connected",
            "1 while connected to RabbitMQ",
            self.broker_connected.clone(),
        );
        s.register(
            "switchyard_broker_reconnects",
            "Reconnections to RabbitMQ",
            self.broker_reconnects.clone(),
        );
        s.register(
            "switchyard_dependency_up",
            "1 when the dependency passed this process's readiness check at the last scrape, 0 when not",
            self.dependency_up.clone(),
        );
        s.register(
            "switchyard_dead_letters_parked",
            "Dead letters parked in Postgres (polled)",
            self.dead_letters_parked.clone(),
        );
        s.register(
            "switchyard_dead_letters_ingested",
            "Dead letters ingested from parking queues",
            self.dead_letters_ingested.clone(),
        );
        s.register(
            "switchyard_dead_letters_replayed",
            "Dead letters replayed",
            self.dead_letters_replayed.clone(),
        );
        s.register(
            "switchyard_dead_letters_purged",
            "Dead letters purged",
            self.dead_letters_purged.clone(),
        );
        s.register(
            "switchyard_sms_segments",
            "SMS parts sent, by encoding (gsm7: 160/153 characters a part, ucs2: 70/67)",
            self.sms_segments.clone(),
        );
        s.register(
            "switchyard_webhooks",
            "Provider webhooks received, by provider kind and result (bad_signature, stale, …)",
            self.webhooks.clone(),
        );
        s.register(
            "switchyard_payment_events",
            "Provider events taken by the payments worker, by provider and result (applied: the payment or subscription moved; unchanged: nothing new; ignored: a type it does not handle)",
            self.payment_events.clone(),
        );
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .expect("metrics registry lock poisoned");
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts one provider HTTP exchange; `status` is `None` when no response arrived.
    pub fn provider_request(&self, provider: &str, status: Option<u16>) {
        let status_class = match status {
            Some(s) => format!("{}xx", s / 100),
            None => "error".to_owned(),
        };
        self.provider_requests
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
                status_class,
            })
            .inc();
    }

    /// Counts one provider webhook; `provider` must be a provider kind, never a path segment.
    pub fn webhook(&self, provider: &str, result: &str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                provider: provider.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts one provider event taken by the payments worker; `result` is one of `applied`,
    /// `unchanged`, `ignored`.
    pub fn payment_event(&self, provider: &str, result: &str) {
        self.payment_events
            .get_or_create(&WebhookLabels {
                provider: provider.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Records one ingress request.
    pub fn ingress_request(&self, route: &str, status: u16, elapsed: Duration) {
        let labels = RouteLabels {
            route: route.to_owned(),
            status: status.to_string(),
        };
        self.ingress_requests.get_or_create(&labels).inc();
        self.ingress_duration
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Label value helper.
    pub fn integration(name: &str) -> IntegrationLabel {
        IntegrationLabel {
            integration: name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_with_total_suffix_and_no_unbounded_labels() {
        let m = Metrics::new();
        m.messages_received
            .get_or_create(&Metrics::integration("sms"))
            .inc();
        m.provider_request("twilio", Some(503));
        m.provider_request("twilio", None);
        m.handler_duration
            .get_or_create(&Metrics::integration("sms"))
            .observe(0.2);
        let text = m.encode();
        assert!(
            text.contains("switchyard_messages_received_total{integration=\"sms\"} 1"),
            "{text}"
        );
        assert!(text.contains("status_class=\"5xx\""), "{text}");
        assert!(text.contains("status_class=\"error\""), "{text}");
        assert!(
            text.contains("# TYPE switchyard_handler_duration_seconds histogram"),
            "{text}"
        );
    }
}
