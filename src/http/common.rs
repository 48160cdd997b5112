//! What every handler uses: credentials, the JSON body, the request deadline, `?mode=`, and the
//! rewritten-document response.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::Scope;
use crate::error_code::ErrorCode;
use crate::resolve::{RewriteAs, Rewritten};

/// Checks the request's credentials for `scope`.
pub fn authorize(state: &AppState, req: &HttpRequest, scope: Scope) -> Result<(), ApiError> {
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    Ok(state.auth.check(header, scope)?)
}

/// Reads a JSON request body of at most `limit` bytes.
pub async fn read_json_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<BytesMut, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("Content-Type {essence:?} is not JSON: send application/json"),
            ));
        }
    }
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
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
            chunk.map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::EmptyBody,
            "the request body is empty: send JSON",
        ));
    }
    Ok(body)
}

/// `?mode=presign|link|inline`, the only query parameter of `/v1/resolve`.
pub fn parse_mode(query: &str) -> Result<Option<RewriteAs>, ApiError> {
    let mut mode = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "mode" => {
                mode = Some(
                    crate::choice::parse::<RewriteAs>(&v)
                        .map_err(|e| ApiError::new(ErrorCode::InvalidMode, format!("mode: {e}")))?,
                )
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("unknown query parameter {other:?}; only mode=presign|link|inline"),
                ));
            }
        }
    }
    Ok(mode)
}

/// Runs a handler's work under `LS_PRESIGN_REQUEST_TIMEOUT` (storage and Label Studio calls
/// can be slow); a response body already streaming is not cut.
pub async fn within_deadline(
    state: &AppState,
    work: impl std::future::Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.server.request_timeout;
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} s (LS_PRESIGN_REQUEST_TIMEOUT)",
                limit.as_secs()
            ),
        ))
    })
}

/// The rewritten JSON with its tallies (and failures) in headers.
pub fn rewritten_response(r: Rewritten) -> HttpResponse {
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
