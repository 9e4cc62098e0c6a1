//! The emulated SMTP relays: two listeners, `primary` and `secondary`, so a worker's
//! failover can be exercised. Each records the messages it takes (`GET /_sandbox/mail`) and
//! obeys the `smtp` section of the faults. Plain SMTP only (`tls=none`): the sandbox has no
//! certificate to offer.

mod faults;
mod mail;
mod session;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use tokio::net::TcpListener;

pub use faults::SmtpFaults;
pub(crate) use mail::MailRecord;
pub use mail::RecordedMail;

use crate::SandboxError;
use crate::state::AppState;

/// The AUTH user the sandbox relays accept unless configured otherwise.
pub const DEFAULT_SMTP_USER: &str = "switchyard";
/// The AUTH password the sandbox relays accept unless configured otherwise (not a secret).
pub const DEFAULT_SMTP_PASSWORD: &str = "sandbox-smtp-password";
/// Default ports of the primary and secondary relay.
pub const DEFAULT_SMTP_PORTS: [u16; 2] = [2525, 2526];

/// Where the relays listen and the credentials they accept.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The primary relay's address; port 0 picks a free one.
    pub primary: SocketAddr,
    /// The secondary relay's address; `None` runs the primary alone.
    pub secondary: Option<SocketAddr>,
    /// AUTH user.
    pub user: String,
    /// AUTH password.
    pub password: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        let [primary, secondary] =
            DEFAULT_SMTP_PORTS.map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
        SmtpConfig {
            primary,
            secondary: Some(secondary),
            user: DEFAULT_SMTP_USER.into(),
            password: DEFAULT_SMTP_PASSWORD.into(),
        }
    }
}

impl SmtpConfig {
    /// Both relays on free ports, as tests want.
    pub fn ephemeral() -> Self {
        let free = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        SmtpConfig {
            primary: free,
            secondary: Some(free),
            ..SmtpConfig::default()
        }
    }

    fn accepts(&self, user: &str, password: &str) -> bool {
        user == self.user && password == self.password
    }
}

/// Masks the password.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("primary", &self.primary)
            .field("secondary", &self.secondary)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// The addresses the relays listen on, and the credentials they accept.
#[derive(Clone, Debug)]
pub struct SmtpListeners {
    /// The primary relay.
    pub primary: SocketAddr,
    /// The secondary relay, if it runs.
    pub secondary: Option<SocketAddr>,
    config: SmtpConfig,
}

impl SmtpListeners {
    /// `smtp://user:password@host:port?tls=none` for the primary relay.
    pub fn primary_url(&self) -> String {
        self.url(self.primary)
    }

    /// The same for the secondary relay, if it runs.
    pub fn secondary_url(&self) -> Option<String> {
        self.secondary.map(|addr| self.url(addr))
    }

    fn url(&self, mut addr: SocketAddr) -> String {
        // Bound to every interface (a container's sandbox): this process reaches it locally.
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!(
            "smtp://{}:{}@{addr}?tls=none",
            self.config.user, self.config.password
        )
    }
}

/// Binds the relays and serves them in the background until the sandbox shuts down.
pub(crate) async fn start(
    config: SmtpConfig,
    state: &AppState,
) -> Result<SmtpListeners, SandboxError> {
    let primary = listen(config.primary, "primary", &config, state).await?;
    let secondary = match config.secondary {
        Some(addr) => Some(listen(addr, "secondary", &config, state).await?),
        None => None,
    };
    Ok(SmtpListeners {
        primary,
        secondary,
        config,
    })
}

async fn listen(
    addr: SocketAddr,
    name: &'static str,
    config: &SmtpConfig,
    state: &AppState,
) -> Result<SocketAddr, SandboxError> {
    let bind_error = |source| SandboxError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    tokio::spawn(accept(listener, name, config.clone(), state.clone()));
    tracing::info!(addr = %bound, relay = name, "sandbox SMTP relay listening");
    Ok(bound)
}

async fn accept(listener: TcpListener, name: &'static str, config: SmtpConfig, state: AppState) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = state.shutdown_requested() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(session::serve(stream, name, state.clone(), config.clone()));
            }
            Err(error) => tracing::warn!(%error, relay = name, "SMTP accept failed"),
        }
    }
}

/// `GET|DELETE /_sandbox/mail`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/_sandbox/mail", get(list).delete(clear))
}

async fn list(State(state): State<AppState>) -> Json<Vec<RecordedMail>> {
    Json(state.mail.all())
}

async fn clear(State(state): State<AppState>) -> StatusCode {
    state.mail.clear();
    StatusCode::NO_CONTENT
}
