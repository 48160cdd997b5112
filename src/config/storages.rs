//! Storages: the buckets the service may sign for (from `OSS_*`/`S3_*` variables and the
//! `[[storage]]` tables of the TOML file), and what serving them takes: the URL cache and the
//! largest object inlined.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::env::Env;
use super::error::{ConfigError, Problems, err};
use crate::choice;
use crate::sign::{Addressing, Credentials, MAX_TTL_SECS, Target};
use crate::uri::{Scheme, valid_bucket};

/// Every storage, and the limits of serving from them.
#[derive(Debug, Clone)]
pub struct StoragesConfig {
    /// One entry per bucket, environment first, then the TOML file in its order.
    pub list: Vec<StorageConfig>,
    /// Most signed URLs kept in the cache.
    pub cache_max_entries: usize,
    /// Largest object embedded as a `data:` URL, bytes.
    pub inline_max_bytes: u64,
}

impl StoragesConfig {
    pub(super) fn load(env: &Env<'_>) -> Result<StoragesConfig, ConfigError> {
        let mut problems = Problems::default();
        let defaults = Defaults {
            mode: problems
                .take(env.choice("LS_PRESIGN_MODE"))
                .flatten()
                .unwrap_or(StorageMode::Presign),
            ttl: problems.take(env.parse("LS_PRESIGN_TTL")).flatten().unwrap_or(3600),
            window: problems.take(env.parse("LS_PRESIGN_WINDOW")).flatten(),
        };
        let mut list = Vec::new();
        for scheme in Scheme::ALL {
            if let Some(raw) = raw_from_env(env, scheme) {
                list.extend(problems.take(build_storage(raw, &defaults, &Source::Env(scheme))));
            }
        }
        if let Some(path) = env.get("LS_PRESIGN_CONFIG")
            && let Some(file) = problems.take(read_file(Path::new(&path)))
        {
            for (i, raw) in file.storage.into_iter().enumerate() {
                let src = Source::File(format!("{path}: storage[{i}]."));
                list.extend(problems.take(build_storage(raw, &defaults, &src)));
            }
        }
        let mut seen = HashMap::new();
        for s in &list {
            if seen.insert((s.scheme, s.bucket.clone()), ()).is_some() {
                problems.push(err(
                    format!("{}://{}", s.scheme, s.bucket),
                    "this bucket is configured twice",
                ));
            }
        }
        let cache_max_entries = problems.take(env.parse("LS_PRESIGN_CACHE_MAX_ENTRIES")).flatten();
        let inline_max_bytes = problems.take(env.parse("LS_PRESIGN_INLINE_MAX_BYTES")).flatten();
        problems.check("storages")?;
        Ok(StoragesConfig {
            list,
            cache_max_entries: cache_max_entries.unwrap_or(1_000_000),
            inline_max_bytes: inline_max_bytes.unwrap_or(10 << 20),
        })
    }
}

/// What to say when no storage is configured, and how to configure one.
pub const NO_STORAGE: &str = "no storage is configured: set OSS_BUCKET, OSS_REGION, OSS_ACCESS_KEY_ID and \
OSS_ACCESS_KEY_SECRET (or S3_BUCKET with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or LS_PRESIGN_CONFIG for \
several buckets (docs/CONFIGURATION.md)";

/// What a stable link and, by default, a rewrite produce for a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StorageMode {
    /// Presigned URLs; stable links redirect (303) to them.
    Presign,
    /// Presigning disabled: rewrites embed `data:` URLs; stable links stream the bytes.
    Inline,
    /// Stable links stream the bytes through the service; rewrites produce stable links.
    Proxy,
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
    pub mode: StorageMode,
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
    /// The imports section's (config/imports.rs).
    #[serde(default, rename = "import")]
    _import: Vec<toml::Table>,
    /// The exports section's (config/exports.rs).
    #[serde(default, rename = "export")]
    _export: Vec<toml::Table>,
}

