//! The emulated Twilio REST API (2010-04-01): `Messages.json` to send, the account resource
//! as a health probe. Paths, auth, form fields and bodies match the real API, so worker code
//! written against Twilio runs unchanged against the sandbox.

pub(crate) mod error;
pub(crate) mod message;
mod validate;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::json;

use self::error::TwilioError;
use self::message::{API_VERSION, Message};
use crate::callbacks;
use crate::provider::{Answer, Incoming, recorded};
use crate::state::AppState;

/// The Twilio routes, plus a Twilio-style 404 for every other path.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(create_message).get(list_messages),
        )
        // `{AccountSid}.json` is one path segment and the router matches whole segments only,
        // so the handler strips the suffix itself.
        .route("/2010-04-01/Accounts/{account_json}", get(fetch_account))
        .fallback(unknown_path)
}

impl From<TwilioError> for Answer {
    fn from(err: TwilioError) -> Self {
        let response = err.into_response();
        Self {
            response,
            message_sid: None,
        }
    }
}

/// Credentials and account first, then latency and faults: the order real failures come in,
/// since a provider checks who is calling before it can be overloaded on their behalf.
async fn admit(state: &AppState, incoming: &Incoming, account: &str) -> Result<(), TwilioError> {
    validate::authorize(&incoming.headers, account, &incoming.path, &state.twilio)?;
    match state.injected_fault().await {
        Some(fault) => Err(TwilioError::injected(fault)),
        None => Ok(()),
    }
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
async fn create_message(
    State(state): State<AppState>,
    Path(account): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &body);
    let work = move |state, incoming| send_message(state, incoming, account);
    recorded(&state, &method, incoming, work).await
}

async fn send_message(state: AppState, incoming: Incoming, account: String) -> Answer {
    let accepted = async {
        admit(&state, &incoming, &account).await?;
        let request = validate::message(&incoming.form)?;
        Ok::<_, TwilioError>(Message::accept(&state.twilio.account_sid, request))
    };
    match accepted.await {
        Ok(message) => {
            state.remember(&message);
            callbacks::schedule(&state, &message);
            let response = (StatusCode::CREATED, Json(message.to_json())).into_response();
            Answer {
                response,
                message_sid: Some(message.sid),
            }
        }
        Err(err) => err.into(),
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages.json[?To=…&From=…&PageSize=…]`: the
/// account's messages, newest first, as Twilio lists them (first page only).
async fn list_messages(
    State(state): State<AppState>,
    Path(account): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &Bytes::new());
    let query = uri.query().unwrap_or_default().to_owned();
    let work = move |state, incoming| list(state, incoming, account, query);
    recorded(&state, &method, incoming, work).await
}

async fn list(state: AppState, incoming: Incoming, account: String, query: String) -> Answer {
    if let Err(err) = admit(&state, &incoming, &account).await {
        return err.into();
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&query).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (to, from) = (param("To"), param("From"));
    let page_size = param("PageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(50usize)
        .clamp(1, 1000);
    let page_number: usize = param("Page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let matches = |m: &Message| {
        to.as_ref().is_none_or(|t| &m.request.to == t)
            && from
                .as_ref()
                .is_none_or(|f| m.request.from.as_ref() == Some(f))
    };
    let all = state.messages_where(matches);
    let page: Vec<serde_json::Value> = all
        .iter()
        .skip(page_number * page_size)
        .take(page_size)
        .map(Message::to_json)
        .collect();
    let uri = format!("/{API_VERSION}/Accounts/{account}/Messages.json");
    // Twilio pages with a `next_page_uri` the client follows as is.
    let page_uri = |number: usize| {
        let mut query: Vec<(&str, String)> = vec![
            ("PageSize", page_size.to_string()),
            ("Page", number.to_string()),
        ];
        query.extend(to.iter().map(|t| ("To", t.clone())));
        query.extend(from.iter().map(|f| ("From", f.clone())));
        format!(
            "{uri}?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        )
    };
    let more = all.len() > (page_number + 1) * page_size;
    let body = json!({
        "messages": page,
        "page": page_number,
        "page_size": page_size,
        "uri": page_uri(page_number),
        "first_page_uri": page_uri(0),
        "next_page_uri": more.then(|| page_uri(page_number + 1)),
        "previous_page_uri": (page_number > 0).then(|| page_uri(page_number - 1)),
    });
    Answer {
        response: Json(body).into_response(),
        message_sid: None,
    }
}

/// `GET /2010-04-01/Accounts/{AccountSid}.json`: the cheap probe Switchyard's circuit
/// breaker uses, so it is subject to the same faults as sending.
async fn fetch_account(
    State(state): State<AppState>,
    Path(account_json): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &Bytes::new());
    let work = move |state, incoming| account(state, incoming, account_json);
    recorded(&state, &method, incoming, work).await
}

async fn account(state: AppState, incoming: Incoming, account_json: String) -> Answer {
    let Some(sid) = account_json.strip_suffix(".json") else {
        return TwilioError::not_found(&incoming.path).into();
    };
    if let Err(err) = admit(&state, &incoming, sid).await {
        return err.into();
    }
    let created = state.started_at.to_rfc2822();
    let body = json!({
        "sid": sid,
        "owner_account_sid": sid,
        "friendly_name": "Switchyard sandbox",
        "status": "active",
        "type": "Full",
        "date_created": created,
        "date_updated": created,
        "uri": format!("/{API_VERSION}/Accounts/{sid}.json"),
    });
    Answer {
        response: Json(body).into_response(),
        message_sid: None,
    }
}

/// Any other path, answered the way Twilio answers an unknown resource. Recorded, since a
/// misspelt provider path is worth seeing in the record; a misspelt admin path is not.
async fn unknown_path(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with(crate::admin::PREFIX) {
        return TwilioError::not_found(uri.path()).into_response();
    }
    let incoming = Incoming::new(&uri, headers, &body);
    let work = |_, incoming: Incoming| async move { TwilioError::not_found(&incoming.path).into() };
    recorded(&state, &method, incoming, work).await
}
