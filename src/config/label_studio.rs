//! Label Studio: where it is and how to authenticate to it (write-back, `sync`, `/v1/tasks`).

use secrecy::SecretString;

use super::env::Env;
use super::error::{ConfigError, err};

/// Where Label Studio is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct LabelStudioConfig {
    pub url: String,
    /// A legacy token or a Personal Access Token.
    pub api_key: SecretString,
    /// Per-request timeout.
    pub timeout: std::time::Duration,
}

impl LabelStudioConfig {
    /// `None` when neither `LABEL_STUDIO_URL` nor `LABEL_STUDIO_API_KEY` is set.
    pub(super) fn load(env: &Env<'_>) -> Result<Option<LabelStudioConfig>, ConfigError> {
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
}