struct Defaults {
    mode: StorageMode,
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

/// Validates one storage, reporting every problem it has.
fn build_storage(raw: RawStorage, defaults: &Defaults, src: &Source) -> Result<StorageConfig, ConfigError> {
    let name = |key: &str| src.name(key);
    let mut problems = Problems::default();
    // Without its scheme nothing else of a storage can be checked.
    let scheme: Scheme = raw
        .scheme
        .as_deref()
        .ok_or_else(|| err(name("scheme"), "required: \"oss\" or \"s3\""))
        .and_then(|s| choice::parse(s).map_err(|e| err(name("scheme"), e)))?;
    let bucket = problems.take(match raw.bucket {
        None => Err(err(name("bucket"), "required")),
        Some(b) if !valid_bucket(&b) => Err(err(name("bucket"), format!("{b:?} is not a valid bucket name"))),
        Some(b) => Ok(b),
    });
    let region = problems.take(match (scheme, raw.region) {
        // The V4 scope uses the bare region id; accept the endpoint-style spelling too.
        (_, Some(r)) => {
            let r = r.strip_prefix("oss-").unwrap_or(&r).to_owned();
            if r.is_empty() || !r.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                Err(err(name("region"), format!("{r:?} is not a region id")))
            } else {
                Ok(r)
            }
        }
        (Scheme::S3, None) => Ok("us-east-1".to_owned()),
        (Scheme::Oss, None) => Err(err(name("region"), "required for OSS, e.g. cn-hangzhou")),
    });
    if scheme == Scheme::Oss
        && let Some(region) = &region
        && let Some(closest) = unknown_oss_region(region)
    {
        // A warning, not an error: a region opened after this list still works.
        log::warn!(
            "{}: {region:?} is not a known OSS region id; did you mean {closest:?}? (signatures name the region, so a wrong one fails with 403)",
            name("region")
        );
    }
    let addressing: Option<Addressing> = problems.take(
        choice::parse(raw.addressing_style.as_deref().unwrap_or("virtual"))
            .map_err(|e| err(name("addressing_style"), e)),
    );
    let endpoints = match (&bucket, &region, addressing) {
        (Some(bucket), Some(region), Some(addressing)) => {
            let default_endpoint = match scheme {
                Scheme::Oss => format!("https://oss-{region}.aliyuncs.com"),
                Scheme::S3 => format!("https://s3.{region}.amazonaws.com"),
            };
            let endpoint = problems.take(
                Target::parse(&raw.endpoint.unwrap_or(default_endpoint), addressing)
                    .map(|t| t.fit_bucket(bucket))
                    .map_err(|e| err(name("endpoint"), e)),
            );
            let presign_endpoint = match raw.presign_endpoint {
                Some(p) => problems.take(
                    Target::parse(&p, addressing)
                        .map(|t| t.fit_bucket(bucket))
                        .map_err(|e| err(name("presign_endpoint"), e)),
                ),
                None => endpoint.clone(),
            };
            endpoint.zip(presign_endpoint)
        }
        _ => None,
    };
    let signature_version = problems.take(match (scheme, raw.signature_version.as_deref().unwrap_or("v4")) {
        (_, "v4") => Ok(SignatureVersion::V4),
        (Scheme::Oss, "v1") => Ok(SignatureVersion::V1),
        (Scheme::S3, "v1") => Err(err(name("signature_version"), "S3 storages sign with v4 only")),
        (_, other) => Err(err(name("signature_version"), format!("{other:?} is not v4 or v1"))),
    });
    let access_key_id = problems.take(
        raw.access_key_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(name("access_key_id"), "required")),
    );
    let secret = problems.take(
        raw.access_key_secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(name("access_key_secret"), "required")),
    );
    let ttl = raw.ttl.unwrap_or(defaults.ttl);
    let ttl = problems.take(if ttl == 0 || ttl > MAX_TTL_SECS {
        Err(err(
            name("ttl"),
            format!("{ttl} is outside 1..={MAX_TTL_SECS} seconds (7 days, the OSS V4 and S3 limit)"),
        ))
    } else {
        Ok(ttl)
    });
    let window = ttl.and_then(|ttl| {
        let window = raw.window.or(defaults.window).unwrap_or((ttl / 4).max(1));
        problems.take(if window == 0 || window > ttl {
            Err(err(
                name("window"),
                format!("{window} must be between 1 and the TTL ({ttl})"),
            ))
        } else {
            Ok(window)
        })
    });
    let mode = match raw.mode {
        Some(m) => problems.take(choice::parse(&m).map_err(|e| err(name("mode"), e))),
        None => Some(defaults.mode),
    };
    match (
        bucket,
        region,
        endpoints,
        signature_version,
        access_key_id,
        secret,
        ttl,
        window,
        mode,
    ) {
        (
            Some(bucket),
            Some(region),
            Some((endpoint, presign_endpoint)),
            Some(signature_version),
            Some(access_key_id),
            Some(secret),
            Some(ttl),
            Some(window),
            Some(mode),
        ) => Ok(StorageConfig {
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
        }),
        _ => Err(problems.into_error(&name("storage"))),
    }
}

/// OSS region ids (docs: "OSS regions and endpoints"), public and finance clouds.
const OSS_REGIONS: [&str; 32] = [
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-wuhan-lr",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "us-west-1",
    "us-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
    "me-central-1",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
];

/// For a region id OSS does not list, the listed one closest to it (fewest single-character
/// edits); `None` for a listed one.
fn unknown_oss_region(region: &str) -> Option<&'static str> {
    if OSS_REGIONS.contains(&region) {
        return None;
    }
    OSS_REGIONS.into_iter().min_by_key(|known| edit_distance(region, known))
}

/// Levenshtein distance between two ASCII strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_oss_regions_get_the_closest_known_one() {
        assert_eq!(super::unknown_oss_region("cn-hangzhou"), None);
        assert_eq!(super::unknown_oss_region("hangzhou"), Some("cn-hangzhou"));
        assert_eq!(super::unknown_oss_region("cn-shangai"), Some("cn-shanghai"));
        assert_eq!(super::unknown_oss_region("ap-southeast-10"), Some("ap-southeast-1"));
    }
}
