//! Presigning: pure functions of credentials, an object, a signing time and a lifetime.
//!
//! No network I/O happens here. Each signer builds the canonical request and string to sign of
//! its algorithm and returns them with the URL, so another implementation (the official SDKs in
//! the conformance suite) can be compared piece by piece.
//!
//! This file is all the rest of the crate sees. The algorithms are private modules behind it, and
//! what OSS V4 and AWS SigV4 share (the day's signing key, the canonical request's hash, the
//! final HMAC) is in `v4`, so how a signature is computed can change without touching a caller.

mod v4;

mod aws_v4;
mod oss_v1;
mod oss_v4;
#[cfg(test)]
mod sdk_vectors;

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};

pub use aws_v4::AwsV4;
pub use oss_v1::OssV1;
pub use oss_v4::OssV4;

/// The longest lifetime OSS V4 and S3 SigV4 accept: 7 days.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// Access key, secret and optional STS token. `Debug` never shows the secrets.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: SecretString,
    pub session_token: Option<SecretString>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret: impl Into<String>, session_token: Option<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret: SecretString::from(secret.into()),
            session_token: session_token.map(SecretString::from),
        }
    }

    fn token(&self) -> Option<&str> {
        self.session_token.as_ref().map(|t| t.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"[redacted]")
            .field("session_token", &self.session_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// How the bucket appears in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `https://bucket.endpoint/key`
    Virtual,
    /// `https://endpoint/bucket/key`
    Path,
    /// `https://custom-domain/key` — the endpoint is a domain bound to the bucket.
    Cname,
}

impl std::str::FromStr for Addressing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "virtual" => Ok(Addressing::Virtual),
            "path" => Ok(Addressing::Path),
            "cname" => Ok(Addressing::Cname),
            other => Err(format!("{other:?} is not one of virtual, path, cname")),
        }
    }
}

/// Where a URL points: an endpoint (`https://oss-cn-hangzhou.aliyuncs.com`) and how the bucket
/// is addressed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// Host, with the port when it is not the scheme's default.
    pub host: String,
    pub addressing: Addressing,
}

impl Target {
    /// Parses an endpoint URL (`https://host[:port]`, no path). A bare host means https.
    pub fn parse(endpoint: &str, addressing: Addressing) -> Result<Target, String> {
        let with_scheme = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{endpoint:?} must be http:// or https://"));
        }
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{endpoint:?} must be a bare endpoint without path, query or user"
            ));
        }
        let host = url.host_str().ok_or_else(|| format!("{endpoint:?} has no host"))?;
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Ok(Target {
            scheme: url.scheme().to_owned(),
            host,
            addressing,
        })
    }

    /// Virtual-hosted addressing that cannot work falls back to path style, as the official SDKs
    /// do: an IP-address endpoint has no `bucket.` subdomain, and a dotted bucket name is not
    /// covered by an https endpoint's wildcard certificate.
    pub fn fit_bucket(mut self, bucket: &str) -> Target {
        if self.addressing == Addressing::Virtual {
            let host = match self.host.strip_prefix('[') {
                Some(rest) => rest.split_once(']').map_or(rest, |(h, _)| h),
                None => self.host.rsplit_once(':').map_or(self.host.as_str(), |(h, _)| h),
            };
            let ip = host.parse::<std::net::IpAddr>().is_ok();
            if ip || (bucket.contains('.') && self.scheme == "https") {
                self.addressing = Addressing::Path;
            }
        }
        self
    }

    /// `scheme://host/path` for `bucket`/`key`, without a query.
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        UrlStart::new(self, bucket, key, 0).url
    }
}

/// What to presign.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET` or `HEAD`.
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Signing time, Unix seconds. Signing panics for a time beyond chrono's ±262,000 years.
    pub signed_at: i64,
    /// Lifetime in seconds from `signed_at`.
    pub expires_in: u64,
}

/// A presigned URL with the pieces that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    /// Unix seconds after which the store refuses the URL.
    pub expires_at: i64,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

/// Which algorithm signs a storage's URLs.
#[derive(Debug)]
pub enum Signer {
    OssV4(OssV4),
    OssV1(OssV1),
    AwsV4(AwsV4),
}

impl Signer {
    /// Presigns `req` for `target`, with the canonical request and string to sign.
    pub fn presign(&self, target: &Target, req: &Request<'_>) -> Presigned {
        self.sign(target, req, true)
    }

    /// Presigns `req` for `target`: only the URL is built (the hot path).
    pub fn presign_url(&self, target: &Target, req: &Request<'_>) -> String {
        self.sign(target, req, false).url
    }

    fn sign(&self, target: &Target, req: &Request<'_>, explain: bool) -> Presigned {
        match self {
            Signer::OssV4(s) => s.sign(target, req, explain),
            Signer::OssV1(s) => s.presign(target, req),
            Signer::AwsV4(s) => s.sign(target, req, explain),
        }
    }

