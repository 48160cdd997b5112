//! Stable links: `<public URL>/r/<token>`, where the token is a JWT minted by this service that
//! names one storage URI. Only links it minted resolve, so it can't be used to sign arbitrary
//! keys. The token carries no expiry: the link lives in Label Studio's task data for good, and
//! each request gets a fresh presigned URL.

use dashmap::DashMap;
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeyRing};
use crate::uri::StorageUri;

/// Audience that marks a token as a stable link (and nothing else).
const AUDIENCE: &str = "ls-presign:link";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The storage URI.
    uri: String,
    aud: String,
}

/// Why a link token was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link token is not valid: {0}")]
    Token(#[from] KeyError),
    #[error("the link names no storage object: {0}")]
    Uri(#[from] crate::uri::UriError),
}

/// Mints and checks stable-link tokens (HS256, with the secrets of the key ring).
pub struct LinkSigner {
    keys: KeyRing,
    validation: Validation,
    /// Tokens already verified: a link is opened again and again, and a map lookup is cheaper
    /// than a JWT check. Bounded; cleared when full.
    verified: DashMap<Box<str>, StorageUri>,
}

/// Most verified tokens remembered.
const VERIFIED_MAX: usize = 100_000;

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl LinkSigner {
    pub fn new(keys: KeyRing) -> Self {
        // Built with the ring's algorithm, so the ring checks tokens under it as it is.
        let mut validation = Validation::new(keys.algorithm());
        validation.required_spec_claims.clear();
        validation.required_spec_claims.insert("aud".into());
        validation.validate_exp = false;
        validation.set_audience(&[AUDIENCE]);
        LinkSigner {
            keys,
            validation,
            verified: DashMap::new(),
        }
    }

    /// The token for `uri`: the same URI always gives the same token, on every replica.
    #[expect(
        clippy::expect_used,
        reason = "links are signed with an HMAC ring (Config::link_keys), which always signs, and two string claims always serialize"
    )]
    pub fn mint(&self, uri: &StorageUri) -> String {
        let claims = Claims {
            uri: uri.to_string(),
            aud: AUDIENCE.into(),
        };
        self.keys.encode(&claims).expect("an HMAC key ring signs every link")
    }

    /// The URI a token names, if this service minted it and nobody changed a byte.
    pub fn verify(&self, token: &str) -> Result<StorageUri, LinkError> {
        if let Some(uri) = self.verified.get(token) {
            return Ok(uri.clone());
        }
        let claims: Claims = self.keys.decode(token, &self.validation)?;
        let uri = StorageUri::parse(&claims.uri)?;
        if self.verified.len() >= VERIFIED_MAX {
            self.verified.clear();
        }
        self.verified.insert(token.into(), uri.clone());
        Ok(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn signer(secret: &str) -> LinkSigner {
        LinkSigner::new(KeyRing::hmac(&SecretString::from(secret), &[]))
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let s = signer("0123456789abcdef0123");
        let uri = StorageUri::parse("oss://b/ a/é+%.jpg").unwrap();
        let t = s.mint(&uri);
        assert_eq!(s.mint(&uri), t);
        assert_eq!(s.verify(&t).unwrap(), uri);
        let mut bad = t.clone().into_bytes();
        let mid = bad.len() / 2;
        bad[mid] = if bad[mid] == b'A' { b'B' } else { b'A' };
        assert!(s.verify(std::str::from_utf8(&bad).unwrap()).is_err());
        assert!(s.verify(&t[..t.len() - 2]).is_err());
        let other = signer("another-secret-0000");
        assert!(other.verify(&t).is_err());
    }
}
