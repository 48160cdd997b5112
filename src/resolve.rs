//! The resolver: turns storage URIs into what clients get back — presigned URLs (through the
//! cache), stable links, or `data:` URLs — and applies that to whole JSON documents.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use futures_util::StreamExt;
use serde::Serialize;

use crate::cache::{CacheStats, CachedUrl, UrlCache};
use crate::config::{Config, StorageMode};
use crate::error_code::ErrorCode;
use crate::link::{LinkError, LinkSigner};
use crate::metrics::Metrics;
use crate::rewrite::{Document, JsonError};
use crate::storage::{SetupError, Storage, StorageError, Storages};
use crate::uri::StorageUri;

/// What a reference becomes in a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RewriteAs {
    /// A direct presigned URL.
    Presign,
    /// A stable link to this service.
    Link,
    /// A `data:` URL with the bytes.
    Inline,
}

impl RewriteAs {
    /// The default output for a storage's mode.
    fn for_mode(mode: StorageMode) -> RewriteAs {
        match mode {
            StorageMode::Presign => RewriteAs::Presign,
            StorageMode::Inline => RewriteAs::Inline,
            StorageMode::Proxy => RewriteAs::Link,
        }
    }
}

/// Why one reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("stable links need LS_PRESIGN_SECRET")]
    NoLinkSecret,
    #[error(transparent)]
    InvalidLink(#[from] LinkError),
}

impl ResolveError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ResolveError::Storage(e) => e.code(),
            ResolveError::NoLinkSecret => ErrorCode::LinksDisabled,
            ResolveError::InvalidLink(_) => ErrorCode::InvalidLink,
        }
    }

    fn is_skip(&self) -> bool {
        matches!(self, ResolveError::Storage(e) if e.is_skip())
    }
}

/// Why a whole document could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error(
        "the document holds {found} references, more than the {max} allowed per request (LS_PRESIGN_MAX_REFERENCES)"
    )]
    TooManyReferences { found: usize, max: usize },
}

/// One reference that failed in a rewrite.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    pub uri: String,
    pub code: ErrorCode,
    pub message: String,
}

/// A rewritten document and what happened to its references.
#[derive(Debug)]
pub struct Rewritten {
    pub body: Vec<u8>,
    pub rewritten: usize,
    /// References outside the configured buckets and prefixes, left as they were.
    pub skipped: usize,
    /// References that could not be resolved (left as they were), one entry per distinct URI.
    pub failures: Vec<Failure>,
    pub failed: usize,
}

/// Concurrent storage reads while building `data:` URLs for one document.
const INLINE_CONCURRENCY: usize = 8;

/// Everything needed to resolve references: the storages to sign for, the signed-URL cache, and
/// the link signer.
#[derive(Debug)]
pub struct Resolver {
    storages: Arc<Storages>,
    cache: UrlCache,
    metrics: Arc<Metrics>,
    links: Option<LinkSigner>,
    public_url: String,
    inline_max_bytes: u64,
    max_references: usize,
}

/// What a stable link opens.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// A redirect to this presigned URL, which the browser may reuse for `max_age` seconds.
    Redirect { url: String, max_age: i64 },
    /// The object's bytes, streamed through the service (inline and proxy modes).
    Stream(StorageUri),
}

impl Resolver {
    /// A resolver with storages and metrics of its own (the command-line tools).
    pub fn new(config: &Config) -> Result<Resolver, SetupError> {
        let storages = Storages::new(config.storages.list.clone())?;
        Ok(Self::sharing(config, Arc::new(storages), Arc::default()))
    }

    /// A resolver over storages and metrics shared with the rest of the service.
    pub fn sharing(config: &Config, storages: Arc<Storages>, metrics: Arc<Metrics>) -> Resolver {
        Resolver {
            storages,
            cache: UrlCache::new(config.storages.cache_max_entries),
            metrics,
            links: config.keys.link_keys().ok().map(LinkSigner::new),
            public_url: config.server.public_url.clone(),
            inline_max_bytes: config.storages.inline_max_bytes,
            max_references: config.server.max_references,
        }
    }

