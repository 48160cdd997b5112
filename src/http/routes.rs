//! Routes, handlers and the one middleware (CORS headers and request metrics).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;

use super::inflight::Tracked;
use super::{ApiError, AppState, hooks};
use crate::auth::Scope;
use crate::config::Mode;
use crate::resolve::{Output, Rewritten};
use crate::storage::ReadOptions;
use crate::uri::StorageUri;

/// Response headers a browser script may read (the rewrite tallies, proxy range headers).
const EXPOSED: &str = "LS-Presign-Rewritten, LS-Presign-Skipped, LS-Presign-Failed, LS-Presign-Errors, ETag, Content-Range, Content-Length, X-Request-Id";

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(health)))
        .service(resource("/metrics").route(web::get().to(metrics)))
        .service(resource("/ready").route(web::get().to(ready)))
        .service(resource("/openapi.json").route(web::get().to(openapi)))
        .service(resource("/v1/resolve").route(web::post().to(resolve)))
        .service(resource("/v1/sign").route(web::post().to(sign)))
        // A prefix scope, not a `/r/{token}` pattern: matching a ~200-character token against
        // the router's pattern costs more than the rest of the redirect (docs/PERFORMANCE.md).
        .service(web::scope("/r").default_service(web::to(link)))
        .service(resource("/webhook").route(web::post().to(hooks::webhook)))
        .service(resource("/setup").route(web::post().to(hooks::setup)))
        .service(resource("/predict").route(web::post().to(hooks::predict)))
        .service(resource("/versions").route(web::get().to(hooks::versions)))
        .service(resource("/v1/tasks/{id}").route(web::get().to(hooks::task)))
        .service(resource("/v1/projects/{id}/tasks").route(web::get().to(hooks::project_tasks)))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::bad_request("invalid_path", e.to_string()).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::bad_request("invalid_query", e.to_string()).into()),
        )
        .default_service(web::to(not_found));
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// The middleware wrapped around every route: answers CORS preflights, adds the CORS headers
/// every browser-read response needs, counts requests by route and status, and (over TLS)
/// keeps each request counted as in flight until its body is done.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Tracked<EitherBody<impl MessageBody>>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next
            .call(req)
            .await?
            .map_into_left_body()
            .map_body(|_, b| Tracked::new(b, None)));
    };
    let in_flight = state.in_flight.as_ref().map(|f| f.enter());
    let id = crate::logging::request_id_from(req.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
    let id_header = HeaderValue::from_str(&id).ok();
    let started = std::time::Instant::now();
    let mut res = crate::logging::REQUEST_ID
        .scope(id, async move {
            let res = if req.method() == Method::OPTIONS
                && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            {
                let allow_headers = req
                    .headers()
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static("authorization, content-type"));
                let resp = HttpResponse::NoContent()
                    .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, POST, OPTIONS"))
                    .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers))
                    .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
                    .finish();
                req.into_response(resp).map_into_right_body()
            } else {
                next.call(req).await?.map_into_left_body()
            };
            // The access log line: the path without its query, which may carry anything.
            // Successes at debug (a busy service answers thousands of redirects a second),
            // client errors at info, server errors at warn.
            let status = res.status().as_u16();
            let level = match status {
                500.. => log::Level::Warn,
                400.. => log::Level::Info,
                _ => log::Level::Debug,
            };
            if log::log_enabled!(level) {
                let req = res.request();
                let peer = req.peer_addr().map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
                log::log!(
                    level,
                    "{peer} {} {} {status} {:.1}ms",
                    req.method(),
                    req.path(),
                    started.elapsed().as_secs_f64() * 1000.0
                );
            }
            Ok::<_, actix_web::Error>(res)
        })
        .await?;
    // Links are counted under one name without asking the router (a scope has no pattern).
    let route: std::borrow::Cow<'static, str> = if res.request().path().starts_with("/r/") {
        "/r/{token}".into()
    } else {
        res.request().match_pattern().map_or("unmatched".into(), Into::into)
    };
    state.resolver.metrics.request(&route, res.status().as_u16());
    let headers = res.headers_mut();
    let cors = &state.config.server.cors_origin;
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.header_value().clone());
    if !cors.is_any() {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    if let Some(mut v) = id_header {
        // Unique per response: not worth a place in HTTP/2's HPACK table (see `link`).
        v.set_sensitive(true);
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    Ok(res.map_body(|_, body| Tracked::new(body, in_flight)))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

/// Liveness, in the shape Label Studio expects from an ML backend. No storage I/O.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "UP",
        "model_class": "ls-presign",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// The OpenAPI 3 description of this API (docs/openapi.json, built in).
async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("../../docs/openapi.json"))
}

