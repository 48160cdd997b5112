//! How every setting that is missing or wrong is reported: the name to fix, then what is wrong.

use std::fmt;

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

pub(super) fn err(setting: impl Into<String>, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        message: message.to_string(),
    }
}
