//! Where settings are read from, and the reading rules every section shares: an empty value is
//! unset, a secret may come from a file, some settings go in pairs.

use std::collections::HashMap;

use super::error::{ConfigError, err};

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
    pub(super) fn value_or_file(&self, name: &str) -> Result<Option<(String, bool)>, ConfigError> {
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
    pub(super) fn pair(&self, a: &str, b: &str) -> Result<Option<(String, String)>, ConfigError> {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(err(b, format!("required when {a} is set"))),
            (None, Some(_)) => Err(err(a, format!("required when {b} is set"))),
        }
    }

    /// `name`'s value as `true` or `false`.
    pub(super) fn flag(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(err(name, format!("{other:?} is not true or false"))),
        }
    }

    /// The TOML file `LS_PRESIGN_CONFIG` names, as `T`, with its path. `None` when unset, or
    /// when it cannot be read or parsed: that is the storages section's to report.
    pub(super) fn toml_file<T: serde::de::DeserializeOwned>(&self) -> Option<(String, T)> {
        let path = self.get("LS_PRESIGN_CONFIG")?;
        let text = std::fs::read_to_string(&path).ok()?;
        let file = toml::from_str(&text).ok()?;
        Some((path, file))
    }

    /// `name`'s value as one of `T`'s words.
    pub(super) fn choice<T: clap::ValueEnum>(&self, name: &str) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(|v| crate::choice::parse(v.trim()).map_err(|e| err(name, e)))
            .transpose()
    }

    /// `name`'s value as a whole number from 0 to `T`'s largest.
    pub(super) fn parse<T: Unsigned>(&self, name: &str) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(|v| {
                let range = || format!("a whole number from 0 to {}", T::MAX);
                let n: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| err(name, format!("{v:?} is not {}", range())))?;
                T::try_from(n).map_err(|_| err(name, format!("{v:?} is too large: {}", range())))
            })
            .transpose()
    }
}

/// The unsigned integer types settings are read as.
pub(super) trait Unsigned: TryFrom<u64> {
    const MAX: u64;
}

impl Unsigned for u16 {
    const MAX: u64 = u16::MAX as u64;
}

impl Unsigned for u64 {
    const MAX: u64 = u64::MAX;
}

impl Unsigned for usize {
    const MAX: u64 = usize::MAX as u64;
}
