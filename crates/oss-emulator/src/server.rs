//! HTTP side: addressing, routing, conditional/range GETs, deletes, CORS, error bodies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};

use super::error::OssError;
use super::list::{self, ListParams, answer_name};
use super::sign::{RequestParts, decode_key, query_param, resolve_target, verify};
use super::store::{Object, Store};
use super::xml::{self, Doc};
use super::{BucketConfig, CorsRule, Credential};

const MAX_PUT_BYTES: usize = 256 * 1024 * 1024;
/// A DeleteMultipleObjects body: 1000 keys of 1023 bytes, each character a reference at worst.
const MAX_DELETE_BYTES: usize = 8 * 1024 * 1024;
const MAX_DELETE_KEYS: usize = 1000;
const EXPOSE_HEADERS: &str = "ETag, Content-Range, Content-Length, x-oss-request-id";
const CORS_MAX_AGE: &str = "600";
const CORS_DENIED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Requet-Headers are not whitelisted by the resource's CORS spec.";

pub(super) struct State {
    pub buckets: Vec<BucketConfig>,
    pub credentials: Vec<Credential>,
    pub latency: Duration,
    pub store: Arc<Store>,
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Reply {
    fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn xml(status: u16, body: String) -> Self {
        let mut reply = Reply::new(status).header("Content-Type", "application/xml");
        reply.body = Bytes::from(body);
        reply
    }

    fn error(err: &OssError, request_id: &str, host_id: &str) -> Self {
        let mut reply = Reply::xml(err.status, err.to_xml(request_id, host_id));
        if err.code == "InvalidRange"
            && let Some(len) = err.detail("ActualObjectSize")
        {
            reply = reply.header("Content-Range", format!("bytes */{len}"));
        }
        reply
    }

    fn into_response(self, request_id: &str) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        response.insert_header(("x-oss-request-id", request_id));
        response.insert_header(("Server", "AliyunOSS"));
        for (name, value) in self.headers {
            // Skip values a header can't carry (e.g. control characters from an override).
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                response.append_header((name, value));
            }
        }
        response.body(self.body)
    }
}

fn request_parts(req: &HttpRequest) -> RequestParts {
    let uri = req.uri();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect::<Vec<_>>();
    let host = headers
        .iter()
        .find(|(n, _)| n == "host")
        .map(|(_, v)| v.clone())
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    RequestParts {
        method: req.method().as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        host,
    }
}

pub(super) async fn handle(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    state.store.received.fetch_add(1, Ordering::Relaxed);
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let store = &state.store;
    let request_id = store.request_id();
    let parts = request_parts(&req);
    let bucket = resolve_target(&parts.host, &parts.path, |b| state.buckets.iter().any(|c| c.name == b))
        .and_then(|t| state.buckets.iter().find(|c| c.name == t.bucket));

    let refused = store
        .refusals
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let reply = match bucket {
        _ if refused => {
            let err = OssError::new(503, "ServiceUnavailable", "Please reduce your request rate.");
            Reply::error(&err, &request_id, &parts.host)
        }
        None => {
            let err = OssError::new(404, "NoSuchBucket", "The specified bucket does not exist.");
            Reply::error(&err, &request_id, &parts.host)
        }
        Some(bucket) if parts.method == "OPTIONS" => match preflight(bucket, &parts) {
            Ok(reply) => reply,
            Err(err) => Reply::error(&err, &request_id, &parts.host),
        },
        Some(bucket) => {
            let result = signed_request(&state, bucket, &parts, payload).await;
            let mut reply = result.unwrap_or_else(|err| {
                if err.status >= 500 {
                    log::warn!("OSS emulator: {err}");
                }
                Reply::error(&err, &request_id, &parts.host)
            });
            if let Some(origin) = parts.header("origin")
                && let Some(allowed) = allowed_origin(&bucket.cors, origin)
            {
                if allowed != "*" {
                    reply = reply.header("Vary", "Origin");
                }
                reply = reply
                    .header("Access-Control-Allow-Origin", allowed)
                    .header("Access-Control-Expose-Headers", EXPOSE_HEADERS);
            }
            reply
        }
    };
    match reply.status {
        403 => store.forbidden.fetch_add(1, Ordering::Relaxed),
        304 => store.not_modified.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    reply.into_response(&request_id)
}

/// The value for Access-Control-Allow-Origin, if this origin may read the response.
fn allowed_origin(rule: &CorsRule, origin: &str) -> Option<String> {
    match rule {
        CorsRule::None => None,
        CorsRule::AllowAll => Some("*".to_string()),
        CorsRule::Echo => Some(origin.to_string()),
        CorsRule::Only(list) => {
            (origin != "null" && list.iter().any(|pattern| origin_matches(pattern, origin))).then(|| origin.to_string())
        }
    }
}

fn origin_matches(pattern: &str, origin: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == origin,
        Some((prefix, suffix)) => {
            origin.len() >= prefix.len() + suffix.len() && origin.starts_with(prefix) && origin.ends_with(suffix)
        }
    }
}

