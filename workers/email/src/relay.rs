//! One SMTP relay: where it is (`smtp://user:pass@host:port?tls=starttls|implicit|none`),
//! and its transaction, driven step by step over lettre's `AsyncSmtpConnection` with a small
//! pool of idle sessions.
//!
//! Why not lettre's `AsyncSmtpTransport`: it hides which step failed, and that decides the
//! class. A lost connection before the final `.` of DATA means the relay did not take the
//! message (retry); lost after it, the relay may have queued it (outcome unknown).

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use switchyard_telemetry::mask;

use crate::error::{Cause, SmtpError, Stage};

/// Which of the configured relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayRole {
    /// `SWITCHYARD_SMTP_URL`.
    Primary,
    /// `SWITCHYARD_SMTP_FAILOVER_URL`.
    Secondary,
}

impl RelayRole {
    /// `primary` / `secondary`: the prefix of the provider reference.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayRole::Primary => "primary",
            RelayRole::Secondary => "secondary",
        }
    }
}

/// How the session is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the relay lacks it.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for the sandbox or a relay on the same host.
    None,
}

/// Why a relay URL was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "SMTP relay URL {url}: {reason}; expected smtp://user:pass@host:port?tls=starttls|implicit|none"
)]
pub struct RelayUrlError {
    url: String,
    reason: String,
}

/// Where a relay is and how to log in. `Debug` never shows the password.
#[derive(Clone)]
pub struct RelayConfig {
    /// Host name (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Encryption.
    pub tls: TlsMode,
    /// AUTH user and password, when the URL has a user.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl RelayConfig {
    /// Parses `smtp://[user:pass@]host[:port][?tls=starttls|implicit|none]`. The default
    /// is STARTTLS; the port defaults by mode (587, 465, 25).
    pub fn parse(raw: &str) -> Result<Self, RelayUrlError> {
        let fail = |reason: &str| RelayUrlError {
            url: mask::url(raw),
            reason: reason.into(),
        };
        let url = url::Url::parse(raw).map_err(|e| fail(&e.to_string()))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(fail("the scheme must be smtp"));
        }
        let host = url.host_str().ok_or_else(|| fail("no host"))?.to_owned();
        let tls = match url.query_pairs().find(|(k, _)| k == "tls") {
            None if url.scheme() == "smtps" => TlsMode::Implicit,
            None => TlsMode::StartTls,
            Some((_, v)) => match v.as_ref() {
                "starttls" => TlsMode::StartTls,
                "implicit" => TlsMode::Implicit,
                "none" => TlsMode::None,
                _ => return Err(fail("tls must be starttls, implicit or none")),
            },
        };
        let default_port = match tls {
            TlsMode::StartTls => 587,
            TlsMode::Implicit => 465,
            TlsMode::None => 25,
        };
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            )
        });
        Ok(RelayConfig {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
        })
    }
}

/// Idle sessions kept per relay; more concurrent sends open more, then close the surplus.
const MAX_IDLE: usize = 8;

/// A relay with its pool of idle, authenticated sessions.
pub struct Relay {
    role: RelayRole,
    config: RelayConfig,
    hello: ClientId,
    timeout: Duration,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("role", &self.role)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay greeted as `hello` (our host name in EHLO); `timeout` bounds each transaction.
    pub fn new(role: RelayRole, config: RelayConfig, hello: &str, timeout: Duration) -> Self {
        Relay {
            role,
            config,
            hello: ClientId::Domain(hello.to_owned()),
            timeout,
            idle: Mutex::default(),
        }
    }

    /// Which relay this is.
    pub fn role(&self) -> RelayRole {
        self.role
    }

