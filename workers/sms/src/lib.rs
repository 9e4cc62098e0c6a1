//! The SMS worker: `sms.send` → Twilio's Messages API (with a signed status callback pointing
//! at the ingress), and `sms.status` → the delivery record.
//!
//! Where things are decided: the Twilio error → class mapping is `error.rs`; retries and
//! parking are the runtime's (`switchyard_runtime::retry`), driven by that class.

mod error;
pub mod job;
pub mod provider;
pub mod templates;

use switchyard_contract::{DeliveryContext, Done, Worker};
use switchyard_store::{DeliveryStatus, DeliveryUpdate, Store};
use switchyard_telemetry::mask;

pub use error::SmsError;
pub use job::{SendSms, SmsJob, StatusReport};
pub use provider::{Twilio, TwilioConfig};
pub use templates::Templates;

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

    async fn send(&self, sms: SendSms, ctx: &DeliveryContext) -> Result<Done, SmsError> {
        let body = match (&sms.body, &sms.template) {
            (Some(body), _) => body.clone(),
            (None, Some(name)) => self.templates.render(name, &sms.vars)?,
            // The schema forbids this; a message published straight to AMQP may still try.
            (None, None) => {
                return Err(SmsError::Template {
                    name: String::new(),
                    reason: "neither body nor template given".into(),
                });
            }
        };
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
        self.store
            .upsert_delivery(&DeliveryUpdate {
                message_id: ctx.message_id.clone(),
                integration: Self::NAME.into(),
                message_type: ctx.message_type.clone(),
                tenant: ctx.tenant.clone(),
                status: status_of(&created.status),
                provider_ref: Some(created.sid.clone()),
                error_code: None,
            })
            .await?;
        Ok(Done {
            provider_ref: Some(created.sid),
        })
    }

    async fn record_status(&self, report: StatusReport) -> Result<Done, SmsError> {
        let status = status_of(&report.status);
        let found = self
            .store
            .update_delivery_by_provider_ref(
                Self::NAME,
                &report.provider_ref,
                status,
                report.error_code.as_deref(),
            )
            .await?;
        if !found {
            return Err(SmsError::DeliveryNotFound(report.provider_ref));
        }
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

    async fn probe(&self) -> Result<(), SmsError> {
        self.twilio.probe().await
    }
}