fn preflight(bucket: &BucketConfig, parts: &RequestParts) -> Result<Reply, OssError> {
    let origin = parts
        .header("origin")
        .ok_or_else(|| OssError::invalid_argument("Insufficient information. Origin request header needed."))?;
    let method = parts.header("access-control-request-method").ok_or_else(|| {
        OssError::invalid_argument("Insufficient information. Access-Control-Request-Method request header needed.")
    })?;
    let denied = || OssError::new(403, "AccessForbidden", CORS_DENIED);
    let allowed = allowed_origin(&bucket.cors, origin).ok_or_else(denied)?;
    if method != "GET" && method != "HEAD" {
        return Err(denied());
    }
    let mut reply = Reply::new(200)
        .header("Access-Control-Allow-Origin", allowed.clone())
        .header("Access-Control-Allow-Methods", "GET, HEAD")
        .header("Access-Control-Expose-Headers", EXPOSE_HEADERS)
        .header("Access-Control-Max-Age", CORS_MAX_AGE);
    if let Some(requested) = parts.header("access-control-request-headers") {
        reply = reply.header("Access-Control-Allow-Headers", requested);
    }
    if allowed != "*" {
        reply = reply.header("Vary", "Origin");
    }
    Ok(reply)
}

async fn signed_request(
    state: &State,
    bucket: &BucketConfig,
    parts: &RequestParts,
    payload: web::Payload,
) -> Result<Reply, OssError> {
    if !matches!(parts.method.as_str(), "GET" | "HEAD" | "PUT" | "DELETE" | "POST") {
        return Err(method_not_allowed(parts));
    }
    verify(parts, &state.credentials, bucket, chrono::Utc::now())?;
    let target = resolve_target(&parts.host, &parts.path, |b| b == bucket.name)
        .ok_or_else(|| OssError::new(404, "NoSuchBucket", "The specified bucket does not exist."))?;
    let key = decode_key(target.raw_key)?;
    let query = parts.query_pairs();
    let has = |name: &str| query_param(&query, name).is_some();
    match (parts.method.as_str(), key.is_empty()) {
        // ListObjectsV2, or ListObjects (V1) when no other bucket operation is asked.
        ("GET", true) if has("list-type") || query.iter().all(|(k, _)| is_v1_list_param(k)) => {
            list_objects(state, bucket, &query)
        }
        ("POST", true) if has("delete") => {
            let body = read_body(payload, MAX_DELETE_BYTES).await?;
            delete_objects(state, bucket, parts, &query, &body)
        }
        (_, true) => Err(OssError::new(
            501,
            "NotImplemented",
            "The emulator answers only ListObjectsV2 and DeleteMultipleObjects on a bucket.",
        )),
        ("PUT", false) => {
            let body = read_body(payload, MAX_PUT_BYTES).await?;
            let content_type = parts.header("content-type").unwrap_or("application/octet-stream");
            // A create-only write, decided under the store's lock: OSS's header, or S3's.
            let create_only = parts.header("x-oss-forbid-overwrite") == Some("true");
            let if_none_match = parts.header("if-none-match") == Some("*");
            let object = if create_only || if_none_match {
                state
                    .store
                    .put_new(&bucket.name, &key, body, content_type)
                    .ok_or_else(|| match create_only {
                        true => OssError::new(
                            409,
                            "FileAlreadyExists",
                            "The object you specified already exists and can not be overwritten.",
                        ),
                        false => OssError::new(
                            412,
                            "PreconditionFailed",
                            "At least one of the pre-conditions you specified did not hold.",
                        )
                        .with("Condition", "If-None-Match"),
                    })?
            } else {
                state.store.put(&bucket.name, &key, body, content_type)
            };
            Ok(Reply::new(200).header("ETag", object.etag()))
        }
        ("DELETE", false) => {
            state.store.delete(&bucket.name, &key);
            Ok(Reply::new(204))
        }
        ("POST", false) => Err(method_not_allowed(parts)),
        _ => {
            let object = state.store.get(&bucket.name, &key).ok_or_else(|| {
                OssError::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", key.clone())
            })?;
            get_object(state, bucket, &key, parts, &object)
        }
    }
}

