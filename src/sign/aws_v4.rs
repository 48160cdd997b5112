//! AWS Signature V4 (`AWS4-HMAC-SHA256`), query form, for S3-compatible stores.

use super::request::{Presigned, Request};
use super::url::{Target, UrlStart};
use super::v4::{Canonical, Family, v4_signer};

const FAMILY: Family = Family {
    algorithm: "AWS4-HMAC-SHA256",
    secret_prefix: "AWS4",
    service: "s3",
    terminator: "aws4_request",
};

v4_signer!(
    /// Signs S3 SigV4 presigned URLs for one region with one set of credentials.
    AwsV4,
    FAMILY
);

impl AwsV4 {
    /// Builds the URL and the canonical request in one pass (see `OssV4::sign`).
    pub(crate) fn sign(&self, target: &Target, req: &Request<'_>, explain: bool) -> Presigned {
        let day = self.key.day(req.signed_at);
        let datetime = day.datetime(req.signed_at);
        let expires = req.expires_in.to_string();
        let token = self.key.token.as_deref();

        let UrlStart {
            mut url, host, path, ..
        } = UrlStart::new(target, req.bucket, req.key, 300 + token.map_or(0, str::len));

        // The canonical URI is the request path; the query is sorted by name; `host` is signed.
        let mut c = Canonical::new(explain);
        let (host, path) = (&url[host], &url[path]);
        for piece in [
            req.method,
            "\n",
            path,
            "\nX-Amz-Algorithm=",
            FAMILY.algorithm,
            "&X-Amz-Credential=",
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
            "?X-Amz-Algorithm=",
            FAMILY.algorithm,
            "&X-Amz-Credential=",
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
        Presigned::new(url, req, signature)
    }
}
