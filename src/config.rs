//! Configuration: environment variables for the one-bucket case, a TOML file for several
//! storages. Names are a contract (see docs/CONFIGURATION.md); everything is validated once, at
//! start-up, and a bad value fails with a message naming the setting.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

use crate::keys::KeyRing;
use crate::sign::{Addressing, Credentials, MAX_TTL_SECS, Target};
use crate::uri::{Scheme, valid_bucket};

/// What a stable link and, by default, a rewrite produce for a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Presigned URLs; stable links redirect (303) to them.
    Presign,
    /// Presigning disabled: rewrites embed `data:` URLs; stable links stream the bytes.
    Inline,
    /// Stable links stream the bytes through the service; rewrites produce stable links.
    Proxy,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "presign" => Ok(Mode::Presign),
            "inline" => Ok(Mode::Inline),
            "proxy" => Ok(Mode::Proxy),
            other => Err(format!("{other:?} is not one of presign, inline, proxy")),
        }
    }
}

/// OSS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    V4,
    V1,
}

/// One bucket the service may sign for, and how.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub scheme: Scheme,
    pub bucket: String,
    pub region: String,
    /// Where the service itself reads objects (may be an internal endpoint).
    pub endpoint: Target,
    /// What browsers reach; URLs are signed for it.
    pub presign_endpoint: Target,
    pub signature_version: SignatureVersion,
    pub credentials: Credentials,
    /// Lifetime of a presigned URL, seconds.
    pub ttl: u64,
    /// URLs are re-signed at each multiple of this many seconds, so every replica hands out the
    /// same URL within a window and a served URL always has at least `ttl - window` left.
    pub window: u64,
    pub mode: Mode,
    /// When not empty, only keys starting with one of these may be signed or read.
    pub allowed_prefixes: Vec<String>,
}

impl StorageConfig {
    /// Whether `key` is inside the allowed prefixes. With prefixes set, keys with `.`/`..`
    /// segments are refused too: a URL client would resolve them to another path.
    pub fn allows(&self, key: &str) -> bool {
        self.allowed_prefixes.is_empty()
            || (self.allowed_prefixes.iter().any(|p| key.starts_with(p.as_str()))
                && !key.split('/').any(|seg| seg == "." || seg == ".."))
    }
}

/// The whole service configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// Base URL of this service as browsers reach it, without a trailing `/`.
    pub public_url: String,
    /// Signs stable links (and API tokens, unless asymmetric keys are set). Required to serve.
    pub secret: Option<SecretString>,
    /// Earlier secrets: tokens and links they signed still verify (rotation).
    pub previous_secrets: Vec<SecretString>,
    /// Asymmetric API-token keys (`RS256`/`ES256`), instead of the secret.
    pub token_keys: Option<TokenKeys>,
    /// `Access-Control-Allow-Origin` on every response: `*` or the Label Studio origin.
    pub cors_origin: String,
    /// Most signed URLs kept in the cache.
    pub cache_max_entries: usize,
    /// Largest object embedded as a `data:` URL, bytes.
    pub inline_max_bytes: u64,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Most references in one document.
    pub max_references: usize,
    /// Longest a request may take to produce its response head.
    pub request_timeout: std::time::Duration,
    /// HTTP worker threads.
    pub workers: usize,
    /// Serve HTTPS (and HTTP/2) with this certificate, when `LS_PRESIGN_TLS_CERT_FILE` is set.
    pub tls: Option<crate::tls::Identity>,
    pub storages: Vec<StorageConfig>,
    /// Label Studio, for write-back, sync and `/v1/tasks`.
    pub label_studio: Option<LabelStudioConfig>,
    /// ML-backend Basic auth (`BASIC_AUTH_USER`, `BASIC_AUTH_PASS`).
    pub basic_auth: Option<(String, SecretString)>,
    /// Tasks waiting for write-back, at most.
    pub queue_capacity: usize,
    /// Tasks written back to Label Studio at the same time.
    pub writeback_concurrency: usize,
    /// How long shutdown waits for the write-back queue to drain.
    pub drain_timeout: std::time::Duration,
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

/// Where Label Studio is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct LabelStudioConfig {
    pub url: String,
    /// A legacy token or a Personal Access Token.
    pub api_key: SecretString,
    /// Per-request timeout.
    pub timeout: std::time::Duration,
}

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

