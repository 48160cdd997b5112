//! Every object-store detail lives here: which buckets are configured, how their URLs are
//! signed for browsers, and reading objects (for `data:` URLs, the proxy, `/ready` and `check`)
//! through the internal endpoint.
//!
//! Reads go through one OpenDAL operator per storage (`services::Oss`, `services::S3`), all on
//! the service's reqwest client ([`transport`]); OSS V4 storages are signed there, with the
//! project's own V4 code, because OpenDAL 0.59's OSS service signs V1 only. Two things stay on a
//! short-lived URL presigned with the storage's own algorithm: keys OpenDAL would read as another
//! object (it trims white space at both ends, drops a leading `/`, collapses `//`, takes a
//! trailing `/` for a directory), and the bucket's CORS answer for `check --object` (OpenDAL
//! sends no `Origin` and shows no CORS headers).

mod object;
mod transport;

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use opendal::services::{Oss, S3};
use opendal::{ErrorKind, HttpTransporter, OperationContext, Operator};
use secrecy::ExposeSecret;

use self::object::{ByteRange, Info};
use self::transport::{StoreAnswer, Transport};
use crate::config::{SignatureVersion, StorageConfig};
use crate::error_code::ErrorCode;
use crate::net_error;
use crate::sign::{Addressing, AwsV4, OssV1, OssV4, Presigned, Request, Signer};
use crate::uri::{Scheme, StorageUri};

pub use self::object::{Body, Object, PASSED_ON};

/// Lifetime of the URLs the service signs for its own reads.
const READ_URL_TTL: u64 = 300;

/// One configured bucket: its signer for browsers, and the OpenDAL operator it is read through.
#[derive(Debug)]
pub struct Storage {
    pub config: StorageConfig,
    signer: Signer,
    /// `None` where OpenDAL cannot address the bucket as configured (a custom domain with S3 or
    /// OSS V1): such a storage is read through presigned URLs only.
    operator: Option<Operator>,
}

