//! OSS Signature V4 (`OSS4-HMAC-SHA256`): the query form (presigned URLs for browsers) and the
//! header form (the service's own requests to the store).

use std::collections::BTreeMap;

use super::request::{HeaderRequest, Presigned, Request};
use super::url::{Target, UrlStart, encode, push_encoded};
use super::v4::{Canonical, Family, v4_signer};

const FAMILY: Family = Family {
    algorithm: "OSS4-HMAC-SHA256",
    secret_prefix: "aliyun_v4",
    service: "oss",
    terminator: "aliyun_v4_request",
};

v4_signer!(
    /// Signs OSS V4 presigned URLs and requests for one region with one set of credentials.
    OssV4,
    FAMILY
);

/// Headers the header form adds, besides `authorization`.
const DATE: &str = "x-oss-date";
const CONTENT_SHA256: &str = "x-oss-content-sha256";
const SECURITY_TOKEN: &str = "x-oss-security-token";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

impl OssV4 {
    /// Builds the URL and the canonical request in one pass; the canonical request is only
    /// hashed, and kept as text when `explain` is set.
    pub(crate) fn sign(&self, target: &Target, req: &Request<'_>, explain: bool) -> Presigned {
        let day = self.key.day(req.signed_at);
        let datetime = day.datetime(req.signed_at);
        let expires = req.expires_in.to_string();
        let token = self.key.token.as_deref();

        let UrlStart { mut url, key, .. } = UrlStart::new(target, req.bucket, req.key, 250 + token.map_or(0, str::len));

        // The canonical URI always names the bucket, whatever the addressing style; the
        // canonical query is the URL's parameters sorted by name.
        let mut c = Canonical::new(explain);
        for piece in [req.method, "\n/", req.bucket, "/", &url[key], "\nx-oss-credential="] {
            c.push(piece);
        }
        for piece in [&day.credential, "&x-oss-date=", &datetime, "&x-oss-expires=", &expires] {
            c.push(piece);
        }
        if let Some(t) = token {
            c.push("&x-oss-security-token=");
            c.push(t);
        }
        for piece in ["&x-oss-signature-version=", FAMILY.algorithm, "\n\n\nUNSIGNED-PAYLOAD"] {
            c.push(piece);
        }
        let signature = self.key.sign(&day, &datetime, c);

        // URL order follows the official SDK.
        for piece in [
            "?x-oss-signature-version=",
            FAMILY.algorithm,
            "&x-oss-date=",
            &datetime,
            "&x-oss-expires=",
            &expires,
            "&x-oss-credential=",
            &day.credential,
        ] {
            url.push_str(piece);
        }
        if let Some(t) = token {
            url.push_str("&x-oss-security-token=");
            url.push_str(t);
        }
        url.push_str("&x-oss-signature=");
        url.push_str(&signature.hex);
        Presigned::new(url, req, signature)
    }
}

impl OssV4 {
    /// Signs `req` in its headers: returns the headers to set on it (`x-oss-date`,
    /// `x-oss-content-sha256`, the STS token when there is one, and `authorization`), replacing
    /// any the request carries. Signed are the `x-oss-*` headers, `content-type` and `content-md5`
    /// (no additional headers); the payload is `UNSIGNED-PAYLOAD`.
    pub fn sign_headers(&self, req: &HeaderRequest<'_>) -> Vec<(&'static str, String)> {
        let day = self.key.day(req.signed_at);
        let datetime = day.datetime(req.signed_at);
        let mut own = vec![(DATE, datetime.clone()), (CONTENT_SHA256, UNSIGNED_PAYLOAD.to_owned())];
        if let Some(token) = self.key.credentials.token() {
            own.push((SECURITY_TOKEN, token.to_owned()));
        }

        // Header values are trimmed, a repeated header's values joined by `,`, names sorted.
        let mut signed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let replaced = |name: &str| own.iter().any(|(n, _)| *n == name);
        let theirs = req.headers.iter().filter(|(name, _)| !replaced(name));
        for (name, value) in theirs
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(own.iter().map(|(n, v)| (*n, v.as_str())))
        {
            if is_signed_header(name) {
                signed.entry(name).or_default().push(value.trim());
            }
        }

        // The canonical URI names the bucket whatever the addressing style; the query is sorted
        // by its encoded names and values, an empty value written as the bare name.
        let mut uri = String::with_capacity(2 + req.bucket.len() + req.key.len() * 3);
        uri.push('/');
        uri.push_str(req.bucket);
        uri.push('/');
        push_encoded(&mut uri, req.key);
        let mut query: Vec<(String, String)> = req.query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
        query.sort();

        let mut c = Canonical::new(false);
        for piece in [req.method, "\n", &uri, "\n"] {
            c.push(piece);
        }
        for (i, (k, v)) in query.iter().enumerate() {
            if i > 0 {
                c.push("&");
            }
            c.push(k);
            if !v.is_empty() {
                c.push("=");
                c.push(v);
            }
        }
        c.push("\n");
        for (name, values) in &signed {
            c.push(name);
            c.push(":");
            c.push(&values.join(","));
            c.push("\n");
        }
        // An empty line for the (absent) additional headers, then the payload.
        for piece in ["\n\n", UNSIGNED_PAYLOAD] {
            c.push(piece);
        }
        let signature = self.key.sign(&day, &datetime, c);

        own.push((
            "authorization",
            format!(
                "{} Credential={}/{},Signature={}",
                FAMILY.algorithm, self.key.credentials.access_key_id, day.scope, signature.hex
            ),
        ));
        own
    }
}

/// Whether OSS V4 header auth signs a header of this (lowercase) name.
pub(crate) fn is_signed_header(name: &str) -> bool {
    name.starts_with("x-oss-") || name == "content-type" || name == "content-md5"
}
