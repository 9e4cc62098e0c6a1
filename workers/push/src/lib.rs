//! The push worker: `push.send` → FCM HTTP v1 (Android and web tokens) or APNs over HTTP/2
//! (iOS tokens). A token the provider reports gone is recorded and announced to the ERP with
//! a `push.token_invalidated` event, and later sends to it are parked without a provider call.
//!
//! Where things are decided: the FCM/APNs error → class mapping, and which answers mean a
//! token is gone, are `error.rs`; retries and parking are the runtime's, driven by that class.
//!
//! Neither FCM nor APNs takes an idempotency key or can be asked whether a notification was
//! sent, so [`Worker::reconcile`] cannot find an interrupted send: a crash (or timeout) after
//! the request left may deliver the notification twice. A duplicate notification is the
//! accepted risk; a lost one is not.

pub mod apns;
mod error;
pub mod fcm;
mod invalidation;
pub mod job;
pub mod jwt;
pub mod oauth;

use chrono::{DateTime, Utc};
use switchyard_contract::{Classify, DeliveryContext, Done, Worker};
use switchyard_runtime::delivery_log;
use switchyard_store::Store;

pub use apns::{Apns, ApnsConfig};
pub use error::{FcmErrorCode, PushError};
pub use fcm::{Fcm, FcmConfig};
pub use invalidation::{EVENT_TYPE, Invalidations};
pub use job::{Content, Platform, Priority, PushJob, SendPush};
pub use oauth::ServiceAccount;
pub use switchyard_templates::Templates;

/// The push worker.
pub struct PushWorker {
    fcm: Option<Fcm>,
    apns: Option<Apns>,
    templates: Templates,
    invalidations: Invalidations,
    store: Store,
}

impl PushWorker {
    /// A worker sending through whichever providers are configured (a platform without one
    /// parks its messages with `platform_not_configured`).
    pub fn new(
        fcm: Option<Fcm>,
        apns: Option<Apns>,
        templates: Templates,
        invalidations: Invalidations,
        store: Store,
    ) -> Self {
        Self {
            fcm,
            apns,
            templates,
            invalidations,
            store,
        }
    }

    /// The literal title/body, or the templates `push/<name>.title.txt` and
    /// `push/<name>.body.txt` rendered for the message's tenant and locale.
    fn content(&self, push: &SendPush, ctx: &DeliveryContext) -> Result<Content, PushError> {
        let Some(name) = &push.template else {
            return Ok(Content {
                title: push.title.clone(),
                body: push.body.clone(),
            });
        };
        if push.title.is_some() || push.body.is_some() {
            return Err(PushError::AmbiguousContent);
        }
        let render = |part: &str| {
            self.templates.render(
                ctx.tenant.as_deref(),
                push.locale.as_deref(),
                &format!("push/{name}.{part}.txt"),
                &push.vars,
            )
        };
        Ok(Content {
            title: Some(render("title")?),
            body: Some(render("body")?),
        })
    }

    async fn send(&self, push: SendPush, ctx: &DeliveryContext) -> Result<Done, PushError> {
        if self.invalidations.is_invalid(&push).await? {
            return Err(PushError::TokenInvalidated);
        }
        let content = self.content(&push, ctx)?;
        let sent = match push.platform {
            Platform::Android | Platform::Web => match &self.fcm {
                Some(fcm) => fcm.send(&push, &content).await,
                None => Err(PushError::PlatformNotConfigured(push.platform)),
            },
            Platform::Ios => match &self.apns {
                Some(apns) => apns.send(&push, &content, ctx).await,
                None => Err(PushError::PlatformNotConfigured(push.platform)),
            },
        };
        let provider_ref = match sent {
            Ok(provider_ref) => provider_ref,
            Err(error) => {
                if let Some(reason) = error.token_gone() {
                    self.invalidations.invalidate(&push, reason, ctx).await?;
                }
                return Err(error);
            }
        };
        tracing::info!(platform = %push.platform, %provider_ref, "push accepted by the provider");
        // FCM and APNs report acceptance only (no delivery receipts), so `sent` is final.
        Ok(delivery_log::sent(&self.store, Self::NAME, ctx, provider_ref).await?)
    }
}

impl Worker for PushWorker {
    const NAME: &'static str = "push";
    type Job = PushJob;
    type Error = PushError;

    async fn handle(&self, job: PushJob, ctx: &DeliveryContext) -> Result<Done, PushError> {
        match job {
            PushJob::Send(push) => self.send(push, ctx).await,
        }
    }

    fn has_side_effect(&self, job: &PushJob) -> bool {
        match job {
            PushJob::Send(_) => true,
        }
    }

    /// Neither provider can be asked whether a push went out, nor takes an idempotency key:
    /// an interrupted send is sent again, which may show the notification twice.
    async fn reconcile(
        &self,
        _job: &PushJob,
        _ctx: &DeliveryContext,
        _since: DateTime<Utc>,
    ) -> Result<Option<Done>, PushError> {
        Ok(None)
    }

    /// Probes every configured provider. A refusal (the probes use placeholder tokens) means
    /// the provider answered, so only an outage of either one keeps the breaker open.
    async fn probe(&self) -> Result<(), PushError> {
        if let Some(fcm) = &self.fcm
            && let Err(e) = fcm.probe().await
            && e.classify().indicates_outage()
        {
            return Err(e);
        }
        if let Some(apns) = &self.apns
            && let Err(e) = apns.probe().await
            && e.classify().indicates_outage()
        {
            return Err(e);
        }
        Ok(())
    }
}
