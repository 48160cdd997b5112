//! AWS Signature V4 (`AWS4-HMAC-SHA256`), query form, for S3-compatible stores.

use secrecy::ExposeSecret;

use super::{
    Credentials, DayKeyCache, Presigned, Request, Target, canonical_query, encode, hmac_sha256, iso8601_basic,
    sha256_hex,
};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Signs S3 SigV4 presigned URLs for one region with one set of credentials.
#[derive(Debug)]
pub struct AwsV4 {
    credentials: Credentials,
    region: String,
    day_key: DayKeyCache,
}

impl AwsV4 {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        AwsV4 {
            credentials,
            region: region.into(),
            day_key: DayKeyCache::default(),
        }
    }

    fn signing_key(&self, day: &str) -> [u8; 32] {
        self.day_key.get(day, || {
            let secret = format!("AWS4{}", self.credentials.secret.expose_secret());
            let k = hmac_sha256(secret.as_bytes(), day.as_bytes());
            let k = hmac_sha256(&k, self.region.as_bytes());
            let k = hmac_sha256(&k, b"s3");
            hmac_sha256(&k, b"aws4_request")
        })
    }

    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        let datetime = iso8601_basic(req.signed_at);
        let day = &datetime[..8];
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let host = target.host_for(req.bucket);
        let path = target.path_for(req.bucket, req.key);

        // URL order follows botocore; the canonical form sorts anyway.
        let mut pairs = vec![
            ("X-Amz-Algorithm".to_owned(), ALGORITHM.to_owned()),
            (
                "X-Amz-Credential".to_owned(),
                encode(&format!("{}/{scope}", self.credentials.access_key_id)),
            ),
            ("X-Amz-Date".to_owned(), datetime.clone()),
            ("X-Amz-Expires".to_owned(), req.expires_in.to_string()),
            ("X-Amz-SignedHeaders".to_owned(), "host".to_owned()),
        ];
        if let Some(token) = self.credentials.token() {
            pairs.push(("X-Amz-Security-Token".to_owned(), encode(token)));
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");

        let canonical_request = format!(
            "{}\n{path}\n{}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD",
            req.method,
            canonical_query(&mut pairs, false)
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{datetime}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let signature = hex::encode(hmac_sha256(&self.signing_key(day), string_to_sign.as_bytes()));
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
