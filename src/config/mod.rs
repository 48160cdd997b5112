//! Configuration: environment variables for the one-bucket case, a TOML file for several
//! storages. Names are a contract (see docs/CONFIGURATION.md); everything is validated once, at
//! start-up, and a bad value fails with a message naming the setting.
//!
//! One section per concern: [`ServerConfig`] (listening, CORS, request limits),
//! [`StoragesConfig`] (buckets, cache, inlining), [`KeysConfig`] (secrets, token keys, Basic
//! auth, TLS), [`LabelStudioConfig`] and [`WritebackConfig`]; [`Env`] is where they read from.

mod env;
mod error;
mod exports;
mod imports;
mod keys;
mod label_studio;
mod server;
mod storages;
mod writeback;

pub use env::Env;
pub use error::ConfigError;
use error::Problems;
pub use exports::{ExportTarget, ExportsConfig};
pub use imports::{ImportsConfig, ScheduledImport};
pub use keys::{KeysConfig, TokenKeys};
pub use label_studio::LabelStudioConfig;
pub use server::{CorsOrigin, LinkPolicy, ServerConfig};
pub use storages::{NO_STORAGE, SignatureVersion, StorageConfig, StorageMode, StoragesConfig};
pub use writeback::WritebackConfig;

/// The whole service configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storages: StoragesConfig,
    pub keys: KeysConfig,
    /// Label Studio, for write-back, sync and `/v1/tasks`.
    pub label_studio: Option<LabelStudioConfig>,
    pub writeback: WritebackConfig,
    pub imports: ImportsConfig,
    /// Where annotations are written as they are made.
    pub exports: ExportsConfig,
}

/// What loaded of a configuration that did not load whole: a command that can do without the
/// broken sections (`check`) goes on with the others.
#[derive(Debug)]
pub struct Partial {
    /// Every problem found.
    pub error: ConfigError,
    pub server: Option<ServerConfig>,
    pub storages: Option<StoragesConfig>,
    pub keys: Option<KeysConfig>,
    /// `Some(None)` when the section loaded and Label Studio is not configured.
    pub label_studio: Option<Option<LabelStudioConfig>>,
}

impl Config {
    /// Loads and validates the configuration from `env` (and the TOML file it names).
    pub fn load(env: &Env<'_>) -> Result<Config, ConfigError> {
        Config::load_partial(env).map_err(|partial| partial.error)
    }

    /// [`Config::load`], keeping the sections that loaded when another did not.
    pub fn load_partial(env: &Env<'_>) -> Result<Config, Box<Partial>> {
        // Keys first: whether TLS is served decides the default public URL's scheme.
        let mut problems = Problems::default();
        let keys = problems.take(KeysConfig::load(env));
        let tls = keys.as_ref().is_some_and(|k| k.tls.is_some());
        let server = problems.take(ServerConfig::load(env, tls));
        let storages = problems.take(StoragesConfig::load(env));
        let label_studio = problems.take(LabelStudioConfig::load(env));
        let writeback = problems.take(WritebackConfig::load(env));
        let imports = problems.take(ImportsConfig::load(env));
        let exports = problems.take(ExportsConfig::load(env));
        // An export target must be a configured bucket: its writes go through that storage.
        if let (Some(storages), Some(exports)) = (&storages, &exports) {
            for t in &exports.targets {
                let configured = storages
                    .list
                    .iter()
                    .any(|s| s.scheme == t.folder.scheme && s.bucket == t.folder.bucket);
                if !configured {
                    problems.push(error::err(
                        "export",
                        format!(
                            "project {}'s export target {} is not in a configured storage: add its bucket (docs/CONFIGURATION.md)",
                            t.project, t.folder
                        ),
                    ));
                }
            }
        }
        if let (Some(server), Some(None)) = (&server, &label_studio)
            && server.link_policy == LinkPolicy::Login
        {
            problems.push(error::err(
                "LS_PRESIGN_LINK_POLICY",
                "login asks Label Studio whether each browser is signed in: set LABEL_STUDIO_URL and \
                 LABEL_STUDIO_API_KEY too",
            ));
        }
        match (keys, server, storages, label_studio, writeback, imports, exports) {
            (
                Some(keys),
                Some(server),
                Some(storages),
                Some(label_studio),
                Some(writeback),
                Some(imports),
                Some(exports),
            ) if problems.is_empty() => Ok(Config {
                server,
                storages,
                keys,
                label_studio,
                writeback,
                imports,
                exports,
            }),
            (keys, server, storages, label_studio, ..) => Err(Box::new(Partial {
                error: problems.into_error("configuration"),
                server,
                storages,
                keys,
                label_studio,
            })),
        }
    }

