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
    /// The emulated FCM or APNs credentials are unusable.
    #[error("invalid sandbox push credentials: {0}")]
    Credentials(String),
    /// The HTTP client for status callbacks could not be built.
    #[error("cannot build the HTTP client for status callbacks: {0}")]
    HttpClient(#[source] reqwest::Error),
}
