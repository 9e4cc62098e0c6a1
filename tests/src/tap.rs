//! A tap on the main exchange: a queue of the test's namespace bound to a routing-key pattern,
//! standing in for whoever consumes those messages in production (the ERP binding `erp.#`, a
//! consumer of `*.event`), so a test sees exactly what was published.

use std::time::Duration;

use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use serde_json::Value;
use switchyard_broker::Broker;

use crate::Harness;

/// A queue bound to one pattern of `h`'s main exchange.
pub struct Tap {
    /// Its name: `<namespace>.<suffix>`.
    pub name: String,
    broker: Broker,
}

impl Tap {
    /// Declares `<namespace>.<suffix>` on `broker` and binds it to `pattern` (before anything
    /// is published, so nothing is missed).
    pub async fn bind(h: &Harness, broker: &Broker, suffix: &str, pattern: &str) -> Tap {
        let name = format!("{}.{suffix}", h.namespace);
        let channel = broker.channel().await.expect("channel");
        let declare = QueueDeclareOptions::default();
        channel
            .queue_declare(name.as_str().into(), declare, FieldTable::default())
            .await
            .expect("declare");
        channel
            .queue_bind(
                name.as_str().into(),
                h.topology().main_exchange().as_str().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        Tap {
            name,
            broker: broker.clone(),
        }
    }

    /// Takes every envelope in the queue now.
    pub async fn take(&self) -> Vec<Value> {
        let channel = self.broker.channel().await.expect("channel");
        let mut out = Vec::new();
        let options = BasicGetOptions { no_ack: true };
        while let Ok(Some(message)) = channel.basic_get(self.name.as_str().into(), options).await {
            out.push(serde_json::from_slice(&message.delivery.data).expect("an envelope"));
        }
        out
    }

    /// Waits a little for stragglers, then takes every envelope.
    pub async fn settle(&self) -> Vec<Value> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.take().await
    }

    /// Deletes the queue.
    pub async fn delete(&self) {
        if let Ok(channel) = self.broker.channel().await {
            let _ = channel
                .queue_delete(self.name.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
}
