//! Key rings for the JWTs this service mints and checks (stable links, API tokens).
//!
//! Every token names its key in the `kid` header; verification looks the key up and pins the
//! algorithm to that key's, so `alg: none` and algorithm confusion (an HS256 token "signed" with
//! an RSA public key) are refused. Old keys stay in the ring for verification only, so a secret
//! can be rotated without breaking links already stored in Label Studio.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A key that verifies tokens.
struct Verifier {
    kid: String,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Keys to sign with (at most one) and to verify with (current first).
pub struct KeyRing {
    signer: Option<(String, Algorithm, EncodingKey)>,
    verifiers: Vec<Verifier>,
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
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(s.expose_secret().as_bytes()),
            })
            .collect();
        KeyRing {
            signer: Some((
                hmac_kid(current),
                Algorithm::HS256,
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
                Some((kid, algorithm, key))
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
                Ok(Verifier {
                    kid: kid.clone(),
                    algorithm,
                    key,
                })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(KeyRing { signer, verifiers })
    }

    /// Whether this ring can mint tokens.
    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// Signs `claims` with the current key (`None` when the ring only verifies).
    pub fn encode<T: Serialize>(&self, claims: &T) -> Option<String> {
        let (kid, algorithm, key) = self.signer.as_ref()?;
        let mut header = Header::new(*algorithm);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).ok()
    }

    /// Verifies `token` with the key its `kid` names (the current key when it names none),
    /// under `validation` with the algorithm pinned to that key's.
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
        let mut v = validation.clone();
        v.algorithms = vec![verifier.algorithm];
        Ok(jsonwebtoken::decode::<T>(token, &verifier.key, &v)?.claims)
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
}
