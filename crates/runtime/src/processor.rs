//! One delivery, start to finish: decode → breaker gate → idempotency claim → rate limit →
//! handler (with timeout, panics caught) → classify → ack, or retry / park (confirmed
//! republish first, ack after) → delivery log.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use switchyard_broker::{QueuePolicy, Topology, bounded};
use switchyard_contract::{Classify, DeliveryContext, Done, Envelope, Failure, Outcome, Worker};
use switchyard_store::{Claim, DeliveryStatus, DeliveryUpdate, NewAttempt};
use switchyard_telemetry::Metrics;
use switchyard_telemetry::metrics::{ErrorLabels, IntegrationLabel, OutcomeLabels};
use tracing::Instrument;

use crate::RuntimeContext;
use crate::breaker::Breaker;
use crate::incoming::{self, Incoming};
use crate::reroute::Rerouter;
use crate::retry::{self, Decision};

/// A failure with its human-readable detail (masked by the worker's `Display`).
pub(crate) struct Failed {
    pub failure: Failure,
    pub detail: String,
    /// Whether the failure counts against the circuit breaker: the failure's own answer,
    /// unless the worker's error says otherwise ([`Classify::trips_breaker`]).
    pub trips_breaker: bool,
}

impl Failed {
    /// A failure the runtime itself decided; it trips the breaker as its class says.
    fn new(failure: Failure, detail: String) -> Self {
        Failed {
            trips_breaker: failure.indicates_outage(),
            failure,
            detail,
        }
    }

    /// A failure the worker returned, classified by the worker.
    fn of<E: Classify + std::fmt::Display>(error: &E, prefix: &str) -> Self {
        Failed {
            failure: error.classify(),
            detail: format!("{prefix}{error}"),
            trips_breaker: error.trips_breaker(),
        }
    }
}

/// What the idempotency claim allows.
enum Gate {
    /// First attempt for this key (or the last one failed cleanly): handle it.
    Proceed,
    /// An earlier attempt died mid-way after this time: reconcile before handling.
    Resume(chrono::DateTime<Utc>),
    /// Nothing to do (already succeeded).
    Settled(Settle),
}

/// How the delivery leaves the runtime.
enum Settle {
    Ack(Outcome),
    /// Put back in the queue untouched (the breaker opened, or the broker is unreachable for a
    /// republish); not an attempt.
    Requeue,
}

/// Processes deliveries for worker `W`. Shared by all concurrent handlers of the queue.
pub(crate) struct Processor<W: Worker> {
    worker: Arc<W>,
    policy: QueuePolicy,
    ctx: RuntimeContext,
    rerouter: Rerouter,
    pub(crate) breaker: Breaker,
    limiter: DefaultDirectRateLimiter,
    label: IntegrationLabel,
}

impl<W: Worker> Processor<W> {
    pub(crate) fn new(
        worker: Arc<W>,
        policy: QueuePolicy,
        topology: Topology,
        ctx: RuntimeContext,
    ) -> Self {
        let rate = &policy.rate_limit;
        let quota = Quota::per_second(rate.per_second.try_into().expect("validated ≥ 1"))
            .allow_burst(rate.burst.try_into().expect("validated ≥ 1"));
        Processor {
            breaker: Breaker::new(W::NAME, &policy.circuit_breaker, ctx.metrics.clone()),
            rerouter: Rerouter::new(W::NAME, topology, ctx.publisher.clone()),
            limiter: RateLimiter::direct(quota),
            label: Metrics::integration(W::NAME),
            worker,
            policy,
            ctx,
        }
    }

    /// Handles `delivery` and settles it with the broker.
    pub(crate) async fn process(&self, delivery: Delivery) {
        self.ctx
            .metrics
            .messages_received
            .get_or_create(&self.label)
            .inc();
        let incoming = Incoming::read(&delivery);
        let span = tracing::info_span!(
            "delivery",
            integration = W::NAME,
            message_id = incoming.message_id.as_deref().unwrap_or("?"),
            attempt = incoming.attempt,
            message_type = tracing::field::Empty,
            correlation_id = tracing::field::Empty,
        );
        // Instrumented, never entered: a span guard held across an `.await` leaks into whatever
        // else runs on the thread meanwhile, and tracing then panics on the closed span (that
        // killed deliveries mid-flight and stranded them unacked).
        async {
            let settle = self.settle(&delivery, &incoming).await;
            self.finish(&delivery, settle).await;
        }
        .instrument(span)
        .await;
    }