/// Whether a query parameter belongs to ListObjects (V1) or to a signature: a bucket GET with any
/// other asks another operation (`?acl`, `?cors`, ...), which the emulator does not answer.
fn is_v1_list_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "prefix"
            | "delimiter"
            | "marker"
            | "max-keys"
            | "encoding-type"
            | "ossaccesskeyid"
            | "expires"
            | "signature"
            | "security-token"
    ) || lower.starts_with("x-oss-")
        || lower.starts_with("x-amz-")
}

fn method_not_allowed(parts: &RequestParts) -> OssError {
    OssError::new(
        405,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
    .with("Method", parts.method.clone())
    .with("ResourceType", "Object")
}

async fn read_body(payload: web::Payload, limit: usize) -> Result<Bytes, OssError> {
    payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| {
            OssError::new(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            )
        })?
        .map_err(|e| OssError::new(400, "IncompleteBody", format!("Reading the body failed: {e}")))
}

fn list_objects(state: &State, bucket: &BucketConfig, query: &[(String, String)]) -> Result<Reply, OssError> {
    let params = ListParams::parse(query)?;
    let body = state.store.read(&bucket.name, |objects| {
        list::render(&bucket.name, &params, &list::page(objects, &params))
    });
    Ok(Reply::xml(200, body))
}

/// DeleteMultipleObjects: `POST /?delete` with `<Delete><Quiet/><Object><Key/></Object>..</Delete>`.
/// Every listed key counts as deleted, there or not, as in OSS; quiet mode answers no body.
/// `encoding-type=url` encodes the keys answered; those in the request stay literal (both OSS
/// SDKs send that parameter with raw, XML-escaped keys).
fn delete_objects(
    state: &State,
    bucket: &BucketConfig,
    parts: &RequestParts,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Reply, OssError> {
    let url_encoded = list::url_encoding(query)?;
    let md5 = parts.header("content-md5").ok_or_else(|| {
        OssError::new(400, "MissingArgument", "Missing Some Required Arguments.").with("ArgumentName", "Content-MD5")
    })?;
    if md5.trim() != base64::engine::general_purpose::STANDARD.encode(Md5::digest(body)) {
        return Err(
            OssError::new(400, "InvalidDigest", "The Content-MD5 you specified is not valid.").with("Content-MD5", md5),
        );
    }
    let malformed = |why: &str| {
        OssError::new(
            400,
            "MalformedXML",
            format!(
                "The XML you provided was not well-formed or did not validate against our published schema: {why}."
            ),
        )
    };
    let doc = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    let root = xml::parse(doc).map_err(malformed)?;
    if root.name != "Delete" {
        return Err(malformed("the root element is not Delete"));
    }
    let quiet = match root.child("Quiet").map(|q| q.text.trim()) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed("Quiet is neither true nor false")),
    };
    let keys = root
        .all("Object")
        .map(|o| o.child("Key").map(|k| k.text.as_str()).filter(|k| !k.is_empty()))
        .collect::<Option<Vec<&str>>>()
        .ok_or_else(|| malformed("an Object without a Key"))?;
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(malformed("between 1 and 1000 objects are needed"));
    }
    for key in &keys {
        state.store.delete(&bucket.name, key);
    }
    if quiet {
        return Ok(Reply::new(200));
    }
    let mut doc = Doc::new("DeleteResult");
    if url_encoded {
        doc.element("EncodingType", "url");
    }
    for key in keys {
        doc.open("Deleted")
            .element("Key", &answer_name(url_encoded, key))
            .close();
    }
    Ok(Reply::xml(200, doc.finish()))
}

fn get_object(
    state: &State,
    bucket: &BucketConfig,
    key: &str,
    parts: &RequestParts,
    object: &Object,
) -> Result<Reply, OssError> {
    let etag = object.etag();
    let last_modified = httpdate::fmt_http_date(object.last_modified);
    let validators = |reply: Reply| {
        reply
            .header("ETag", etag.clone())
            .header("Last-Modified", last_modified.clone())
    };
    if let Some(status) = precondition(parts, object)? {
        return Ok(validators(Reply::new(status)));
    }

    let len = object.body.len() as u64;
    let (status, body, content_range) = match parse_range(parts.header("range"), len) {
        RangeReq::Full => (200, object.body.clone(), None),
        RangeReq::Partial(start, end) => {
            // Both ends are < len, which came from a usize.
            let slice = object.body.slice(start as usize..=end as usize);
            (206, slice, Some(format!("bytes {start}-{end}/{len}")))
        }
        RangeReq::Unsatisfiable => {
            return Err(
                OssError::new(416, "InvalidRange", "The requested range cannot be satisfied")
                    .with("RangeRequested", parts.header("range").unwrap_or(""))
                    .with("ActualObjectSize", len.to_string()),
            );
        }
    };

    let query = parts.query_pairs();
    let param = |name: &str| query_param(&query, name).map(str::to_string);
    let mut reply = validators(Reply::new(status))
        .header(
            "Content-Type",
            param("response-content-type").unwrap_or_else(|| object.content_type.clone()),
        )
        .header("Accept-Ranges", "bytes")
        .header("x-oss-object-type", "Normal")
        .header("x-oss-storage-class", "Standard");
    if status == 200 {
        reply = reply.header(
            "Content-MD5",
            base64::engine::general_purpose::STANDARD.encode(object.md5),
        );
    }
    if let Some(range) = content_range {
        reply = reply.header("Content-Range", range);
    }
    for (param_name, header) in [
        ("response-content-language", "Content-Language"),
        ("response-expires", "Expires"),
        ("response-cache-control", "Cache-Control"),
        ("response-content-disposition", "Content-Disposition"),
        ("response-content-encoding", "Content-Encoding"),
    ] {
        if let Some(value) = param(param_name) {
            reply = reply.header(header, value);
        }
    }
    if parts.method == "GET" {
        state.store.record_served(&bucket.name, key, body.len());
    }
    // For HEAD the server keeps Content-Length from the body and sends no body.
    reply.body = body;
    Ok(reply)
}

