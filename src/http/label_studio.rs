//! What serves Label Studio: the webhook, the ML-backend endpoints, and task reads for
//! annotation scripts.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::common::{authorize, read_json_body, rewritten_response, within_deadline};
use super::error::ApiError;
use super::state::AppState;
use crate::auth::Scope;
use crate::error_code::ErrorCode;
use crate::labelstudio::LabelStudio;
use crate::resolve::RewriteAs;

/// Model version reported to Label Studio.
fn model_version() -> String {
    format!("ls-presign-{}", env!("CARGO_PKG_VERSION"))
}

/// ML-backend endpoints need Basic auth only when `BASIC_AUTH_USER`/`BASIC_AUTH_PASS` are set,
/// as Label Studio's own ML backends do.
fn authorize_ml(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    if state.auth.has_basic() {
        authorize(state, req, Scope::Webhook)
    } else {
        Ok(())
    }
}

fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::LabelStudioNotConfigured,
        "set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY to talk to Label Studio",
    )
}

/// Label Studio, when configured.
fn label_studio(state: &AppState) -> Result<&LabelStudio, ApiError> {
    state.label_studio.as_deref().ok_or_else(not_configured)
}

/// Webhook actions counted by name in metrics; anything else is counted as `other`.
const KNOWN_ACTIONS: [&str; 14] = [
    "TASKS_CREATED",
    "TASKS_DELETED",
    "ANNOTATION_CREATED",
    "ANNOTATIONS_CREATED",
    "ANNOTATION_UPDATED",
    "ANNOTATIONS_DELETED",
    "PROJECT_CREATED",
    "PROJECT_UPDATED",
    "PROJECT_DELETED",
    "LABEL_LINK_CREATED",
    "LABEL_LINK_UPDATED",
    "LABEL_LINK_DELETED",
    "START_TRAINING",
    "REVIEW_CREATED",
];

/// `POST /webhook`: Label Studio project webhooks (and ML-backend webhooks). Answers at once;
/// `TASKS_CREATED` queues the tasks for write-back.
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, Scope::Webhook)?;
    let body = read_json_body(&req, payload, state.config.server.max_body_bytes).await?;
    let mut event: Value = serde_json::from_slice(&body)?;
    let action = event
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidWebhook, "the webhook has no \"action\""))?
        .to_owned();
    let label = KNOWN_ACTIONS.iter().find(|a| **a == action).copied().unwrap_or("other");
    state.metrics.count("webhooks_total", label, 1);
    // Project webhooks name their project: the reconcile loop looks after it from now on.
    if let (Some(projects), Some(project)) = (&state.projects, event["project"]["id"].as_u64()) {
        projects.saw(project);
    }
    if let Some(exporter) = &state.exporter {
        let queued = exporter.handle(&event).map_err(|f| {
            ApiError::new(
                ErrorCode::QueueFull,
                format!(
                    "the export queue has room for {} objects, {} were sent; try again later",
                    f.free, f.wanted
                ),
            )
        })?;
        if queued.writes + queued.deletes > 0 {
            let export = json!({"writes": queued.writes, "deletes": queued.deletes});
            return Ok(HttpResponse::Ok().json(json!({"action": action, "handled": true, "export": export})));
        }
    }
    if action != "TASKS_CREATED" {
        return Ok(HttpResponse::Ok().json(json!({"action": action, "handled": false})));
    }
    let tasks = match event.get_mut("tasks").map(Value::take) {
        Some(Value::Array(tasks)) => tasks,
        // "Send payload" is off in the webhook settings: nothing to rewrite from.
        None => {
            log::warn!("TASKS_CREATED webhook without tasks: enable \"Send payload\" in the webhook settings");
            return Ok(HttpResponse::Ok().json(json!({"action": action, "handled": false, "queued": 0})));
        }
        Some(_) => return Err(ApiError::new(ErrorCode::InvalidWebhook, "\"tasks\" must be a list")),
    };
    let queue = state.queue.as_ref().ok_or_else(not_configured)?;
    let queued = queue.push_all(tasks)?;
    Ok(HttpResponse::Ok().json(json!({"action": action, "handled": true, "queued": queued})))
}

/// `POST /setup`: what Label Studio calls when the service is connected as an ML backend.
pub async fn setup(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    authorize_ml(&state, &req)?;
    Ok(HttpResponse::Ok().json(json!({ "model_version": model_version() })))
}

/// `GET /versions`.
pub async fn versions(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    authorize_ml(&state, &req)?;
    Ok(HttpResponse::Ok().json(json!({ "versions": [model_version()] })))
}

/// `POST /predict`: valid, empty predictions — ls-presign labels nothing.
pub async fn predict(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authorize_ml(&state, &req)?;
    let body = read_json_body(&req, payload, state.config.server.max_body_bytes).await?;
    let v: Value = serde_json::from_slice(&body)?;
    let n = v.get("tasks").and_then(Value::as_array).map_or(0, Vec::len);
    let version = model_version();
    let results: Vec<Value> = (0..n)
        .map(|_| json!({"result": [], "score": 0.0, "model_version": version}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "results": results, "model_version": version })))
}

/// Rewrites a task (or page) read from Label Studio to direct presigned URLs.
async fn presigned_json(state: &AppState, value: &Value) -> Result<HttpResponse, ApiError> {
    let src = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
    let out = state
        .resolver
        .rewrite(&src, Some(RewriteAs::Presign), crate::time::now())
        .await?;
    Ok(rewritten_response(out))
}

/// Replaces the stable links in a task's `data` with the URIs they name, so the rewrite that
/// follows produces direct presigned URLs.
fn unlink(state: &AppState, task: &mut Value) {
    if let Some(data) = task.get_mut("data") {
        state.resolver.unlink(data);
    }
}

/// `GET /v1/tasks/{id}`: the task from Label Studio with direct presigned URLs. Stable links
/// already in the task (written back) are resolved too, so scripts get URLs to the store.
pub async fn task(state: web::Data<AppState>, req: HttpRequest, id: web::Path<u64>) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, Scope::Resolve)?;
    let ls = label_studio(&state)?;
    within_deadline(&state, async {
        let mut task = ls.get_task(*id).await?;
        unlink(&state, &mut task);
        presigned_json(&state, &task).await
    })
    .await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    page: Option<u64>,
    page_size: Option<u64>,
}

/// `GET /v1/projects/{id}/tasks?page=1&page_size=100`.
pub async fn project_tasks(
    state: web::Data<AppState>,
    req: HttpRequest,
    project: web::Path<u64>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, Scope::Resolve)?;
    let ls = label_studio(&state)?;
    let page = paging.page.unwrap_or(1).max(1);
    let page_size = paging.page_size.unwrap_or(100).clamp(1, 1000);
    within_deadline(&state, async {
        let mut got = ls.list_tasks(*project, page, page_size).await?;
        got.tasks.iter_mut().for_each(|t| unlink(&state, t));
        let body =
            json!({"project": *project, "page": page, "page_size": page_size, "total": got.total, "tasks": got.tasks});
        presigned_json(&state, &body).await
    })
    .await
}
