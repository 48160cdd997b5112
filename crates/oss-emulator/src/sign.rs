//! Signature checks for OSS V4, OSS V1 and AWS SigV4, written from the specs.
//!
//! The server side always re-derives canonical forms from the *decoded* request, the way
//! OSS does, so a client that encodes a character differently than we would still passes
//! as long as it signed what it sent.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::error::OssError;
use super::{BucketConfig, Credential};

/// RFC 3986 unreserved characters stay, everything else is `%XX` (uppercase).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

const OSS4_ALGORITHM: &str = "OSS4-HMAC-SHA256";
const AWS4_ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const MAX_PRESIGN_EXPIRES: i64 = 604_800;
const MAX_SKEW_SECS: i64 = 15 * 60;
const ISO8601_BASIC: &str = "%Y%m%dT%H%M%SZ";

/// Query parameters that are part of the V1 canonicalized resource: the union of the
/// list OSS documents (as used by the Go/Java SDKs) and the one in the oss2 SDK's `auth.py`,
/// so URLs signed by either SDK verify.
const V1_SUBRESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "location",
    "cors",
    "logging",
    "website",
    "referer",
    "lifecycle",
    "delete",
    "append",
    "tagging",
    "objectMeta",
    "uploadId",
    "partNumber",
    "security-token",
    "position",
    "img",
    "style",
    "styleName",
    "replication",
    "replicationProgress",
    "replicationLocation",
    "cname",
    "bucketInfo",
    "comp",
    "qos",
    "live",
    "status",
    "vod",
    "startTime",
    "endTime",
    "symlink",
    "x-oss-process",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "udf",
    "udfName",
    "udfImage",
    "udfId",
    "udfImageDesc",
    "udfApplication",
    "udfApplicationLog",
    "restore",
    "callback",
    "callback-var",
    "policy",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "sequential",
    "continuation-token",
    "regionList",
    "cloudboxes",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow",
    // Only in oss2's list:
    "group",
    "link",
    "objectInfo",
    "stat",
    "requestPayment",
    "x-oss-traffic-limit",
    "qosInfo",
    "asyncFetch",
    "x-oss-request-payer",
    "inventory",
    "inventoryId",
    "worm",
    "wormId",
    "wormExtend",
    "transferAcceleration",
    "metaQuery",
    "resourceGroup",
    "x-oss-async-process",
    "x-oss-write-get-object-response",
];

/// What `verify` needs to know about a request, independent of any HTTP framework.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestParts {
    pub method: String,
    /// Raw path as sent on the request line, still percent-encoded.
    pub path: String,
    /// Raw query string without the `?`, still percent-encoded.
    pub query: String,
    /// Header names in lowercase; a header sent twice appears twice.
    pub headers: Vec<(String, String)>,
    /// The Host header as sent (may include a port).
    pub host: String,
}

impl RequestParts {
    /// First value of a header; `name` must be lowercase.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// All values of a header joined with `,` (how multi-valued headers are signed).
    fn joined_header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// Query parameters, decoded (see [`parse_query`]).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(&self.query)
    }
}

/// Query parameters, percent-decoded, with `+` read as a space as in any form-encoded query:
/// oss2 sends its parameters through `requests`, which writes a space in a prefix as `+`.
/// (A `+` in the path stays a plus; signers write a literal plus in a query as `%2B`.)
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| decode_lossy(&s.replace('+', " "));
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The first value of a decoded query parameter.
pub(super) fn query_param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn decode_lossy(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Where a request points: the bucket and the still-encoded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub bucket: String,
    pub raw_key: &'a str,
    pub virtual_hosted: bool,
}

/// Host `<bucket>.<rest>` naming a known bucket means virtual-hosted style; anything else
/// is path-style `/<bucket>/<key>`.
pub fn resolve_target<'a>(host: &str, raw_path: &'a str, is_bucket: impl Fn(&str) -> bool) -> Option<Target<'a>> {
    if let Some((label, _)) = host.split_once('.')
        && is_bucket(label)
    {
        return Some(Target {
            bucket: label.to_string(),
            raw_key: raw_path.strip_prefix('/').unwrap_or(raw_path),
            virtual_hosted: true,
        });
    }
    let rest = raw_path.strip_prefix('/')?;
    let (bucket, raw_key) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket = decode_lossy(bucket);
    is_bucket(&bucket).then_some(Target {
        bucket,
        raw_key,
        virtual_hosted: false,
    })
}

