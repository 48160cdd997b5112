//! The HTTP transport every OpenDAL operator of the service sends through: the service's one
//! reqwest client (so OpenDAL brings no second HTTP/TLS stack), OSS V4 header signing for V4
//! storages (OpenDAL 0.59's OSS service signs V1 only, so those operators are built with
//! `skip_signature()` and signed here), and the store's refusals kept with their status and code.

use futures_util::TryStreamExt;
use http::header::{HeaderName, HeaderValue};
use opendal::{Buffer, Error, ErrorKind, HttpBody, HttpTransport};
use percent_encoding::percent_decode_str;

use crate::net_error;
use crate::sign::{HeaderRequest, OssV4, encode, is_signed_header, push_encoded};

/// Sends OpenDAL's requests, signing them first when the storage signs OSS V4.
pub struct Transport {
    client: reqwest::Client,
    v4: Option<V4Signing>,
}

impl Transport {
    /// Sends requests as OpenDAL signed them (OSS V1, S3).
    pub fn plain(client: reqwest::Client) -> Transport {
        Transport { client, v4: None }
    }

    /// Signs every request with OSS V4 header authentication for `bucket` first; `path_style`
    /// when the bucket is the first segment of the request path.
    pub fn oss_v4(client: reqwest::Client, signer: OssV4, bucket: String, path_style: bool) -> Transport {
        Transport {
            client,
            v4: Some(V4Signing {
                signer,
                bucket,
                path_style,
            }),
        }
    }
}

/// OSS V4 header signing for one bucket.
struct V4Signing {
    signer: OssV4,
    bucket: String,
    path_style: bool,
}

impl V4Signing {
    /// Signs `parts` in place. The path and query are rewritten strictly encoded (only RFC 3986
    /// unreserved characters and the path's `/` left as they are), so what is sent is what was
    /// signed: OpenDAL leaves `/` unescaped in list queries and `!*'()` in paths, and sends a
    /// path-style bucket-level request as `/bucket`, which V4 names `/bucket/`.
    fn sign(&self, parts: &mut http::request::Parts, signed_at: i64) -> opendal::Result<()> {
        let path = parts.uri.path().strip_prefix('/').unwrap_or(parts.uri.path());
        let raw_key = if self.path_style {
            match path.strip_prefix(self.bucket.as_str()) {
                Some("") => "",
                Some(rest) if rest.starts_with('/') => &rest[1..],
                _ => return Err(unexpected("the request is not for the storage's bucket")),
            }
        } else {
            path
        };
        let key = percent_decode_str(raw_key)
            .decode_utf8()
            .map_err(|e| unexpected("the request path is not UTF-8").set_source(e))?
            .into_owned();
        // Each parameter decoded, remembering whether it had a value (`?uploads` stays bare).
        let query: Vec<(String, Option<String>)> = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), Some(decode(v))),
                None => (decode(p), None),
            })
            .collect();

        let mut path_and_query = String::with_capacity(2 + self.bucket.len() + key.len() * 3);
        path_and_query.push('/');
        if self.path_style {
            path_and_query.push_str(&self.bucket);
            path_and_query.push('/');
        }
        push_encoded(&mut path_and_query, &key);
        for (i, (k, v)) in query.iter().enumerate() {
            path_and_query.push(if i == 0 { '?' } else { '&' });
            path_and_query.push_str(&encode(k));
            if let Some(v) = v {
                path_and_query.push('=');
                path_and_query.push_str(&encode(v));
            }
        }
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|e| unexpected("rebuild the request path").set_source(e))?,
        );
        parts.uri = http::Uri::from_parts(uri).map_err(|e| unexpected("rebuild the request URI").set_source(e))?;

        let signed_query: Vec<(String, String)> = query.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            // Only those the signature covers: the rest would be copied to be dropped.
            .filter(|(name, _)| is_signed_header(name.as_str()))
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let signed = self.signer.sign_headers(&HeaderRequest {
            method: parts.method.as_str(),
            bucket: &self.bucket,
            key: &key,
            query: &signed_query,
            headers: &headers,
            signed_at,
        });
        for (name, value) in signed {
            let mut value =
                HeaderValue::try_from(value).map_err(|e| unexpected("a signed header's value").set_source(e))?;
            value.set_sensitive(name == "authorization" || name == "x-oss-security-token");
            parts.headers.insert(HeaderName::from_static(name), value);
        }
        Ok(())
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn unexpected(what: &'static str) -> Error {
    Error::new(ErrorKind::Unexpected, what)
}

/// What the store answered instead of doing the request: the source of the OpenDAL error, so the
/// service can report the store's own status and code.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}")]
pub struct StoreAnswer {
    pub status: u16,
    /// The `<Code>` of the XML error body, or `no error code` (a HEAD has no body).
    pub code: String,
}

