//! The one middleware, wrapped around every route: CORS, the request id, the access log (where
//! a 5xx's cause is logged, once) and request metrics.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::error::ApiError;
use super::inflight::Tracked;
use super::state::AppState;

/// Response headers a browser script may read (the rewrite tallies, proxy range headers).
const EXPOSED: &str = "LS-Presign-Rewritten, LS-Presign-Skipped, LS-Presign-Failed, LS-Presign-Errors, ETag, Content-Range, Content-Length, X-Request-Id";

/// Answers CORS preflights, adds the CORS headers every browser-read response needs, logs and
/// counts requests by route and status, and (over TLS) keeps each request counted as in flight
/// until its body is done.
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
                let resp = preflight(req.request());
                req.into_response(resp).map_into_right_body()
            } else {
                next.call(req).await?.map_into_left_body()
            };
            access_log(&res, started);
            Ok::<_, actix_web::Error>(res)
        })
        .await?;
    // Links are counted under one name without asking the router (a scope has no pattern).
    let route: std::borrow::Cow<'static, str> = if res.request().path().starts_with("/r/") {
        "/r/{token}".into()
    } else {
        res.request().match_pattern().map_or("unmatched".into(), Into::into)
    };
    state.metrics.request(&route, res.status().as_u16());
    let headers = res.headers_mut();
    let cors = &state.config.server.cors_origin;
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, cors.header_value().clone());
    if !cors.is_any() {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    if let Some(mut v) = id_header {
        // Unique per response: not worth a place in HTTP/2's HPACK table (see `links::link`).
        v.set_sensitive(true);
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    Ok(res.map_body(|_, body| Tracked::new(body, in_flight)))
}

/// The answer to a CORS preflight.
fn preflight(req: &actix_web::HttpRequest) -> HttpResponse {
    let allow_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("authorization, content-type"));
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// The access log line: the path without its query, which may carry anything. Successes at
/// debug (a busy service answers thousands of redirects a second), client errors at info,
/// server errors at warn — with what went wrong, the one place a 5xx is logged — and 500s at
/// error.
fn access_log<B>(res: &ServiceResponse<B>, started: std::time::Instant) {
    let status = res.status().as_u16();
    let level = match status {
        500 => log::Level::Error,
        501.. => log::Level::Warn,
        400.. => log::Level::Info,
        _ => log::Level::Debug,
    };
    if !log::log_enabled!(level) {
        return;
    }
    let req = res.request();
    let peer = req.peer_addr().map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = res.response().error().and_then(|e| e.as_error::<ApiError>());
    match error {
        Some(e) if status >= 500 => log::log!(
            level,
            "{peer} {} {} {status} {elapsed_ms:.1}ms: {e}",
            req.method(),
            req.path()
        ),
        _ => log::log!(
            level,
            "{peer} {} {} {status} {elapsed_ms:.1}ms",
            req.method(),
            req.path()
        ),
    }
}