/// Decodes a raw key exactly once; keys are UTF-8 in OSS.
pub fn decode_key(raw_key: &str) -> Result<String, OssError> {
    percent_decode_str(raw_key)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| OssError::new(400, "InvalidObjectName", "The object name is not valid UTF-8."))
}

/// Percent-encodes all but RFC 3986 unreserved characters (also how `encoding-type=url` answers).
pub(super) fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED_AND_SLASH).to_string()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<Vec<u8>, OssError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| internal("hmac key"))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> Result<String, OssError> {
    use base64::Engine as _;
    let mut mac = Hmac::<Sha1>::new_from_slice(key).map_err(|_| internal("hmac key"))?;
    mac.update(data);
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn internal(what: &str) -> OssError {
    OssError::new(500, "InternalError", format!("emulator failure: {what}"))
}

fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

fn parse_iso8601(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, ISO8601_BASIC)
        .ok()
        .map(|t| t.and_utc())
}

/// Checks the request's signature against the given bucket, at time `now`.
pub fn verify(
    req: &RequestParts,
    creds: &[Credential],
    bucket: &BucketConfig,
    now: DateTime<Utc>,
) -> Result<(), OssError> {
    let target = resolve_target(&req.host, &req.path, |b| b == bucket.name)
        .ok_or_else(|| OssError::new(404, "NoSuchBucket", "The specified bucket does not exist."))?;
    let key = decode_key(target.raw_key)?;
    let query = req.query_pairs();
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let ctx = Ctx {
        req,
        creds,
        bucket,
        key,
        query: &query,
        now,
    };

    if let Some(auth) = req.header("authorization") {
        let auth = auth.trim();
        if let Some(rest) = auth.strip_prefix("OSS4-HMAC-SHA256 ") {
            return ctx.oss4_header(rest);
        }
        if let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") {
            return ctx.aws4_header(rest);
        }
        if let Some(rest) = auth.strip_prefix("OSS ") {
            return ctx.oss1_header(rest);
        }
        return Err(OssError::invalid_argument("Authorization header is invalid.").with("Authorization", auth));
    }
    if has("x-oss-signature-version") || has("x-oss-signature") || has("x-oss-credential") {
        return ctx.oss4_query();
    }
    if has("X-Amz-Algorithm") || has("X-Amz-Signature") || has("X-Amz-Credential") {
        return ctx.aws4_query();
    }
    if has("OSSAccessKeyId") || has("Signature") {
        return ctx.oss1_query();
    }
    Err(OssError::access_denied(
        "You have no right to access this object because of bucket acl.",
    ))
}

struct Ctx<'a> {
    req: &'a RequestParts,
    creds: &'a [Credential],
    bucket: &'a BucketConfig,
    key: String,
    query: &'a [(String, String)],
    now: DateTime<Utc>,
}

/// Parsed `AK/date/region/service/terminator`.
struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

impl<'a> Scope<'a> {
    fn parse(credential: &'a str) -> Option<Self> {
        let mut parts = credential.rsplitn(5, '/');
        let terminator = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let date = parts.next()?;
        let access_key_id = parts.next()?;
        Some(Scope {
            access_key_id,
            date,
            region,
            service,
            terminator,
        })
    }