impl HttpTransport for Transport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let (mut parts, body) = req.into_parts();
        if let Some(v4) = &self.v4 {
            v4.sign(&mut parts, crate::time::now())?;
        }
        let is_head = parts.method == http::Method::HEAD;
        // The request as it is, without printing and parsing its URL again; a body only when
        // there is one.
        let body = if body.is_empty() {
            reqwest::Body::default()
        } else {
            body.to_bytes().into()
        };
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| unexpected("the request URL").set_source(e))?;
        let resp = self.client.execute(request).await.map_err(|e| {
            unexpected("send the request to the store")
                .set_temporary()
                .set_source(net_error::redact(e))
        })?;
        let status = resp.status();
        if refused(status) {
            let answer = StoreAnswer::read(resp).await;
            let kind = match status.as_u16() {
                403 => ErrorKind::PermissionDenied,
                416 => ErrorKind::RangeNotSatisfied,
                429 => ErrorKind::RateLimited,
                _ => ErrorKind::Unexpected,
            };
            let error = Error::new(kind, "the store refused the request").set_source(answer);
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                error.set_temporary()
            } else {
                error
            });
        }
        let mut out = http::Response::builder().status(status).version(resp.version());
        if let Some(headers) = out.headers_mut() {
            *headers = resp.headers().clone();
        }
        // A HEAD's Content-Length is the object's, not the (empty) body's; a compressed body's
        // length is not known before it is decoded.
        let size = if is_head || resp.headers().contains_key(http::header::CONTENT_ENCODING) {
            None
        } else {
            resp.content_length()
        };
        let stream = resp.bytes_stream().map_ok(Buffer::from).map_err(|e| {
            unexpected("read the store's answer")
                .set_temporary()
                .set_source(net_error::redact(e))
        });
        out.body(HttpBody::new(stream, size))
            .map_err(|e| unexpected("build the response").set_source(e))
    }
}

/// Answers OpenDAL does not get to see: the transport turns them into errors that keep the
/// store's status and code. OpenDAL keeps those it reads itself: success, 304 and 412 (a
/// condition), 404 (not found), 409 (a conflicting write).
fn refused(status: reqwest::StatusCode) -> bool {
    !(status.is_success() || matches!(status.as_u16(), 304 | 404 | 409 | 412))
}

impl StoreAnswer {
    /// The store's refusal: its status and the `<Code>` of its XML body.
    pub async fn read(resp: reqwest::Response) -> StoreAnswer {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        StoreAnswer {
            status,
            code: xml_code(&body).unwrap_or("no error code").to_owned(),
        }
    }
}

/// The `<Code>` of an OSS/S3 XML error body.
fn xml_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}

#[cfg(test)]
mod tests {
    use oss_emulator::{BucketConfig, CorsRule, Credential, RequestParts, verify};

    use super::*;
    use crate::sign::Credentials;

    /// What OpenDAL sends, signed here, passes the emulator's verifier (written from the OSS
    /// spec, checked against the SDK's vectors): bucket-level path-style requests, list queries
    /// with raw `/`, characters OpenDAL leaves unescaped, extra `x-oss-*` headers, STS.
    #[test]
    fn signed_requests_pass_the_emulators_verifier() {
        let bucket = BucketConfig {
            name: "bkt".into(),
            region: "cn-hangzhou".into(),
            allow_v1: false,
            cors: CorsRule::None,
        };
        let now = chrono::Utc::now();
        for token in [None, Some("CAIS+token/with=chars&more")] {
            let creds = [Credential {
                access_key_id: "AK".into(),
                access_key_secret: "SK".into(),
                security_token: token.map(str::to_owned),
            }];
            for (url, path_style) in [
                (
                    "http://127.0.0.1:9000/bkt?list-type=2&prefix=dir/sub/&delimiter=/&max-keys=10",
                    true,
                ),
                ("http://127.0.0.1:9000/bkt/a%20b!(x)*'.png?uploads", true),
                (
                    "http://127.0.0.1:9000/bkt/%E7%8C%AB/%2B%25?x-oss-process=image/resize,w_100",
                    true,
                ),
                ("http://bkt.oss-cn-hangzhou.aliyuncs.com/dir/a%20b!.png", false),
                (
                    "http://bkt.oss-cn-hangzhou.aliyuncs.com/?list-type=2&prefix=a%20b/",
                    false,
                ),
            ] {
                let v4 = V4Signing {
                    signer: OssV4::new(Credentials::new("AK", "SK", token.map(str::to_owned)), "cn-hangzhou"),
                    bucket: "bkt".into(),
                    path_style,
                };
                let (mut parts, ()) = http::Request::get(url)
                    .header("x-oss-range-behavior", "standard")
                    .header("range", "bytes=0-9")
                    .body(())
                    .unwrap()
                    .into_parts();
                v4.sign(&mut parts, now.timestamp()).unwrap();
                let host = parts.uri.authority().unwrap().to_string();
                let mut headers: Vec<(String, String)> = parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                    .collect();
                headers.push(("host".into(), host.clone()));
                let req = RequestParts {
                    method: "GET".into(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or("").to_owned(),
                    headers,
                    host,
                };
                verify(&req, &creds, &bucket, now).unwrap_or_else(|e| panic!("{url} ({token:?}): {e:?}"));
            }
        }
    }

    #[test]
    fn a_request_outside_the_bucket_is_not_signed() {
        let v4 = V4Signing {
            signer: OssV4::new(Credentials::new("AK", "SK", None), "cn-hangzhou"),
            bucket: "bkt".into(),
            path_style: true,
        };
        let (mut parts, ()) = http::Request::get("http://127.0.0.1:9000/other/key")
            .body(())
            .unwrap()
            .into_parts();
        assert!(v4.sign(&mut parts, 0).is_err());
    }
}
