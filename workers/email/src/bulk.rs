//! `email.bulk` → one `email.send` per recipient, published (confirmed) to the main exchange.
//!
//! Why this is safe to repeat: each `email.send` gets an id derived from the bulk's
//! idempotency key and the recipient's position, and that id is its idempotency key. A bulk
//! handled twice (a crash before its ack, a timeout, an operator replaying it) publishes the
//! same ids again, and the email worker acks the copies of what it already sent as
//! duplicates. The bulk is acked only after every publish was confirmed, so a crash mid-way
//! leaves it in the queue to be fanned out again. Pacing is the `email.send` side's: the
//! queue's rate limit applies to every send.

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use switchyard_broker::{Publisher, properties};
use switchyard_contract::{DeliveryContext, Envelope};

use crate::EmailError;
use crate::job::{BulkEmail, BulkRecipient};

/// Type and routing key of the fanned-out messages.
const SEND_TYPE: &str = "email.send";
/// Publishes awaiting their confirm at once: enough to pipeline, few enough to stay polite.
const IN_FLIGHT: usize = 64;

/// Publishes the fan-out.
#[derive(Clone)]
pub struct FanOut {
    publisher: Publisher,
    exchange: String,
}

impl FanOut {
    /// Publishes with `publisher` to `exchange` (the main exchange).
    pub fn new(publisher: Publisher, exchange: String) -> Self {
        FanOut {
            publisher,
            exchange,
        }
    }

    /// Publishes one `email.send` per recipient and returns how many, once all are confirmed.
    pub async fn fan_out(
        &self,
        bulk: &BulkEmail,
        ctx: &DeliveryContext,
    ) -> Result<usize, EmailError> {
        // Built up front (not lazily in the stream), which keeps the future `Send`.
        let envelopes: Vec<Envelope> = bulk
            .recipients
            .iter()
            .enumerate()
            .map(|(index, recipient)| envelope(bulk, recipient, index, ctx))
            .collect();
        stream::iter(envelopes)
            .map(|envelope| self.publish(envelope))
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(bulk.recipients.len())
    }

    async fn publish(&self, envelope: Envelope) -> Result<(), EmailError> {
        let body = serde_json::to_vec(&envelope).map_err(|e| EmailError::Build(e.to_string()))?;
        let props =
            properties::for_envelope(&envelope.id, SEND_TYPE, envelope.correlation_id.as_deref());
        self.publisher
            .publish(&self.exchange, SEND_TYPE, &body, props, true)
            .await
            .map_err(|e| EmailError::FanOut(e.to_string()))
    }
}

/// The `email.send` for recipient `index`.
fn envelope(
    bulk: &BulkEmail,
    recipient: &BulkRecipient,
    index: usize,
    ctx: &DeliveryContext,
) -> Envelope {
    let mut vars: Map<String, Value> = bulk.vars.clone();
    vars.extend(recipient.vars.clone());
    let mut payload = json!({ "to": [recipient.to], "template": bulk.template, "vars": vars });
    if let Some(locale) = recipient.locale.as_ref().or(bulk.locale.as_ref()) {
        payload["locale"] = json!(locale);
    }
    if let Some(reply_to) = &bulk.reply_to {
        payload["reply_to"] = reply_to.clone();
    }
    if !bulk.headers.is_empty() {
        payload["headers"] = json!(bulk.headers);
    }
    Envelope {
        id: send_id(&ctx.idempotency_key, index),
        message_type: SEND_TYPE.into(),
        tenant: ctx.tenant.clone(),
        occurred_at: Utc::now(),
        correlation_id: Some(
            ctx.correlation_id
                .clone()
                .unwrap_or_else(|| ctx.message_id.clone()),
        ),
        causation_id: Some(ctx.message_id.clone()),
        idempotency_key: None,
        payload,
    }
}

/// A UUID-shaped id (version 8, "custom") derived from the bulk's idempotency key and the
/// recipient's position: the same bulk always fans out to the same ids.
pub fn send_id(bulk_key: &str, index: usize) -> String {
    let digest = Sha256::digest(format!("switchyard-email-bulk:{bulk_key}:{index}").as_bytes());
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> DeliveryContext {
        DeliveryContext {
            message_id: "bulk-1".into(),
            message_type: "email.bulk".into(),
            tenant: Some("lincoln".into()),
            attempt: 1,
            correlation_id: None,
            idempotency_key: "bulk-1".into(),
        }
    }

    #[test]
    fn ids_are_stable_per_bulk_and_position() {
        assert_eq!(send_id("b", 7), send_id("b", 7));
        assert_ne!(send_id("b", 7), send_id("b", 8));
        assert_ne!(send_id("b", 7), send_id("c", 7));
        let id = send_id("b", 0);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
    }

    #[test]
    fn each_recipient_gets_its_own_vars_over_the_shared_ones() {
        let bulk: BulkEmail = serde_json::from_value(json!({
            "template": "report_card", "locale": "en", "vars": {"term": "T1", "student": "?"},
            "headers": {"X-Campaign": "rc"},
            "recipients": [{"to": "a@example.org", "vars": {"student": "Ada"}, "locale": "fr"}]
        }))
        .unwrap();
        let e = envelope(&bulk, &bulk.recipients[0], 0, &ctx());
        assert_eq!(e.id, send_id("bulk-1", 0));
        assert_eq!(e.causation_id.as_deref(), Some("bulk-1"));
        assert_eq!(e.tenant.as_deref(), Some("lincoln"));
        assert_eq!(e.payload["to"], json!(["a@example.org"]));
        assert_eq!(e.payload["vars"], json!({"term": "T1", "student": "Ada"}));
        assert_eq!(e.payload["locale"], "fr");
        assert_eq!(e.payload["headers"]["X-Campaign"], "rc");
        switchyard_contract::catalogue::validate("email.send", &e.payload).unwrap();
    }
}
