//! Why a sandbox could not start, in words that say what to do about it.

use std::net::SocketAddr;

use crate::faults::FaultError;

/// A sandbox that could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listen address could not be bound (typically: the port is taken).
    #[error(
        "cannot listen on {addr}: {source}; if the port is in use, pick another with --listen \
         (port 0 picks a free one)"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The initial faults are invalid.
    #[error("invalid sandbox faults: {0}; fix the fault configuration")]
    InvalidFaults(#[from] FaultError),
    /// The emulated FCM, APNs or PayPal signing credentials are unusable.
    #[error("invalid sandbox provider credentials: {0}")]
    Credentials(String),
    /// The HTTP client for status callbacks could not be built.
    #[error("cannot build the HTTP client for status callbacks: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A test hook (paying a checkout, capturing an order) that could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No such object: it was never created through the provider API (or has another id).
    #[error("no {kind} {id} in the sandbox; create it through the provider API first")]
    Unknown {
        /// What was looked for, e.g. `checkout session`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The object exists but is past the step asked for (e.g. already paid).
    #[error("{kind} {id} is {status}, so it cannot be {action}")]
    WrongState {
        /// What the object is, e.g. `order`.
        kind: &'static str,
        /// Its id.
        id: String,
        /// Its current status.
        status: String,
        /// What was asked, e.g. `paid`.
        action: &'static str,
    },
}
