//! The admin HTTP API, `/v1/admin/dead-letters…`, for keys with the admin role. Same problem
//! responses as the ingress; a refused caller is audited too.

use std::num::NonZeroU32;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_ingress::auth;
use switchyard_ingress::problem::Problem;
use switchyard_store::Role;
use tokio_util::sync::CancellationToken;

use crate::filter::FilterArgs;
use crate::{AdminError, Workbench};

/// Replays over HTTP default to this rate, so a replay cannot starve live traffic.
const DEFAULT_RATE: u32 = 20;

/// The admin routes, ready to merge into the ingress router.
pub fn router(workbench: Workbench) -> Router {
    Router::new()
        .route("/v1/admin/dead-letters", get(list))
        .route("/v1/admin/dead-letters/groups", get(groups))
        .route("/v1/admin/dead-letters/replay", post(replay))
        .route("/v1/admin/dead-letters/purge", post(purge))
        .route("/v1/admin/dead-letters/{id}", get(show))
        .route("/v1/admin/dead-letters/{id}/payload", get(payload))
        .route("/v1/admin/dead-letters/{id}/edit", post(edit))
        .with_state(workbench)
}

/// Authenticates an admin; anyone else gets 403, and the attempt is audited.
async fn admin(w: &Workbench, headers: &HeaderMap, action: &str) -> Result<String, Problem> {
    let key = auth::authenticate(&w.store, headers).await?;
    let actor = format!("api-key:{} ({})", key.name, key.id);
    if key.role == Role::Admin {
        return Ok(actor);
    }
    let _ = w
        .audit(&actor, "dlq.forbidden", json!({ "attempted": action }), 0)
        .await;
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Admin role required",
        "this API needs a key with the admin role (`switchyard keys create --role admin`)",
    ))
}

fn filter_args(query: Option<String>) -> Result<FilterArgs, Problem> {
    serde_urlencoded::from_str(&query.unwrap_or_default())
        .map_err(|e| Problem::malformed(format!("query: {e}")))
}

fn problem(error: AdminError) -> Problem {
    match error {
        AdminError::NotFound(_) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            error.to_string(),
        ),
        AdminError::NotParked(_) => Problem::new(
            StatusCode::CONFLICT,
            "not-parked",
            "Not parked",
            error.to_string(),
        ),
        AdminError::NotEditable(_) => Problem::new(
            StatusCode::CONFLICT,
            "not-editable",
            "Not editable",
            error.to_string(),
        ),
        AdminError::Invalid(fields) => {
            Problem::invalid("the edited payload is invalid; nothing was sent", fields)
        }
        AdminError::BrokerDown | AdminError::Publish(_) => Problem::unavailable(error.to_string()),
        AdminError::Store(e) => Problem::unavailable(format!("database: {e}")),
    }
}

async fn list(
    State(w): State<Workbench>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    admin(&w, &headers, "list").await?;
    let args = filter_args(q)?;
    let filter = args
        .to_filter()
        .map_err(|f| Problem::invalid("bad filter", f))?;
    let (limit, offset) = (
        args.limit.unwrap_or(50).clamp(1, 500),
        args.offset.unwrap_or(0).max(0),
    );
    let total = w
        .store
        .count_dead_letters(&filter)
        .await
        .map_err(|e| problem(e.into()))?;
    let items = w
        .store
        .list_dead_letters(&filter, limit, offset)
        .await
        .map_err(|e| problem(e.into()))?;
    Ok(
        Json(json!({ "total": total, "limit": limit, "offset": offset, "items": items }))
            .into_response(),
    )
}

async fn groups(
    State(w): State<Workbench>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Problem> {
    admin(&w, &headers, "groups").await?;
    let filter = filter_args(q)?
        .to_filter()
        .map_err(|f| Problem::invalid("bad filter", f))?;
    let groups = w
        .store
        .dead_letter_groups(&filter)
        .await
        .map_err(|e| problem(e.into()))?;
    Ok(Json(groups).into_response())
}

async fn show(
    State(w): State<Workbench>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    admin(&w, &headers, "show").await?;
    let record = w
        .store
        .dead_letter(id)
        .await
        .map_err(|e| problem(e.into()))?
        .ok_or_else(|| problem(AdminError::NotFound(id)))?;
    let attempts = w
        .store
        .attempts(&record.message_id)
        .await
        .map_err(|e| problem(e.into()))?;
    Ok(Json(json!({ "record": record, "attempts": attempts })).into_response())
}

async fn payload(
    State(w): State<Workbench>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let actor = admin(&w, &headers, "payload").await?;
    Ok(Json(w.reveal(id, &actor).await.map_err(problem)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    #[serde(default)]
    filter: FilterArgs,
    rate: Option<u32>,
    #[serde(default)]
    dry_run: bool,
}

async fn replay(
    State(w): State<Workbench>,
    headers: HeaderMap,
    body: Result<Json<ReplayBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    let actor = admin(&w, &headers, "replay").await?;
    let Json(body) = body.map_err(|e| Problem::malformed(e.body_text()))?;
    let filter = body
        .filter
        .to_filter()
        .map_err(|f| Problem::invalid("bad filter", f))?;
    let rate = NonZeroU32::new(body.rate.unwrap_or(DEFAULT_RATE))
        .ok_or_else(|| Problem::invalid("rate must be at least 1", Vec::new()))?;
    let report = w
        .replay(
            &filter,
            rate,
            body.dry_run,
            &actor,
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .map_err(problem)?;
    Ok(Json(report).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    payload: Value,
}

async fn edit(
    State(w): State<Workbench>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Result<Json<EditBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    let actor = admin(&w, &headers, "edit").await?;
    let Json(body) = body.map_err(|e| Problem::malformed(e.body_text()))?;
    let report = w
        .edit_and_replay(id, body.payload, &actor)
        .await
        .map_err(problem)?;
    Ok(Json(report).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    #[serde(default)]
    filter: FilterArgs,
    #[serde(default)]
    confirm: bool,
}

async fn purge(
    State(w): State<Workbench>,
    headers: HeaderMap,
    body: Result<Json<PurgeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    let actor = admin(&w, &headers, "purge").await?;
    let Json(body) = body.map_err(|e| Problem::malformed(e.body_text()))?;
    if !body.confirm {
        let field = switchyard_contract::FieldError::new(
            "/confirm",
            "set `confirm: true`; purging cannot be undone",
        );
        return Err(Problem::invalid("purge needs confirmation", vec![field]));
    }
    let filter = body
        .filter
        .to_filter()
        .map_err(|f| Problem::invalid("bad filter", f))?;
    let purged = w.purge(&filter, &actor).await.map_err(problem)?;
    Ok(Json(json!({ "purged": purged })).into_response())
}
