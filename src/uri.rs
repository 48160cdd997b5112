//! Storage references (`oss://bucket/key`, `s3://bucket/key`) as typed values.

use std::fmt;

/// Which signing family a reference belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scheme {
    /// Aliyun OSS, signed natively (V4 or V1).
    Oss,
    /// Any S3-compatible store, signed with AWS SigV4.
    S3,
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::Oss, Scheme::S3];

    /// The URI prefix, `oss://` or `s3://`.
    pub fn prefix(self) -> &'static str {
        match self {
            Scheme::Oss => "oss://",
            Scheme::S3 => "s3://",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Oss => "oss",
            Scheme::S3 => "s3",
        }
    }

    /// The scheme whose prefix `s` starts with, if any.
    pub fn of_prefix(s: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|sc| s.starts_with(sc.prefix()))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed storage reference. The key is kept exactly as written: spaces, `+`, `%`, `#`, `?`,
/// `//` and leading or trailing white space all name different objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageUri {
    pub scheme: Scheme,
    pub bucket: String,
    pub key: String,
}

/// Why a string is not a storage reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("{0:?} does not start with oss:// or s3://")]
    Scheme(String),
    #[error("{0:?} names no bucket")]
    NoBucket(String),
    #[error("{0:?} names no object key after the bucket")]
    NoKey(String),
    #[error("bucket name {0:?} is not a valid bucket name")]
    BadBucket(String),
}

impl StorageUri {
    pub fn new(scheme: Scheme, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        StorageUri {
            scheme,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// Parses `scheme://bucket/key`. Everything after the first `/` following the bucket is the
    /// key, verbatim.
    pub fn parse(s: &str) -> Result<StorageUri, UriError> {
        match StorageUri::parse_folder(s)? {
            uri if uri.key.is_empty() => Err(UriError::NoKey(s.to_owned())),
            uri => Ok(uri),
        }
    }

    /// [`StorageUri::parse`] for a folder, which may be the whole bucket (`oss://bucket/` or
    /// `oss://bucket`: an empty key).
    pub fn parse_folder(s: &str) -> Result<StorageUri, UriError> {
        let scheme = Scheme::of_prefix(s).ok_or_else(|| UriError::Scheme(s.to_owned()))?;
        let rest = &s[scheme.prefix().len()..];
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(UriError::NoBucket(s.to_owned()));
        }
        if !valid_bucket(bucket) {
            return Err(UriError::BadBucket(bucket.to_owned()));
        }
        Ok(StorageUri::new(scheme, bucket, key))
    }

    /// The folder this URI names: its key with a `/` added unless empty or already there (an
    /// import or export of `oss://photos/cats` is of `cats/`).
    pub fn into_folder(mut self) -> StorageUri {
        if !self.key.is_empty() && !self.key.ends_with('/') {
            self.key.push('/');
        }
        self
    }
}

/// Bucket names of both OSS and S3: 3–63 of `a-z 0-9 - .`, starting and ending alphanumeric.
/// (Looser than either store, so an unusual legacy name still parses; stricter than "anything",
/// so a bucket name can never smuggle a host or path into a URL.)
pub fn valid_bucket(b: &str) -> bool {
    let bytes = b.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.' || *c == b'_')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", self.scheme.prefix(), self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_verbatim() {
        let u = StorageUri::parse("oss://b1/ a//b c+%23#?x ").unwrap();
        assert_eq!(u.bucket, "b1");
        assert_eq!(u.key, " a//b c+%23#?x ");
        assert_eq!(u.to_string(), "oss://b1/ a//b c+%23#?x ");
        let u = StorageUri::parse("s3://bucket//lead").unwrap();
        assert_eq!((u.scheme, u.key.as_str()), (Scheme::S3, "/lead"));
    }

    #[test]
    fn rejects_non_references() {
        assert!(matches!(StorageUri::parse("gs://b/k"), Err(UriError::Scheme(_))));
        assert!(matches!(StorageUri::parse("oss:///k"), Err(UriError::NoBucket(_))));
        assert!(matches!(StorageUri::parse("oss://b"), Err(UriError::NoKey(_))));
        assert!(matches!(StorageUri::parse("oss://b/"), Err(UriError::NoKey(_))));
        assert!(matches!(
            StorageUri::parse("oss://Evil.com:80/k"),
            Err(UriError::BadBucket(_))
        ));
        assert!(matches!(StorageUri::parse("oss://a@b/k"), Err(UriError::BadBucket(_))));
    }
}
