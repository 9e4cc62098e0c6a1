//! Telemetry shared by every Switchyard component: the Prometheus metrics (one [`Metrics`]
//! value per process, bounded labels only), the `/metrics`, `/healthz` and `/readyz` endpoints,
//! log set-up, and masking of secrets and personal data before anything is logged.

pub mod health;
pub mod logging;
pub mod mask;
pub mod metrics;

pub use health::{ReadinessCheck, serve};
pub use metrics::Metrics;