    /// Tells the broker what became of `delivery`.
    async fn finish(&self, delivery: &Delivery, settle: Settle) {
        let result = match settle {
            Settle::Ack(outcome) => {
                let labels = OutcomeLabels {
                    integration: W::NAME.into(),
                    outcome: outcome.as_str().into(),
                };
                self.ctx
                    .metrics
                    .messages_finished
                    .get_or_create(&labels)
                    .inc();
                tracing::info!(outcome = outcome.as_str(), "delivery finished");
                let ack = delivery.ack(BasicAckOptions::default());
                bounded("acknowledging a delivery", ack).await
            }
            Settle::Requeue => {
                let nack = delivery.nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                });
                bounded("returning a delivery", nack).await
            }
        };
        // Bounded: an ack sent just as the connection died can wait forever for an I/O loop
        // that is gone, and the consumer waits for this task before it resubscribes.
        let failed = match result {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(error) = failed {
            // The channel is gone; the broker redelivers, and idempotency absorbs the repeat.
            tracing::warn!(%error, "could not settle the delivery; it will be redelivered");
        }
    }

    async fn settle(&self, delivery: &Delivery, incoming: &Incoming) -> Settle {
        let (envelope, job) = match incoming::decode::<W::Job>(&delivery.data) {
            Ok(decoded) => decoded,
            Err(error) => {
                let failed = Failed::new(
                    Failure::Permanent {
                        code: "decode_failed",
                    },
                    error.to_string(),
                );
                self.count_error(&failed.failure);
                return self.park(delivery, incoming, None, failed).await;
            }
        };
        let span = tracing::Span::current();
        span.record("message_type", envelope.message_type.as_str());
        span.record(
            "correlation_id",
            envelope.correlation_id.as_deref().unwrap_or(""),
        );
        if !self.breaker.permits() {
            return Settle::Requeue;
        }
        let ctx = delivery_context(&envelope, incoming.attempt);
        if self.worker.has_side_effect(&job) {
            let gate = match self.claim(&envelope, &ctx).await {
                Ok(gate) => gate,
                Err(failed) => {
                    return self
                        .fail(delivery, incoming, &envelope, failed, Duration::ZERO)
                        .await;
                }
            };
            match gate {
                Gate::Proceed => {}
                Gate::Settled(settle) => return settle,
                Gate::Resume(since) => match self.reconcile(&job, &ctx, since).await {
                    Ok(None) => {}
                    Ok(Some(done)) => {
                        tracing::info!(
                            "the interrupted attempt had succeeded at the provider; not repeating it"
                        );
                        return self
                            .succeed(&envelope, &ctx, done, Duration::ZERO, true)
                            .await;
                    }
                    // The claim is kept: the retry finds it taken and reconciles again later.
                    Err(failed) => {
                        return self
                            .fail(delivery, incoming, &envelope, failed, Duration::ZERO)
                            .await;
                    }
                },
            }
        }
        self.run(delivery, incoming, &envelope, job, ctx).await
    }

    /// Asks the worker whether an attempt that died mid-way had its side effect after all.
    async fn reconcile(
        &self,
        job: &W::Job,
        ctx: &DeliveryContext,
        since: chrono::DateTime<Utc>,
    ) -> Result<Option<Done>, Failed> {
        match tokio::time::timeout(
            self.policy.handler_timeout,
            self.worker.reconcile(job, ctx, since),
        )
        .await
        {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(error)) => Err(Failed::of(&error, "reconciling: ")),
            Err(_) => Err(Failed::new(
                Failure::Retryable {
                    code: "reconcile_timeout",
                    retry_after: None,
                },
                "reconciling an interrupted attempt timed out".into(),
            )),
        }
    }

    /// Takes the idempotency claim.
    async fn claim(&self, envelope: &Envelope, ctx: &DeliveryContext) -> Result<Gate, Failed> {
        // The handler is cancelled at its timeout, so the claim can only outlive a dead worker.
        let lease = self.policy.handler_timeout + Duration::from_secs(5);
        let claim = self
            .ctx
            .store
            .claim(W::NAME, &ctx.idempotency_key, &envelope.id, lease)
            .await;
        match claim {
            Ok(Claim::Acquired) => Ok(Gate::Proceed),
            Ok(Claim::TakenOver { first_claimed_at }) => Ok(Gate::Resume(first_claimed_at)),
            Ok(Claim::AlreadySucceeded { .. }) => {
                self.log_attempt(
                    envelope,
                    ctx.attempt,
                    Outcome::Duplicate,
                    None,
                    None,
                    Duration::ZERO,
                )
                .await;
                Ok(Gate::Settled(Settle::Ack(Outcome::Duplicate)))
            }
            Ok(Claim::InProgress { retry_after }) => Err(Failed::new(
                Failure::Retryable {
                    code: "in_progress_elsewhere",
                    retry_after: Some(retry_after),
                },
                "another copy of this message is being handled".into(),
            )),
            Err(error) => Err(Failed::new(
                Failure::Retryable {
                    code: "store_unavailable",
                    retry_after: None,
                },
                error.to_string(),
            )),
        }
    }

    async fn run(
        &self,
        delivery: &Delivery,
        incoming: &Incoming,
        envelope: &Envelope,
        job: W::Job,
        ctx: DeliveryContext,
    ) -> Settle {
        let side_effect = self.worker.has_side_effect(&job);
        if self.limiter.check().is_err() {
            self.ctx
                .metrics
                .rate_limit_waits
                .get_or_create(&self.label)
                .inc();
            self.limiter.until_ready().await;
        }
        let started = Instant::now();
        let result = self.invoke(job, &ctx, side_effect).await;
        let elapsed = started.elapsed();
        self.ctx
            .metrics
            .handler_duration
            .get_or_create(&self.label)
            .observe(elapsed.as_secs_f64());
        match result {
            Ok(done) => {
                self.succeed(envelope, &ctx, done, elapsed, side_effect)
                    .await
            }
            Err(failed) => {
                if failed.trips_breaker {
                    self.breaker.failure();
                } else {
                    // The provider answered (a permanent or rate-limit error): it is up.
                    self.breaker.success();
                }
                if side_effect {
                    self.let_go_of_claim(&ctx.idempotency_key, &failed.failure)
                        .await;
                }
                self.fail(delivery, incoming, envelope, failed, elapsed)
                    .await
            }
        }
    }

    /// After a failed attempt: a claim whose side effect surely did not happen is released so
    /// the retry claims afresh; one whose outcome is unknown is kept with its lease ended, so
    /// the retry takes it over and reconciles with the provider before sending again.
    async fn let_go_of_claim(&self, key: &str, failure: &Failure) {
        let store = &self.ctx.store;
        let result = if failure.outcome_unknown() {
            store.expire_claim(W::NAME, key).await
        } else {
            store.release(W::NAME, key).await
        };
        if let Err(error) = result {
            tracing::warn!(%error, "could not let go of the idempotency claim; it expires with its lease");
        }
    }

    /// Calls the handler with the timeout, catching panics.
    async fn invoke(
        &self,
        job: W::Job,
        ctx: &DeliveryContext,
        side_effect: bool,
    ) -> Result<Done, Failed> {
        let call = AssertUnwindSafe(self.worker.handle(job, ctx)).catch_unwind();
        match tokio::time::timeout(self.policy.handler_timeout, call).await {
            Ok(Ok(Ok(done))) => Ok(done),
            Ok(Ok(Err(error))) => Err(Failed::of(&error, "")),
            Ok(Err(panic)) => Err(Failed::new(
                Failure::Permanent {
                    code: "handler_panicked",
                },
                format!("handler panicked: {}", panic_text(&panic)),
            )),
            // A side effect may or may not have happened: the retry reconciles before it
            // repeats anything. Without one, retrying is simply safe.
            Err(_) if side_effect => Err(Failed::new(
                Failure::OutcomeUnknown {
                    code: "handler_timeout_outcome_unknown",
                },
                format!(
                    "handler exceeded {:?}; the provider may have acted",
                    self.policy.handler_timeout
                ),
            )),
            Err(_) => Err(Failed::new(
                Failure::Retryable {
                    code: "handler_timeout",
                    retry_after: None,
                },
                format!("handler exceeded {:?}", self.policy.handler_timeout),
            )),
        }
    }

    async fn succeed(
        &self,
        envelope: &Envelope,
        ctx: &DeliveryContext,
        done: Done,
        elapsed: Duration,
        side_effect: bool,
    ) -> Settle {
        self.breaker.success();
        if side_effect {
            self.complete_claim(&ctx.idempotency_key, done.provider_ref.as_deref())
                .await;
        }
        let latency = (Utc::now() - envelope.occurred_at)
            .to_std()
            .unwrap_or_default();
        self.ctx
            .metrics
            .end_to_end_latency
            .get_or_create(&self.label)
            .observe(latency.as_secs_f64());
        self.log_attempt(
            envelope,
            ctx.attempt,
            Outcome::Succeeded,
            None,
            done.provider_ref,
            elapsed,
        )
        .await;
        Settle::Ack(Outcome::Succeeded)
    }

    /// Marks the key succeeded. Retried briefly: if this never lands, a redelivery would find
    /// the claim expired and send again.
    async fn complete_claim(&self, key: &str, provider_ref: Option<&str>) {
        for attempt in 1..=5u32 {
            match self.ctx.store.complete(W::NAME, key, provider_ref).await {
                Ok(()) => return,
                Err(error) if attempt == 5 => {
                    tracing::error!(%error, "could not record success; a redelivery may repeat the side effect")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await,
            }
        }
    }

    async fn fail(
        &self,
        delivery: &Delivery,
        incoming: &Incoming,
        envelope: &Envelope,
        failed: Failed,
        elapsed: Duration,
    ) -> Settle {
        self.count_error(&failed.failure);
        tracing::warn!(class = failed.failure.class().as_str(), code = failed.failure.code(), detail = %failed.detail, "delivery failed");
        // Waiting on another copy or on the database is not the message's fault: same attempt.
        let counts = !matches!(
            failed.failure.code(),
            "in_progress_elsewhere" | "store_unavailable"
        );
        let next_attempt = if counts {
            incoming.attempt + 1
        } else {
            incoming.attempt
        };
        match retry::decide(
            &self.policy,
            &failed.failure,
            if counts { incoming.attempt } else { 0 },
        ) {
            Decision::Park => self.park(delivery, incoming, Some(envelope), failed).await,
            Decision::Retry(tier) => match self
                .rerouter
                .retry(delivery, incoming, next_attempt, tier)
                .await
            {
                Ok(()) => {
                    let f = &failed.failure;
                    self.log_attempt(
                        envelope,
                        incoming.attempt,
                        Outcome::Retried,
                        Some(f),
                        None,
                        elapsed,
                    )
                    .await;
                    Settle::Ack(Outcome::Retried)
                }
                Err(error) => {
                    tracing::warn!(%error, "could not republish for retry; requeueing");
                    Settle::Requeue
                }
            },
        }
    }

    async fn park(
        &self,
        delivery: &Delivery,
        incoming: &Incoming,
        envelope: Option<&Envelope>,
        failed: Failed,
    ) -> Settle {
        if let Err(error) = self.rerouter.park(delivery, incoming, &failed).await {
            tracing::warn!(%error, "could not publish to the parking queue; requeueing");
            return Settle::Requeue;
        }
        if let Some(envelope) = envelope {
            self.log_attempt(
                envelope,
                incoming.attempt,
                Outcome::Parked,
                Some(&failed.failure),
                None,
                Duration::ZERO,
            )
            .await;
            let update = DeliveryUpdate {
                message_id: envelope.id.clone(),
                integration: W::NAME.into(),
                message_type: envelope.message_type.clone(),
                tenant: envelope.tenant.clone(),
                status: DeliveryStatus::Parked,
                provider_ref: None,
                error_code: Some(failed.failure.code().into()),
            };
            if let Err(error) = self.ctx.store.upsert_delivery(&update).await {
                tracing::warn!(%error, "could not mark the delivery parked");
            }
        }
        Settle::Ack(Outcome::Parked)
    }

    fn count_error(&self, failure: &Failure) {
        let labels = ErrorLabels {
            integration: W::NAME.into(),
            class: failure.class().as_str().into(),
            code: failure.code().into(),
        };
        self.ctx.metrics.errors.get_or_create(&labels).inc();
    }

    /// Appends to the delivery log. Best effort: the broker outcome is already decided, and a
    /// database hiccup must not turn a delivered message into a redelivered one.
    async fn log_attempt(
        &self,
        envelope: &Envelope,
        attempt: u32,
        outcome: Outcome,
        failure: Option<&Failure>,
        provider_ref: Option<String>,
        elapsed: Duration,
    ) {
        let row = NewAttempt {
            message_id: envelope.id.clone(),
            integration: W::NAME.into(),
            message_type: envelope.message_type.clone(),
            tenant: envelope.tenant.clone(),
            attempt: attempt as i32,
            outcome: outcome.as_str().into(),
            error_class: failure.map(|f| f.class().as_str().into()),
            error_code: failure.map(|f| f.code().into()),
            provider_ref,
            duration_ms: elapsed.as_millis() as i64,
        };
        if let Err(error) = self.ctx.store.record_attempt(&row).await {
            tracing::warn!(%error, "could not write the delivery log");
        }
    }
}

fn delivery_context(envelope: &Envelope, attempt: u32) -> DeliveryContext {
    DeliveryContext {
        message_id: envelope.id.clone(),
        message_type: envelope.message_type.clone(),
        tenant: envelope.tenant.clone(),
        attempt,
        correlation_id: envelope.correlation_id.clone(),
        idempotency_key: envelope.idempotency_key().to_owned(),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
