//! OSS Signature V4 (`OSS4-HMAC-SHA256`), query form.

use super::request::{Presigned, Request};
use super::url::{Target, UrlStart};
use super::v4::{Canonical, Family, v4_signer};

const FAMILY: Family = Family {
    algorithm: "OSS4-HMAC-SHA256",
    secret_prefix: "aliyun_v4",
    service: "oss",
    terminator: "aliyun_v4_request",
};

v4_signer!(
    /// Signs OSS V4 presigned URLs for one region with one set of credentials.
    OssV4,
    FAMILY
);

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