    fn string(&self) -> String {
        format!("{}/{}/{}/{}", self.date, self.region, self.service, self.terminator)
    }
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        query_param(self.query, name)
    }

    fn require_param(&self, name: &str) -> Result<&str, OssError> {
        self.param(name)
            .ok_or_else(|| OssError::invalid_argument(format!("Missing required query parameter {name}.")))
    }

    fn credential(&self, access_key_id: &str) -> Result<&Credential, OssError> {
        self.creds
            .iter()
            .find(|c| c.access_key_id == access_key_id)
            .ok_or_else(|| {
                OssError::new(
                    403,
                    "InvalidAccessKeyId",
                    "The OSS Access Key Id you provided does not exist in our records.",
                )
                .with("OSSAccessKeyId", access_key_id)
            })
    }

    /// STS credentials only work together with their token, and a token never works alone.
    fn check_token(&self, cred: &Credential, provided: Option<&str>) -> Result<(), OssError> {
        match (&cred.security_token, provided) {
            (None, None) => Ok(()),
            (Some(expected), Some(got)) if expected == got => Ok(()),
            (Some(_), None) => Err(OssError::new(
                403,
                "InvalidAccessKeyId",
                "The security token you provided is missing; temporary credentials require it.",
            )
            .with("OSSAccessKeyId", cred.access_key_id.clone())),
            _ => Err(OssError::new(
                403,
                "InvalidSecurityToken",
                "The security token you provided is invalid.",
            )),
        }
    }

    fn check_skew(&self, signed_at: DateTime<Utc>) -> Result<(), OssError> {
        if (self.now - signed_at).num_seconds().abs() > MAX_SKEW_SECS {
            return Err(OssError::new(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
            .with("RequestTime", signed_at.to_rfc3339())
            .with("ServerTime", self.now.to_rfc3339()));
        }
        Ok(())
    }

    fn check_presign_window(&self, signed_at: DateTime<Utc>, expires: &str) -> Result<(), OssError> {
        let expires: i64 = expires
            .parse()
            .ok()
            .filter(|e| *e >= 0)
            .ok_or_else(|| OssError::invalid_argument("Invalid expires parameter."))?;
        if expires > MAX_PRESIGN_EXPIRES {
            return Err(OssError::invalid_argument(
                "Expires must be less than or equal to 604800 seconds (7 days).",
            ));
        }
        if signed_at.timestamp() + expires < self.now.timestamp() {
            return Err(OssError::expired()
                .with("Expires", (signed_at + chrono::Duration::seconds(expires)).to_rfc3339())
                .with("ServerTime", self.now.to_rfc3339()));
        }
        Ok(())
    }

    // ---- OSS V4 ----

    fn oss4_scope<'s>(&self, credential: &'s str) -> Result<Scope<'s>, OssError> {
        let scope = Scope::parse(credential)
            .filter(|s| s.service == "oss" && s.terminator == "aliyun_v4_request")
            .ok_or_else(|| OssError::invalid_argument("Invalid credential in OSS V4 signature."))?;
        if scope.region != self.bucket.region {
            return Err(OssError::invalid_argument(format!(
                "Invalid signing region in Authorization header: '{}', expecting '{}'.",
                scope.region, self.bucket.region
            )));
        }
        Ok(scope)
    }

    fn oss4_query(&self) -> Result<(), OssError> {
        let version = self.require_param("x-oss-signature-version")?;
        if version != OSS4_ALGORITHM {
            return Err(OssError::invalid_argument(format!(
                "Unsupported signature version {version}."
            )));
        }
        let credential = self.require_param("x-oss-credential")?;
        let date = self.require_param("x-oss-date")?;
        let expires = self.require_param("x-oss-expires")?;
        let signature = self.require_param("x-oss-signature")?;
        let scope = self.oss4_scope(credential)?;
        let signed_at = parse_iso8601(date).ok_or_else(|| OssError::invalid_argument("Invalid x-oss-date."))?;
        let cred = self.credential(scope.access_key_id)?;
        self.check_presign_window(signed_at, expires)?;
        self.check_token(cred, self.param("x-oss-security-token"))?;
        let additional = split_header_list(self.param("x-oss-additional-headers").unwrap_or(""));
        self.oss4_check(cred, &scope, date, &additional, signature)
    }

    fn oss4_header(&self, fields: &str) -> Result<(), OssError> {
        let fields = auth_fields(fields);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| OssError::invalid_argument(format!("Authorization header lacks {name}.")))
        };
        let credential = field("Credential")?;
        let signature = field("Signature")?;
        let additional = split_header_list(field("AdditionalHeaders").unwrap_or(""));
        let scope = self.oss4_scope(credential)?;
        let date = self
            .req
            .header("x-oss-date")
            .ok_or_else(|| OssError::access_denied("Missing x-oss-date header."))?;
        let signed_at = parse_iso8601(date).ok_or_else(|| OssError::invalid_argument("Invalid x-oss-date."))?;
        let cred = self.credential(scope.access_key_id)?;
        self.check_skew(signed_at)?;
        self.check_token(cred, self.req.header("x-oss-security-token"))?;
        self.oss4_check(cred, &scope, date, &additional, signature)
    }

    fn oss4_check(
        &self,
        cred: &Credential,
        scope: &Scope<'_>,
        date: &str,
        additional: &[String],
        signature: &str,
    ) -> Result<(), OssError> {
        let canonical = oss4_canonical_request(
            &self.req.method,
            &self.bucket.name,
            &self.key,
            self.query,
            &self.req.headers,
            additional,
        );
        let string_to_sign = oss4_string_to_sign(date, &scope.string(), &canonical);
        let expected = oss4_signature(&cred.access_key_secret, scope.date, scope.region, &string_to_sign)?;
        if expected != signature {
            return Err(mismatch(&string_to_sign, signature, cred).with("CanonicalRequest", canonical));
        }
        Ok(())
    }

    // ---- OSS V1 ----

    fn refuse_v1(&self) -> Result<(), OssError> {
        if self.bucket.allow_v1 {
            return Ok(());
        }
        Err(OssError::access_denied(
            "This bucket requires V4 signature (OSS4-HMAC-SHA256); OSS V1 signatures are not accepted.",
        ))
    }

    fn oss1_query(&self) -> Result<(), OssError> {
        self.refuse_v1()?;
        let access_key_id = self.require_param("OSSAccessKeyId")?;
        let expires = self.require_param("Expires")?;
        let signature = self.require_param("Signature")?;
        let cred = self.credential(access_key_id)?;
        let expires_at: i64 = expires
            .parse()
            .map_err(|_| OssError::invalid_argument("Invalid Expires parameter."))?;
        if expires_at < self.now.timestamp() {
            return Err(OssError::expired()
                .with("Expires", expires)
                .with("ServerTime", self.now.to_rfc3339()));
        }
        self.check_token(cred, self.param("security-token"))?;
        self.oss1_check(cred, expires, signature)
    }

    fn oss1_header(&self, rest: &str) -> Result<(), OssError> {
        self.refuse_v1()?;
        let (access_key_id, signature) = rest
            .trim()
            .split_once(':')
            .ok_or_else(|| OssError::invalid_argument("Authorization header is invalid."))?;
        let date = self
            .req
            .header("x-oss-date")
            .or_else(|| self.req.header("date"))
            .ok_or_else(|| OssError::access_denied("OSS authentication requires a valid Date."))?;
        let signed_at = httpdate::parse_http_date(date)
            .map(DateTime::<Utc>::from)
            .map_err(|_| OssError::access_denied("OSS authentication requires a valid Date."))?;
        let cred = self.credential(access_key_id)?;
        self.check_skew(signed_at)?;
        self.check_token(cred, self.req.header("x-oss-security-token"))?;
        self.oss1_check(cred, date, signature)
    }

    fn oss1_check(&self, cred: &Credential, date: &str, signature: &str) -> Result<(), OssError> {
        let string_to_sign = oss1_string_to_sign(
            &self.req.method,
            &self.req.headers,
            date,
            &self.bucket.name,
            &self.key,
            self.query,
        );
        let expected = hmac_sha1_base64(cred.access_key_secret.as_bytes(), string_to_sign.as_bytes())?;
        if expected != signature {
            return Err(mismatch(&string_to_sign, signature, cred));
        }
        Ok(())
    }

    // ---- AWS SigV4 (S3-compatible API) ----

    fn aws4_scope<'s>(&self, credential: &'s str) -> Result<Scope<'s>, OssError> {
        let scope = Scope::parse(credential)
            .filter(|s| s.service == "s3" && s.terminator == "aws4_request")
            .ok_or_else(|| {
                OssError::new(
                    400,
                    "AuthorizationQueryParametersError",
                    "Error parsing the Credential parameter.",
                )
            })?;
        // OSS's S3-compatible endpoint calls a region both `cn-hangzhou` and `oss-cn-hangzhou`.
        let region = scope.region;
        if region != self.bucket.region && region.strip_prefix("oss-") != Some(&self.bucket.region) {
            return Err(OssError::new(
                400,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization region '{region}' is wrong; expecting '{}'.",
                    self.bucket.region
                ),
            ));
        }
        Ok(scope)
    }

    fn aws4_query(&self) -> Result<(), OssError> {
        let algorithm = self.require_param("X-Amz-Algorithm")?;
        if algorithm != AWS4_ALGORITHM {
            return Err(OssError::invalid_argument(format!(
                "Unsupported X-Amz-Algorithm {algorithm}."
            )));
        }
        let credential = self.require_param("X-Amz-Credential")?;
        let date = self.require_param("X-Amz-Date")?;
        let expires = self.require_param("X-Amz-Expires")?;
        let signed_headers = self.require_param("X-Amz-SignedHeaders")?;
        let signature = self.require_param("X-Amz-Signature")?;
        let scope = self.aws4_scope(credential)?;
        let signed_at = parse_iso8601(date).ok_or_else(|| OssError::invalid_argument("Invalid X-Amz-Date."))?;
        let cred = self.credential(scope.access_key_id)?;
        self.check_presign_window(signed_at, expires)?;
        self.check_token(cred, self.param("X-Amz-Security-Token"))?;
        self.aws4_check(cred, &scope, date, signed_headers, UNSIGNED_PAYLOAD, signature)
    }

    fn aws4_header(&self, fields: &str) -> Result<(), OssError> {
        let fields = auth_fields(fields);
        let field = |name: &str| {
            fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).ok_or_else(|| {
                OssError::new(
                    400,
                    "AuthorizationHeaderMalformed",
                    format!("The authorization header lacks {name}."),
                )
            })
        };
        let scope = self.aws4_scope(field("Credential")?)?;
        let signed_headers = field("SignedHeaders")?;
        let signature = field("Signature")?;
        let date = self
            .req
            .header("x-amz-date")
            .ok_or_else(|| OssError::access_denied("Missing x-amz-date header."))?;
        let signed_at = parse_iso8601(date).ok_or_else(|| OssError::invalid_argument("Invalid x-amz-date."))?;
        let payload = self.req.header("x-amz-content-sha256").ok_or_else(|| {
            OssError::new(
                400,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
            )
        })?;
        let cred = self.credential(scope.access_key_id)?;
        self.check_skew(signed_at)?;
        self.check_token(cred, self.req.header("x-amz-security-token"))?;
        self.aws4_check(cred, &scope, date, signed_headers, payload, signature)
    }

    fn aws4_check(
        &self,
        cred: &Credential,
        scope: &Scope<'_>,
        date: &str,
        signed_headers: &str,
        payload: &str,
        signature: &str,
    ) -> Result<(), OssError> {
        let canonical = aws4_canonical_request(self.req, self.query, signed_headers, payload);
        let string_to_sign = format!(
            "{AWS4_ALGORITHM}\n{date}\n{}\n{}",
            scope.string(),
            sha256_hex(&canonical)
        );
        let expected = aws4_signature(&cred.access_key_secret, scope.date, scope.region, &string_to_sign)?;
        if expected != signature {
            return Err(mismatch(&string_to_sign, signature, cred).with("CanonicalRequest", canonical));
        }
        Ok(())
    }
}