    /// Whether `uri` is in a configured bucket and an allowed prefix, so a rewrite resolves it.
    pub fn handles(&self, uri: &StorageUri) -> bool {
        self.storages.find(uri).is_ok()
    }

    /// The presigned URL for `uri` in the current time window (from the cache when possible).
    pub fn presigned(&self, uri: &StorageUri, method: &str, now: i64) -> Result<CachedUrl, ResolveError> {
        Ok(self.presigned_in(self.storages.find(uri)?, uri, method, now))
    }

    /// What the stable-link `token` opens at `now`: in presign mode a redirect to the cached
    /// presigned URL, otherwise the object to stream.
    pub fn open(&self, token: &str, now: i64) -> Result<Opened, ResolveError> {
        let links = self.links.as_ref().ok_or(ResolveError::NoLinkSecret)?;
        let uri = links.verify(token)?;
        let found = self.storages.find(&uri)?;
        let config = &found.1.config;
        if config.mode != StorageMode::Presign {
            return Ok(Opened::Stream(uri));
        }
        // Reusable until shortly before the URL expires.
        let margin = (config.ttl / 10).min(300) as i64;
        let signed = self.presigned_in(found, &uri, "GET", now);
        Ok(Opened::Redirect {
            max_age: (signed.expires_at - now - margin).max(0),
            url: signed.url,
        })
    }

    /// Drops cached URLs whose window has ended; returns how many.
    pub fn sweep(&self, now: i64) -> usize {
        self.cache.sweep(now)
    }

    /// The signed-URL cache's size and hit counts.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// [`Resolver::presigned`] in the storage `uri` was already found in (`Storages::find`).
    fn presigned_in(&self, (index, storage): (usize, &Storage), uri: &StorageUri, method: &str, now: i64) -> CachedUrl {
        let c = &storage.config;
        let signed_at = now - now.rem_euclid(c.window as i64);
        self.cache.get_or_sign(UrlCache::key(index, method, &uri.key), now, || {
            let started = Instant::now();
            let url = storage.presign_url(method, &uri.key, signed_at, c.ttl);
            self.metrics.signed(started.elapsed());
            (url, signed_at + c.ttl as i64, signed_at + c.window as i64)
        })
    }

    /// The stable link for `uri`.
    pub fn link(&self, uri: &StorageUri) -> Result<String, ResolveError> {
        self.storages.find(uri)?;
        self.mint_link(uri)
    }

    /// The stable link for a `uri` whose storage is known to be configured.
    fn mint_link(&self, uri: &StorageUri) -> Result<String, ResolveError> {
        let links = self.links.as_ref().ok_or(ResolveError::NoLinkSecret)?;
        Ok(format!("{}/r/{}", self.public_url, links.mint(uri)))
    }

    /// The storage URI behind `s`, when `s` is one of this service's valid stable links.
    pub fn link_target(&self, s: &str) -> Option<StorageUri> {
        let token = s.strip_prefix(self.public_url.as_str())?.strip_prefix("/r/")?;
        self.links.as_ref()?.verify(token).ok()
    }

    /// Replaces this service's stable links anywhere in `value` — whole strings, or quoted in
    /// text and HTML — with the URIs they name, so a rewrite that follows produces direct
    /// presigned URLs, and an export holds the original URIs.
    pub fn unlink(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        // Without a link secret no string is one of our links.
        if self.links.is_none() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(uri) = self.link_target(s) {
                    *s = uri.to_string();
                } else if let Some(text) = self.unlink_in(s) {
                    *s = text;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.unlink(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.unlink(x)),
            _ => {}
        }
    }

