//! What a read gives the HTTP layer, and the few HTTP rules the service applies itself where
//! OpenDAL answers with an object's metadata rather than the store's response: which bytes a
//! `Range` names, the headers of a 200, 206, 304 or 416, and the conditional requests of a HEAD.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// The bytes of an object as they arrive.
pub type Body = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The headers of a read's answer that the proxy passes on (besides `content-length`).
pub const PASSED_ON: [&str; 7] = [
    "content-type",
    "content-range",
    "etag",
    "last-modified",
    "accept-ranges",
    "cache-control",
    "content-disposition",
];

/// A read's answer: a status to pass on (200, 206, 304 or 416), the headers that go with it
/// ([`PASSED_ON`] and `content-length`, those the store gave) and the body.
pub struct Object {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Body,
}

impl Object {
    /// The header `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Content-Length`: the body's length (for a HEAD, the length a GET would have).
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.parse().ok()
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// One byte range of a `Range` header, as OSS and S3 read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-` or `bytes=start-end` (`end` inclusive).
    From { start: u64, end: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Last(u64),
}

impl ByteRange {
    /// The range a `Range` header asks for. `None` when the store would ignore the header and
    /// serve the whole object: another unit, several ranges, numbers that are not numbers, an end
    /// before the start.
    pub fn parse(header: &str) -> Option<ByteRange> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (start, end) = spec.split_once('-')?;
        let (start, end) = (start.trim(), end.trim());
        if start.is_empty() {
            return end.parse().ok().map(ByteRange::Last);
        }
        let start: u64 = start.parse().ok()?;
        let end = match end {
            "" => None,
            e => Some(e.parse::<u64>().ok().filter(|e| *e >= start)?),
        };
        Some(ByteRange::From { start, end })
    }

    /// The first and last positions served from an object of `len` bytes; `None` when the range
    /// cannot be satisfied (416).
    pub fn within(self, len: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, end } => (start < len).then(|| (start, end.map_or(len - 1, |e| e.min(len - 1)))),
            ByteRange::Last(n) => (n > 0 && len > 0).then(|| (len - n.min(len), len - 1)),
        }
    }
}

/// What the store says about an object, from OpenDAL's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub len: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    /// An HTTP date.
    pub last_modified: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
}

impl Info {
    /// The headers of a 200 (`range` none) or 206 (`range` the positions served).
    pub fn headers(&self, range: Option<(u64, u64)>) -> HeaderMap {
        let mut h = self.validators();
        put(&mut h, "content-type", self.content_type.as_deref());
        put(&mut h, "content-disposition", self.content_disposition.as_deref());
        put(&mut h, "accept-ranges", Some("bytes"));
        let length = match range {
            Some((first, last)) => {
                put(
                    &mut h,
                    "content-range",
                    Some(&format!("bytes {first}-{last}/{}", self.len)),
                );
                last - first + 1
            }
            None => self.len,
        };
        put(&mut h, "content-length", Some(&length.to_string()));
        h
    }

    /// The headers of a 304: what a cache updates its copy with.
    pub fn validators(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        put(&mut h, "etag", self.etag.as_deref());
        put(&mut h, "last-modified", self.last_modified.as_deref());
        put(&mut h, "cache-control", self.cache_control.as_deref());
        h
    }

    /// The headers of a 416: the object's length.
    pub fn unsatisfiable(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        put(&mut h, "content-range", Some(&format!("bytes */{}", self.len)));
        put(&mut h, "content-length", Some("0"));
        h
    }

    /// Whether a client holding a copy validated by `if_none_match` or `if_modified_since`
    /// gets a 304, as the store decides: `If-None-Match` (weak comparison, `*` matches) wins
    /// over `If-Modified-Since`, and a date that does not parse is ignored.
    pub fn not_modified(&self, if_none_match: Option<&str>, if_modified_since: Option<&str>) -> bool {
        if let Some(list) = if_none_match {
            return self.etag.as_deref().is_some_and(|etag| {
                list.split(',')
                    .any(|t| t.trim() == "*" || bare_etag(t) == bare_etag(etag))
            });
        }
        let date = |s: &str| chrono::DateTime::parse_from_rfc2822(s).ok();
        match (
            if_modified_since.and_then(date),
            self.last_modified.as_deref().and_then(date),
        ) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        }
    }
}

/// Sets `name` when there is a value a header can carry.
fn put(h: &mut HeaderMap, name: &'static str, value: Option<&str>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// An entity tag without its weak prefix and quotes, for the weak comparison.
fn bare_etag(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/").trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_the_store_reads_them() {
        let from = |start, end| Some(ByteRange::From { start, end });
        assert_eq!(ByteRange::parse("bytes=0-4"), from(0, Some(4)));
        assert_eq!(ByteRange::parse(" bytes= 5 - "), from(5, None));
        assert_eq!(ByteRange::parse("bytes=-3"), Some(ByteRange::Last(3)));
        for ignored in [
            "bytes=5-2",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=a-b",
            "bytes=",
            "bytes=-x",
        ] {
            assert_eq!(ByteRange::parse(ignored), None, "{ignored}");
        }
        let within = |h: &str, len| ByteRange::parse(h).and_then(|r| r.within(len));
        assert_eq!(within("bytes=5-", 10), Some((5, 9)));
        assert_eq!(within("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(within("bytes=-3", 10), Some((7, 9)));
        assert_eq!(within("bytes=-30", 10), Some((0, 9)));
        assert_eq!(within("bytes=10-", 10), None);
        assert_eq!(within("bytes=-0", 10), None);
        assert_eq!(within("bytes=0-", 0), None);
        assert_eq!(within("bytes=-1", 0), None);
    }

    #[test]
    fn headers_of_each_answer() {
        let info = Info {
            len: 10,
            content_type: Some("image/png".into()),
            etag: Some("\"ABC\"".into()),
            last_modified: Some("Sun, 01 Jun 2025 12:00:00 GMT".into()),
            cache_control: None,
            content_disposition: Some("attachment".into()),
        };
        let full = info.headers(None);
        assert_eq!(full["content-length"], "10");
        assert_eq!(full["accept-ranges"], "bytes");
        assert!(full.get("content-range").is_none() && full.get("cache-control").is_none());
        let part = info.headers(Some((7, 9)));
        assert_eq!(
            (&part["content-range"], &part["content-length"]),
            (&"bytes 7-9/10".parse().unwrap(), &"3".parse().unwrap())
        );
        assert_eq!(info.validators().len(), 2);
        assert_eq!(info.unsatisfiable()["content-range"], "bytes */10");
    }

    #[test]
    fn conditional_requests() {
        let info = Info {
            etag: Some("\"ABC\"".into()),
            last_modified: Some("Sun, 01 Jun 2025 12:00:00 GMT".into()),
            ..Info::default()
        };
        assert!(info.not_modified(Some("\"ABC\""), None));
        assert!(info.not_modified(Some("W/\"ABC\", \"x\""), None));
        assert!(info.not_modified(Some("*"), None));
        assert!(!info.not_modified(Some("\"ABD\""), Some("Sun, 01 Jun 2025 12:00:00 GMT")));
        assert!(info.not_modified(None, Some("Sun, 01 Jun 2025 12:00:00 GMT")));
        assert!(!info.not_modified(None, Some("Sun, 01 Jun 2025 11:59:59 GMT")));
        assert!(!info.not_modified(None, Some("yesterday")));
        assert!(!info.not_modified(None, None));
    }
}