fn mismatch(string_to_sign: &str, provided: &str, cred: &Credential) -> OssError {
    OssError::new(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. \
         Check your key and signing method.",
    )
    .with("StringToSign", string_to_sign)
    .with("SignatureProvided", provided)
    .with("OSSAccessKeyId", cred.access_key_id.clone())
}

/// `Credential=..,AdditionalHeaders=..,Signature=..` (OSS uses `,`, AWS `, `).
fn auth_fields(s: &str) -> Vec<(&str, &str)> {
    s.split(',')
        .filter_map(|f| f.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn split_header_list(s: &str) -> Vec<String> {
    let mut names: Vec<String> = s
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Sorted `k=v` pairs, both sides encoded; `bare_empty` writes an empty value as just `k`
/// (OSS V4) instead of `k=` (AWS).
fn canonical_query(query: &[(String, String)], skip: &str, bare_empty: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != skip)
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() && bare_empty {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_oss4_signed_header(name: &str, additional: &[String]) -> bool {
    name.starts_with("x-oss-")
        || name == "content-type"
        || name == "content-md5"
        || additional.iter().any(|a| a == name)
}

pub(super) fn oss4_canonical_request(
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    additional: &[String],
) -> String {
    let uri = encode_path(&format!("/{bucket}/{key}"));
    let query = canonical_query(query, "x-oss-signature", true);
    let mut signed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        if is_oss4_signed_header(name, additional) {
            signed.entry(name).or_default().push(value.trim());
        }
    }
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{}\n", v.join(","))).collect();
    let payload = signed
        .get("x-oss-content-sha256")
        .and_then(|v| v.first().copied())
        .unwrap_or(UNSIGNED_PAYLOAD);
    format!(
        "{method}\n{uri}\n{query}\n{canonical_headers}\n{}\n{payload}",
        additional.join(";")
    )
}

pub(super) fn oss4_string_to_sign(date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{OSS4_ALGORITHM}\n{date}\n{scope}\n{}", sha256_hex(canonical_request))
}

pub(super) fn oss4_signature(secret: &str, date: &str, region: &str, string_to_sign: &str) -> Result<String, OssError> {
    let k = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes())?;
    let k = hmac_sha256(&k, region.as_bytes())?;
    let k = hmac_sha256(&k, b"oss")?;
    let k = hmac_sha256(&k, b"aliyun_v4_request")?;
    Ok(hex::encode(hmac_sha256(&k, string_to_sign.as_bytes())?))
}

pub(super) fn oss1_string_to_sign(
    method: &str,
    headers: &[(String, String)],
    date: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let mut oss_headers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        if name.starts_with("x-oss-") {
            oss_headers.entry(name).or_default().push(value.trim());
        }
    }
    let oss_headers: String = oss_headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.join(",")))
        .collect();
    let mut sub: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| V1_SUBRESOURCES.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sub.sort();
    let sub: Vec<String> = sub
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_string()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    let sub = if sub.is_empty() {
        String::new()
    } else {
        format!("?{}", sub.join("&"))
    };
    format!(
        "{method}\n{}\n{}\n{date}\n{oss_headers}/{bucket}/{key}{sub}",
        header("content-md5"),
        header("content-type"),
    )
}