fn err(setting: impl Into<String>, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        message: message.to_string(),
    }
}

/// One storage as written in the TOML file (keys are the env names, lower-cased, without the
/// `OSS_`/`S3_` prefix).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    scheme: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    presign_endpoint: Option<String>,
    addressing_style: Option<String>,
    signature_version: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<String>,
    session_token: Option<String>,
    ttl: Option<u64>,
    window: Option<u64>,
    mode: Option<String>,
    allowed_prefixes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    storage: Vec<RawStorage>,
}

/// Reads settings from a variable lookup, so tests need not touch the process environment.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl<'a> Env<'a> {
    /// The process environment.
    pub fn process() -> Env<'static> {
        Env {
            lookup: Box::new(|k| std::env::var(k).ok()),
        }
    }

    /// Any lookup function (tests record which names are read).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Env<'a> {
        Env {
            lookup: Box::new(lookup),
        }
    }

    /// A fixed map (tests, embedded defaults).
    pub fn map(map: &'a HashMap<String, String>) -> Env<'a> {
        Env {
            lookup: Box::new(move |k| map.get(k).cloned()),
        }
    }

    /// The value of `name`, treating an empty value as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.is_empty())
    }

    /// `name`'s value, or the text of the file that `{name}_FILE` names (`true`): one, not both.
    fn value_or_file(&self, name: &str) -> Result<Option<(String, bool)>, ConfigError> {
        let file = format!("{name}_FILE");
        match (self.get(name), self.get(&file)) {
            (Some(_), Some(_)) => Err(err(name, format!("set {name} or {file}, not both"))),
            (Some(value), None) => Ok(Some((value, false))),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(|text| Some((text, true)))
                .map_err(|e| err(&file, format!("{path}: {e}"))),
            (None, None) => Ok(None),
        }
    }

    /// Two settings that only make sense together: both, or neither.
    fn pair(&self, a: &str, b: &str) -> Result<Option<(String, String)>, ConfigError> {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(err(b, format!("required when {a} is set"))),
            (None, Some(_)) => Err(err(a, format!("required when {b} is set"))),
        }
    }

    fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: fmt::Display,
    {
        self.get(name)
            .map(|v| v.trim().parse::<T>().map_err(|e| err(name, format!("{v:?}: {e}"))))
            .transpose()
    }
}

impl Config {
    /// Loads and validates the configuration from `env` (and the TOML file it names).
    pub fn load(env: &Env<'_>) -> Result<Config, ConfigError> {
        let port: u16 = env.parse("PORT")?.unwrap_or(9090);
        let tls = tls(env)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = env
            .get("LS_PRESIGN_PUBLIC_URL")
            .unwrap_or_else(|| format!("{scheme}://127.0.0.1:{port}"));
        let parsed = url::Url::parse(&public_url).map_err(|e| err("LS_PRESIGN_PUBLIC_URL", e))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(err(
                "LS_PRESIGN_PUBLIC_URL",
                "must be an http(s) base URL without a query",
            ));
        }
        // From a file, a trailing newline is not part of the secret.
        let secret = env.value_or_file("LS_PRESIGN_SECRET")?.map(|(s, from_file)| {
            if from_file {
                s.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                s
            }
        });
        if let Some(s) = &secret
            && s.len() < 16
        {
            return Err(err(
                "LS_PRESIGN_SECRET",
                "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
            ));
        }

        let defaults = Defaults {
            mode: env.parse("LS_PRESIGN_MODE")?.unwrap_or(Mode::Presign),
            ttl: env.parse("LS_PRESIGN_TTL")?.unwrap_or(3600),
            window: env.parse("LS_PRESIGN_WINDOW")?,
        };
        let mut storages = Vec::new();
        for scheme in Scheme::ALL {
            if let Some(raw) = raw_from_env(env, scheme) {
                storages.push(build_storage(raw, &defaults, &Source::Env(scheme))?);
            }
        }
        if let Some(path) = env.get("LS_PRESIGN_CONFIG") {
            for (i, raw) in read_file(Path::new(&path))?.storage.into_iter().enumerate() {
                storages.push(build_storage(
                    raw,
                    &defaults,
                    &Source::File(format!("{path}: storage[{i}].")),
                )?);
            }
        }
        let mut seen = HashMap::new();
        for s in &storages {
            if seen.insert((s.scheme, s.bucket.clone()), ()).is_some() {
                return Err(err(
                    format!("{}://{}", s.scheme, s.bucket),
                    "this bucket is configured twice",
                ));
            }
        }