impl Storage {
    fn new(config: StorageConfig, client: &reqwest::Client) -> Result<Storage, opendal::Error> {
        let creds = config.credentials.clone();
        let signer = match (config.scheme, config.signature_version) {
            (Scheme::Oss, SignatureVersion::V4) => Signer::OssV4(OssV4::new(creds, &config.region)),
            (Scheme::Oss, SignatureVersion::V1) => Signer::OssV1(OssV1::new(creds)),
            (Scheme::S3, _) => Signer::AwsV4(AwsV4::new(creds, &config.region)),
        };
        let operator = operator(&config, client)?;
        Ok(Storage {
            config,
            signer,
            operator,
        })
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

    /// The operator that reads `key` as written, if OpenDAL does: it normalizes paths (trims
    /// white space at both ends, drops leading `/`, collapses `//`) and takes a trailing `/` for
    /// a directory, which would read another object or none.
    fn operator_for(&self, key: &str) -> Option<&Operator> {
        let exact = !key.is_empty() && !key.ends_with('/') && opendal::raw::normalize_path(key) == key;
        self.operator.as_ref().filter(|_| exact)
    }
}

/// The OpenDAL operator of a storage: on its internal endpoint, with its addressing, sending
/// through the service's client. OSS V4 is signed by the transport (`skip_signature`); OSS V1
/// and S3 by OpenDAL, with the configured credentials only (no environment, profile or instance
/// metadata).
fn operator(c: &StorageConfig, client: &reqwest::Client) -> Result<Option<Operator>, opendal::Error> {
    let endpoint = format!("{}://{}", c.endpoint.scheme, c.endpoint.host);
    let creds = &c.credentials;
    let addressing = c.endpoint.addressing;
    let (operator, transport) = match (c.scheme, c.signature_version) {
        (Scheme::Oss, version) => {
            let style = match addressing {
                Addressing::Virtual => "virtual",
                Addressing::Path => "path",
                Addressing::Cname => "cname",
            };
            let builder = Oss::default()
                .root("/")
                .bucket(&c.bucket)
                .endpoint(&endpoint)
                .addressing_style(style);
            match version {
                SignatureVersion::V4 => {
                    let signer = OssV4::new(creds.clone(), &c.region);
                    let path_style = addressing == Addressing::Path;
                    let transport = Transport::oss_v4(client.clone(), signer, c.bucket.clone(), path_style);
                    (Operator::new(builder.skip_signature())?, transport)
                }
                // OpenDAL's V1 signer names the bucket only for virtual-hosted requests or
                // path-style ones; on a custom domain it would sign the wrong resource.
                SignatureVersion::V1 if addressing == Addressing::Cname => return Ok(None),
                SignatureVersion::V1 => {
                    let mut builder = builder
                        .access_key_id(&creds.access_key_id)
                        .access_key_secret(creds.secret.expose_secret());
                    if let Some(token) = &creds.session_token {
                        builder = builder.security_token(token.expose_secret());
                    }
                    (Operator::new(builder)?, Transport::plain(client.clone()))
                }
            }
        }
        // OpenDAL's S3 service puts the bucket in the host or the path, never neither.
        (Scheme::S3, _) if addressing == Addressing::Cname => return Ok(None),
        (Scheme::S3, _) => {
            let mut builder = S3::default()
                .root("/")
                .bucket(&c.bucket)
                .endpoint(&endpoint)
                .region(&c.region)
                .access_key_id(&creds.access_key_id)
                .secret_access_key(creds.secret.expose_secret())
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(token) = &creds.session_token {
                builder = builder.session_token(token.expose_secret());
            }
            if addressing == Addressing::Virtual {
                builder = builder.enable_virtual_host_style();
            }
            (Operator::new(builder)?, Transport::plain(client.clone()))
        }
    };
    let context = OperationContext::new().with_http_transport(HttpTransporter::new(transport));
    Ok(Some(operator.with_context(context)))
}

/// An object found by [`Storages::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub uri: StorageUri,
    pub size: u64,
    /// As the listing gives it (quotes included); `None` when it gives none.
    pub etag: Option<String>,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    /// `if_absent` was asked and the object was already there: nothing written.
    AlreadyThere,
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
    #[error("cannot do this on {uri}: {why}")]
    Unsupported { uri: StorageUri, why: &'static str },
    #[error("{}", unreachable(.uri, .source.as_ref()))]
    Unreachable {
        uri: StorageUri,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StorageError {
    /// The store refused the request on `uri` with `answer`.
    fn refused(uri: &StorageUri, answer: &StoreAnswer) -> StorageError {
        StorageError::Refused {
            uri: uri.clone(),
            status: answer.status,
            code: answer.code.clone(),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::NotConfigured(_) => ErrorCode::UnknownBucket,
            StorageError::PrefixNotAllowed(_) => ErrorCode::PrefixNotAllowed,
            StorageError::NotFound(_) => ErrorCode::ObjectNotFound,
            StorageError::TooLarge { .. } => ErrorCode::ObjectTooLarge,
            StorageError::Refused { .. } | StorageError::Unsupported { .. } => ErrorCode::StorageRefused,
            StorageError::Unreachable { .. } => ErrorCode::StorageUnreachable,
        }
    }

    /// Whether the reference was merely outside what this service handles (left untouched),
    /// rather than a failure.
    pub fn is_skip(&self) -> bool {
        matches!(self, StorageError::NotConfigured(_) | StorageError::PrefixNotAllowed(_))
    }

    /// An OpenDAL failure: not found, the store's refusal (with its status and code, kept by the
    /// transport), or no usable answer.
    fn from_opendal(uri: &StorageUri, e: opendal::Error) -> StorageError {
        if e.kind() == ErrorKind::NotFound {
            return StorageError::NotFound(uri.clone());
        }
        match source_of::<StoreAnswer>(&e) {
            Some(answer) => StorageError::refused(uri, answer),
            None => StorageError::Unreachable {
                uri: uri.clone(),
                source: Box::new(e),
            },
        }
    }
}

/// [`StorageError::Unreachable`] in the user's words: the host and why, when the error says.
fn unreachable(uri: &StorageUri, source: &(dyn std::error::Error + 'static)) -> String {
    match net_error::no_answer(source) {
        Some(no) => format!("cannot reach the storage at {} for {uri}: {}", no.host, no.cause),
        None => format!("the storage could not be reached for {uri}: {source}"),
    }
}

/// The first error of type `T` among `e`'s sources.
fn source_of<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut next = e.source();
    while let Some(cause) = next {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        next = cause.source();
    }
    None
}

/// Why the storages could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot set up {storage}: {source}")]
    Storage { storage: String, source: opendal::Error },
}

/// Conditional and range headers passed through to the store.
#[derive(Debug, Default, Clone)]
pub struct ReadOptions {
    pub method_head: bool,
    pub range: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

/// All configured storages.
#[derive(Debug)]
pub struct Storages {
    list: Vec<Storage>,
    /// Bucket name → index into `list`, one map per scheme (`Scheme as usize`; looked up by
    /// `&str`: no allocation).
    by_bucket: [HashMap<String, usize>; Scheme::ALL.len()],
    /// The one client of every storage read, OpenDAL's and the presigned ones.
    http: reqwest::Client,
}

impl Storages {
    pub fn new(configs: Vec<StorageConfig>) -> Result<Storages, SetupError> {
        Self::with_client(configs, Self::client(reqwest::Client::builder())?)
    }

    /// The client every storage read goes through. Redirects are not followed: a store's
    /// redirect is an answer to report (a wrong region or endpoint), and following one would send
    /// signed requests to another host.
    fn client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, reqwest::Error> {
        builder
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
    }

    fn with_client(configs: Vec<StorageConfig>, http: reqwest::Client) -> Result<Storages, SetupError> {
        let mut by_bucket: [HashMap<String, usize>; Scheme::ALL.len()] = Default::default();
        for (i, c) in configs.iter().enumerate() {
            by_bucket[c.scheme as usize].insert(c.bucket.clone(), i);
        }
        let list = configs
            .into_iter()
            .map(|c| {
                let storage = format!("{}://{}", c.scheme, c.bucket);
                Storage::new(c, &http).map_err(|source| SetupError::Storage { storage, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Storages { list, by_bucket, http })
    }

    pub fn all(&self) -> &[Storage] {
        &self.list
    }

    /// The schemes at least one storage has.
    pub fn schemes(&self) -> impl Iterator<Item = Scheme> + '_ {
        Scheme::ALL
            .iter()
            .copied()
            .filter(|s| !self.by_bucket[*s as usize].is_empty())
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

    /// Starts reading an object through the internal endpoint: a 200 or 206 with the body, a
    /// 304 or 416 without; not found and refusals are errors.
    pub async fn read(&self, uri: &StorageUri, opts: &ReadOptions) -> Result<Object, StorageError> {
        let (_, storage) = self.find(uri)?;
        match storage.operator_for(&uri.key) {
            Some(operator) => read_through(operator, uri, opts).await,
            None => self.read_presigned(storage, uri, opts).await,
        }
    }

    /// Reads a whole object of at most `cap` bytes, with its content type (from the store, or
    /// guessed from the key's extension when the store has none).
    pub async fn read_all(&self, uri: &StorageUri, cap: u64) -> Result<(String, Bytes), StorageError> {
        let mut object = self.read(uri, &ReadOptions::default()).await?;
        let too_large = |size| StorageError::TooLarge {
            uri: uri.clone(),
            size,
            cap,
        };
        if let Some(len) = object.content_length()
            && len > cap
        {
            return Err(too_large(len));
        }
        let content_type = object
            .header("content-type")
            .filter(|ct| !ct.is_empty() && *ct != "application/octet-stream")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                mime_guess::from_path(&uri.key)
                    .first_or_octet_stream()
                    .essence_str()
                    .to_owned()
            });
        let mut body = BytesMut::new();
        while let Some(chunk) = object.body.next().await {
            let chunk = chunk.map_err(|e| StorageError::Unreachable {
                uri: uri.clone(),
                source: Box::new(e),
            })?;
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(too_large((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((content_type, body.freeze()))
    }

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

    /// The bucket's `Access-Control-Allow-Origin` for a HEAD of `uri` sent with `Origin: origin`.
    /// A presigned request: OpenDAL has no way to send an `Origin` or to show CORS headers.
    pub async fn cors_answer(&self, uri: &StorageUri, origin: &str) -> Result<Option<String>, StorageError> {
        let (_, storage) = self.find(uri)?;
        let resp = self
            .send_presigned(storage, uri, reqwest::Method::HEAD, &[("origin", origin)])
            .await?;
        Ok(resp
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// [`Storages::read`] through a URL presigned with the storage's own algorithm: the store's
    /// answer passed on as it is.
    async fn read_presigned(
        &self,
        storage: &Storage,
        uri: &StorageUri,
        opts: &ReadOptions,
    ) -> Result<Object, StorageError> {
        let method = if opts.method_head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        let mut headers = Vec::new();
        for (name, value) in [
            ("range", &opts.range),
            ("if-none-match", &opts.if_none_match),
            ("if-modified-since", &opts.if_modified_since),
        ] {
            if let Some(v) = value {
                headers.push((name, v.as_str()));
            }
        }
        let resp = self.send_presigned(storage, uri, method, &headers).await?;
        Ok(Object {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: Box::pin(
                resp.bytes_stream()
                    .map_err(|e| std::io::Error::other(net_error::redact(e))),
            ),
        })
    }

    /// Sends `method uri` on a short-lived presigned URL through the internal endpoint. 200, 206,
    /// 304 and 416 answers are returned; 404 and refusals become errors.
    async fn send_presigned(
        &self,
        storage: &Storage,
        uri: &StorageUri,
        method: reqwest::Method,
        headers: &[(&str, &str)],
    ) -> Result<reqwest::Response, StorageError> {
        let req = storage.request(method.as_str(), &uri.key, crate::time::now(), READ_URL_TTL);
        let url = storage.signer.presign_url(&storage.config.endpoint, &req);
        let mut req = self.http.request(method, url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.map_err(|e| StorageError::Unreachable {
            uri: uri.clone(),
            source: Box::new(net_error::redact(e)),
        })?;
        match resp.status().as_u16() {
            200 | 206 | 304 | 416 => Ok(resp),
            404 => Err(StorageError::NotFound(uri.clone())),
            _ => Err(StorageError::refused(uri, &StoreAnswer::read(resp).await)),
        }
    }
}

/// Listing, writing and deleting: what `import` and its lease need beside reads.
impl Storages {
    /// Every object under the folder `prefix` (its key empty or ending in `/`): the whole tree
    /// when `recursive`, else one level. Folder markers (keys ending in `/`) are left out. Keys
    /// come as the store lists them, byte for byte.
    pub async fn list(
        &self,
        prefix: &StorageUri,
        recursive: bool,
    ) -> Result<impl Stream<Item = Result<Listed, StorageError>> + use<>, StorageError> {
        let storage = self.operated(prefix)?;
        let c = &storage.config;
        if c.signature_version == SignatureVersion::V1 && c.endpoint.addressing == Addressing::Path {
            // OpenDAL's V1 signer names a path-style bucket `/b`, OSS wants `/b/`; OSS itself
            // serves only virtual-hosted requests.
            return Err(StorageError::Unsupported {
                uri: prefix.clone(),
                why: "OSS V1 lists only on a virtual-hosted endpoint (OSS_ADDRESSING_STYLE=virtual)",
            });
        }
        let operator = storage.operator.clone().ok_or_else(|| unsupported(storage, prefix))?;
        // OpenDAL lists the bucket's root as "/", a folder by its key.
        let path = if prefix.key.is_empty() {
            "/"
        } else {
            prefix.key.as_str()
        };
        let lister = operator
            .lister_with(path)
            .recursive(recursive)
            .await
            .map_err(|e| StorageError::from_opendal(prefix, e))?;
        let base = prefix.clone();
        Ok(lister.filter_map(move |entry| {
            std::future::ready(match entry {
                Err(e) => Some(Err(StorageError::from_opendal(&base, e))),
                Ok(entry) if entry.path().ends_with('/') || entry.metadata().is_dir() => None,
                Ok(entry) => Some(Ok(Listed {
                    size: entry.metadata().content_length(),
                    etag: entry.metadata().etag().map(str::to_owned),
                    uri: StorageUri::new(base.scheme, base.bucket.clone(), entry.path()),
                })),
            })
        }))
    }

    /// Writes `body` to `uri` as `content_type`; with `if_absent`, only when no object is there
    /// (OSS `x-oss-forbid-overwrite`, S3 `If-None-Match: *`), which the store decides atomically.
    pub async fn write(
        &self,
        uri: &StorageUri,
        body: Bytes,
        content_type: &str,
        if_absent: bool,
    ) -> Result<Written, StorageError> {
        let operator = self.exact_operator(uri)?;
        let result = operator
            .write_with(&uri.key, body)
            .content_type(content_type)
            .if_not_exists(if_absent)
            .await;
        match result {
            Ok(_) => Ok(Written::Created),
            Err(e) if if_absent && e.kind() == ErrorKind::ConditionNotMatch => Ok(Written::AlreadyThere),
            Err(e) => Err(StorageError::from_opendal(uri, e)),
        }
    }

    /// Deletes `uri`; deleting what is not there is no error (as in the stores).
    pub async fn delete(&self, uri: &StorageUri) -> Result<(), StorageError> {
        let operator = self.exact_operator(uri)?;
        operator
            .delete(&uri.key)
            .await
            .map_err(|e| StorageError::from_opendal(uri, e))
    }

    /// The object's ETag, without its quotes; `None` when there is no object.
    pub async fn etag(&self, uri: &StorageUri) -> Result<Option<String>, StorageError> {
        let operator = self.exact_operator(uri)?;
        match operator.stat(&uri.key).await {
            Ok(meta) => Ok(meta.etag().map(|e| e.trim_matches('"').to_owned())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::from_opendal(uri, e)),
        }
    }

    /// Reads a whole small object (what it holds past `cap` bytes is left out); `None` when
    /// there is none.
    pub async fn read_small(&self, uri: &StorageUri, cap: u64) -> Result<Option<Bytes>, StorageError> {
        let operator = self.exact_operator(uri)?;
        match operator.read(&uri.key).await {
            Ok(buffer) => Ok(Some(buffer.to_bytes().slice(..(buffer.len() as u64).min(cap) as usize))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::from_opendal(uri, e)),
        }
    }

    /// The storage of `uri`'s bucket. The allowed key prefixes are not asked: they limit what
    /// links and rewrites open for browsers, not where imports list and keep their lease.
    fn operated(&self, uri: &StorageUri) -> Result<&Storage, StorageError> {
        self.by_bucket[uri.scheme as usize]
            .get(uri.bucket.as_str())
            .map(|&i| &self.list[i])
            .ok_or_else(|| StorageError::NotConfigured(uri.clone()))
    }

    /// The operator that writes `uri`'s key as written (see [`Storage::operator_for`]).
    fn exact_operator(&self, uri: &StorageUri) -> Result<&opendal::Operator, StorageError> {
        let storage = self.operated(uri)?;
        storage.operator_for(&uri.key).ok_or_else(|| unsupported(storage, uri))
    }
}

/// A storage or key OpenDAL cannot address as configured: a custom domain with OSS V1 or S3,
/// or a key it would normalize into another.
fn unsupported(storage: &Storage, uri: &StorageUri) -> StorageError {
    let why = if storage.operator.is_none() {
        "a custom-domain endpoint with OSS V1 or S3 is read through presigned URLs only; list and write through the bucket's own endpoint"
    } else {
        "OpenDAL would write another key (white space at either end, a leading or doubled '/', or a trailing '/')"
    };
    StorageError::Unsupported { uri: uri.clone(), why }
}

/// [`Storages::read`] through OpenDAL. OpenDAL gives the object's metadata rather than the
/// store's response, so the status and headers are made from it, as the store makes them: the
/// range goes to the store and the `Content-Range` follows from the object's length; a 304 or
/// 416 takes a HEAD more for the validators or the length; a HEAD (a stat) answers its
/// conditions here.
async fn read_through(operator: &Operator, uri: &StorageUri, opts: &ReadOptions) -> Result<Object, StorageError> {
    let key = uri.key.as_str();
    let range = opts.range.as_deref().and_then(ByteRange::parse);
    if opts.method_head {
        let info = stat(operator, uri).await?;
        return Ok(
            if info.not_modified(opts.if_none_match.as_deref(), opts.if_modified_since.as_deref()) {
                empty(304, info.validators())
            } else {
                match range.map(|r| r.within(info.len)) {
                    None => empty(200, info.headers(None)),
                    Some(Some(served)) => empty(206, info.headers(Some(served))),
                    Some(None) => empty(416, info.unsatisfiable()),
                }
            },
        );
    }
    // `bytes=-0` names no byte: OpenDAL would not even ask.
    if range == Some(ByteRange::Last(0)) {
        return Ok(empty(416, stat(operator, uri).await?.unsatisfiable()));
    }
    let mut reader = operator.reader_with(key);
    if let Some(tags) = &opts.if_none_match {
        reader = reader.if_none_match(tags);
    }
    if let Some(since) = opts.if_modified_since.as_deref().and_then(http_date) {
        reader = reader.if_modified_since(since);
    }
    let opened = async {
        let reader = reader.await?;
        let mut stream = match range {
            None => reader.into_bytes_stream(..).await?,
            Some(ByteRange::From { start, end: None }) => reader.into_bytes_stream(start..).await?,
            Some(ByteRange::From { start, end: Some(end) }) => {
                reader.into_bytes_stream(start..end.saturating_add(1)).await?
            }
            Some(ByteRange::Last(n)) => reader.into_bytes_stream(opendal::BytesRange::suffix(n)).await?,
        };
        let metadata = stream.metadata().await?;
        Ok::<_, opendal::Error>((stream, metadata))
    }
    .await;
    match opened {
        Ok((stream, metadata)) => {
            let info = info(&metadata);
            let served = range.and_then(|r| r.within(info.len));
            Ok(Object {
                status: if served.is_some() { 206 } else { 200 },
                headers: info.headers(served),
                body: first_bytes(stream, served.map_or(info.len, |(first, last)| last - first + 1)),
            })
        }
        Err(e) if e.kind() == ErrorKind::ConditionNotMatch => Ok(empty(304, stat(operator, uri).await?.validators())),
        Err(e) if e.kind() == ErrorKind::RangeNotSatisfied => {
            Ok(empty(416, stat(operator, uri).await?.unsatisfiable()))
        }
        Err(e) => Err(StorageError::from_opendal(uri, e)),
    }
}

/// What a HEAD of `uri` says of the object.
async fn stat(operator: &Operator, uri: &StorageUri) -> Result<Info, StorageError> {
    let metadata = operator
        .stat(&uri.key)
        .await
        .map_err(|e| StorageError::from_opendal(uri, e))?;
    Ok(info(&metadata))
}

/// The first `n` bytes of `stream`. A range that runs past the object's end is served up to the
/// end (`bytes=0-5000` of 1000 bytes is 1000 bytes), but OpenDAL counts the bytes it asked for and
/// fails the read at the end of a shorter answer: once `n` bytes are through, the end of the
/// answer is read (so the connection can serve again) and OpenDAL's verdict on it dropped.
fn first_bytes(stream: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, n: u64) -> Body {
    Box::pin(futures_util::stream::unfold(
        (Box::pin(stream), n),
        |(mut stream, left)| async move {
            if left == 0 {
                let _end = stream.next().await;
                return None;
            }
            match stream.next().await? {
                Ok(mut chunk) => {
                    chunk.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - chunk.len() as u64;
                    Some((Ok(chunk), (stream, left)))
                }
                Err(e) => Some((Err(e), (stream, 0))),
            }
        },
    ))
}

/// An answer without a body.
fn empty(status: u16, headers: http::HeaderMap) -> Object {
    Object {
        status,
        headers,
        body: Box::pin(futures_util::stream::empty()),
    }
}

/// What OpenDAL's metadata says of an object, for the headers.
fn info(m: &opendal::Metadata) -> Info {
    Info {
        len: m.content_length(),
        content_type: m.content_type().map(str::to_owned),
        etag: m.etag().map(str::to_owned),
        last_modified: m.last_modified().map(|t| t.format_http_date()),
        cache_control: m.cache_control().map(str::to_owned),
        content_disposition: m.content_disposition().map(str::to_owned),
    }
}

/// An HTTP date as OpenDAL's timestamp; `None` when it is not one (the store would ignore it).
fn http_date(s: &str) -> Option<opendal::raw::Timestamp> {
    opendal::raw::Timestamp::parse_rfc2822(s).ok()
}

/// A key inside the allowed prefixes (the probe must not be refused by our own allow-list).
fn probe_key(c: &StorageConfig) -> String {
    format!(
        "{}.ls-presign-ready",
        c.allowed_prefixes.first().map_or("", String::as_str)
    )
}

#[cfg(test)]
mod tests;
