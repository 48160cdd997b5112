//! How every setting that is missing or wrong is reported: the name to fix, then what is wrong;
//! and every problem of one load at once, so one run tells a user all there is to fix.

use std::fmt;

/// A setting that is missing or wrong, with the further problems found in the same load.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
    /// More settings that are missing or wrong, in the order they were found.
    pub also: Vec<ConfigError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)?;
        for e in &self.also {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

pub(super) fn err(setting: impl Into<String>, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        message: message.to_string(),
        also: Vec::new(),
    }
}

/// The problems of one load, gathered instead of stopping at the first.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<ConfigError>);

impl Problems {
    /// The value, or `None` with the error kept.
    pub(super) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Keeps one more problem.
    pub(super) fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// Every problem as one error (the first, with the rest in `also`); `what` names the part
    /// that failed when, against expectation, no problem was kept.
    pub(super) fn into_error(self, what: &str) -> ConfigError {
        let mut all = self.0.into_iter().flat_map(|mut e| {
            let also = std::mem::take(&mut e.also);
            std::iter::once(e).chain(also)
        });
        match all.next() {
            Some(mut first) => {
                first.also = all.collect();
                first
            }
            None => err(what, "is not valid"),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing went wrong.
    pub(super) fn check(self, what: &str) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error(what))
        }
    }
}