/// Readiness: every storage answers signed requests and Label Studio (when configured) answers
/// with the configured token. `503` with the failing checks otherwise.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    /// "ok", or why not: each check gets 3 s.
    async fn outcome<E: std::fmt::Display>(check: impl std::future::Future<Output = Result<(), E>>) -> String {
        match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 3 s".to_owned(),
        }
    }
    let mut checks = serde_json::Map::new();
    for (i, s) in state.resolver.storages.all().iter().enumerate() {
        let name = format!("{}://{}", s.config.scheme, s.config.bucket);
        checks.insert(name, outcome(state.resolver.storages.probe(i)).await.into());
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

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let r = &state.resolver;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(r.metrics.render(r.cache.stats()))
}

/// Reads a JSON request body of at most `limit` bytes.
pub(super) async fn read_json_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Type {essence:?} is not JSON: send application/json"),
            ));
        }
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes (LS_PRESIGN_MAX_BODY_BYTES)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request("invalid_body", format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty: send JSON",
        ));
    }
    Ok(body)
}

/// `?mode=presign|link|inline`, the only query parameter of `/v1/resolve`.
fn parse_mode(query: &str) -> Result<Option<Output>, ApiError> {
    let mut mode = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "mode" => {
                mode = Some(
                    v.parse::<Output>()
                        .map_err(|e| ApiError::bad_request("invalid_mode", format!("mode: {e}")))?,
                )
            }
            other => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown query parameter {other:?}; only mode=presign|link|inline"),
                ));
            }
        }
    }
    Ok(mode)
}

/// Runs a handler's work under `LS_PRESIGN_REQUEST_TIMEOUT` (storage and Label Studio calls
/// can be slow); a response body already streaming is not cut.
pub(super) async fn within_deadline(
    state: &AppState,
    work: impl std::future::Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.server.request_timeout;
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {} s (LS_PRESIGN_REQUEST_TIMEOUT)",
                limit.as_secs()
            ),
        ))
    })
}

/// `POST /v1/resolve`: the same JSON back, with references rewritten.
async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    hooks::authorize(&state, &req, Scope::Resolve)?;
    let output = parse_mode(req.query_string())?;
    let body = read_json_body(&req, payload, state.config.server.max_body_bytes).await?;
    within_deadline(&state, async {
        let r = state.resolver.rewrite(&body, output, crate::now()).await?;
        Ok(rewritten_response(r))
    })
    .await
}

/// The rewritten JSON with its tallies (and failures) in headers.
pub(super) fn rewritten_response(r: Rewritten) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/json")
        .insert_header(("LS-Presign-Rewritten", r.rewritten.to_string()))
        .insert_header(("LS-Presign-Skipped", r.skipped.to_string()))
        .insert_header(("LS-Presign-Failed", r.failed.to_string()));
    if !r.failures.is_empty() {
        for f in &r.failures {
            log::warn!("reference not resolved: {} ({})", f.message, f.code);
        }
        resp.insert_header(("LS-Presign-Errors", ascii_json(&r.failures)));
    }
    resp.body(r.body)
}

