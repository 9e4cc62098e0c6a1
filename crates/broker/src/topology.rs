//! Names and declaration of the RabbitMQ topology described by `queues.toml`.
//!
//! Per integration `<q>`:
//! - work queue `<q>`: quorum (replicated, survives a node loss), bound to the main topic
//!   exchange by its routing keys, `x-delivery-limit` as the broker-side poison guard, and
//!   dead-lettering to the dead-letter exchange with routing key `<q>`;
//! - retry tiers `<q>.retry.<delay>`: TTL queues dead-lettering back to `<q>` through the
//!   default exchange, so a retry reaches this queue only, never other bindings of the type;
//! - parking queue `<q>.dead`: quorum, bound to the dead-letter exchange by `<q>`.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Connection, ExchangeKind};

use crate::BrokerError;
use crate::config::{QueuePolicy, QueuesConfig, format_duration};

/// The topology with its final (namespaced) names.
#[derive(Clone, Debug)]
pub struct Topology {
    config: QueuesConfig,
}

impl Topology {
    /// Wraps a validated configuration.
    pub fn new(config: QueuesConfig) -> Self {
        Self { config }
    }

    /// The configuration this topology was built from.
    pub fn config(&self) -> &QueuesConfig {
        &self.config
    }

    fn name(&self, base: &str) -> String {
        if self.config.namespace.is_empty() {
            base.to_owned()
        } else {
            format!("{}.{base}", self.config.namespace)
        }
    }

    /// The topic exchange publishers use.
    pub fn main_exchange(&self) -> String {
        self.name(&self.config.exchanges.main)
    }

    /// The direct exchange parking queues bind to.
    pub fn dead_letter_exchange(&self) -> String {
        self.name(&self.config.exchanges.dead_letter)
    }

    /// Work queue of `integration`.
    pub fn work_queue(&self, integration: &str) -> String {
        self.name(integration)
    }

    /// Retry-tier queue of `integration` for `delay`.
    pub fn retry_queue(&self, integration: &str, delay: Duration) -> String {
        format!(
            "{}.retry.{}",
            self.work_queue(integration),
            format_duration(delay)
        )
    }

    /// Parking queue of `integration`.
    pub fn parking_queue(&self, integration: &str) -> String {
        format!("{}.dead", self.work_queue(integration))
    }

    /// Integration names, sorted.
    pub fn integrations(&self) -> impl Iterator<Item = &str> {
        self.config.queues.keys().map(String::as_str)
    }

    /// Every queue this topology declares.
    pub fn all_queues(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, policy) in &self.config.queues {
            out.push(self.work_queue(name));
            out.extend(
                policy
                    .retry_tiers
                    .iter()
                    .map(|d| self.retry_queue(name, *d)),
            );
            out.push(self.parking_queue(name));
        }
        out
    }

    /// A human-readable description, for `switchyard topology show`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "exchange {} (topic)\nexchange {} (direct, dead letters)\n",
            self.main_exchange(),
            self.dead_letter_exchange()
        );
        for (name, p) in &self.config.queues {
            s.push_str(&format!(
                "\nqueue {} (quorum, x-delivery-limit={}, dead-letters to {})\n  bound by: {}\n  prefetch {}, concurrency {}, timeout {}, max attempts {}, rate {}/s burst {}\n  breaker: opens after {} failures, open {}..{}\n",
                self.work_queue(name), p.delivery_limit, self.parking_queue(name),
                p.routing_keys.join(", "), p.prefetch, p.concurrency,
                format_duration(p.handler_timeout), p.max_attempts,
                p.rate_limit.per_second, p.rate_limit.burst,
                p.circuit_breaker.consecutive_failures,
                format_duration(p.circuit_breaker.open_for),
                format_duration(p.circuit_breaker.open_max),
            ));
            for d in &p.retry_tiers {
                s.push_str(&format!(
                    "  retry tier {} (ttl {})\n",
                    self.retry_queue(name, *d),
                    format_duration(*d)
                ));
            }
            s.push_str(&format!(
                "  parking {} (quorum)\n",
                self.parking_queue(name)
            ));
        }
        s
    }

    /// Declares everything, idempotently. A queue that exists with other arguments is a
    /// [`BrokerError::Mismatch`] naming the argument; nothing is redeclared silently.
    pub async fn declare(&self, connection: &Connection) -> Result<(), BrokerError> {
        let channel = connection.create_channel().await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.main_exchange().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_letter_exchange().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
        for (name, policy) in &self.config.queues {
            self.declare_integration(connection, name, policy).await?;
        }
        Ok(())
    }

    async fn declare_integration(
        &self,
        connection: &Connection,
        name: &str,
        policy: &QueuePolicy,
    ) -> Result<(), BrokerError> {
        let work = self.work_queue(name);
        let mut args = quorum();
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(policy.delivery_limit as i32),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            long(&self.dead_letter_exchange()),
        );
        args.insert("x-dead-letter-routing-key".into(), long(&work));
        declare_queue(connection, &work, args).await?;
        let channel = connection.create_channel().await?;
        for key in &policy.routing_keys {
            channel
                .queue_bind(
                    work.as_str().into(),
                    self.main_exchange().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        for delay in &policy.retry_tiers {
            let mut args = FieldTable::default();
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(delay.as_millis() as i64),
            );
            args.insert("x-dead-letter-exchange".into(), long(""));
            args.insert("x-dead-letter-routing-key".into(), long(&work));
            declare_queue(connection, &self.retry_queue(name, *delay), args).await?;
        }
        let parking = self.parking_queue(name);
        declare_queue(connection, &parking, quorum()).await?;
        channel
            .queue_bind(
                parking.as_str().into(),
                self.dead_letter_exchange().into(),
                work.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), long("quorum"));
    args
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// Declares one durable queue on its own channel: a mismatch closes the channel, and we want
/// the error to name this queue.
async fn declare_queue(
    connection: &Connection,
    queue: &str,
    args: FieldTable,
) -> Result<(), BrokerError> {
    let channel = connection.create_channel().await?;
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    match channel
        .queue_declare(ShortString::from(queue), options, args)
        .await
    {
        Ok(_) => {
            let _ = channel.close(200, "declared".into()).await;
            Ok(())
        }
        Err(e) => Err(mismatch_or(queue, e)),
    }
}

fn mismatch_or(queue: &str, error: lapin::Error) -> BrokerError {
    let text = error.to_string();
    match text
        .split("inequivalent arg '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
    {
        Some(argument) => BrokerError::Mismatch {
            queue: queue.to_owned(),
            argument: argument.to_owned(),
            detail: text.clone(),
        },
        None => BrokerError::Amqp(error),
    }
}
