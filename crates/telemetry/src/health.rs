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
use crate::metrics::DependencyLabel;

/// Longest a readiness check may take before it counts as failed.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

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

/// Each scrape runs the readiness checks first and exports them as
/// `switchyard_dependency_up{dependency}`: an alert on a dependency then needs no traffic (a
/// quiet night with Postgres down is still seen) and no probe of `/readyz`.
async fn render_metrics(State(ops): State<Ops>) -> impl IntoResponse {
    for (name, result) in run_checks(&ops).await {
        let label = DependencyLabel {
            dependency: name.to_owned(),
        };
        ops.metrics
            .dependency_up
            .get_or_create(&label)
            .set(i64::from(result.is_ok()));
    }
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        ops.metrics.encode(),
    )
}

/// Every readiness check, each bounded by [`CHECK_TIMEOUT`] so a hung dependency cannot hang a
/// scrape or a probe.
async fn run_checks(ops: &Ops) -> Vec<(&'static str, Result<(), String>)> {
    let mut results = Vec::with_capacity(ops.checks.len());
    for (name, check) in ops.checks.iter() {
        let result = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        };
        results.push((*name, result));
    }
    results
}

async fn readiness(State(ops): State<Ops>) -> impl IntoResponse {
    let mut report = String::new();
    let mut ready = true;
    for (name, result) in run_checks(&ops).await {
        match result {
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn check(result: Result<(), &'static str>) -> ReadinessCheck {
        let name = if result.is_ok() {
            "rabbitmq"
        } else {
            "postgres"
        };
        let check = Arc::new(move || {
            let result = result.map_err(str::to_owned);
            Box::pin(async move { result }) as Pin<Box<dyn Future<Output = _> + Send>>
        });
        (name, check)
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn each_scrape_exports_the_readiness_of_every_dependency() {
        let checks = vec![check(Ok(())), check(Err("connection refused"))];
        let addr = serve("127.0.0.1:0".parse().unwrap(), Metrics::new(), checks)
            .await
            .unwrap();
        let metrics = get(addr, "/metrics").await;
        assert!(
            metrics.contains("switchyard_dependency_up{dependency=\"rabbitmq\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("switchyard_dependency_up{dependency=\"postgres\"} 0"),
            "{metrics}"
        );
        let ready = get(addr, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.0 503"), "{ready}");
        assert!(ready.contains("postgres: connection refused"), "{ready}");
    }
}
