//! OSS Signature V4 (`OSS4-HMAC-SHA256`), query form.

use secrecy::ExposeSecret;

use super::{
    Credentials, DayKeyCache, Presigned, Request, Target, canonical_query, encode, encode_path, hmac_sha256,
    iso8601_basic, sha256_hex,
};

const ALGORITHM: &str = "OSS4-HMAC-SHA256";

/// Signs OSS V4 presigned URLs for one region with one set of credentials.
#[derive(Debug)]
pub struct OssV4 {
    credentials: Credentials,
    region: String,
    day_key: DayKeyCache,
}

impl OssV4 {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        OssV4 {
            credentials,
            region: region.into(),
            day_key: DayKeyCache::default(),
        }
    }

    fn signing_key(&self, day: &str) -> [u8; 32] {
        self.day_key.get(day, || {
            let secret = format!("aliyun_v4{}", self.credentials.secret.expose_secret());
            let k = hmac_sha256(secret.as_bytes(), day.as_bytes());
            let k = hmac_sha256(&k, self.region.as_bytes());
            let k = hmac_sha256(&k, b"oss");
            hmac_sha256(&k, b"aliyun_v4_request")
        })
    }

    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        let datetime = iso8601_basic(req.signed_at);
        let day = &datetime[..8];
        let scope = format!("{day}/{}/oss/aliyun_v4_request", self.region);
        let credential = encode(&format!("{}/{scope}", self.credentials.access_key_id));
        let expires = req.expires_in.to_string();

        // URL order follows the official SDK; the canonical form sorts anyway.
        let mut pairs = vec![
            ("x-oss-signature-version".to_owned(), ALGORITHM.to_owned()),
            ("x-oss-date".to_owned(), datetime.clone()),
            ("x-oss-expires".to_owned(), expires),
            ("x-oss-credential".to_owned(), credential),
        ];
        if let Some(token) = self.credentials.token() {
            pairs.push(("x-oss-security-token".to_owned(), encode(token)));
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");

        // The canonical URI always names the bucket, whatever the addressing style.
        let canonical_uri = format!("/{}/{}", req.bucket, encode_path(req.key));
        let canonical_request = format!(
            "{}\n{canonical_uri}\n{}\n\n\nUNSIGNED-PAYLOAD",
            req.method,
            canonical_query(&mut pairs, true)
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{datetime}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let signature = hex::encode(hmac_sha256(&self.signing_key(day), string_to_sign.as_bytes()));
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
