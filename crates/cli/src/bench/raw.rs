//! The limit: what RabbitMQ does on this machine for the same message size, with a plain lapin
//! client and no Switchyard code in the path — publish with confirms (pipelined, 512 in
//! flight) and consume with acks (prefetch 500, acked in batches of 100), on a quorum queue
//! like Switchyard's.

use std::collections::VecDeque;
use std::time::Instant;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use switchyard_broker::Topology;

use super::Stage;

/// Measures raw publish-confirm and consume-ack rates for `n` messages of `size` bytes.
pub async fn limit(
    amqp: &str,
    topology: &Topology,
    n: usize,
    size: usize,
) -> anyhow::Result<Vec<Stage>> {
    let connection = Connection::connect(amqp, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let queue = format!("{}.raw", topology.work_queue("bench"));
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = vec![b'x'; size];
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());

    let started = Instant::now();
    let mut pending = VecDeque::new();
    for _ in 0..n {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                props.clone(),
            )
            .await?;
        pending.push_back(confirm);
        if pending.len() >= 512 {
            pending.pop_front().expect("non-empty").await?;
        }
    }
    for confirm in pending {
        confirm.await?;
    }
    let publish = Stage {
        name: "raw RabbitMQ publish + confirm (the limit)".into(),
        rate: n as f64 / started.elapsed().as_secs_f64(),
        ..Default::default()
    };

    channel.basic_qos(500, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let mut received = 0;
    while received < n {
        let Some(delivery) = consumer.next().await else {
            anyhow::bail!("consumer ended early")
        };
        let delivery = delivery?;
        received += 1;
        if received % 100 == 0 || received == n {
            delivery.ack(BasicAckOptions { multiple: true }).await?;
        }
    }
    let consume = Stage {
        name: "raw RabbitMQ consume + ack".into(),
        rate: n as f64 / started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = connection.close(200, "bench done".into()).await;
    Ok(vec![publish, consume])
}

/// Empties `queue` between stages.
pub async fn purge(amqp: &str, queue: &str) -> anyhow::Result<()> {
    let connection = Connection::connect(amqp, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .queue_purge(queue.into(), QueuePurgeOptions::default())
        .await?;
    let _ = connection.close(200, "purged".into()).await;
    Ok(())
}

/// Removes the bench's namespace from the broker.
pub async fn delete_topology(amqp: &str, topology: &Topology) {
    let Ok(connection) = Connection::connect(amqp, ConnectionProperties::default()).await else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    for queue in topology.all_queues() {
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for exchange in [topology.main_exchange(), topology.dead_letter_exchange()] {
        let _ = channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "bench done".into()).await;
}
