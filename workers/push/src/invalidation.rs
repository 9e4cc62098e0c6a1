//! Device tokens the provider reports gone: announced to the ERP with a
//! `push.token_invalidated` event on the main exchange (the ERP binds its own queue to that
//! routing key) and recorded in Postgres, so later sends to them park without a provider call.

use chrono::Utc;
use serde_json::json;
use switchyard_broker::{PublishError, Publisher, properties};
use switchyard_contract::{DeliveryContext, Envelope};
use switchyard_store::{InvalidPushToken, Store};
use switchyard_telemetry::mask;

use crate::PushError;
use crate::job::{Platform, SendPush};

/// Type and routing key of the event.
pub const EVENT_TYPE: &str = "push.token_invalidated";

/// Where invalidations are recorded and announced.
#[derive(Clone)]
pub struct Invalidations {
    store: Store,
    publisher: Publisher,
    exchange: String,
}

impl Invalidations {
    /// Records in `store`, publishes with `publisher` to `exchange` (the main exchange).
    pub fn new(store: Store, publisher: Publisher, exchange: String) -> Self {
        Self {
            store,
            publisher,
            exchange,
        }
    }

    /// Whether the provider reported `push.token` gone earlier.
    pub async fn is_invalid(&self, push: &SendPush) -> Result<bool, PushError> {
        Ok(self
            .store
            .is_push_token_invalid(push.platform.as_str(), &push.token)
            .await?)
    }

    /// Announces, then records. In that order: if recording fails, the retry asks the provider
    /// again (harmless, it sends nothing to a gone token) and announces again; the other order
    /// could record the token and lose the event, since the retry would park without asking.
    pub async fn invalidate(
        &self,
        push: &SendPush,
        reason: &str,
        ctx: &DeliveryContext,
    ) -> Result<(), PushError> {
        let provider = provider_of(push.platform);
        self.publish(push, reason, provider, ctx).await?;
        let record = InvalidPushToken {
            platform: push.platform.as_str().to_owned(),
            token: push.token.clone(),
            provider: provider.to_owned(),
            reason: reason.to_owned(),
            message_id: ctx.message_id.clone(),
        };
        self.store.record_invalid_push_token(&record).await?;
        tracing::info!(
            platform = %push.platform,
            token = %mask::secret(&push.token),
            reason,
            "device token invalidated"
        );
        Ok(())
    }

    async fn publish(
        &self,
        push: &SendPush,
        reason: &str,
        provider: &str,
        ctx: &DeliveryContext,
    ) -> Result<(), PushError> {
        let envelope = Envelope {
            // The message that found out is the cause; the ERP deduplicates by token anyway.
            id: format!(
                "{}-token-invalidated",
                ctx.message_id.chars().take(150).collect::<String>()
            ),
            message_type: EVENT_TYPE.into(),
            tenant: ctx.tenant.clone(),
            occurred_at: Utc::now(),
            correlation_id: ctx.correlation_id.clone(),
            causation_id: Some(ctx.message_id.clone()),
            idempotency_key: None,
            payload: json!({
                "token": push.token,
                "platform": push.platform.as_str(),
                "provider": provider,
                "reason": reason,
            }),
        };
        let body = serde_json::to_vec(&envelope).map_err(|e| PushError::UnexpectedResponse {
            provider: "switchyard",
            detail: format!("encoding the event: {e}"),
        })?;
        let props =
            properties::for_envelope(&envelope.id, EVENT_TYPE, ctx.correlation_id.as_deref());
        match self
            .publisher
            .publish(&self.exchange, EVENT_TYPE, &body, props, true)
            .await
        {
            Ok(()) => Ok(()),
            // Nobody subscribed: the event is for whoever binds a queue, like any topic
            // message. Worth a warning, not a failed delivery.
            Err(PublishError::Unroutable(_)) => {
                tracing::warn!(
                    "no queue is bound to {EVENT_TYPE}; the ERP will not hear of this token"
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The provider a platform's tokens belong to.
pub(crate) fn provider_of(platform: Platform) -> &'static str {
    match platform {
        Platform::Android | Platform::Web => "fcm",
        Platform::Ios => "apns",
    }
}
