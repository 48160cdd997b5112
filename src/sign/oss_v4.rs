//! OSS Signature V4 (`OSS4-HMAC-SHA256`), query form.

use super::{Addressing, Canonical, Credentials, Family, Presigned, Request, ScopedKey, Target, push_encoded};

const FAMILY: Family = Family {
    algorithm: "OSS4-HMAC-SHA256",
    secret_prefix: "aliyun_v4",
    service: "oss",
    terminator: "aliyun_v4_request",
};

/// Signs OSS V4 presigned URLs for one region with one set of credentials.
#[derive(Debug)]
pub struct OssV4 {
    key: ScopedKey,
}

impl OssV4 {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        OssV4 {
            key: ScopedKey::new(credentials, region.into(), &FAMILY),
        }
    }

    /// Presigns `req`, with the canonical request and string to sign.
    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        self.sign(target, req, true)
    }

    /// Builds the URL and the canonical request in one pass; the canonical request is only
    /// hashed, and kept as text when `explain` is set.
    pub(crate) fn sign(&self, target: &Target, req: &Request<'_>, explain: bool) -> Presigned {
        let day = self.key.day(req.signed_at);
        let datetime = day.datetime(req.signed_at);
        let expires = req.expires_in.to_string();
        let token = self.key.token.as_deref();

        let mut url = String::with_capacity(300 + req.key.len() * 3 + token.map_or(0, str::len));
        url.push_str(&target.scheme);
        url.push_str("://");
        if target.addressing == Addressing::Virtual {
            url.push_str(req.bucket);
            url.push('.');
        }
        url.push_str(&target.host);
        url.push('/');
        if target.addressing == Addressing::Path {
            url.push_str(req.bucket);
            url.push('/');
        }
        let key_at = url.len();
        push_encoded(&mut url, req.key, true);
        let key_end = url.len();

        // The canonical URI always names the bucket, whatever the addressing style; the
        // canonical query is the URL's parameters sorted by name.
        let mut c = Canonical::new(explain);
        for piece in [
            req.method,
            "\n/",
            req.bucket,
            "/",
            &url[key_at..key_end],
            "\nx-oss-credential=",
        ] {
            c.push(piece);
        }
        for piece in [&day.credential, "&x-oss-date=", &datetime, "&x-oss-expires=", &expires] {
            c.push(piece);
        }
        if let Some(t) = token {
            c.push("&x-oss-security-token=");
            c.push(t);
        }
        c.push("&x-oss-signature-version=OSS4-HMAC-SHA256\n\n\nUNSIGNED-PAYLOAD");
        let signature = self.key.sign(&day, &datetime, c);

        // URL order follows the official SDK.
        for piece in [
            "?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=",
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
        Presigned {
            url,
            method: req.method.to_owned(),
            expires_at: req.signed_at + req.expires_in as i64,
            canonical_request: signature.canonical_request,
            string_to_sign: signature.string_to_sign,
            signature: signature.hex,
        }
    }
}
