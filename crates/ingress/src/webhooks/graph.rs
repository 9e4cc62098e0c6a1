//! Microsoft Graph change notifications. A new subscription is validated with
//! `POST ?validationToken=…`, answered by echoing the token as `text/plain` within 10 s (and
//! nothing published). A notification batch carries `value[]`; every item must carry the
//! `clientState` we gave the subscription (compared in constant time), otherwise the whole
//! batch is refused: one forged item makes the request untrustworthy. Each item is one
//! `graph.event`, its `clientState` removed so the secret never travels on.
//!
//! Graph signs nothing and sends no timestamp, so there is no replay window: a replayed item
//! has the id of the original and is answered as a duplicate. The id is the item's `id` when
//! present, otherwise a hash of subscription, change type, resource and `resourceData` — the
//! latter included because the first three alone are equal for two changes of one resource.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

use super::shared::{Secret, any_ct_eq, sha256_hex};
use super::verifier::{Event, Inbound, Refusal, Verified, text_field};

/// A Graph subscription endpoint's verifier.
#[derive(Debug)]
pub struct Graph {
    /// The `clientState` values our subscriptions were created with.
    pub client_states: Vec<Secret>,
}

impl Graph {
    /// Echoes a validation token, or checks every item's `clientState`.
    pub fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        if let Some(token) = validation_token(request.query) {
            let mut reply = (StatusCode::OK, token).into_response();
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return Ok(Verified::Reply(reply));
        }
        // Not JSON cannot carry a clientState: refused as unverifiable, not as malformed.
        let body: Value =
            serde_json::from_slice(request.body).map_err(|_| Refusal::BadSignature)?;
        let items = body["value"]
            .as_array()
            .filter(|items| !items.is_empty())
            .ok_or(Refusal::BadSignature)?;
        items
            .iter()
            .map(|item| self.event(item))
            .collect::<Result<_, _>>()
            .map(Verified::Events)
    }

    fn event(&self, item: &Value) -> Result<Event, Refusal> {
        let state = item["clientState"].as_str().ok_or(Refusal::BadSignature)?;
        let states = self.client_states.iter().map(Secret::expose);
        if !any_ct_eq(state.as_bytes(), states) {
            return Err(Refusal::BadSignature);
        }
        let mut body = item.clone();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("clientState");
        }
        Ok(Event {
            id: text_field(item, "id").unwrap_or_else(|| derived_id(item)),
            event_type: text_field(item, "changeType"),
            body,
        })
    }
}

fn derived_id(item: &Value) -> String {
    let key = format!(
        "{}\n{}\n{}\n{}",
        item["subscriptionId"], item["changeType"], item["resource"], item["resourceData"]
    );
    format!("graph-{}", &sha256_hex(key.as_bytes())[..32])
}

/// The decoded `validationToken` query parameter.
fn validation_token(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find_map(|(name, value)| (name == "validationToken").then_some(value))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use serde_json::json;

    use super::*;

    fn check(query: Option<&str>, body: &Value) -> Result<Verified, Refusal> {
        let graph = Graph {
            client_states: vec![Secret::new("old-state"), Secret::new("state")],
        };
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = HeaderMap::new();
        graph.verify(&Inbound {
            headers: &headers,
            query,
            body: &bytes,
            now: 0,
        })
    }

    fn item(state: &str, etag: &str) -> Value {
        json!({"subscriptionId": "s1", "changeType": "updated", "resource": "Users/u/Events/e",
               "clientState": state, "resourceData": {"@odata.etag": etag}})
    }

    #[tokio::test]
    async fn echoes_the_validation_token_as_text() {
        let Ok(Verified::Reply(reply)) =
            check(Some("validationToken=Validation%3A+Token"), &json!(null))
        else {
            panic!("no echo")
        };
        assert_eq!(
            reply.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let bytes = axum::body::to_bytes(reply.into_body(), 1024).await.unwrap();
        assert_eq!(&bytes[..], b"Validation: Token");
    }

    #[test]
    fn publishes_each_item_without_its_client_state() {
        let Ok(Verified::Events(events)) = check(
            None,
            &json!({"value": [item("state", "1"), item("old-state", "2")]}),
        ) else {
            panic!("refused")
        };
        assert_eq!(events.len(), 2);
        assert_ne!(
            events[0].id, events[1].id,
            "two changes of one resource differ"
        );
        assert!(events[0].body.get("clientState").is_none());
        assert_eq!(events[0].event_type.as_deref(), Some("updated"));
    }

    #[test]
    fn one_wrong_client_state_refuses_the_batch() {
        let batch = json!({"value": [item("state", "1"), item("guess", "2")]});
        assert!(matches!(check(None, &batch), Err(Refusal::BadSignature)));
        assert!(matches!(
            check(None, &json!({"value": []})),
            Err(Refusal::BadSignature)
        ));
    }
}