/// JSON with every non-ASCII character escaped, safe in a header; cut at 4 KiB.
fn ascii_json(v: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
        if out.len() > 4096 {
            out.truncate(4096);
            break;
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    uri: Option<String>,
    uris: Option<Vec<String>>,
    method: Option<String>,
}

/// `POST /v1/sign`: `{"uri": ...}` → one result, `{"uris": [...]}` → `{"results": [...]}`.
async fn sign(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    hooks::authorize(&state, &req, Scope::Resolve)?;
    let body = read_json_body(&req, payload, state.config.server.max_body_bytes).await?;
    let b: SignBody = serde_json::from_slice(&body)?;
    let method = match b.method.as_deref().unwrap_or("GET") {
        m @ ("GET" | "HEAD") => m,
        other => {
            return Err(ApiError::bad_request(
                "invalid_method",
                format!("method {other:?}: only GET and HEAD are signed"),
            ));
        }
    };
    let now = crate::now();
    let one = |uri: &str| -> Result<serde_json::Value, ApiError> {
        let parsed = StorageUri::parse(uri).map_err(|e| ApiError::bad_request("invalid_uri", e.to_string()))?;
        let signed = state.resolver.presigned(&parsed, method, now)?;
        Ok(json!({
            "uri": uri,
            "url": signed.url,
            "method": method,
            "expires_at": crate::rfc3339(signed.expires_at),
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
        _ => Err(ApiError::bad_request(
            "invalid_request",
            "send {\"uri\": \"oss://bucket/key\"} or {\"uris\": [...]}",
        )),
    }
}

/// `GET /r/{token}`: a stable link. Presign mode answers 303 to the cached presigned URL; inline
/// and proxy modes stream the bytes through.
async fn link(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return method_not_allowed(req).await;
    }
    let Some(token) = req
        .path()
        .strip_prefix("/r/")
        .filter(|t| !t.is_empty() && !t.contains('/'))
    else {
        return not_found(req).await;
    };
    let links = state
        .resolver
        .links()
        .ok_or_else(|| ApiError::internal(&"no link secret"))?;
    let uri = links
        .verify(token)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, "invalid_link", e.to_string()))?;
    let found = state.resolver.storages.find(&uri)?;
    let storage = found.1;
    if storage.config.mode == Mode::Presign {
        let now = crate::now();
        let signed = state.resolver.presigned_in(found, &uri, "GET", now);
        // Let the browser reuse the redirect until shortly before the URL expires.
        let margin = (storage.config.ttl / 10).min(300) as i64;
        let max_age = (signed.expires_at - now - margin).max(0);
        // A presigned URL is a credential, and no two are alike: HTTP/2 sends it as a
        // never-indexed literal instead of filling the connection's HPACK table with it.
        let mut location = HeaderValue::try_from(signed.url).map_err(|e| ApiError::internal(&e))?;
        location.set_sensitive(true);
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, format!("private, max-age={max_age}")))
            .finish());
    }
    within_deadline(&state, proxy(&state, &req, &uri)).await
}

/// Streams an object through the service, passing Range and conditional headers both ways.
async fn proxy(state: &AppState, req: &HttpRequest, uri: &StorageUri) -> Result<HttpResponse, ApiError> {
    let header_of = |name: HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let opts = ReadOptions {
        method_head: req.method() == Method::HEAD,
        range: header_of(header::RANGE),
        if_none_match: header_of(header::IF_NONE_MATCH),
        if_modified_since: header_of(header::IF_MODIFIED_SINCE),
        origin: None,
    };
    let upstream = state.resolver.storages.read(uri, &opts).await?;
    let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = HttpResponse::build(status);
    for name in [
        "content-type",
        "content-range",
        "etag",
        "last-modified",
        "accept-ranges",
        "cache-control",
        "content-disposition",
    ] {
        if let Some(v) = upstream
            .headers()
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            resp.insert_header((name, v));
        }
    }
    if !upstream.headers().contains_key("cache-control") {
        resp.insert_header((header::CACHE_CONTROL, "private, no-cache"));
    }
    // From the header: for a HEAD response the client's body-length hint is 0.
    let length = upstream
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(len) = length.filter(|_| status != StatusCode::NOT_MODIFIED) {
        resp.no_chunking(len);
    }
    if opts.method_head || status == StatusCode::NOT_MODIFIED {
        // An empty stream with the declared length: HEAD keeps the object's Content-Length.
        return Ok(resp.streaming(futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    }
    Ok(resp.streaming(upstream.bytes_stream().map_err(|e| e.without_url())))
}
