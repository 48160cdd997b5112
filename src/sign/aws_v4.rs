//! AWS Signature V4 (`AWS4-HMAC-SHA256`), query form, for S3-compatible stores.

use super::{Credentials, Family, Presigned, Request, ScopedKey, Target, canonical_query, encode, iso8601_basic};

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

    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        let datetime = iso8601_basic(req.signed_at);
        let credential = format!(
            "{}/{}",
            self.key.credentials.access_key_id,
            self.key.scope(&datetime[..8])
        );
        let host = target.host_for(req.bucket);
        let path = target.path_for(req.bucket, req.key);
        // URL order follows botocore; the canonical form sorts anyway.
        let mut pairs = vec![
            ("X-Amz-Algorithm".to_owned(), FAMILY.algorithm.to_owned()),
            ("X-Amz-Credential".to_owned(), encode(&credential)),
            ("X-Amz-Date".to_owned(), datetime.clone()),
            ("X-Amz-Expires".to_owned(), req.expires_in.to_string()),
            ("X-Amz-SignedHeaders".to_owned(), "host".to_owned()),
        ];
        if let Some(token) = self.key.credentials.token() {
            pairs.push(("X-Amz-Security-Token".to_owned(), encode(token)));
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");

        let canonical_request = format!(
            "{}\n{path}\n{}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD",
            req.method,
            canonical_query(&mut pairs, false)
        );
        let (string_to_sign, signature) = self.key.sign(&datetime, &canonical_request);
        Presigned {
            url: format!("{}://{host}{path}?{query}&X-Amz-Signature={signature}", target.scheme),
            method: req.method.to_owned(),
            expires_at: req.signed_at + req.expires_in as i64,
            canonical_request,
            string_to_sign,
            signature,
        }
    }
}
