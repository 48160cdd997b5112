//! OSS Signature V4 (`OSS4-HMAC-SHA256`), query form.

use super::{
    Credentials, Family, Presigned, Request, ScopedKey, Target, canonical_query, encode, encode_path, iso8601_basic,
};

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

    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        let datetime = iso8601_basic(req.signed_at);
        let credential = format!(
            "{}/{}",
            self.key.credentials.access_key_id,
            self.key.scope(&datetime[..8])
        );
        // URL order follows the official SDK; the canonical form sorts anyway.
        let mut pairs = vec![
            ("x-oss-signature-version".to_owned(), FAMILY.algorithm.to_owned()),
            ("x-oss-date".to_owned(), datetime.clone()),
            ("x-oss-expires".to_owned(), req.expires_in.to_string()),
            ("x-oss-credential".to_owned(), encode(&credential)),
        ];
        if let Some(token) = self.key.credentials.token() {
            pairs.push(("x-oss-security-token".to_owned(), encode(token)));
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");

        // The canonical URI always names the bucket, whatever the addressing style.
        let canonical_request = format!(
            "{}\n/{}/{}\n{}\n\n\nUNSIGNED-PAYLOAD",
            req.method,
            req.bucket,
            encode_path(req.key),
            canonical_query(&mut pairs, true)
        );
        let (string_to_sign, signature) = self.key.sign(&datetime, &canonical_request);
        Presigned {
            url: format!(
                "{}?{query}&x-oss-signature={signature}",
                target.object_url(req.bucket, req.key)
            ),
            method: req.method.to_owned(),
            expires_at: req.signed_at + req.expires_in as i64,
            canonical_request,
            string_to_sign,
            signature,
        }
    }
}
