//! Publishing an accepted envelope to the main exchange, mandatory and confirmed, and turning
//! broker outcomes into HTTP answers.

use switchyard_broker::{PublishError, properties};
use switchyard_contract::{Envelope, FieldError};

use crate::AppState;
use crate::problem::Problem;

/// Publishes `envelope`; `Ok` only once RabbitMQ confirmed it.
pub async fn envelope(state: &AppState, envelope: &Envelope) -> Result<(), Problem> {
    match confirmed(state, envelope).await {
        Ok(()) => Ok(()),
        Err(PublishError::Unroutable(key)) => Err(Problem::invalid(
            format!("no queue takes `{key}`; add it to a queue's routing_keys in queues.toml"),
            vec![FieldError::new("/type", "unroutable message type")],
        )),
        Err(
            error @ (PublishError::Unavailable(_)
            | PublishError::Nacked
            | PublishError::ConfirmTimeout(_)),
        ) => Err(unavailable(&error)),
    }
}

/// The 503 for a publish RabbitMQ did not confirm.
pub fn unavailable(error: &PublishError) -> Problem {
    tracing::warn!(%error, "publish failed; answering 503");
    Problem::unavailable(
        "the message broker did not confirm the message; nothing was accepted, retry later",
    )
}

/// Publishes `envelope` mandatory; `Ok` only once RabbitMQ confirmed it.
pub async fn confirmed(state: &AppState, envelope: &Envelope) -> Result<(), PublishError> {
    let body = serde_json::to_vec(envelope).expect("an envelope always serialises");
    let props = properties::for_envelope(
        &envelope.id,
        &envelope.message_type,
        envelope.correlation_id.as_deref(),
    );
    let exchange = state.publisher.broker().topology().main_exchange();
    state
        .publisher
        .publish(&exchange, &envelope.message_type, &body, props, true)
        .await
}