/// `Some(304 | 412)` when a conditional header decides the answer.
fn precondition(parts: &RequestParts, object: &Object) -> Result<Option<u16>, OssError> {
    let etag = object.etag();
    let date = |name: &str| parts.header(name).and_then(|v| httpdate::parse_http_date(v).ok());
    if let Some(if_match) = parts.header("if-match")
        && !etag_list_matches(if_match, &etag)
    {
        return Ok(Some(412));
    }
    if parts.header("if-match").is_none()
        && let Some(since) = date("if-unmodified-since")
        && object.last_modified > since
    {
        return Ok(Some(412));
    }
    if let Some(if_none_match) = parts.header("if-none-match") {
        return Ok(etag_list_matches(if_none_match, &etag).then_some(304));
    }
    if let Some(since) = date("if-modified-since")
        && object.last_modified <= since
    {
        return Ok(Some(304));
    }
    Ok(None)
}

fn etag_list_matches(list: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").trim_matches('"').to_ascii_uppercase();
    let wanted = bare(etag);
    list.split(',').any(|t| t.trim() == "*" || bare(t) == wanted)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    Full,
    /// Inclusive byte positions.
    Partial(u64, u64),
    Unsatisfiable,
}

/// OSS ignores Range headers it cannot parse (and multi-range ones) and serves the whole object.
fn parse_range(header: Option<&str>, len: u64) -> RangeReq {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        return match end.parse::<u64>() {
            Err(_) => RangeReq::Full,
            Ok(0) => RangeReq::Unsatisfiable,
            Ok(_) if len == 0 => RangeReq::Unsatisfiable,
            Ok(n) => RangeReq::Partial(len.saturating_sub(n), len - 1),
        };
    }
    let Ok(start) = start.parse::<u64>() else {
        return RangeReq::Full;
    };
    let end = if end.is_empty() {
        None
    } else {
        match end.parse::<u64>() {
            Ok(e) if e >= start => Some(e),
            _ => return RangeReq::Full,
        }
    };
    if start >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Partial(start, end.map_or(len - 1, |e| e.min(len - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeReq::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Partial(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Partial(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Partial(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Partial(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=a-b"), 10), Full);
    }

    #[test]
    fn cors_origins() {
        let only = CorsRule::Only(vec!["https://ls.example.com".into(), "https://*.corp.example".into()]);
        assert_eq!(
            allowed_origin(&only, "https://ls.example.com").as_deref(),
            Some("https://ls.example.com")
        );
        assert_eq!(
            allowed_origin(&only, "https://a.corp.example").as_deref(),
            Some("https://a.corp.example")
        );
        assert_eq!(allowed_origin(&only, "https://evil.example"), None);
        assert_eq!(allowed_origin(&only, "null"), None);
        assert_eq!(allowed_origin(&CorsRule::AllowAll, "null").as_deref(), Some("*"));
        assert_eq!(allowed_origin(&CorsRule::Echo, "null").as_deref(), Some("null"));
        assert_eq!(allowed_origin(&CorsRule::None, "https://ls.example.com"), None);
    }

    #[test]
    fn etag_lists() {
        assert!(etag_list_matches("\"ABC\"", "\"ABC\""));
        assert!(etag_list_matches("W/\"abc\", \"x\"", "\"ABC\""));
        assert!(etag_list_matches("*", "\"ABC\""));
        assert!(!etag_list_matches("\"ABD\"", "\"ABC\""));
    }
}
