//! `GET /r/{token}`: stable links. Presign mode answers 303 to the cached presigned URL; inline
//! and proxy modes stream the bytes through.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use super::common::within_deadline;
use super::error::{ApiError, method_not_allowed, not_found};
use super::state::AppState;
use crate::error_code::ErrorCode;
use crate::resolve::Opened;
use crate::session::{Sessions, Verdict};
use crate::storage::{PASSED_ON, ReadOptions};
use crate::uri::StorageUri;

/// `GET|HEAD /r/{token}`.
pub async fn link(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
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
    if let Some(sessions) = &state.sessions {
        signed_in(sessions, &req).await?;
    }
    match state.resolver.open(token, crate::time::now())? {
        Opened::Redirect { url, max_age } => {
            // A presigned URL is a credential, and no two are alike: HTTP/2 sends it as a
            // never-indexed literal instead of filling the connection's HPACK table with it.
            let mut location = HeaderValue::try_from(url).map_err(|e| ApiError::internal(&e))?;
            location.set_sensitive(true);
            // Behind a login the browser asks again each time, so signing out ends the redirects.
            let cache = match state.sessions {
                Some(_) => "private, no-cache".to_owned(),
                None => format!("private, max-age={max_age}"),
            };
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, cache))
                .finish())
        }
        Opened::Stream(uri) => within_deadline(&state, proxy(&state, &req, &uri)).await,
    }
}

/// `LS_PRESIGN_LINK_POLICY=login`: the request must carry a Label Studio session that Label
/// Studio accepts; otherwise 401, never a redirect to a login page (an image cannot follow it).
async fn signed_in(sessions: &Sessions, req: &HttpRequest) -> Result<(), ApiError> {
    let cookies = req.headers().get_all(header::COOKIE).map(HeaderValue::as_bytes);
    let why = match sessions.check(cookies).await? {
        Verdict::SignedIn => return Ok(()),
        Verdict::NoCookie => "this link needs a Label Studio login: the request has no Label Studio session cookie",
        Verdict::Refused => {
            "this link needs a Label Studio login: Label Studio does not accept the session (signed out or expired)"
        }
    };
    Err(ApiError::new(ErrorCode::LoginRequired, why))
}

/// Streams an object through the service, passing Range and conditional headers both ways.
async fn proxy(state: &AppState, req: &HttpRequest, uri: &StorageUri) -> Result<HttpResponse, ApiError> {
    let header_of = |name: HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let opts = ReadOptions {
        method_head: req.method() == Method::HEAD,
        range: header_of(header::RANGE),
        if_none_match: header_of(header::IF_NONE_MATCH),
        if_modified_since: header_of(header::IF_MODIFIED_SINCE),
    };
    let upstream = state.storages.read(uri, &opts).await?;
    let status = StatusCode::from_u16(upstream.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = HttpResponse::build(status);
    for name in PASSED_ON {
        if let Some(v) = upstream
            .headers
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            resp.insert_header((name, v));
        }
    }
    if !upstream.headers.contains_key("cache-control") {
        resp.insert_header((header::CACHE_CONTROL, "private, no-cache"));
    }
    // The declared length, not the body's: a HEAD has no body but keeps the object's length.
    if let Some(len) = upstream.content_length().filter(|_| status != StatusCode::NOT_MODIFIED) {
        resp.no_chunking(len);
    }
    if opts.method_head || status == StatusCode::NOT_MODIFIED {
        // An empty stream with the declared length: HEAD keeps the object's Content-Length.
        return Ok(resp.streaming(futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    }
    Ok(resp.streaming(upstream.body))
}