    /// Short name for logs and docs: `oss-v4`, `oss-v1`, `s3-v4`.
    pub fn name(&self) -> &'static str {
        match self {
            Signer::OssV4(_) => "oss-v4",
            Signer::OssV1(_) => "oss-v1",
            Signer::AwsV4(_) => "s3-v4",
        }
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (uppercase hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// As [`UNRESERVED`], but `/` stays too: object keys in paths.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Percent-encodes a query name or value: only unreserved characters stay.
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// An object URL being built: `scheme://host/path` so far, and where its parts are.
pub(crate) struct UrlStart {
    pub url: String,
    pub host: std::ops::Range<usize>,
    pub path: std::ops::Range<usize>,
    /// The encoded key, inside the path.
    pub key: std::ops::Range<usize>,
}

impl UrlStart {
    /// `scheme://host/path` of `bucket`/`key` on `target`, with room for a query of `query_len`.
    pub fn new(target: &Target, bucket: &str, key: &str, query_len: usize) -> UrlStart {
        let mut url = String::with_capacity(64 + bucket.len() * 2 + key.len() * 3 + query_len);
        url.push_str(&target.scheme);
        url.push_str("://");
        let host_at = url.len();
        if target.addressing == Addressing::Virtual {
            url.push_str(bucket);
            url.push('.');
        }
        url.push_str(&target.host);
        let path_at = url.len();
        url.push('/');
        if target.addressing == Addressing::Path {
            url.push_str(bucket);
            url.push('/');
        }
        let key_at = url.len();
        push_encoded(&mut url, key);
        let end = url.len();
        UrlStart {
            url,
            host: host_at..path_at,
            path: path_at..end,
            key: key_at..end,
        }
    }
}

/// Appends the object key `s` percent-encoded for a URL path (see [`PATH`]), without an
/// intermediate string.
pub(crate) fn push_encoded(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, PATH) {
        out.push_str(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved() {
        assert_eq!(encode("a b+/~é"), "a%20b%2B%2F~%C3%A9");
        let mut path = String::new();
        push_encoded(&mut path, "a b//c?#%");
        assert_eq!(path, "a%20b//c%3F%23%25");
    }

    #[test]
    fn target_hosts_and_paths() {
        let t = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
        assert_eq!(t.object_url("b", "a b"), "https://b.oss-cn-hangzhou.aliyuncs.com/a%20b");
        let t = Target::parse("http://127.0.0.1:9000", Addressing::Path).unwrap();
        assert_eq!(t.object_url("b", "/x"), "http://127.0.0.1:9000/b//x");
        let t = Target::parse("img.example.com", Addressing::Cname).unwrap();
        assert_eq!(t.object_url("b", "k"), "https://img.example.com/k");
        assert!(Target::parse("https://h/path", Addressing::Path).is_err());
        let ip = Target::parse("http://127.0.0.1:9000", Addressing::Virtual)
            .unwrap()
            .fit_bucket("b");
        assert_eq!(ip.object_url("b", "k"), "http://127.0.0.1:9000/b/k");
        let v6 = Target::parse("http://[::1]:9000", Addressing::Virtual)
            .unwrap()
            .fit_bucket("b");
        assert_eq!(v6.addressing, Addressing::Path);
        let dotted = Target::parse("https://s3.amazonaws.com", Addressing::Virtual).unwrap();
        assert_eq!(dotted.clone().fit_bucket("a.b").addressing, Addressing::Path);
        assert_eq!(dotted.fit_bucket("ab").addressing, Addressing::Virtual);
        assert!(Target::parse("ftp://h", Addressing::Path).is_err());
    }

    #[test]
    #[should_panic(expected = "within chrono's range")]
    fn a_time_chrono_cannot_hold_is_not_signed() {
        let target = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
        let req = Request {
            method: "GET",
            bucket: "b",
            key: "k",
            signed_at: i64::MAX / 2,
            expires_in: 1,
        };
        Signer::OssV4(OssV4::new(Credentials::new("AK", "SK", None), "cn-hangzhou")).presign_url(&target, &req);
    }

    #[test]
    fn the_hot_path_builds_the_same_url() {
        let req = |signed_at| Request {
            method: "GET",
            bucket: "bkt",
            key: " a b+c%/d//é#?x ",
            signed_at,
            expires_in: 3600,
        };
        let creds = |token: Option<&str>| Credentials::new("AKID", "SECRET", token.map(str::to_owned));
        let targets = [
            Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap(),
            Target::parse("http://127.0.0.1:9000", Addressing::Path).unwrap(),
            Target::parse("https://img.example.com", Addressing::Cname).unwrap(),
        ];
        for token in [None, Some("sts/token+=")] {
            let signers = [
                Signer::OssV4(OssV4::new(creds(token), "cn-hangzhou")),
                Signer::OssV1(OssV1::new(creds(token))),
                Signer::AwsV4(AwsV4::new(creds(token), "us-west-1")),
            ];
            for (signer, target) in signers.iter().flat_map(|s| targets.iter().map(move |t| (s, t))) {
                for at in [0, 1_795_773_600, 1_795_859_999, 1_795_860_000] {
                    let full = signer.presign(target, &req(at));
                    assert_eq!(signer.presign_url(target, &req(at)), full.url);
                    assert!(full.url.ends_with(&full.signature) || full.url.contains("Signature="));
                }
            }
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::new("AK", "very-secret", Some("sts-token".into()));
        let d = format!("{c:?}");
        assert!(!d.contains("very-secret") && !d.contains("sts-token"), "{d}");
    }
}
