//! API tokens: JWTs minted by `ls-presign token`, checked on webhooks (and other callers) with a
//! scope each, plus Label Studio ML-backend Basic auth.

use base64::Engine;
use jsonwebtoken::Validation;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::keys::KeyRing;

/// Audience of API tokens, so a stable-link token can never pass as one (or the reverse).
const AUDIENCE: &str = "ls-presign:api";
/// Issuer of every API token.
const ISSUER: &str = "ls-presign";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `/v1/resolve`, `/v1/sign`, `/v1/tasks`.
    Resolve,
    /// `/webhook`.
    Webhook,
    /// Everything.
    Admin,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Resolve => "resolve",
            Scope::Webhook => "webhook",
            Scope::Admin => "admin",
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    scope: Scope,
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <token from ls-presign token>`")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token's scope {have} does not allow {need}: mint one with `ls-presign token --scope {need}`")]
    Scope { have: Scope, need: Scope },
    #[error("wrong Basic auth user or password")]
    Basic,
    #[error("Basic auth opens only the ML-backend endpoints and /webhook; send a Bearer token")]
    BasicScope,
}

/// Mints and verifies API tokens; checks Basic auth.
pub struct Authenticator {
    keys: KeyRing,
    validation: Validation,
    /// The ML-backend Basic credentials as the header carries them decoded: `user:password`.
    basic: Option<SecretString>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator([redacted])")
    }
}

impl Authenticator {
    pub fn new(keys: KeyRing, basic: Option<(String, SecretString)>) -> Self {
        // Built with the ring's algorithm, so the ring checks tokens under it as it is.
        let mut validation = Validation::new(keys.algorithm());
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let basic = basic.map(|(user, pass)| SecretString::from(format!("{user}:{}", pass.expose_secret())));
        Authenticator {
            keys,
            validation,
            basic,
        }
    }

    /// A token for `sub` with `scope`, valid `ttl` seconds from `now`; `None` when the key ring
    /// only verifies (asymmetric keys without the private key).
    pub fn mint(&self, sub: &str, scope: Scope, now: i64, ttl: u64) -> Option<String> {
        self.mint_from(sub, scope, now, now, ttl)
    }

    /// As [`Authenticator::mint`], valid from `not_before`.
    pub fn mint_from(&self, sub: &str, scope: Scope, now: i64, not_before: i64, ttl: u64) -> Option<String> {
        let claims = Claims {
            sub: sub.to_owned(),
            scope,
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now,
            nbf: not_before,
            exp: not_before + ttl as i64,
        };
        self.keys.encode(&claims)
    }

    /// Checks an `Authorization` header value for `need`: a Bearer token with that scope (or
    /// admin), or, when configured, the ML-backend Basic credentials.
    pub fn check(&self, authorization: Option<&str>, need: Scope) -> Result<(), AuthError> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(AuthError::Missing)?;
        let (kind, value) = header.split_once(' ').unwrap_or((header, ""));
        if kind.eq_ignore_ascii_case("basic") {
            self.check_basic(value.trim())?;
            return if need == Scope::Webhook {
                Ok(())
            } else {
                Err(AuthError::BasicScope)
            };
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        let claims: Claims = self
            .keys
            .decode(value.trim(), &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let have = claims.scope;
        if have == need || have == Scope::Admin {
            Ok(())
        } else {
            Err(AuthError::Scope { have, need })
        }
    }

    fn check_basic(&self, value: &str) -> Result<(), AuthError> {
        let expected = self.basic.as_ref().ok_or(AuthError::Basic)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| AuthError::Basic)?;
        if constant_time_eq(&decoded, expected.expose_secret().as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::Basic)
        }
    }

    /// Whether ML-backend Basic auth is configured.
    pub fn has_basic(&self) -> bool {
        self.basic.is_some()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses durations like `30d`, `12h`, `15m`, `90s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 30d, 12h, 15m or 3600"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::hmac(&SecretString::from(secret), &[])
    }

    fn auth() -> Authenticator {
        Authenticator::new(
            ring("0123456789abcdef-secret"),
            Some(("ml".into(), SecretString::from("pass"))),
        )
    }

    #[test]
    fn scopes_expiry_and_basic() {
        let a = auth();
        let now = crate::time::now();
        let hook = a.mint("ls", Scope::Webhook, now, 3600).unwrap();
        assert_eq!(a.check(Some(&format!("Bearer {hook}")), Scope::Webhook), Ok(()));
        assert!(matches!(
            a.check(Some(&format!("Bearer {hook}")), Scope::Resolve),
            Err(AuthError::Scope { .. })
        ));
        let admin = a.mint("ops", Scope::Admin, now, 60).unwrap();
        assert_eq!(a.check(Some(&format!("bearer {admin}")), Scope::Resolve), Ok(()));
        let expired = a.mint("ls", Scope::Webhook, now - 7200, 60).unwrap();
        assert!(matches!(
            a.check(Some(&format!("Bearer {expired}")), Scope::Webhook),
            Err(AuthError::Invalid(_))
        ));
        let other = Authenticator::new(ring("another-secret-000000"), None);
        let foreign = other.mint("x", Scope::Admin, now, 60).unwrap();
        assert!(a.check(Some(&format!("Bearer {foreign}")), Scope::Webhook).is_err());
        assert_eq!(a.check(None, Scope::Webhook), Err(AuthError::Missing));
        assert_eq!(a.check(Some("Basic bWw6cGFzcw=="), Scope::Webhook), Ok(()));
        assert_eq!(
            a.check(Some("Basic bWw6d3Jvbmc="), Scope::Webhook),
            Err(AuthError::Basic)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86400));
        assert_eq!(parse_duration("90"), Ok(90));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("").is_err());
    }
}
