//! The delivery-log write workers make themselves: "the provider has it". The runtime records
//! failures and parks; only the worker knows the provider's id for a success, and whether a
//! later status (a delivery receipt) may still follow.

use switchyard_contract::{DeliveryContext, Done};
use switchyard_store::{DeliveryStatus, DeliveryUpdate, Store, StoreError};

/// Records the delivery in `ctx` as `sent`, under the provider's id for it, and returns the
/// handler's success with that id.
pub async fn sent(
    store: &Store,
    integration: &str,
    ctx: &DeliveryContext,
    provider_ref: String,
) -> Result<Done, StoreError> {
    let update = DeliveryUpdate {
        message_id: ctx.message_id.clone(),
        integration: integration.into(),
        message_type: ctx.message_type.clone(),
        tenant: ctx.tenant.clone(),
        status: DeliveryStatus::Sent,
        provider_ref: Some(provider_ref.clone()),
        error_code: None,
    };
    store.upsert_delivery(&update).await?;
    Ok(Done {
        provider_ref: Some(provider_ref),
    })
}
