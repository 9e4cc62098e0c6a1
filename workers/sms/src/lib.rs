//! The SMS worker: `sms.send` → Twilio's Messages API (with a signed status callback pointing
//! at the ingress), and `sms.status` → the delivery record.
//!
//! Where things are decided: the Twilio error → class mapping is `error.rs`; retries and
//! parking are the runtime's (`switchyard_runtime::retry`), driven by that class.

mod error;
pub mod job;
pub mod provider;

use chrono::{DateTime, Utc};
use switchyard_contract::{DeliveryContext, Done, Worker};
use switchyard_store::{DeliveryStatus, DeliveryUpdate, Store};
use switchyard_telemetry::mask;

pub use error::SmsError;
pub use job::{SendSms, SmsJob, StatusReport};
pub use provider::{Twilio, TwilioConfig};
pub use switchyard_templates::Templates;

/// Sender and callback settings.
#[derive(Clone, Debug, Default)]
pub struct SmsSettings {
    /// Default `From` number or sender id.
    pub default_from: Option<String>,
    /// Default Messaging Service SID (used when neither the message nor `default_from` sets a sender).
    pub messaging_service_sid: Option<String>,
    /// Where Twilio posts status callbacks: the ingress's public URL + `/webhooks/twilio/status`.
    pub status_callback_url: Option<String>,
}

/// The SMS worker.
pub struct SmsWorker {
    twilio: Twilio,
    templates: Templates,
    settings: SmsSettings,
    store: Store,
}

impl SmsWorker {
    /// A worker sending through `twilio`.
    pub fn new(twilio: Twilio, templates: Templates, settings: SmsSettings, store: Store) -> Self {
        Self {
            twilio,
            templates,
            settings,
            store,
        }
    }

    /// The text to send: the literal body, or the template `sms/<name>.txt` rendered for the
    /// message's tenant and locale.
    fn text(&self, sms: &SendSms, ctx: &DeliveryContext) -> Result<String, SmsError> {
        match (&sms.body, &sms.template) {
            (Some(body), _) => Ok(body.clone()),
            (None, Some(name)) => Ok(self.templates.render(
                ctx.tenant.as_deref(),
                sms.locale.as_deref(),
                &format!("sms/{name}.txt"),
                &sms.vars,
            )?),
            (None, None) => Err(SmsError::NoText),
        }
    }

    /// Records the message Twilio created for this delivery.
    async fn record_created(
        &self,
        ctx: &DeliveryContext,
        sid: &str,
        twilio_status: &str,
    ) -> Result<(), SmsError> {
        let update = DeliveryUpdate {
            message_id: ctx.message_id.clone(),
            integration: Self::NAME.into(),
            message_type: ctx.message_type.clone(),
            tenant: ctx.tenant.clone(),
            status: status_of(twilio_status),
            provider_ref: Some(sid.to_owned()),
            error_code: None,
        };
        Ok(self.store.upsert_delivery(&update).await?)
    }

    /// Twilio takes no idempotency key, so after a crash mid-send the only way to know whether
    /// the SMS exists is to look: a message to the same number with the same text, created
    /// since the interrupted attempt began.
    async fn find_interrupted(
        &self,
        sms: &SendSms,
        ctx: &DeliveryContext,
        since: DateTime<Utc>,
    ) -> Result<Option<Done>, SmsError> {
        let text = self.text(sms, ctx)?;
        let sent = self
            .twilio
            .sent_to_since(&sms.to, since.timestamp())
            .await?;
        let found = sent.into_iter().find(|m| m.body == text && m.to == sms.to);
        let Some(message) = found else {
            return Ok(None);
        };
        self.record_created(ctx, &message.sid, &message.status)
            .await?;
        Ok(Some(Done {
            provider_ref: Some(message.sid),
        }))
    }

    async fn send(&self, sms: SendSms, ctx: &DeliveryContext) -> Result<Done, SmsError> {
        let body = self.text(&sms, ctx)?;
        let sender = sms
            .messaging_service_sid
            .as_deref()
            .or(sms.from.as_deref())
            .or(self.settings.default_from.as_deref())
            .or(self.settings.messaging_service_sid.as_deref())
            .ok_or(SmsError::NoSender)?;
        let outgoing = provider::Outgoing {
            to: &sms.to,
            body: &body,
            sender,
            status_callback: self.settings.status_callback_url.as_deref(),
        };
        let created = self.twilio.send(&outgoing).await?;
        tracing::info!(to = %mask::phone(&sms.to), sid = %created.sid, "SMS accepted by Twilio");
        self.record_created(ctx, &created.sid, &created.status)
            .await?;
        Ok(Done {
            provider_ref: Some(created.sid),
        })
    }

    async fn record_status(&self, report: StatusReport) -> Result<Done, SmsError> {
        let status = status_of(&report.status);
        let error_code = report.error_code.as_deref();
        // A callback can overtake the send's own record (or follow a crash mid-send): the
        // store keeps it until the delivery is recorded, so it is never retried or lost.
        self.store
            .record_provider_status(Self::NAME, &report.provider_ref, status, error_code)
            .await?;
        Ok(Done {
            provider_ref: Some(report.provider_ref),
        })
    }
}

/// Twilio's message statuses mapped onto the delivery record's.
fn status_of(twilio: &str) -> DeliveryStatus {
    match twilio {
        "sending" | "sent" => DeliveryStatus::Sent,
        "delivered" | "read" => DeliveryStatus::Delivered,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" | "canceled" => DeliveryStatus::Failed,
        // accepted, scheduled, queued, and anything Twilio adds later.
        _ => DeliveryStatus::Queued,
    }
}

impl Worker for SmsWorker {
    const NAME: &'static str = "sms";
    type Job = SmsJob;
    type Error = SmsError;

    async fn handle(&self, job: SmsJob, ctx: &DeliveryContext) -> Result<Done, SmsError> {
        match job {
            SmsJob::Send(sms) => self.send(sms, ctx).await,
            SmsJob::Status(report) => self.record_status(report).await,
        }
    }

    fn has_side_effect(&self, job: &SmsJob) -> bool {
        matches!(job, SmsJob::Send(_))
    }

    async fn reconcile(
        &self,
        job: &SmsJob,
        ctx: &DeliveryContext,
        since: DateTime<Utc>,
    ) -> Result<Option<Done>, SmsError> {
        match job {
            SmsJob::Send(sms) => self.find_interrupted(sms, ctx, since).await,
            // Status updates have no side effect outside our database; redoing them is safe.
            SmsJob::Status(_) => Ok(None),
        }
    }

    async fn probe(&self) -> Result<(), SmsError> {
        self.twilio.probe().await
    }
}
