//! Webhook gateway helpers: a second ingress of a [`Harness`] world that reads a webhooks file,
//! and a queue standing in for the consumer that binds the `<provider>.event` routing keys.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use switchyard_cli::components::{self, Component};
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

use crate::{Harness, sample};

/// An ingress serving `/webhooks/*` for the sources of its own webhooks file.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The gateway process's metrics.
    pub metrics: Metrics,
    shutdown: CancellationToken,
    file: PathBuf,
}

impl Gateway {
    /// Starts an ingress on `h`'s broker, database and namespace with `webhooks_toml`.
    pub async fn start(h: &Harness, webhooks_toml: &str) -> Gateway {
        let file =
            std::env::temp_dir().join(format!("{}-{}.webhooks.toml", h.namespace, crate::new_id()));
        std::fs::write(&file, webhooks_toml).expect("write webhooks file");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut run = h.run.clone();
        run.listen = SocketAddr::from(([127, 0, 0, 1], port));
        run.webhooks = Some(file.clone());
        let shutdown = CancellationToken::new();
        let running = components::start(
            &BTreeSet::from([Component::Ingress]),
            &h.settings,
            &run,
            shutdown.clone(),
        )
        .await
        .expect("gateway starts");
        Gateway {
            url: format!("http://{}", running.ingress.expect("ingress runs")),
            metrics: running.metrics_registry,
            shutdown,
            file,
        }
    }

    /// `switchyard_webhooks_total{provider,result}`.
    pub fn count(&self, provider: &str, result: &str) -> f64 {
        sample(
            &self.metrics,
            &format!("switchyard_webhooks_total{{provider=\"{provider}\",result=\"{result}\"}}"),
        )
    }

    /// Stops the gateway and removes its file.
    pub fn stop(self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_file(&self.file);
    }
}
