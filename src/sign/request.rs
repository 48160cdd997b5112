//! What is signed (an object, a method, a time and a lifetime, with the credentials) and what
//! comes back.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// The longest lifetime OSS V4 and S3 SigV4 accept: 7 days.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// Access key, secret and optional STS token. `Debug` never shows the secrets.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: SecretString,
    pub session_token: Option<SecretString>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret: impl Into<String>, session_token: Option<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret: SecretString::from(secret.into()),
            session_token: session_token.map(SecretString::from),
        }
    }

    pub(super) fn token(&self) -> Option<&str> {
        self.session_token.as_ref().map(|t| t.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"[redacted]")
            .field("session_token", &self.session_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// What to presign.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET` or `HEAD`.
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Signing time, Unix seconds. Signing panics for a time beyond chrono's ±262,000 years.
    pub signed_at: i64,
    /// Lifetime in seconds from `signed_at`.
    pub expires_in: u64,
}

/// What to sign in a request's headers (the service's own reads), as the store will see it.
#[derive(Debug, Clone, Copy)]
pub struct HeaderRequest<'a> {
    pub method: &'a str,
    pub bucket: &'a str,
    /// The object key, decoded; empty for a bucket-level request.
    pub key: &'a str,
    /// The query's parameters, decoded.
    pub query: &'a [(String, String)],
    /// The headers the request already carries, names in lowercase: the signer picks those its
    /// algorithm signs.
    pub headers: &'a [(String, String)],
    /// Signing time, Unix seconds.
    pub signed_at: i64,
}

/// A presigned URL with the pieces that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    /// Unix seconds after which the store refuses the URL.
    pub expires_at: i64,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}
