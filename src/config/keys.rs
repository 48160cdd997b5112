//! Keys and TLS: the stable-link secret and its predecessors, API-token keys, the ML-backend
//! Basic auth, and the certificate the service serves HTTPS with.

use std::fmt;
use std::path::Path;

use secrecy::SecretString;

use super::env::Env;
use super::error::{ConfigError, Problems, err};
use crate::keys::KeyRing;

/// What the service signs and verifies with, and what it serves TLS with.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    /// Signs stable links (and API tokens, unless asymmetric keys are set). Required to serve.
    pub secret: Option<SecretString>,
    /// Earlier secrets: tokens and links they signed still verify (rotation).
    pub previous_secrets: Vec<SecretString>,
    /// Asymmetric API-token keys (`RS256`/`ES256`), instead of the secret.
    pub token_keys: Option<TokenKeys>,
    /// ML-backend Basic auth (`BASIC_AUTH_USER`, `BASIC_AUTH_PASS`).
    pub basic_auth: Option<(String, SecretString)>,
    /// Serve HTTPS (and HTTP/2) with this certificate, when `LS_PRESIGN_TLS_CERT_FILE` is set.
    pub tls: Option<crate::tls::Identity>,
}

/// RS256/ES256 keys for API tokens, read from PEM files; the key id is the file's stem.
#[derive(Clone)]
pub struct TokenKeys {
    pub algorithm: jsonwebtoken::Algorithm,
    pub private: Option<(String, Vec<u8>)>,
    pub public: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithm", &self.algorithm)
            .field("private", &self.private.as_ref().map(|(kid, _)| kid))
            .field("public", &self.public.iter().map(|(kid, _)| kid).collect::<Vec<_>>())
            .finish()
    }
}

impl KeysConfig {
    pub(super) fn load(env: &Env<'_>) -> Result<KeysConfig, ConfigError> {
        let mut problems = Problems::default();
        let tls = problems.take(tls(env));
        // From a file, a trailing newline is not part of the secret.
        let secret = problems.take(env.value_or_file("LS_PRESIGN_SECRET").and_then(|secret| {
            let secret = secret.map(|(s, from_file)| {
                if from_file {
                    s.trim_end_matches(['\r', '\n']).to_owned()
                } else {
                    s
                }
            });
            match secret {
                Some(s) if s.len() < 16 => Err(err(
                    "LS_PRESIGN_SECRET",
                    "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
                )),
                other => Ok(other),
            }
        }));
        let previous_secrets = problems.take(previous_secrets(env));
        let token_keys = problems.take(token_keys(env));
        let basic_auth = problems.take(env.pair("BASIC_AUTH_USER", "BASIC_AUTH_PASS"));
        match (tls, secret, previous_secrets, token_keys, basic_auth) {
            (Some(tls), Some(secret), Some(previous_secrets), Some(token_keys), Some(basic_auth)) => Ok(KeysConfig {
                secret: secret.map(SecretString::from),
                previous_secrets,
                token_keys,
                basic_auth: basic_auth.map(|(u, p)| (u, SecretString::from(p))),
                tls,
            }),
            _ => Err(problems.into_error("keys")),
        }
    }

    /// Keys of stable links: HMAC with the secret, accepting previous secrets.
    pub fn link_keys(&self) -> Result<KeyRing, ConfigError> {
        Ok(KeyRing::hmac(self.require_secret()?, &self.previous_secrets))
    }

    /// Keys of API tokens: the asymmetric keys when configured, else the link keys.
    pub fn api_keys(&self) -> Result<KeyRing, ConfigError> {
        match &self.token_keys {
            Some(k) => KeyRing::asymmetric(
                k.algorithm,
                k.private.as_ref().map(|(kid, pem)| (kid.clone(), pem.as_slice())),
                &k.public,
            )
            .map_err(|e| err("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", e)),
            None => self.link_keys(),
        }
    }

    /// The stable-link secret, or an error naming the variable to set.
    pub fn require_secret(&self) -> Result<&SecretString, ConfigError> {
        self.secret.as_ref().ok_or_else(|| {
            err(
                "LS_PRESIGN_SECRET",
                "required: the key that signs stable links (or set LS_PRESIGN_SECRET_FILE)",
            )
        })
    }
}

fn previous_secrets(env: &Env<'_>) -> Result<Vec<SecretString>, ConfigError> {
    let text = match env.value_or_file("LS_PRESIGN_PREVIOUS_SECRETS")? {
        None => return Ok(vec![]),
        Some((lines, true)) => lines,
        Some((list, false)) => list.replace(',', "\n"),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| SecretString::from(l.to_owned()))
        .collect())
}

/// A PEM file and its key id (the file name without extension).
fn pem_file(setting: &str, path: &str) -> Result<(String, Vec<u8>), ConfigError> {
    let pem = std::fs::read(path).map_err(|e| err(setting, format!("{path}: {e}")))?;
    let kid = Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("key")
        .to_owned();
    Ok((kid, pem))
}

fn token_keys(env: &Env<'_>) -> Result<Option<TokenKeys>, ConfigError> {
    let algorithm = match env.get("LS_PRESIGN_TOKEN_ALGORITHM").as_deref().unwrap_or("HS256") {
        "HS256" => return Ok(None),
        "RS256" => jsonwebtoken::Algorithm::RS256,
        "ES256" => jsonwebtoken::Algorithm::ES256,
        other => {
            return Err(err(
                "LS_PRESIGN_TOKEN_ALGORITHM",
                format!("{other:?} is not one of HS256, RS256, ES256"),
            ));
        }
    };
    let public = env
        .get("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES")
        .ok_or_else(|| err("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", "required with RS256/ES256"))?
        .split(',')
        .map(|p| pem_file("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", p.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let private = env
        .get("LS_PRESIGN_TOKEN_PRIVATE_KEY_FILE")
        .map(|p| pem_file("LS_PRESIGN_TOKEN_PRIVATE_KEY_FILE", &p))
        .transpose()?;
    Ok(Some(TokenKeys {
        algorithm,
        private,
        public,
    }))
}

/// The TLS identity from `LS_PRESIGN_TLS_CERT_FILE` and `LS_PRESIGN_TLS_KEY_FILE` (both or neither).
fn tls(env: &Env<'_>) -> Result<Option<crate::tls::Identity>, ConfigError> {
    const CERT: &str = "LS_PRESIGN_TLS_CERT_FILE";
    const KEY: &str = "LS_PRESIGN_TLS_KEY_FILE";
    let Some((cert, key)) = env.pair(CERT, KEY)? else {
        return Ok(None);
    };
    match crate::tls::load(Path::new(&cert), Path::new(&key)) {
        Ok(identity) => Ok(Some(identity)),
        Err(crate::tls::LoadError::Cert(e)) => Err(err(CERT, e)),
        Err(crate::tls::LoadError::Key(e)) => Err(err(KEY, e)),
    }
}
