//! An in-process emulator of Aliyun OSS, for tests and for the `demo` command: what presigned
//! links, imports and exports need, each request's signature checked (OSS V4 header and query
//! auth, OSS V1, AWS SigV4) by a verifier written apart from the service's signer.
//!
//! - Objects: `GET`/`HEAD` (ranges, conditional requests, `response-*` overrides), `PUT`,
//!   `DELETE` (204, also for a missing key). Keys are exact: blanks, `//`, `+`, `%`, `#`, `?`,
//!   control characters and any Unicode round-trip through put, list and delete.
//! - ListObjectsV2, `GET /?list-type=2`: `prefix`, `delimiter` (`CommonPrefixes`), `max-keys`
//!   (default 100, 1 to 1000), `continuation-token`/`NextContinuationToken`, `start-after`,
//!   `fetch-owner`, `encoding-type=url` (then `Key`, `Prefix`, `Delimiter`, `StartAfter` and the
//!   tokens are percent-encoded), keys in UTF-8 byte order; `<ListBucketResult>` as OSS writes it.
//! - DeleteMultipleObjects, `POST /?delete`: `<Delete>` body with `Quiet`, up to 1000 keys,
//!   `Content-MD5` required and checked, `encoding-type=url` for the keys answered in
//!   `<DeleteResult>` (request keys are literal, as the OSS SDKs send them).
//! - Bucket CORS (preflights and response headers).
//!
//! Bucket-level requests are path style (`/bucket/?...`, or `/bucket?...` as OpenDAL sends them)
//! or virtual-hosted (`bucket.host/?...`). Whatever the path, OSS V4 and V1 sign the resource
//! `/bucket/` (the bucket and the empty key, as OSS canonicalizes it), so both paths verify against
//! the SDKs' signatures; AWS SigV4 signs the path as sent. V4 signs every query parameter, SigV4
//! too, V1 only its sub-resources (`delete` and `continuation-token` among them, not `list-type`,
//! `prefix` or `max-keys`).
//!
//! `examples/serve.rs` runs one from the command line (the conformance suite drives it with the
//! official SDKs).

mod error;
mod list;
mod server;
mod sign;
mod store;
mod xml;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use bytes::Bytes;

pub use error::OssError;
pub use sign::{RequestParts, Target, decode_key, parse_query, resolve_target, verify};
#[cfg(any(test, feature = "test-presigners"))]
pub use sign::{
    TestRequest, presign_oss1_for_tests, presign_oss1_request_for_tests, presign_oss4_for_tests,
    presign_oss4_request_for_tests,
};

#[derive(Debug, Clone, Default)]
pub struct EmulatorConfig {
    pub buckets: Vec<BucketConfig>,
    pub credentials: Vec<Credential>,
    /// Added before answering every request (zero = none).
    pub latency: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub name: String,
    /// e.g. `cn-hangzhou`; V4 scopes must name it.
    pub region: String,
    /// Accept OSS V1 signatures (otherwise only V4 and AWS SigV4).
    pub allow_v1: bool,
    pub cors: CorsRule,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// STS token; when set, requests must carry exactly this token.
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"***")
            .field("security_token", &self.security_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A bucket's CORS rule, reduced to what decides the answer to an Origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsRule {
    /// No CORS configured: preflights fail, no CORS headers.
    #[default]
    None,
    /// `AllowedOrigin *`: answers `*`, including for `Origin: null`.
    AllowAll,
    /// Echoes any Origin back, including `null`.
    Echo,
    /// Listed origins only (a single `*` inside an entry matches any run of characters,
    /// as in OSS); never `null`.
    Only(Vec<String>),
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (any method, any outcome), counted on arrival, before the configured
    /// latency: a test can see that a slow request reached the store while it is still waiting.
    pub received: u64,
    /// GETs answered 200 or 206.
    pub objects_served: u64,
    /// Body bytes of those GETs.
    pub bytes_served: u64,
    /// Responses with status 403 (any method).
    pub forbidden: u64,
    /// Responses with status 304.
    pub not_modified: u64,
}

/// A running emulator; stop it with [`Emulator::stop`] (dropping it stops it too, without waiting).
pub struct Emulator {
    port: u16,
    store: Arc<store::Store>,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Emulator {
    /// Serves on `listener` from a task spawned on the current tokio runtime; returns at once.
    pub fn start(config: EmulatorConfig, listener: TcpListener) -> std::io::Result<Emulator> {
        Self::serve(config, listener, None)
    }

    /// Also serves HTTPS on `tls.0`, offering HTTP/2 and HTTP/1.1 (ALPN), as an object store
    /// behind an HTTP/2 front (R2, MinIO over TLS, a CDN) serves browsers.
    pub fn start_with_tls(
        config: EmulatorConfig,
        listener: TcpListener,
        tls: (TcpListener, rustls::ServerConfig),
    ) -> std::io::Result<Emulator> {
        Self::serve(config, listener, Some(tls))
    }

    fn serve(
        config: EmulatorConfig,
        listener: TcpListener,
        tls: Option<(TcpListener, rustls::ServerConfig)>,
    ) -> std::io::Result<Emulator> {
        // Checked first: without a runtime the server would start with nobody awaiting it.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| std::io::Error::other(format!("Emulator::start needs a tokio runtime: {e}")))?;
        let port = listener.local_addr()?.port();
        let store = Arc::new(store::Store::default());
        let state = actix_web::web::Data::new(server::State {
            buckets: config.buckets,
            credentials: config.credentials,
            latency: config.latency,
            store: store.clone(),
        });
        // actix-server's `listen` makes each listener non-blocking.
        let mut server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .default_service(actix_web::web::to(server::handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?;
        if let Some((listener, config)) = tls {
            server = server.listen_rustls_0_23(listener, config)?;
        }
        let server = server.run();
        let handle = server.handle();
        let task = runtime.spawn(server);
        Ok(Emulator {
            port,
            store,
            handle,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stores (or replaces) an object without going through HTTP.
    pub fn put_object(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) {
        self.store.put(bucket, key, body, content_type);
    }

    /// Removes an object without going through HTTP.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        self.store.delete(bucket, key);
    }

    /// An object's bytes and content type, without going through HTTP.
    pub fn object(&self, bucket: &str, key: &str) -> Option<(Bytes, String)> {
        self.store.read(bucket, |objects| {
            objects.get(key).map(|o| (o.body.clone(), o.content_type.clone()))
        })
    }

    /// The bucket's keys, in the order a listing gives them.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.store.read(bucket, |objects| objects.keys().cloned().collect())
    }

    /// Answers the next `n` requests (of any bucket, any method) `503 ServiceUnavailable`, as
    /// a store that is briefly overloaded or restarting: for tests of clients that retry.
    pub fn refuse_next(&self, n: u64) {
        self.store.refusals.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn stats(&self) -> Stats {
        self.store.stats()
    }

    /// GETs of this object answered 200 or 206.
    pub fn gets_of(&self, bucket: &str, key: &str) -> u64 {
        self.store.gets_of(bucket, key)
    }

    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Err(e) = (&mut self.task).await {
            log::warn!("OSS emulator task ended abnormally: {e}");
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

#[cfg(test)]
mod tests;