    /// Sends `message` (already formatted) to the envelope's recipients; returns the text of
    /// the relay's 250 reply to the end of DATA, which carries its queue id.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SmtpError> {
        let mut stage = Stage::Connect;
        let attempt =
            tokio::time::timeout(self.timeout, self.transact(&mut stage, envelope, message));
        match attempt.await {
            Ok(result) => result,
            Err(_) => Err(self.error(
                stage,
                Cause::NoReply(format!("no answer within {:?}", self.timeout)),
            )),
        }
    }

    /// A session that connects, logs in and quits: proves the relay is back, sends nothing.
    pub async fn probe(&self) -> Result<(), SmtpError> {
        let mut stage = Stage::Connect;
        let connect = tokio::time::timeout(self.timeout, self.connect(&mut stage));
        let mut connection = match connect.await {
            Ok(result) => result?,
            Err(_) => return Err(self.error(stage, Cause::NoReply("connect timed out".into()))),
        };
        connection.quit().await.ok();
        Ok(())
    }

    async fn transact(
        &self,
        stage: &mut Stage,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<String, SmtpError> {
        let mut connection = self.checkout(stage).await?;
        let step = |stage: Stage| move |e| self.error(stage, Cause::from(e));
        *stage = Stage::Mail;
        let from = envelope.from().cloned();
        // 8BITMIME / SMTPUTF8 are not needed: lettre's builder encodes bodies and headers to ASCII.
        connection
            .command(Mail::new(from, vec![]))
            .await
            .map_err(step(Stage::Mail))?;
        *stage = Stage::Rcpt;
        for to in envelope.to() {
            connection
                .command(Rcpt::new(to.clone(), vec![]))
                .await
                .map_err(step(Stage::Rcpt))?;
        }
        *stage = Stage::Data;
        connection.command(Data).await.map_err(step(Stage::Data))?;
        *stage = Stage::Content;
        let reply = connection
            .message(message)
            .await
            .map_err(step(Stage::Content))?;
        self.checkin(connection);
        Ok(reply.message().collect::<Vec<_>>().join(" "))
    }

    /// An idle session that still answers NOOP, or a new one.
    async fn checkout(&self, stage: &mut Stage) -> Result<AsyncSmtpConnection, SmtpError> {
        while let Some(mut idle) = self.pop_idle() {
            if idle.test_connected().await {
                return Ok(idle);
            }
            idle.abort().await;
        }
        self.connect(stage).await
    }

    fn pop_idle(&self) -> Option<AsyncSmtpConnection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Keeps a session that ended cleanly; a failed one is simply dropped (closing it), so
    /// no half-finished transaction is ever reused.
    fn checkin(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE && !connection.has_broken() {
            idle.push(connection);
        }
    }

    /// Connects, greets, upgrades to TLS when asked and logs in.
    async fn connect(&self, stage: &mut Stage) -> Result<AsyncSmtpConnection, SmtpError> {
        *stage = Stage::Connect;
        let config = &self.config;
        let at_connect = |e| self.error(Stage::Connect, Cause::from(e));
        let tls = match config.tls {
            TlsMode::None => None,
            TlsMode::StartTls | TlsMode::Implicit => {
                Some(TlsParameters::new(config.host.clone()).map_err(at_connect)?)
            }
        };
        let implicit = if config.tls == TlsMode::Implicit {
            tls.clone()
        } else {
            None
        };
        let address = (config.host.as_str(), config.port);
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            address,
            Some(self.timeout),
            &self.hello,
            implicit,
            None,
        )
        .await
        .map_err(at_connect)?;
        if let (TlsMode::StartTls, Some(tls)) = (config.tls, tls) {
            connection
                .starttls(tls, &self.hello)
                .await
                .map_err(at_connect)?;
        }
        if let Some((user, password)) = &config.credentials {
            *stage = Stage::Auth;
            let credentials = Credentials::new(user.clone(), password.clone());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| self.error(Stage::Auth, Cause::from(e)))?;
        }
        Ok(connection)
    }

    fn error(&self, stage: Stage, cause: Cause) -> SmtpError {
        SmtpError {
            relay: self.role,
            stage,
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_by_mode() {
        let c = RelayConfig::parse("smtp://mailer:s%40cret@mail.example.org?tls=implicit").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("mail.example.org", 465, TlsMode::Implicit)
        );
        assert_eq!(c.credentials, Some(("mailer".into(), "s@cret".into())));
        let c = RelayConfig::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((c.port, c.tls, c.credentials), (2525, TlsMode::None, None));
        assert_eq!(
            RelayConfig::parse("smtp://relay.example.org").unwrap().port,
            587
        );
    }

    #[test]
    fn bad_urls_say_what_is_expected_without_the_password() {
        let err = RelayConfig::parse("smtp://u:topsecret@host?tls=maybe")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls must be"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        assert!(RelayConfig::parse("http://host").is_err());
        let debug = format!(
            "{:?}",
            RelayConfig::parse("smtp://u:topsecret@host").unwrap()
        );
        assert!(!debug.contains("topsecret"), "{debug}");
    }
}
