//! Key rings for the JWTs this service mints and checks (stable links, API tokens).
//!
//! Every token names its key in the `kid` header; verification looks the key up and pins the
//! algorithm to that key's, so `alg: none` and algorithm confusion (an HS256 token "signed" with
//! an RSA public key) are refused. Old keys stay in the ring for verification only, so a secret
//! can be rotated without breaking links already stored in Label Studio.

use std::borrow::Cow;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A key that verifies tokens.
struct Verifier {
    kid: String,
    key: DecodingKey,
}

/// Keys to sign with (at most one) and to verify with (current first), all of one algorithm.
pub struct KeyRing {
    /// The algorithm of every key in the ring: the only one a token may name.
    algorithm: Algorithm,
    /// The header of every minted token (algorithm and `kid`), with the key that signs.
    signer: Option<(Header, EncodingKey)>,
    verifiers: Vec<Verifier>,
}

/// The header of tokens signed with the key `kid`.
fn header(algorithm: Algorithm, kid: String) -> Header {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid);
    header
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.verifiers.iter().map(|v| v.kid.as_str()).collect();
        f.debug_struct("KeyRing").field("kids", &kids).finish_non_exhaustive()
    }
}

/// The key id of an HMAC secret: a short hash, so it names the key without revealing it.
fn hmac_kid(secret: &SecretString) -> String {
    format!(
        "hs-{}",
        &hex::encode(Sha256::digest(secret.expose_secret().as_bytes()))[..12]
    )
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("the token's key id {0:?} is not one of this service's keys")]
    UnknownKid(String),
    #[error("{0}")]
    Key(String),
}

impl KeyRing {
    /// HS256 with `current`, also accepting tokens signed with `previous` secrets.
    pub fn hmac(current: &SecretString, previous: &[SecretString]) -> KeyRing {
        let verifiers = std::iter::once(current)
            .chain(previous)
            .map(|s| Verifier {
                kid: hmac_kid(s),
                key: DecodingKey::from_secret(s.expose_secret().as_bytes()),
            })
            .collect();
        KeyRing {
            algorithm: Algorithm::HS256,
            signer: Some((
                header(Algorithm::HS256, hmac_kid(current)),
                EncodingKey::from_secret(current.expose_secret().as_bytes()),
            )),
            verifiers,
        }
    }

    /// RS256 or ES256 from PEM files: `private` (kid, PEM) signs, `public` (kid, PEM) verify.
    pub fn asymmetric(
        algorithm: Algorithm,
        private: Option<(String, &[u8])>,
        public: &[(String, Vec<u8>)],
    ) -> Result<KeyRing, KeyError> {
        let bad = |what: &str, kid: &str, e: jsonwebtoken::errors::Error| KeyError::Key(format!("{what} {kid:?}: {e}"));
        let signer = match private {
            Some((kid, pem)) => {
                let key = match algorithm {
                    Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
                    _ => EncodingKey::from_ec_pem(pem),
                }
                .map_err(|e| bad("private key", &kid, e))?;
                Some((header(algorithm, kid), key))
            }
            None => None,
        };
        let verifiers = public
            .iter()
            .map(|(kid, pem)| {
                let key = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
                    _ => DecodingKey::from_ec_pem(pem),
                }
                .map_err(|e| bad("public key", kid, e))?;
                Ok(Verifier { kid: kid.clone(), key })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(KeyRing {
            algorithm,
            signer,
            verifiers,
        })
    }

    /// The algorithm of every key in the ring. A [`Validation`] built with it is used by
    /// [`KeyRing::decode`] as it is; any other is copied with the algorithm pinned to it.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether this ring can mint tokens.
    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// Signs `claims` with the current key (`None` when the ring only verifies).
    pub fn encode<T: Serialize>(&self, claims: &T) -> Option<String> {
        let (header, key) = self.signer.as_ref()?;
        jsonwebtoken::encode(header, claims, key).ok()
    }

    /// Verifies `token` with the key its `kid` names (the current key when it names none),
    /// under `validation` with the algorithm pinned to the ring's (see [`KeyRing::algorithm`]).
    pub fn decode<T: DeserializeOwned>(&self, token: &str, validation: &Validation) -> Result<T, KeyError> {
        let header = jsonwebtoken::decode_header(token)?;
        let verifier = match &header.kid {
            Some(kid) => self
                .verifiers
                .iter()
                .find(|v| &v.kid == kid)
                .ok_or_else(|| KeyError::UnknownKid(kid.clone()))?,
            None => self
                .verifiers
                .first()
                .ok_or_else(|| KeyError::Key("no verification key configured".into()))?,
        };
        // Callers build their validation once with the ring's algorithm; only another one is
        // copied to pin it.
        let validation = if validation.algorithms == [self.algorithm] {
            Cow::Borrowed(validation)
        } else {
            let mut v = validation.clone();
            v.algorithms = vec![self.algorithm];
            Cow::Owned(v)
        };
        Ok(jsonwebtoken::decode::<T>(token, &verifier.key, &validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct C {
        x: u32,
    }

    fn loose() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = SecretString::from("old-secret-0123456789");
        let new = SecretString::from("new-secret-0123456789");
        let before = KeyRing::hmac(&old, &[]);
        let token = before.encode(&C { x: 1 }).unwrap();
        let after = KeyRing::hmac(&new, std::slice::from_ref(&old));
        assert_eq!(after.decode::<C>(&token, &loose()).unwrap(), C { x: 1 });
        let dropped = KeyRing::hmac(&new, &[]);
        assert!(matches!(
            dropped.decode::<C>(&token, &loose()),
            Err(KeyError::UnknownKid(_))
        ));
        assert!(!format!("{after:?}").contains("secret-0123"));
    }

    #[test]
    fn alg_none_and_confusion_are_refused() {
        let ring = KeyRing::hmac(&SecretString::from("a-secret-0123456789xx"), &[]);
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(r#"{"x":1}"#));
        assert!(ring.decode::<C>(&none, &loose()).is_err());
        let token = ring.encode(&C { x: 2 }).unwrap();
        let kid = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(kid).unwrap()).unwrap();
        let hs512 = format!(
            "{}.{}.{}",
            b64(&serde_json::json!({"alg": "HS512", "kid": header["kid"]}).to_string()),
            token.split('.').nth(1).unwrap(),
            token.split('.').nth(2).unwrap()
        );
        assert!(ring.decode::<C>(&hs512, &loose()).is_err());
    }

    #[test]
    fn a_validation_of_another_algorithm_is_pinned_to_the_ring() {
        let secret = SecretString::from("a-secret-0123456789xx");
        let ring = KeyRing::hmac(&secret, &[]);
        assert_eq!(ring.algorithm(), Algorithm::HS256);
        let token = ring.encode(&C { x: 3 }).unwrap();
        let mut rs256 = loose();
        rs256.algorithms = vec![Algorithm::RS256];
        assert_eq!(ring.decode::<C>(&token, &rs256).unwrap(), C { x: 3 });
        let mut wide = loose();
        wide.algorithms = vec![Algorithm::HS256, Algorithm::HS512];
        assert_eq!(ring.decode::<C>(&token, &wide).unwrap(), C { x: 3 });
        // Properly signed with the ring's secret and kid, but HS512: refused all the same.
        let hs512 = jsonwebtoken::encode(
            &header(Algorithm::HS512, hmac_kid(&secret)),
            &C { x: 4 },
            &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
        )
        .unwrap();
        assert!(ring.decode::<C>(&hs512, &wide).is_err());
        assert!(ring.decode::<C>(&hs512, &loose()).is_err());
    }
}