fn aws4_canonical_request(
    req: &RequestParts,
    query: &[(String, String)],
    signed_headers: &str,
    payload: &str,
) -> String {
    // S3 signs the path as sent, normalized to one encoding per byte (never double-encoded).
    let path_bytes: Vec<u8> = percent_decode_str(&req.path).collect();
    let uri = percent_encoding::percent_encode(&path_bytes, UNRESERVED_AND_SLASH).to_string();
    let query = canonical_query(query, "X-Amz-Signature", false);
    let names: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let canonical_headers: String = names
        .iter()
        .map(|name| {
            let value = req
                .joined_header(name)
                .or_else(|| (name == "host").then(|| req.host.clone()))
                .unwrap_or_default();
            format!("{name}:{}\n", collapse_spaces(&value))
        })
        .collect();
    format!(
        "{}\n{uri}\n{query}\n{canonical_headers}\n{}\n{payload}",
        req.method,
        names.join(";")
    )
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn aws4_signature(secret: &str, date: &str, region: &str, string_to_sign: &str) -> Result<String, OssError> {
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes())?;
    let k = hmac_sha256(&k, region.as_bytes())?;
    let k = hmac_sha256(&k, b"s3")?;
    let k = hmac_sha256(&k, b"aws4_request")?;
    Ok(hex::encode(hmac_sha256(&k, string_to_sign.as_bytes())?))
}

