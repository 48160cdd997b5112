//! Every object-store detail lives here: which buckets are configured, how their URLs are
//! signed, and reading objects (for `data:` URLs and the proxy) through the internal endpoint.
//!
//! Reads use a short-lived URL presigned with the storage's own algorithm, so they work against
//! buckets that accept only OSS V4 (OpenDAL 0.59's OSS service signs V1 only).

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::config::{SignatureVersion, StorageConfig};
use crate::error_code::ErrorCode;
use crate::sign::{AwsV4, OssV1, OssV4, Presigned, Request, Signer};
use crate::uri::{Scheme, StorageUri};

/// Lifetime of the URLs the service signs for its own reads.
const READ_URL_TTL: u64 = 300;

/// One configured bucket with its signer.
#[derive(Debug)]
pub struct Storage {
    pub config: StorageConfig,
    signer: Signer,
}

impl Storage {
    fn new(config: StorageConfig) -> Storage {
        let creds = config.credentials.clone();
        let signer = match (config.scheme, config.signature_version) {
            (Scheme::Oss, SignatureVersion::V4) => Signer::OssV4(OssV4::new(creds, &config.region)),
            (Scheme::Oss, SignatureVersion::V1) => Signer::OssV1(OssV1::new(creds)),
            (Scheme::S3, _) => Signer::AwsV4(AwsV4::new(creds, &config.region)),
        };
        Storage { config, signer }
    }

    /// Presigns `method key` for browsers (the public presign endpoint), with the canonical
    /// request and string to sign.
    pub fn presign(&self, method: &str, key: &str, signed_at: i64, expires_in: u64) -> Presigned {
        let req = self.request(method, key, signed_at, expires_in);
        self.signer.presign(&self.config.presign_endpoint, &req)
    }

    /// Only the URL of [`Storage::presign`]: the hot path.
    pub fn presign_url(&self, method: &str, key: &str, signed_at: i64, expires_in: u64) -> String {
        let req = self.request(method, key, signed_at, expires_in);
        self.signer.presign_url(&self.config.presign_endpoint, &req)
    }

    fn request<'a>(&'a self, method: &'a str, key: &'a str, signed_at: i64, expires_in: u64) -> Request<'a> {
        Request {
            method,
            bucket: &self.config.bucket,
            key,
            signed_at,
            expires_in,
        }
    }

    /// The signing algorithm's short name.
    pub fn algorithm(&self) -> &'static str {
        self.signer.name()
    }
}

/// Why a storage operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0} is not in a configured bucket")]
    NotConfigured(StorageUri),
    #[error("{0} is outside the allowed key prefixes of its bucket")]
    PrefixNotAllowed(StorageUri),
    #[error("{0} does not exist in the storage")]
    NotFound(StorageUri),
    #[error("{uri} is {size} bytes, above the {cap}-byte limit for data: URLs")]
    TooLarge { uri: StorageUri, size: u64, cap: u64 },
    #[error("the storage refused to read {uri}: {status} {code}")]
    Refused { uri: StorageUri, status: u16, code: String },
    #[error("the storage could not be reached for {uri}: {source}")]
    Unreachable {
        uri: StorageUri,
        #[source]
        source: reqwest::Error,
    },
}

impl StorageError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::NotConfigured(_) => ErrorCode::UnknownBucket,
            StorageError::PrefixNotAllowed(_) => ErrorCode::PrefixNotAllowed,
            StorageError::NotFound(_) => ErrorCode::ObjectNotFound,
            StorageError::TooLarge { .. } => ErrorCode::ObjectTooLarge,
            StorageError::Refused { .. } => ErrorCode::StorageRefused,
            StorageError::Unreachable { .. } => ErrorCode::StorageUnreachable,
        }
    }

    /// Whether the reference was merely outside what this service handles (left untouched),
    /// rather than a failure.
    pub fn is_skip(&self) -> bool {
        matches!(self, StorageError::NotConfigured(_) | StorageError::PrefixNotAllowed(_))
    }
}

/// Conditional and range headers passed through to the store.
#[derive(Debug, Default, Clone)]
pub struct ReadOptions {
    pub method_head: bool,
    pub range: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    /// `Origin`, to see the bucket's CORS answer (`ls-presign check`).
    pub origin: Option<String>,
}

/// All configured storages.
#[derive(Debug)]
pub struct Storages {
    list: Vec<Storage>,
    /// Bucket name → index into `list`, one map per scheme (`Scheme as usize`; looked up by
    /// `&str`: no allocation).
    by_bucket: [HashMap<String, usize>; Scheme::ALL.len()],
    http: reqwest::Client,
}

