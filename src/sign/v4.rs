//! What OSS V4 and AWS SigV4 share. They are one algorithm with different names (prefixes,
//! service, scope terminator) and different canonical requests, so the key schedule, the day cache
//! and the final HMAC live here once, and `oss_v4`/`aws_v4` keep only what tells them apart: the
//! canonical request and the URL's parameter order.
//!
//! The hot path is one SHA-256 of the canonical request and one HMAC: the four chained HMACs that
//! derive the signing key change once a UTC day, so [`ScopedKey`] derives them once and keeps an
//! HMAC already keyed with the result, which each URL clones.

use std::sync::{Arc, RwLock};

use hmac::Mac;
use secrecy::ExposeSecret;
use sha2::Digest;

use super::request::{Credentials, Presigned, Request};
use super::url::encode;

/// Declares a V4-family signer type: its constructor and its explained `presign`; the module
/// supplies `sign`, the part that differs.
macro_rules! v4_signer {
    ($(#[$doc:meta])* $name:ident, $family:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            key: super::v4::ScopedKey,
        }

        impl $name {
            pub fn new(credentials: super::request::Credentials, region: impl Into<String>) -> Self {
                $name {
                    key: super::v4::ScopedKey::new(credentials, region.into(), &$family),
                }
            }

            /// Presigns `req`, with the canonical request and string to sign.
            pub fn presign(&self, target: &super::url::Target, req: &super::request::Request<'_>) -> super::request::Presigned {
                self.sign(target, req, true)
            }
        }
    };
}
pub(super) use v4_signer;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA256 keyed with `key`.
#[expect(
    clippy::expect_used,
    reason = "HMAC takes keys of any length (a long one is hashed, a short one padded): its new_from_slice never fails"
)]
fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// HMAC-SHA256 of `data` under `key`.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// What distinguishes OSS V4 from AWS SigV4 in the parts they share.
#[derive(Debug)]
pub(super) struct Family {
    pub algorithm: &'static str,
    /// Prepended to the secret for the first HMAC (`aliyun_v4`, `AWS4`).
    pub secret_prefix: &'static str,
    pub service: &'static str,
    /// Last element of the scope (`aliyun_v4_request`, `aws4_request`).
    pub terminator: &'static str,
}

/// Everything about signing that changes once a UTC day: the date, the scope, the encoded
/// credential, and the HMAC keyed with the day's signing key (four chained HMACs, done once).
pub(super) struct Day {
    number: i64,
    /// `YYYYMMDD`.
    pub date: String,
    /// `<date>/<region>/<service>/<terminator>`.
    pub scope: String,
    /// `<access key id>/<scope>`, percent-encoded for a query.
    pub credential: String,
    mac: HmacSha256,
}

impl Day {
    /// `YYYYMMDDTHHMMSSZ` for a time on this day.
    pub fn datetime(&self, unix: i64) -> String {
        let secs = unix.rem_euclid(86_400);
        let mut out = String::with_capacity(16);
        out.push_str(&self.date);
        out.push('T');
        for v in [secs / 3600, secs / 60 % 60, secs % 60] {
            out.push(char::from(b'0' + (v / 10) as u8));
            out.push(char::from(b'0' + (v % 10) as u8));
        }
        out.push('Z');
        out
    }
}

/// The canonical request, fed to SHA-256 piece by piece; kept as text too when explaining.
pub(super) struct Canonical {
    hash: sha2::Sha256,
    text: Option<String>,
}

impl Canonical {
    pub fn new(explain: bool) -> Self {
        Canonical {
            hash: sha2::Sha256::new(),
            text: explain.then(String::new),
        }
    }

    pub fn push(&mut self, piece: &str) {
        self.hash.update(piece.as_bytes());
        if let Some(t) = &mut self.text {
            t.push_str(piece);
        }
    }
}

