//! The HTTP server: where it listens, how browsers reach it, and what one request may cost.

use std::time::Duration;

use super::{ConfigError, Env, err};

/// Where and how the service listens. The limits of one request live here too: whatever storage
/// a request touches, the server enforces them and answers with the status they promise (413,
/// 504).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Base URL of this service as browsers reach it, without a trailing `/`.
    pub public_url: String,
    /// `Access-Control-Allow-Origin` on every response: `*` or the Label Studio origin.
    pub cors_origin: String,
    /// HTTP worker threads.
    pub workers: usize,
    /// Longest a request may take to produce its response head.
    pub request_timeout: Duration,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Most references in one document.
    pub max_references: usize,
}

impl ServerConfig {
    /// `tls`: whether HTTPS is served, for the default public URL's scheme.
    pub(super) fn load(env: &Env<'_>, tls: bool) -> Result<ServerConfig, ConfigError> {
        let port: u16 = env.parse("PORT")?.unwrap_or(9090);
        let scheme = if tls { "https" } else { "http" };
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
        Ok(ServerConfig {
            host: env.get("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port,
            public_url: public_url.trim_end_matches('/').to_owned(),
            cors_origin: env.get("LS_PRESIGN_CORS_ORIGIN").unwrap_or_else(|| "*".into()),
            max_body_bytes: env.parse("LS_PRESIGN_MAX_BODY_BYTES")?.unwrap_or(64 << 20),
            max_references: env.parse("LS_PRESIGN_MAX_REFERENCES")?.unwrap_or(1_000_000),
            request_timeout: Duration::from_secs(env.parse::<u64>("LS_PRESIGN_REQUEST_TIMEOUT")?.unwrap_or(60).max(1)),
            workers: env
                .parse("LS_PRESIGN_WORKERS")?
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        })
    }
}