impl Storages {
    pub fn new(configs: Vec<StorageConfig>) -> Result<Storages, reqwest::Error> {
        let mut by_bucket: [HashMap<String, usize>; Scheme::ALL.len()] = Default::default();
        for (i, c) in configs.iter().enumerate() {
            by_bucket[c.scheme as usize].insert(c.bucket.clone(), i);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Storages {
            list: configs.into_iter().map(Storage::new).collect(),
            by_bucket,
            http,
        })
    }

    pub fn all(&self) -> &[Storage] {
        &self.list
    }

    /// The storage `uri` belongs to (with its index), if its bucket is configured and its key
    /// is inside the allowed prefixes.
    pub fn find(&self, uri: &StorageUri) -> Result<(usize, &Storage), StorageError> {
        let &i = self.by_bucket[uri.scheme as usize]
            .get(uri.bucket.as_str())
            .ok_or_else(|| StorageError::NotConfigured(uri.clone()))?;
        let s = &self.list[i];
        if !s.config.allows(&uri.key) {
            return Err(StorageError::PrefixNotAllowed(uri.clone()));
        }
        Ok((i, s))
    }

    /// Starts reading an object through the internal endpoint. 200, 206, 304 and 416 responses
    /// are returned as they are, for the caller to pass on; 404 and 403 become errors.
    pub async fn read(&self, uri: &StorageUri, opts: &ReadOptions) -> Result<reqwest::Response, StorageError> {
        let (_, storage) = self.find(uri)?;
        let method = if opts.method_head { "HEAD" } else { "GET" };
        let req = storage.request(method, &uri.key, crate::time::now(), READ_URL_TTL);
        let url = storage.signer.presign_url(&storage.config.endpoint, &req);
        let mut req = self.http.request(
            if opts.method_head {
                reqwest::Method::HEAD
            } else {
                reqwest::Method::GET
            },
            url,
        );
        for (name, value) in [
            ("range", &opts.range),
            ("if-none-match", &opts.if_none_match),
            ("if-modified-since", &opts.if_modified_since),
            ("origin", &opts.origin),
        ] {
            if let Some(v) = value {
                req = req.header(name, v);
            }
        }
        let unreachable = |source| StorageError::Unreachable {
            uri: uri.clone(),
            source,
        };
        let resp = req.send().await.map_err(|e| unreachable(e.without_url()))?;
        match resp.status().as_u16() {
            200 | 206 | 304 | 416 => Ok(resp),
            404 => Err(StorageError::NotFound(uri.clone())),
            status => {
                let body = resp.text().await.unwrap_or_default();
                Err(StorageError::Refused {
                    uri: uri.clone(),
                    status,
                    code: xml_code(&body).unwrap_or("no error code").to_owned(),
                })
            }
        }
    }

    /// Reads a whole object of at most `cap` bytes, with its content type (from the store, or
    /// guessed from the key's extension when the store has none).
    pub async fn read_all(&self, uri: &StorageUri, cap: u64) -> Result<(String, Bytes), StorageError> {
        let resp = self.read(uri, &ReadOptions::default()).await?;
        let too_large = |size| StorageError::TooLarge {
            uri: uri.clone(),
            size,
            cap,
        };
        if let Some(len) = resp.content_length()
            && len > cap
        {
            return Err(too_large(len));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|ct| !ct.is_empty() && *ct != "application/octet-stream")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                mime_guess::from_path(&uri.key)
                    .first_or_octet_stream()
                    .essence_str()
                    .to_owned()
            });
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StorageError::Unreachable {
                uri: uri.clone(),
                source: e.without_url(),
            })?;
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(too_large((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((content_type, body.freeze()))
    }
}

impl Storages {
    /// Checks that a storage answers signed requests: a HEAD of an object that need not exist.
    /// Not found is fine; refused credentials or no answer is not.
    pub async fn probe(&self, index: usize) -> Result<(), StorageError> {
        let Some(storage) = self.list.get(index) else {
            return Ok(());
        };
        let c = &storage.config;
        let uri = StorageUri::new(c.scheme, c.bucket.clone(), probe_key(c));
        let opts = ReadOptions {
            method_head: true,
            ..ReadOptions::default()
        };
        match self.read(&uri, &opts).await {
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A key inside the allowed prefixes (the probe must not be refused by our own allow-list).
fn probe_key(c: &StorageConfig) -> String {
    format!(
        "{}.ls-presign-ready",
        c.allowed_prefixes.first().map_or("", String::as_str)
    )
}

/// The `<Code>` of an OSS/S3 XML error body.
fn xml_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}
