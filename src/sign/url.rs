//! Where a presigned URL points and how its path and query are written: the endpoint, the
//! bucket's place in the URL, and percent-encoding exactly as OSS and S3 canonicalize.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// How the bucket appears in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Addressing {
    /// `https://bucket.endpoint/key`
    Virtual,
    /// `https://endpoint/bucket/key`
    Path,
    /// `https://custom-domain/key` — the endpoint is a domain bound to the bucket.
    Cname,
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

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (uppercase hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// As [`UNRESERVED`], but `/` stays too: object keys in paths.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Percent-encodes a query name or value: only unreserved characters stay.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// An object URL being built: `scheme://host/path` so far, and where its parts are.
pub(super) struct UrlStart {
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
pub fn push_encoded(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, PATH) {
        out.push_str(chunk);
    }
}
