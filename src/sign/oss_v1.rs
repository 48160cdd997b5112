//! OSS Signature V1 (HMAC-SHA1), query form: only for buckets that still accept it.

use base64::Engine;
use hmac::Mac;
use secrecy::ExposeSecret;

use super::request::{Credentials, Presigned, Request};
use super::url::{Target, UrlStart, encode};

/// Signs OSS V1 presigned URLs with one set of credentials.
#[derive(Debug)]
pub struct OssV1 {
    credentials: Credentials,
}

impl OssV1 {
    pub fn new(credentials: Credentials) -> Self {
        OssV1 { credentials }
    }

    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        let expires_at = req.signed_at + req.expires_in as i64;
        // The canonical resource is the raw key; the STS token is a signed sub-resource.
        let mut resource = format!("/{}/{}", req.bucket, req.key);
        if let Some(token) = self.credentials.token() {
            resource.push_str("?security-token=");
            resource.push_str(token);
        }
        let string_to_sign = format!("{}\n\n\n{expires_at}\n{resource}", req.method);
        let signature = base64::engine::general_purpose::STANDARD.encode(self.hmac_sha1(&string_to_sign));

        let token = self.credentials.token();
        let query_len = 100 + self.credentials.access_key_id.len() + token.map_or(0, |t| 3 * t.len());
        let mut url = UrlStart::new(target, req.bucket, req.key, query_len).url;
        url.push_str("?OSSAccessKeyId=");
        url.push_str(&encode(&self.credentials.access_key_id));
        url.push_str("&Expires=");
        url.push_str(&expires_at.to_string());
        url.push_str("&Signature=");
        url.push_str(&encode(&signature));
        if let Some(token) = token {
            url.push_str("&security-token=");
            url.push_str(&encode(token));
        }
        Presigned {
            url,
            method: req.method.to_owned(),
            expires_at,
            canonical_request: resource,
            string_to_sign,
            signature,
        }
    }

    /// HMAC-SHA1 of `data` under the secret.
    #[expect(
        clippy::expect_used,
        reason = "HMAC takes keys of any length (a long one is hashed, a short one padded): its new_from_slice never fails"
    )]
    fn hmac_sha1(&self, data: &str) -> [u8; 20] {
        let secret = self.credentials.secret.expose_secret().as_bytes();
        let mut mac = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().into()
    }
}
