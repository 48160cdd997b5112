//! ls-presign: lets Label Studio show files stored in Aliyun OSS and S3-compatible stores
//! straight from object storage, by rewriting `oss://` and `s3://` references to presigned URLs,
//! stable links, or `data:` URLs.

pub mod auth;
pub mod cache;
pub mod check;
pub mod choice;
pub mod cli;
pub mod command;
pub mod config;
pub mod demo;
pub mod error_code;
pub mod export;
pub mod http;
pub mod import;
pub mod keys;
pub mod labelstudio;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod net_error;
pub mod periodic;
pub mod queue;
pub mod reconcile;
pub mod resolve;
pub mod rewrite;
pub mod session;
pub mod sign;
pub mod storage;
pub mod sync;
pub mod time;
pub mod tls;
pub mod uri;
pub mod writeback;

pub use time::{now, rfc3339};