/// Credentials scoped to a region: the day's key (cached) and the final signature, the steps
/// OSS V4 and AWS SigV4 share.
pub(super) struct ScopedKey {
    pub credentials: Credentials,
    /// The STS token, percent-encoded once.
    pub token: Option<String>,
    region: String,
    family: &'static Family,
    day: RwLock<Option<Arc<Day>>>,
}

impl std::fmt::Debug for ScopedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedKey")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("algorithm", &self.family.algorithm)
            .finish_non_exhaustive()
    }
}

/// What signing produced: the signature and, when explaining, the texts that were signed.
pub(super) struct Signature {
    pub hex: String,
    pub canonical_request: String,
    pub string_to_sign: String,
}

impl ScopedKey {
    pub fn new(credentials: Credentials, region: String, family: &'static Family) -> Self {
        ScopedKey {
            token: credentials.token().map(encode),
            credentials,
            region,
            family,
            day: RwLock::new(None),
        }
    }

    /// The signing day of `unix`, derived once per day and shared.
    pub fn day(&self, unix: i64) -> Arc<Day> {
        let number = unix.div_euclid(86_400);
        if let Ok(slot) = self.day.read()
            && let Some(day) = slot.as_ref()
            && day.number == number
        {
            return day.clone();
        }
        let day = Arc::new(self.derive(number));
        if let Ok(mut slot) = self.day.write() {
            *slot = Some(day.clone());
        }
        day
    }

    #[expect(
        clippy::expect_used,
        reason = "the service signs at the clock's time; a time beyond chrono's ±262,000 years is a caller's \
                  bug, better stopped than signed as 1 January 1970"
    )]
    fn derive(&self, number: i64) -> Day {
        let date = chrono::DateTime::from_timestamp(number * 86_400, 0)
            .expect("the signing time is within chrono's range")
            .format("%Y%m%d")
            .to_string();
        let scope = format!(
            "{date}/{}/{}/{}",
            self.region, self.family.service, self.family.terminator
        );
        let secret = format!(
            "{}{}",
            self.family.secret_prefix,
            self.credentials.secret.expose_secret()
        );
        let k = hmac_sha256(secret.as_bytes(), date.as_bytes());
        let k = hmac_sha256(&k, self.region.as_bytes());
        let k = hmac_sha256(&k, self.family.service.as_bytes());
        let k = hmac_sha256(&k, self.family.terminator.as_bytes());
        Day {
            number,
            credential: encode(&format!("{}/{scope}", self.credentials.access_key_id)),
            date,
            scope,
            mac: keyed(&k),
        }
    }

    /// Signs a finished canonical request made on `day` at `datetime`.
    pub fn sign(&self, day: &Day, datetime: &str, canonical: Canonical) -> Signature {
        let mut hash_hex = [0u8; 64];
        let hash_hex = hex_digest(&canonical.hash.finalize().into(), &mut hash_hex);
        let pieces = [self.family.algorithm, "\n", datetime, "\n", &day.scope, "\n", hash_hex];
        let mut mac = day.mac.clone();
        for p in pieces {
            mac.update(p.as_bytes());
        }
        let (canonical_request, string_to_sign) = match canonical.text {
            Some(text) => (text, pieces.concat()),
            // Only the URL was asked for (the hot path): there is no text to give back.
            None => (String::new(), String::new()),
        };
        Signature {
            hex: hex::encode(mac.finalize().into_bytes()),
            canonical_request,
            string_to_sign,
        }
    }
}

/// Lowercase hex of a SHA-256 digest, written into `out`: signing allocates nothing for it.
#[expect(
    clippy::expect_used,
    reason = "32 bytes are always 64 hex digits, and hex digits are ASCII"
)]
fn hex_digest<'a>(digest: &[u8; 32], out: &'a mut [u8; 64]) -> &'a str {
    hex::encode_to_slice(digest, out).expect("32 bytes are 64 hex digits");
    std::str::from_utf8(out).expect("hex digits are ASCII")
}

impl Presigned {
    /// The result of a V4-family signing: `url` ends with the signature already.
    pub(super) fn new(url: String, req: &Request<'_>, signature: Signature) -> Presigned {
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
