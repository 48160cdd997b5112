//! AWS Signature V4 (`AWS4-HMAC-SHA256`), query form, for S3-compatible stores.

use super::{Addressing, Canonical, Credentials, Family, Presigned, Request, ScopedKey, Target, push_encoded};

const FAMILY: Family = Family {
    algorithm: "AWS4-HMAC-SHA256",
    secret_prefix: "AWS4",
    service: "s3",
    terminator: "aws4_request",
};

/// Signs S3 SigV4 presigned URLs for one region with one set of credentials.
#[derive(Debug)]
pub struct AwsV4 {
    key: ScopedKey,
}

impl AwsV4 {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        AwsV4 {
            key: ScopedKey::new(credentials, region.into(), &FAMILY),
        }
    }

    /// Presigns `req`, with the canonical request and string to sign.
    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        self.sign(target, req, true)
    }

    /// Builds the URL and the canonical request in one pass (see `OssV4::sign`).
    pub(crate) fn sign(&self, target: &Target, req: &Request<'_>, explain: bool) -> Presigned {
        let day = self.key.day(req.signed_at);
        let datetime = day.datetime(req.signed_at);
        let expires = req.expires_in.to_string();
        let token = self.key.token.as_deref();

        let mut url = String::with_capacity(300 + req.key.len() * 3 + token.map_or(0, str::len));
        url.push_str(&target.scheme);
        url.push_str("://");
        let host_at = url.len();
        if target.addressing == Addressing::Virtual {
            url.push_str(req.bucket);
            url.push('.');
        }
        url.push_str(&target.host);
        let path_at = url.len();
        url.push('/');
        if target.addressing == Addressing::Path {
            url.push_str(req.bucket);
            url.push('/');
        }
        push_encoded(&mut url, req.key, true);
        let path_end = url.len();

        // The canonical URI is the request path; the query is sorted by name; `host` is signed.
        let mut c = Canonical::new(explain);
        let (host, path) = (&url[host_at..path_at], &url[path_at..path_end]);
        for piece in [
            req.method,
            "\n",
            path,
            "\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=",
            &day.credential,
            "&X-Amz-Date=",
            &datetime,
            "&X-Amz-Expires=",
            &expires,
        ] {
            c.push(piece);
        }
        if let Some(t) = token {
            c.push("&X-Amz-Security-Token=");
            c.push(t);
        }
        for piece in ["&X-Amz-SignedHeaders=host\nhost:", host, "\n\nhost\nUNSIGNED-PAYLOAD"] {
            c.push(piece);
        }
        let signature = self.key.sign(&day, &datetime, c);

        // URL order follows botocore.
        for piece in [
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=",
            &day.credential,
            "&X-Amz-Date=",
            &datetime,
            "&X-Amz-Expires=",
            &expires,
            "&X-Amz-SignedHeaders=host",
        ] {
            url.push_str(piece);
        }
        if let Some(t) = token {
            url.push_str("&X-Amz-Security-Token=");
            url.push_str(t);
        }
        url.push_str("&X-Amz-Signature=");
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