        Ok(Config {
            host: env.get("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port,
            public_url: public_url.trim_end_matches('/').to_owned(),
            secret: secret.map(SecretString::from),
            previous_secrets: previous_secrets(env)?,
            token_keys: token_keys(env)?,
            cors_origin: env.get("LS_PRESIGN_CORS_ORIGIN").unwrap_or_else(|| "*".into()),
            cache_max_entries: env.parse("LS_PRESIGN_CACHE_MAX_ENTRIES")?.unwrap_or(1_000_000),
            inline_max_bytes: env.parse("LS_PRESIGN_INLINE_MAX_BYTES")?.unwrap_or(10 << 20),
            max_body_bytes: env.parse("LS_PRESIGN_MAX_BODY_BYTES")?.unwrap_or(64 << 20),
            max_references: env.parse("LS_PRESIGN_MAX_REFERENCES")?.unwrap_or(1_000_000),
            request_timeout: std::time::Duration::from_secs(
                env.parse::<u64>("LS_PRESIGN_REQUEST_TIMEOUT")?.unwrap_or(60).max(1),
            ),
            workers: env
                .parse("LS_PRESIGN_WORKERS")?
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            tls,
            storages,
            label_studio: label_studio(env)?,
            basic_auth: env
                .pair("BASIC_AUTH_USER", "BASIC_AUTH_PASS")?
                .map(|(u, p)| (u, SecretString::from(p))),
            queue_capacity: env.parse("LS_PRESIGN_QUEUE_CAPACITY")?.unwrap_or(50_000),
            writeback_concurrency: env
                .parse::<usize>("LS_PRESIGN_WRITEBACK_CONCURRENCY")?
                .unwrap_or(4)
                .max(1),
            drain_timeout: std::time::Duration::from_secs(env.parse("LS_PRESIGN_DRAIN_TIMEOUT")?.unwrap_or(30)),
        })
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

fn label_studio(env: &Env<'_>) -> Result<Option<LabelStudioConfig>, ConfigError> {
    let Some((url, key)) = env.pair("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")? else {
        return Ok(None);
    };
    let parsed = url::Url::parse(&url).map_err(|e| err("LABEL_STUDIO_URL", format!("{url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(err("LABEL_STUDIO_URL", format!("{url:?} must be http:// or https://")));
    }
    let timeout: u64 = env.parse("LABEL_STUDIO_TIMEOUT")?.unwrap_or(30);
    Ok(Some(LabelStudioConfig {
        url: url.trim_end_matches('/').to_owned(),
        api_key: SecretString::from(key),
        timeout: std::time::Duration::from_secs(timeout.max(1)),
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

struct Defaults {
    mode: Mode,
    ttl: u64,
    window: Option<u64>,
}

fn read_file(path: &Path) -> Result<RawFile, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| err("LS_PRESIGN_CONFIG", format!("{}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| err("LS_PRESIGN_CONFIG", format!("{}: {e}", path.display())))
}

/// Where a storage's settings came from, to name them as the user wrote them.
enum Source {
    Env(Scheme),
    /// A TOML file; holds the prefix `path: storage[i].`.
    File(String),
}

impl Source {
    /// The user-facing name of a storage setting (`region` → `OSS_REGION`, or `file: storage[0].region`).
    fn name(&self, key: &str) -> String {
        match self {
            Source::File(prefix) => format!("{prefix}{key}"),
            Source::Env(scheme) => match (scheme, key) {
                (_, "ttl" | "window" | "mode") => format!("LS_PRESIGN_{}", key.to_uppercase()),
                (Scheme::S3, "access_key_id") => "AWS_ACCESS_KEY_ID".into(),
                (Scheme::S3, "access_key_secret") => "AWS_SECRET_ACCESS_KEY".into(),
                (Scheme::S3, "session_token") => "AWS_SESSION_TOKEN".into(),
                (scheme, key) => format!("{}_{}", scheme.as_str().to_uppercase(), key.to_uppercase()),
            },
        }
    }
}

/// The one-bucket storage described by `OSS_*` or `S3_*` variables, when its bucket is set.
fn raw_from_env(env: &Env<'_>, scheme: Scheme) -> Option<RawStorage> {
    let src = Source::Env(scheme);
    let var = |key: &str| env.get(&src.name(key));
    Some(RawStorage {
        scheme: Some(scheme.as_str().into()),
        bucket: Some(var("bucket")?),
        region: var("region"),
        endpoint: var("endpoint"),
        presign_endpoint: var("presign_endpoint"),
        addressing_style: var("addressing_style"),
        signature_version: var("signature_version"),
        access_key_id: var("access_key_id"),
        access_key_secret: var("access_key_secret"),
        session_token: var("session_token"),
        ..RawStorage::default()
    })
}

/// Validates one storage.
fn build_storage(raw: RawStorage, defaults: &Defaults, src: &Source) -> Result<StorageConfig, ConfigError> {
    let name = |key: &str| src.name(key);
    let scheme: Scheme = raw
        .scheme
        .as_deref()
        .ok_or_else(|| err(name("scheme"), "required: \"oss\" or \"s3\""))?
        .parse()
        .map_err(|e| err(name("scheme"), e))?;
    let bucket = raw.bucket.ok_or_else(|| err(name("bucket"), "required"))?;
    if !valid_bucket(&bucket) {
        return Err(err(name("bucket"), format!("{bucket:?} is not a valid bucket name")));
    }
    let region = match (scheme, raw.region) {
        // The V4 scope uses the bare region id; accept the endpoint-style spelling too.
        (_, Some(r)) => r.strip_prefix("oss-").unwrap_or(&r).to_owned(),
        (Scheme::S3, None) => "us-east-1".to_owned(),
        (Scheme::Oss, None) => {
            return Err(err(name("region"), "required for OSS, e.g. cn-hangzhou"));
        }
    };
    if region.is_empty() || !region.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        return Err(err(name("region"), format!("{region:?} is not a region id")));
    }
    let addressing: Addressing = raw
        .addressing_style
        .as_deref()
        .unwrap_or("virtual")
        .parse()
        .map_err(|e| err(name("addressing_style"), e))?;
    let default_endpoint = match scheme {
        Scheme::Oss => format!("https://oss-{region}.aliyuncs.com"),
        Scheme::S3 => format!("https://s3.{region}.amazonaws.com"),
    };
    let endpoint_text = raw.endpoint.unwrap_or(default_endpoint);
    let endpoint = Target::parse(&endpoint_text, addressing)
        .map_err(|e| err(name("endpoint"), e))?
        .fit_bucket(&bucket);
    let presign_endpoint = match raw.presign_endpoint {
        Some(p) => Target::parse(&p, addressing)
            .map_err(|e| err(name("presign_endpoint"), e))?
            .fit_bucket(&bucket),
        None => endpoint.clone(),
    };
    let signature_version = match (scheme, raw.signature_version.as_deref().unwrap_or("v4")) {
        (_, "v4") => SignatureVersion::V4,
        (Scheme::Oss, "v1") => SignatureVersion::V1,
        (Scheme::S3, "v1") => return Err(err(name("signature_version"), "S3 storages sign with v4 only")),
        (_, other) => return Err(err(name("signature_version"), format!("{other:?} is not v4 or v1"))),
    };
    let access_key_id = raw
        .access_key_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err(name("access_key_id"), "required"))?;
    let secret = raw
        .access_key_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err(name("access_key_secret"), "required"))?;
    let ttl = raw.ttl.unwrap_or(defaults.ttl);
    if ttl == 0 || ttl > MAX_TTL_SECS {
        return Err(err(
            name("ttl"),
            format!("{ttl} is outside 1..={MAX_TTL_SECS} seconds (7 days, the OSS V4 and S3 limit)"),
        ));
    }
    let window = raw.window.or(defaults.window).unwrap_or((ttl / 4).max(1));
    if window == 0 || window > ttl {
        return Err(err(
            name("window"),
            format!("{window} must be between 1 and the TTL ({ttl})"),
        ));
    }
    let mode = match raw.mode {
        Some(m) => m.parse().map_err(|e| err(name("mode"), e))?,
        None => defaults.mode,
    };
    Ok(StorageConfig {
        scheme,
        bucket,
        region,
        endpoint,
        presign_endpoint,
        signature_version,
        credentials: Credentials::new(access_key_id, secret, raw.session_token.filter(|s| !s.is_empty())),
        ttl,
        window,
        mode,
        allowed_prefixes: raw.allowed_prefixes.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(&Env::map(&map))
    }

    const OSS: &[(&str, &str)] = &[
        ("OSS_BUCKET", "photos"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ACCESS_KEY_ID", "AKID"),
        ("OSS_ACCESS_KEY_SECRET", "s3cr3t-value"),
    ];

    #[test]
    fn one_oss_bucket_from_env_with_defaults() {
        let c = load(OSS).unwrap();
        assert_eq!(c.port, 9090);
        assert_eq!(c.public_url, "http://127.0.0.1:9090");
        let s = &c.storages[0];
        assert_eq!(
            (s.scheme, s.bucket.as_str(), s.region.as_str()),
            (Scheme::Oss, "photos", "cn-hangzhou")
        );
        assert_eq!(s.endpoint.host, "oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(s.presign_endpoint, s.endpoint);
        assert_eq!((s.ttl, s.window, s.mode), (3600, 900, Mode::Presign));
        assert_eq!(s.signature_version, SignatureVersion::V4);
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn bad_settings_are_named() {
        let with = |extra: (&str, &str)| {
            let mut v = OSS.to_vec();
            v.push(extra);
            load(&v).unwrap_err().setting
        };
        assert_eq!(with(("LS_PRESIGN_TTL", "604801")), "LS_PRESIGN_TTL");
        assert_eq!(with(("LS_PRESIGN_TTL", "abc")), "LS_PRESIGN_TTL");
        assert_eq!(with(("LS_PRESIGN_MODE", "fast")), "LS_PRESIGN_MODE");
        assert_eq!(with(("OSS_SIGNATURE_VERSION", "v2")), "OSS_SIGNATURE_VERSION");
        assert_eq!(with(("OSS_ADDRESSING_STYLE", "vhost")), "OSS_ADDRESSING_STYLE");
        assert_eq!(with(("OSS_ENDPOINT", "ftp://x")), "OSS_ENDPOINT");
        assert_eq!(with(("LS_PRESIGN_SECRET", "short")), "LS_PRESIGN_SECRET");
        assert_eq!(with(("LS_PRESIGN_TLS_CERT_FILE", "c.pem")), "LS_PRESIGN_TLS_KEY_FILE");
        assert_eq!(with(("LS_PRESIGN_TLS_KEY_FILE", "k.pem")), "LS_PRESIGN_TLS_CERT_FILE");
        let missing = [
            OSS,
            &[
                ("LS_PRESIGN_TLS_CERT_FILE", "/nonexistent/c.pem"),
                ("LS_PRESIGN_TLS_KEY_FILE", "k.pem"),
            ],
        ];
        let e = load(&missing.concat()).unwrap_err();
        assert_eq!(e.setting, "LS_PRESIGN_TLS_CERT_FILE");
        assert!(e.message.contains("/nonexistent/c.pem"), "{e:?}");
        assert_eq!(load(&OSS[..3]).unwrap_err().setting, "OSS_ACCESS_KEY_SECRET");
        assert_eq!(load(&[("OSS_BUCKET", "b1")]).unwrap_err().setting, "OSS_REGION");
        assert_eq!(
            load(&[("S3_BUCKET", "b1"), ("AWS_ACCESS_KEY_ID", "a")])
                .unwrap_err()
                .setting,
            "AWS_SECRET_ACCESS_KEY"
        );
    }

    #[test]
    fn toml_file_adds_storages() {
        let dir = std::env::temp_dir().join(format!("lsp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            r#"
[[storage]]
scheme = "s3"
bucket = "media"
endpoint = "http://127.0.0.1:9000"
addressing_style = "path"
access_key_id = "a"
access_key_secret = "b"
mode = "proxy"
ttl = 600
allowed_prefixes = ["public/"]
"#,
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = load(&[OSS, &[("LS_PRESIGN_CONFIG", p)]].concat()).unwrap();
        let s = &c.storages[1];
        assert_eq!(
            (s.scheme, s.region.as_str(), s.mode, s.ttl),
            (Scheme::S3, "us-east-1", Mode::Proxy, 600)
        );
        assert!(s.allows("public/a.png") && !s.allows("private/a.png"));

        std::fs::write(&path, "[[storage]]\nscheme = \"oss\"\nbuckett = \"x\"\n").unwrap();
        let e = load(&[("LS_PRESIGN_CONFIG", p)]).unwrap_err();
        assert!(e.to_string().contains("buckett"), "{e}");
    }
}