    /// [`Config::load`] for a command that signs API tokens or links (`serve`, `sync`, `token`):
    /// a missing `LS_PRESIGN_SECRET` is reported with every other problem.
    pub fn load_with_keys(env: &Env<'_>) -> Result<Config, ConfigError> {
        match Config::load(env) {
            Ok(config) => {
                config.keys.api_keys()?;
                Ok(config)
            }
            Err(mut e) => {
                // The keys section alone says whether the secret is there.
                if let Ok(keys) = KeysConfig::load(env)
                    && let Err(missing) = keys.api_keys()
                {
                    e.also.push(missing);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::uri::{Scheme, StorageUri};

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
        assert_eq!(c.server.port, 9090);
        assert_eq!(c.server.public_url, "http://127.0.0.1:9090");
        let s = &c.storages.list[0];
        assert_eq!(
            (s.scheme, s.bucket.as_str(), s.region.as_str()),
            (Scheme::Oss, "photos", "cn-hangzhou")
        );
        assert_eq!(s.endpoint.host, "oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(s.presign_endpoint, s.endpoint);
        assert_eq!((s.ttl, s.window, s.mode), (3600, 900, StorageMode::Presign));
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
    fn the_login_policy_needs_label_studio() {
        let e = load(&[OSS, &[("LS_PRESIGN_LINK_POLICY", "login")]].concat()).unwrap_err();
        assert_eq!(e.setting, "LS_PRESIGN_LINK_POLICY");
        assert!(
            e.message.contains("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"),
            "{e}"
        );
        let ls = [("LABEL_STUDIO_URL", "http://ls:8080"), ("LABEL_STUDIO_API_KEY", "k")];
        let c = load(&[OSS, &ls, &[("LS_PRESIGN_LINK_POLICY", "login")]].concat()).unwrap();
        assert_eq!(c.server.link_policy, LinkPolicy::Login);
    }

    #[test]
    fn export_targets_are_folders_of_configured_buckets_one_per_project() {
        fn export(uri: &str) -> [(&str, &str); 2] {
            [("LS_PRESIGN_EXPORT_PROJECT", "3"), ("LS_PRESIGN_EXPORT_URI", uri)]
        }
        let c = load(&[OSS, &export("oss://photos/annotations")].concat()).unwrap();
        let t = c.exports.of(3).unwrap();
        assert_eq!(
            (t.folder.to_string().as_str(), t.delete),
            ("oss://photos/annotations/", false)
        );
        assert!(c.exports.of(4).is_none());
        // What imports of the bucket leave out: the folder, when it lies under theirs.
        let under = |uri: &str| {
            let listed = StorageUri::parse_folder(uri).unwrap().into_folder();
            c.exports.folders_under(&listed).collect::<Vec<_>>()
        };
        assert_eq!(under("oss://photos/"), ["annotations/"]);
        assert!(under("oss://photos/cats/").is_empty());
        assert!(under("s3://photos/").is_empty());
        let e = load(&[OSS, &export("oss://elsewhere/a/")].concat()).unwrap_err();
        assert_eq!(e.setting, "export");
        assert!(
            e.message.contains("oss://elsewhere/a/ is not in a configured storage"),
            "{e}"
        );
        let e = load(&[OSS, &export("photos/a/")].concat()).unwrap_err();
        assert_eq!(e.setting, "LS_PRESIGN_EXPORT_URI");
        let e = load(&[OSS, &export("oss://photos/a/"), &[("LS_PRESIGN_EXPORT_DELETE", "yes")]].concat()).unwrap_err();
        assert_eq!(e.to_string(), "LS_PRESIGN_EXPORT_DELETE: \"yes\" is not true or false");
        let e = load(&[OSS, &[("LS_PRESIGN_EXPORT_PROJECT", "3")]].concat()).unwrap_err();
        assert_eq!(e.setting, "LS_PRESIGN_EXPORT_URI");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let table = "[[export]]\nproject = 3\nuri = \"oss://photos/b/\"\ndelete = true\n";
        std::fs::write(&path, table).unwrap();
        let file = [("LS_PRESIGN_CONFIG", path.to_str().unwrap())];
        assert!(load(&[OSS, &file].concat()).unwrap().exports.of(3).unwrap().delete);
        let e = load(&[OSS, &file, &export("oss://photos/a/")].concat()).unwrap_err();
        assert_eq!(e.message, "project 3 has two export targets: one folder per project");
    }

    #[test]
    fn toml_file_adds_storages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
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
        let s = &c.storages.list[1];
        assert_eq!(
            (s.scheme, s.region.as_str(), s.mode, s.ttl),
            (Scheme::S3, "us-east-1", StorageMode::Proxy, 600)
        );
        assert!(s.allows("public/a.png") && !s.allows("private/a.png"));

        std::fs::write(&path, "[[storage]]\nscheme = \"oss\"\nbuckett = \"x\"\n").unwrap();
        let e = load(&[("LS_PRESIGN_CONFIG", p)]).unwrap_err();
        assert!(e.to_string().contains("buckett"), "{e}");
    }
}
