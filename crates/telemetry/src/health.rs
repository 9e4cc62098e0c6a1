//! The operator endpoints every component serves on its metrics listener:
//! `/metrics` (Prometheus text), `/healthz` (the process is alive) and `/readyz` (its
//! dependencies — broker, database — are reachable, so it can do useful work).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::Metrics;

/// A named readiness check: `Ok` when the dependency is usable, else why not.
pub type ReadinessCheck = (
    &'static str,
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>,
);

#[derive(Clone)]
struct Ops {
    metrics: Metrics,
    checks: Arc<Vec<ReadinessCheck>>,
}

/// The router with `/metrics`, `/healthz` and `/readyz`, for embedding or testing.
pub fn router(metrics: Metrics, checks: Vec<ReadinessCheck>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(Ops {
            metrics,
            checks: Arc::new(checks),
        })
}

/// Binds `addr` and serves the operator endpoints until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    checks: Vec<ReadinessCheck>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(metrics, checks);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics listener stopped");
        }
    });
    Ok(local)
}

async fn render_metrics(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        ops.metrics.encode(),
    )
}

async fn readiness(State(ops): State<Ops>) -> impl IntoResponse {
    let mut report = String::new();
    let mut ready = true;
    for (name, check) in ops.checks.iter() {
        match check().await {
            Ok(()) => report.push_str(&format!("{name}: ok\n")),
            Err(why) => {
                ready = false;
                report.push_str(&format!("{name}: {why}\n"));
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, report)
}