/// Test helper: a path-and-query presigned with OSS V4 the way the SDKs do it
/// (`/<key>` for virtual-hosted, `/<bucket>/<key>` otherwise).
#[cfg(any(test, feature = "test-presigners"))]
pub fn presign_oss4_for_tests(
    cred: &Credential,
    bucket: &BucketConfig,
    virtual_hosted: bool,
    method: &str,
    key: &str,
    signed_at: DateTime<Utc>,
    expires_secs: i64,
) -> Result<String, OssError> {
    let req = TestRequest::new(method, key);
    presign_oss4_request_for_tests(cred, bucket, virtual_hosted, &req, signed_at, expires_secs)
}

/// Test helper: a path-and-query presigned with OSS V1 (`Expires` is unix seconds).
#[cfg(any(test, feature = "test-presigners"))]
pub fn presign_oss1_for_tests(
    cred: &Credential,
    bucket: &BucketConfig,
    virtual_hosted: bool,
    method: &str,
    key: &str,
    expires_at: i64,
) -> Result<String, OssError> {
    presign_oss1_request_for_tests(cred, bucket, virtual_hosted, &TestRequest::new(method, key), expires_at)
}

/// What a test presigns beyond method and key: more query parameters and the headers it will
/// send (V4 signs `content-md5`, `content-type` and `x-oss-*` ones; V1 the first two).
#[cfg(any(test, feature = "test-presigners"))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestRequest {
    pub method: String,
    /// Empty for a bucket-level request.
    pub key: String,
    /// Decoded names and values.
    pub query: Vec<(String, String)>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
}

