//! Polls queue depths into `switchyard_queue_depth_messages`: a passive declare per queue, so
//! operators see a backlog (a paused consumer, a growing parking queue) without the management
//! plugin.

use std::time::Duration;

use switchyard_broker::Broker;
use switchyard_telemetry::metrics::QueueLabel;
use tokio_util::sync::CancellationToken;

/// Polls `queues` every `interval` until `shutdown`.
pub async fn poll(
    broker: Broker,
    queues: Vec<String>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        for queue in &queues {
            if let Ok(depth) = broker.queue_depth(queue).await {
                let label = QueueLabel {
                    queue: queue.clone(),
                };
                broker
                    .metrics()
                    .queue_depth
                    .get_or_create(&label)
                    .set(i64::from(depth));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
