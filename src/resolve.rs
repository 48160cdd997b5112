//! The resolver: turns storage URIs into what clients get back — presigned URLs (through the
//! cache), stable links, or `data:` URLs — and applies that to whole JSON documents.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use base64::Engine;
use futures_util::StreamExt;
use serde::Serialize;

use crate::cache::{CachedUrl, UrlCache};
use crate::config::{Config, Mode};
use crate::link::LinkSigner;
use crate::metrics::Metrics;
use crate::rewrite::{Document, JsonError};
use crate::storage::{StorageError, Storages};
use crate::uri::StorageUri;

/// What a reference becomes in a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A direct presigned URL.
    Presign,
    /// A stable link to this service.
    Link,
    /// A `data:` URL with the bytes.
    Inline,
}

impl std::str::FromStr for Output {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "presign" => Ok(Output::Presign),
            "link" => Ok(Output::Link),
            "inline" => Ok(Output::Inline),
            other => Err(format!("{other:?} is not one of presign, link, inline")),
        }
    }
}

impl Output {
    /// The default output for a storage's mode.
    fn for_mode(mode: Mode) -> Output {
        match mode {
            Mode::Presign => Output::Presign,
            Mode::Inline => Output::Inline,
            Mode::Proxy => Output::Link,
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
}

impl ResolveError {
    pub fn code(&self) -> &'static str {
        match self {
            ResolveError::Storage(e) => e.code(),
            ResolveError::NoLinkSecret => "links_disabled",
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
    pub code: String,
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

/// Everything needed to resolve references.
#[derive(Debug)]
pub struct Resolver {
    pub storages: Storages,
    pub cache: UrlCache,
    pub metrics: Metrics,
    links: Option<LinkSigner>,
    public_url: String,
    inline_max_bytes: u64,
    max_references: usize,
}

impl Resolver {
    pub fn new(config: &Config) -> Result<Resolver, reqwest::Error> {
        Ok(Resolver {
            storages: Storages::new(config.storages.list.clone())?,
            cache: UrlCache::new(config.storages.cache_max_entries),
            metrics: Metrics::default(),
            links: config.keys.link_keys().ok().map(LinkSigner::new),
            public_url: config.server.public_url.clone(),
            inline_max_bytes: config.storages.inline_max_bytes,
            max_references: config.server.max_references,
        })
    }

    /// The presigned URL for `uri` in the current time window (from the cache when possible).
    pub fn presigned(&self, uri: &StorageUri, method: &str, now: i64) -> Result<CachedUrl, ResolveError> {
        Ok(self.presigned_in(self.storages.find(uri)?, uri, method, now))
    }

    /// [`Resolver::presigned`] in the storage `uri` was already found in (`Storages::find`).
    pub fn presigned_in(
        &self,
        (index, storage): (usize, &crate::storage::Storage),
        uri: &StorageUri,
        method: &str,
        now: i64,
    ) -> CachedUrl {
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

    /// The link signer, when a secret is configured.
    pub fn links(&self) -> Option<&LinkSigner> {
        self.links.as_ref()
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
    pub async fn resolve(&self, uri: &StorageUri, output: Option<Output>, now: i64) -> Result<String, ResolveError> {
        let found = self.storages.find(uri)?;
        match output.unwrap_or(Output::for_mode(found.1.config.mode)) {
            Output::Presign => Ok(self.presigned_in(found, uri, "GET", now).url),
            Output::Link => self.mint_link(uri),
            Output::Inline => self.data_url(uri).await,
        }
    }

    /// Rewrites every reference in a JSON document.
    pub async fn rewrite(&self, src: &[u8], output: Option<Output>, now: i64) -> Result<Rewritten, RewriteError> {
        self.rewrite_scanned(&Document::scan(src)?, output, now).await
    }

    /// [`Resolver::rewrite`] of a document already scanned.
    pub async fn rewrite_scanned(
        &self,
        doc: &Document<'_>,
        output: Option<Output>,
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
                    code: e.code().to_owned(),
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
