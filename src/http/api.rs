//! The service's own API: health, readiness, metrics, the OpenAPI document, `/v1/resolve` and
//! `/v1/sign`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::common::{authorize, parse_mode, read_json_body, rewritten_response, within_deadline};
use super::error::ApiError;
use super::state::AppState;
use crate::auth::Scope;
use crate::error_code::ErrorCode;
use crate::uri::StorageUri;

/// Liveness, in the shape Label Studio expects from an ML backend. No storage I/O.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "UP",
        "model_class": "ls-presign",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// The OpenAPI 3 description of this API (docs/openapi.json, built in).
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("../../docs/openapi.json"))
}

/// Readiness: every storage answers signed requests and Label Studio (when configured) answers
/// with the configured token. `503` with the failing checks otherwise.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    /// "ok", or why not: each check gets 3 s.
    async fn outcome<E: std::fmt::Display>(check: impl std::future::Future<Output = Result<(), E>>) -> String {
        match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 3 s".to_owned(),
        }
    }
    let mut checks = serde_json::Map::new();
    for (i, s) in state.storages.all().iter().enumerate() {
        let name = format!("{}://{}", s.config.scheme, s.config.bucket);
        checks.insert(name, outcome(state.storages.probe(i)).await.into());
    }
    if let Some(ls) = &state.label_studio {
        checks.insert("label_studio".into(), outcome(ls.ping()).await.into());
    }
    let ok = checks.values().all(|r| r == "ok");
    let status = if ok { "ready" } else { "not_ready" };
    let body = json!({ "status": status, "checks": checks });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(state.resolver.cache_stats()))
}

/// `POST /v1/resolve`: the same JSON back, with references rewritten.
pub async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, Scope::Resolve)?;
    let output = parse_mode(req.query_string())?;
    let body = read_json_body(&req, payload, state.config.server.max_body_bytes).await?;
    within_deadline(&state, async {
        let r = state.resolver.rewrite(&body, output, crate::time::now()).await?;
        Ok(rewritten_response(r))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    uri: Option<String>,
    uris: Option<Vec<String>>,
    method: Option<String>,
}

/// `POST /v1/sign`: `{"uri": ...}` → one result, `{"uris": [...]}` → `{"results": [...]}`.
pub async fn sign(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &req, Scope::Resolve)?;
    let body = read_json_body(&req, payload, state.config.server.max_body_bytes).await?;
    let b: SignBody = serde_json::from_slice(&body)?;
    let method = match b.method.as_deref().unwrap_or("GET") {
        m @ ("GET" | "HEAD") => m,
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidMethod,
                format!("method {other:?}: only GET and HEAD are signed"),
            ));
        }
    };
    let now = crate::time::now();
    let one = |uri: &str| -> Result<serde_json::Value, ApiError> {
        let parsed = StorageUri::parse(uri).map_err(|e| ApiError::new(ErrorCode::InvalidUri, e.to_string()))?;
        let signed = state.resolver.presigned(&parsed, method, now)?;
        Ok(json!({
            "uri": uri,
            "url": signed.url,
            "method": method,
            "expires_at": crate::time::rfc3339(signed.expires_at),
        }))
    };
    match (b.uri, b.uris) {
        (Some(uri), None) => Ok(HttpResponse::Ok().json(one(&uri)?)),
        (None, Some(uris)) => {
            let results: Vec<_> = uris
                .iter()
                .map(|u| one(u).unwrap_or_else(|e| json!({"uri": u, "error": {"code": e.code, "message": e.message}})))
                .collect();
            Ok(HttpResponse::Ok().json(json!({ "results": results })))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "send {\"uri\": \"oss://bucket/key\"} or {\"uris\": [...]}",
        )),
    }
}