    /// `s` with each of this service's links inside it replaced by its URI; `None` when it holds
    /// none. A link ends where a token's characters (base64url and `.`) end.
    fn unlink_in(&self, s: &str) -> Option<String> {
        let prefix = format!("{}/r/", self.public_url);
        if !s.contains(&prefix) {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find(&prefix) {
            out.push_str(&rest[..at]);
            let after = &rest[at + prefix.len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(after.len());
            let link = &rest[at..at + prefix.len() + end];
            match self.link_target(link) {
                Some(uri) => out.push_str(&uri.to_string()),
                None => out.push_str(link),
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// A `data:` URL holding the object's bytes.
    pub async fn data_url(&self, uri: &StorageUri) -> Result<String, ResolveError> {
        let (content_type, bytes) = self.storages.read_all(uri, self.inline_max_bytes).await?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = String::with_capacity(content_type.len() + 13 + bytes.len().div_ceil(3) * 4);
        out.push_str("data:");
        out.push_str(&content_type);
        out.push_str(";base64,");
        b64.encode_string(&bytes, &mut out);
        Ok(out)
    }

    /// Resolves one URI as `output`, or as its storage's mode when `None`.
    pub async fn resolve(&self, uri: &StorageUri, output: Option<RewriteAs>, now: i64) -> Result<String, ResolveError> {
        let found = self.storages.find(uri)?;
        match output.unwrap_or(RewriteAs::for_mode(found.1.config.mode)) {
            RewriteAs::Presign => Ok(self.presigned_in(found, uri, "GET", now).url),
            RewriteAs::Link => self.mint_link(uri),
            RewriteAs::Inline => self.data_url(uri).await,
        }
    }

    /// Rewrites every reference in what Label Studio reads as task data of a JSON document
    /// (see [`Document::scan_task_data`]: a task's `data`, each task's in a list; never `meta`,
    /// annotations or predictions).
    pub async fn rewrite(&self, src: &[u8], output: Option<RewriteAs>, now: i64) -> Result<Rewritten, RewriteError> {
        self.rewrite_scanned(&Document::scan_task_data(src)?, output, now).await
    }

    /// [`Resolver::rewrite`] of a document already scanned.
    pub async fn rewrite_scanned(
        &self,
        doc: &Document<'_>,
        output: Option<RewriteAs>,
        now: i64,
    ) -> Result<Rewritten, RewriteError> {
        let found = doc.reference_count();
        if found > self.max_references {
            return Err(RewriteError::TooManyReferences {
                found,
                max: self.max_references,
            });
        }
        let mut unique: Vec<&StorageUri> = doc.references().collect();
        unique.sort();
        unique.dedup();
        // A plain loop rather than a stream combinator over a closure: the closure's lifetimes
        // would make this future unusable from a spawned task.
        let mut resolved = Vec::with_capacity(unique.len());
        let mut pending = futures_util::stream::FuturesOrdered::new();
        for &uri in &unique {
            if pending.len() >= INLINE_CONCURRENCY
                && let Some(r) = pending.next().await
            {
                resolved.push(r);
            }
            pending.push_back(self.resolve(uri, output, now));
        }
        while let Some(r) = pending.next().await {
            resolved.push(r);
        }
        let outcomes: HashMap<&StorageUri, Result<String, ResolveError>> = unique.into_iter().zip(resolved).collect();

        let mut failed = 0;
        let (body, counts) = doc.render(|uri| match outcomes.get(uri) {
            Some(Ok(new)) => Some(Cow::Borrowed(new.as_str())),
            Some(Err(e)) if !e.is_skip() => {
                failed += 1;
                None
            }
            _ => None,
        });
        let mut failures: Vec<Failure> = outcomes
            .iter()
            .filter_map(|(uri, r)| match r {
                Err(e) if !e.is_skip() => Some(Failure {
                    uri: uri.to_string(),
                    code: e.code(),
                    message: e.to_string(),
                }),
                _ => None,
            })
            .collect();
        failures.sort_by(|a, b| a.uri.cmp(&b.uri));
        let skipped = counts.skipped - failed;
        self.metrics.count("references_total", "rewritten", counts.rewritten);
        self.metrics.count("references_total", "skipped", skipped);
        self.metrics.count("references_total", "failed", failed);
        Ok(Rewritten {
            body,
            rewritten: counts.rewritten,
            skipped,
            failures,
            failed,
        })
    }
}
