//! ls-presign: lets Label Studio show files stored in Aliyun OSS and S3-compatible stores
//! straight from object storage, by rewriting `oss://` and `s3://` references to presigned URLs,
//! stable links, or `data:` URLs.

pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod emulator;
pub mod http;
pub mod link;
pub mod metrics;
pub mod resolve;
pub mod rewrite;
pub mod sign;
pub mod storage;
pub mod uri;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
