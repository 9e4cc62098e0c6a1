//! The email worker: `email.send` → an SMTP relay (lettre), failing over to a second relay.
//!
//! Where things are decided: the SMTP reply → class mapping is `error.rs`; which relay gets a
//! message is `failover.rs`; what the message looks like (headers, parts, `Message-ID`) is
//! `compose.rs`; retries and parking are the runtime's, driven by the class.
//!
//! Idempotency: SMTP has no way to ask a relay whether it took a message, so `reconcile`
//! cannot look and answers "not sent". Instead every copy of a message carries the same
//! `Message-ID` (derived from the idempotency key): a resend after a crash or after an
//! unanswered DATA is recognisable as the same message, and receivers deduplicate on it.

mod bulk;
mod compose;
mod error;
pub mod failover;
pub mod job;
pub mod relay;
pub mod tenants;

use chrono::{DateTime, Utc};
use switchyard_contract::{DeliveryContext, Done, Worker};
use switchyard_runtime::delivery_log;
use switchyard_store::Store;
use switchyard_telemetry::mask;
use switchyard_templates::Templates;

pub use bulk::{FanOut, send_id};
pub use compose::{ALLOWED_HEADERS, message_id};
pub use error::{Cause, EmailError, SmtpError, Stage};
pub use failover::{FailoverPolicy, Relays};
pub use job::{BulkEmail, EmailJob, SendEmail};
pub use lettre::message::Mailbox;
pub use relay::{Relay, RelayConfig, RelayRole, TlsMode};
pub use tenants::Tenants;

/// The default attachment limit: 5 MiB decoded, in total per message.
pub const DEFAULT_ATTACHMENT_LIMIT: usize = 5 * 1024 * 1024;

/// Sender and size settings.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    /// `From` for tenants without their own (`SWITCHYARD_SMTP_FROM`).
    pub default_from: Mailbox,
    /// Per-tenant `From` / `Reply-To` (`SWITCHYARD_EMAIL_TENANTS`).
    pub tenants: Tenants,
    /// Largest total of decoded attachment bytes per message.
    pub attachment_limit: usize,
}

/// The email worker.
pub struct EmailWorker {
    relays: Relays,
    templates: Templates,
    settings: EmailSettings,
    store: Store,
    fan_out: Option<FanOut>,
}

impl EmailWorker {
    /// A worker sending through `relays`.
    pub fn new(
        relays: Relays,
        templates: Templates,
        settings: EmailSettings,
        store: Store,
    ) -> Self {
        EmailWorker {
            relays,
            templates,
            settings,
            store,
            fan_out: None,
        }
    }

    /// Lets the worker fan `email.bulk` out through `fan_out`.
    pub fn with_fan_out(mut self, fan_out: FanOut) -> Self {
        self.fan_out = Some(fan_out);
        self
    }

    async fn bulk(&self, bulk: &BulkEmail, ctx: &DeliveryContext) -> Result<Done, EmailError> {
        let fan_out = self.fan_out.as_ref().ok_or(EmailError::NoFanOut)?;
        let count = fan_out.fan_out(bulk, ctx).await?;
        tracing::info!(count, "email.bulk fanned out into email.send messages");
        let provider_ref = format!("fanned_out:{count}");
        // `sent`: a relay took the message. SMTP says nothing more unless a bounce comes back
        // by mail, so this is the last status the delivery log gets from SMTP itself.
        Ok(delivery_log::sent(&self.store, Self::NAME, ctx, provider_ref).await?)
    }

    async fn send(&self, email: &SendEmail, ctx: &DeliveryContext) -> Result<Done, EmailError> {
        let tenant = self.settings.tenants.get(ctx.tenant.as_deref());
        let from = tenant.map_or(&self.settings.default_from, |t| &t.from);
        let content = compose::content(email, &self.templates, ctx.tenant.as_deref())?;
        let envelope = compose::Envelope {
            from,
            reply_to: tenant.and_then(|t| t.reply_to.as_ref()),
            message_id: message_id(&ctx.idempotency_key, from.email.domain()),
            attachment_limit: self.settings.attachment_limit,
        };
        let message = compose::build(email, content, envelope)?;
        let accepted = self
            .relays
            .send(message.envelope(), &message.formatted())
            .await?;
        let provider_ref = format!("{}:{}", accepted.relay.as_str(), queue_id(&accepted.reply));
        tracing::info!(
            to = %mask::email(email.to.first().map_or("", |t| t.email())),
            recipients = message.envelope().to().len(),
            %provider_ref,
            "email accepted by the relay"
        );
        Ok(delivery_log::sent(&self.store, Self::NAME, ctx, provider_ref).await?)
    }
}

/// The relay's queue id from its reply (`2.0.0 Ok: queued as 4F2A1B` → `4F2A1B`, Postfix's
/// form); other relays word it differently, so otherwise the whole reply, bounded.
fn queue_id(reply: &str) -> String {
    let id = reply
        .rsplit_once("queued as ")
        .map_or(reply, |(_, id)| id)
        .trim();
    id.chars().take(200).collect()
}

impl Worker for EmailWorker {
    const NAME: &'static str = "email";
    type Job = EmailJob;
    type Error = EmailError;

    async fn handle(&self, job: EmailJob, ctx: &DeliveryContext) -> Result<Done, EmailError> {
        match job {
            EmailJob::Send(email) => self.send(&email, ctx).await,
            EmailJob::Bulk(bulk) => self.bulk(&bulk, ctx).await,
        }
    }

    fn has_side_effect(&self, job: &EmailJob) -> bool {
        match job {
            EmailJob::Send(_) => true,
            // Publishing the same deterministic ids again is harmless (see `bulk.rs`), so a
            // bulk needs no claim, and an interrupted one is simply fanned out again.
            EmailJob::Bulk(_) => false,
        }
    }

    /// SMTP cannot be asked whether a relay took a message: "not found", so the runtime
    /// resends, with the same `Message-ID` (see the crate docs).
    async fn reconcile(
        &self,
        _job: &EmailJob,
        _ctx: &DeliveryContext,
        _since: DateTime<Utc>,
    ) -> Result<Option<Done>, EmailError> {
        Ok(None)
    }

    async fn probe(&self) -> Result<(), EmailError> {
        self.relays.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_are_taken_from_the_reply() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4F2A1B"), "4F2A1B");
        assert_eq!(queue_id("OK id=1abc"), "OK id=1abc");
    }
}