#[cfg(any(test, feature = "test-presigners"))]
impl TestRequest {
    pub fn new(method: &str, key: &str) -> TestRequest {
        TestRequest {
            method: method.to_string(),
            key: key.to_string(),
            ..TestRequest::default()
        }
    }

    pub fn param(mut self, name: &str, value: &str) -> TestRequest {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}

/// Test helper: [`presign_oss4_for_tests`] for any [`TestRequest`].
#[cfg(any(test, feature = "test-presigners"))]
pub fn presign_oss4_request_for_tests(
    cred: &Credential,
    bucket: &BucketConfig,
    virtual_hosted: bool,
    req: &TestRequest,
    signed_at: DateTime<Utc>,
    expires_secs: i64,
) -> Result<String, OssError> {
    let date = signed_at.format(ISO8601_BASIC).to_string();
    let day = &date[..8];
    let scope = format!("{day}/{}/oss/aliyun_v4_request", bucket.region);
    let mut query = req.query.clone();
    query.extend([
        ("x-oss-signature-version".to_string(), OSS4_ALGORITHM.to_string()),
        ("x-oss-date".to_string(), date.clone()),
        ("x-oss-expires".to_string(), expires_secs.to_string()),
        (
            "x-oss-credential".to_string(),
            format!("{}/{scope}", cred.access_key_id),
        ),
    ]);
    if let Some(token) = &cred.security_token {
        query.push(("x-oss-security-token".to_string(), token.clone()));
    }
    let canonical = oss4_canonical_request(&req.method, &bucket.name, &req.key, &query, &req.headers, &[]);
    let string_to_sign = oss4_string_to_sign(&date, &scope, &canonical);
    let signature = oss4_signature(&cred.access_key_secret, day, &bucket.region, &string_to_sign)?;
    query.push(("x-oss-signature".to_string(), signature));
    Ok(format!(
        "{}?{}",
        object_path(&bucket.name, &req.key, virtual_hosted),
        encode_query(&query)
    ))
}

/// Test helper: [`presign_oss1_for_tests`] for any [`TestRequest`].
#[cfg(any(test, feature = "test-presigners"))]
pub fn presign_oss1_request_for_tests(
    cred: &Credential,
    bucket: &BucketConfig,
    virtual_hosted: bool,
    req: &TestRequest,
    expires_at: i64,
) -> Result<String, OssError> {
    let mut query = req.query.clone();
    if let Some(token) = &cred.security_token {
        query.push(("security-token".to_string(), token.clone()));
    }
    let sts = oss1_string_to_sign(
        &req.method,
        &req.headers,
        &expires_at.to_string(),
        &bucket.name,
        &req.key,
        &query,
    );
    let signature = hmac_sha1_base64(cred.access_key_secret.as_bytes(), sts.as_bytes())?;
    query.push(("OSSAccessKeyId".to_string(), cred.access_key_id.clone()));
    query.push(("Expires".to_string(), expires_at.to_string()));
    query.push(("Signature".to_string(), signature));
    Ok(format!(
        "{}?{}",
        object_path(&bucket.name, &req.key, virtual_hosted),
        encode_query(&query)
    ))
}

#[cfg(any(test, feature = "test-presigners"))]
fn object_path(bucket: &str, key: &str, virtual_hosted: bool) -> String {
    if virtual_hosted {
        format!("/{}", encode_path(key))
    } else {
        format!("/{bucket}/{}", encode_path(key))
    }
}

#[cfg(any(test, feature = "test-presigners"))]
fn encode_query(query: &[(String, String)]) -> String {
    query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
