//! Edit-and-replay: fix a parked message's payload, validate it against its type's schema,
//! store what changed, and send the edited message as a new message linked to the original
//! (`causation_id`); the original is marked resolved and never sent as well.

use serde::Serialize;
use serde_json::{Value, json};
use switchyard_contract::catalogue::{self, PayloadError};
use switchyard_contract::{Envelope, FieldError};
use switchyard_store::dead_letters::ReplayOutcome;

use crate::{AdminError, Workbench};

/// What an edit did.
#[derive(Clone, Debug, Serialize)]
pub struct EditReport {
    /// The id of the new (edited) message.
    pub new_message_id: String,
    /// JSON pointers of the fields that changed.
    pub changed: Vec<String>,
}

impl Workbench {
    /// Replaces the payload of parked record `id` with `payload` and sends the result.
    pub async fn edit_and_replay(
        &self,
        id: i64,
        payload: Value,
        actor: &str,
    ) -> Result<EditReport, AdminError> {
        let bytes = self
            .store
            .dead_letter_payload(id, &self.cipher)
            .await?
            .ok_or(AdminError::NotFound(id))?;
        let original: Envelope =
            serde_json::from_slice(&bytes).map_err(|_| AdminError::NotEditable(id))?;
        catalogue::validate(&original.message_type, &payload).map_err(|e| match e {
            PayloadError::Invalid { errors, .. } => AdminError::Invalid(errors),
            PayloadError::UnknownType(t) => AdminError::Invalid(vec![FieldError::new(
                "/type",
                format!("`{t}` is not in the catalogue"),
            )]),
        })?;
        let mut changed = Vec::new();
        diff("/payload", &original.payload, &payload, &mut changed);
        if changed.is_empty() {
            return Err(AdminError::Invalid(vec![FieldError::new(
                "/payload",
                "unchanged; use replay to send it as it is",
            )]));
        }
        let edited = Envelope {
            id: uuid::Uuid::now_v7().to_string(),
            causation_id: Some(original.id.clone()),
            idempotency_key: None,
            occurred_at: chrono::Utc::now(),
            payload: payload.clone(),
            ..original.clone()
        };
        let stored_diff = json!({ "changed": changed, "before": original.payload, "after": payload, "new_message_id": edited.id });
        let body = serde_json::to_vec(&edited).expect("an envelope serialises");
        let new_id = edited.id.clone();
        let outcome = self
            .store
            .resolve_dead_letter_with_edit(
                id,
                stored_diff,
                &self.cipher,
                |mut record, _| async move {
                    record.message_id = new_id;
                    self.publish(record, body).await
                },
            )
            .await?;
        match outcome {
            ReplayOutcome::Replayed(new_message_id) => {
                self.audit(
                    actor,
                    "dlq.edit",
                    json!({ "id": id, "changed": changed, "new_message_id": new_message_id }),
                    1,
                )
                .await?;
                Ok(EditReport {
                    new_message_id,
                    changed,
                })
            }
            ReplayOutcome::NotParked => Err(AdminError::NotParked(id)),
            ReplayOutcome::PublishFailed(e) => Err(AdminError::Publish(e)),
        }
    }
}

/// Collects the JSON pointers where `before` and `after` differ.
fn diff(pointer: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                diff(&format!("{pointer}/{k}"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(pointer.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_changed_fields() {
        let mut out = Vec::new();
        diff(
            "/payload",
            &json!({"to": "+1", "body": "x", "vars": {"a": 1}}),
            &json!({"to": "+2", "body": "x", "vars": {"a": 2}}),
            &mut out,
        );
        assert_eq!(out, vec!["/payload/to", "/payload/vars/a"]);
    }
}
