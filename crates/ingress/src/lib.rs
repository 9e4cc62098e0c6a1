//! The ingress: a thin HTTP front door. It authenticates (API keys), validates (the message
//! catalogue's JSON Schemas), verifies provider webhook signatures, and publishes to RabbitMQ
//! with publisher confirms — answering 202 only after the broker confirmed. It never calls a
//! provider and never waits on a worker.

pub mod auth;
pub mod key_cache;
pub mod messages;
pub mod problem;
mod publish;
pub mod status;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use switchyard_broker::Publisher;
use switchyard_store::Store;
use switchyard_telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Ingress settings.
#[derive(Clone, Debug)]
pub struct IngressConfig {
    /// The URL the world reaches the ingress at (what providers call and sign).
    pub public_base_url: String,
    /// Twilio auth token, for `X-Twilio-Signature`.
    pub twilio_auth_token: String,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// The webhook sources of `/webhooks/{source}[/{tenant}]` (the webhooks file).
    pub webhooks: Arc<webhooks::config::Sources>,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Confirmed publishing.
    pub publisher: Publisher,
    /// API keys.
    pub store: Store,
    /// Process metrics.
    pub metrics: Metrics,
    /// Settings.
    pub config: Arc<IngressConfig>,
    /// Recently authenticated publisher keys.
    pub key_cache: Arc<key_cache::KeyCache>,
}

/// The ingress router (testable without a socket).
///
/// `extra` routes (the admin API) share the listener, the body limit and the request metrics.
pub fn router(state: AppState, extra: Router) -> Router {
    let (metrics, limit) = (state.metrics.clone(), state.config.body_limit);
    Router::new()
        .route("/v1/messages", post(messages::post_one))
        .route("/v1/messages/batch", post(messages::post_batch))
        .route("/v1/messages/{id}", get(status::get))
        .route("/webhooks/twilio/status", post(webhooks::twilio::status))
        .route("/webhooks/{source}", post(webhooks::gateway::receive))
        .route(
            "/webhooks/{source}/{tenant}",
            post(webhooks::gateway::receive_for_tenant),
        )
        .with_state(state)
        .merge(extra)
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(middleware::from_fn_with_state(metrics, record))
}

/// Serves `app` (see [`router`]) on `addr` until `shutdown`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "ingress stopped");
        }
    });
    Ok((local, handle))
}

/// Counts every request by matched route (never the raw path: ids must not become labels).
async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.ingress_request(&route, response.status().as_u16(), started.elapsed());
    response
}
