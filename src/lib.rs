//! ls-presign: lets Label Studio show files stored in Aliyun OSS and S3-compatible stores
//! straight from object storage, by rewriting `oss://` and `s3://` references to presigned URLs,
//! stable links, or `data:` URLs.

pub mod auth;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod keys;
pub mod labelstudio;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod resolve;
pub mod rewrite;
pub mod sign;
pub mod storage;
pub mod sync;
pub mod tls;
pub mod uri;
pub mod writeback;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds as RFC 3339 (`2026-11-27T10:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
