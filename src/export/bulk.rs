//! Every annotation of a project written to the bucket, for what the live export missed
//! (ls-presign down, the store refusing past the retries, annotations made before the target was
//! set): the `export` command, and serve's reconcile loop (only tasks updated since its last
//! clean run). Pages through the ids of the project's tasks with annotations, reads those tasks
//! from Label Studio's export (annotations embedded, skipped ones included:
//! tests/fixtures/ls-1.23.2/api_export_by_ids.json), writes the same bytes
//! as the live export, and skips an object whose content is already the same — compared by
//! ETag (the MD5 of a simple upload), so nothing is downloaded: a whole-project export reads
//! the ETags from one listing of the folder (a request per 1,000 objects), a run over a few
//! updated tasks asks for each object's (`HEAD`). With `delete_missing`, a whole-project export
//! also removes the objects of annotations Label Studio no longer has. Ctrl-C stops after the
//! objects in flight; running it again finishes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use serde_json::Value;

use super::live::{document, object_uri, task_document};
use crate::labelstudio::{LabelStudio, LsError};
use crate::resolve::Resolver;
use crate::storage::{StorageError, Storages};
use crate::uri::StorageUri;

/// Objects compared and written at once.
const CONCURRENCY: usize = 8;
/// Task ids per request to Label Studio's export (they travel in the URL).
const IDS_PER_REQUEST: usize = 100;
/// The annotation counts a task is found by: `total_annotations` leaves skipped ones out, and
/// one query's filters share one conjunction, so each is asked for in a pass of its own
/// (tests/fixtures/ls-1.23.2/api_export_by_ids.json).
const COUNTED: [&str; 2] = ["total_annotations", "cancelled_annotations"];

/// What to export.
#[derive(Debug, Clone)]
pub struct Options {
    pub project: u64,
    /// A folder (its key empty or ending in `/`).
    pub folder: StorageUri,
    /// One object per task holding all its annotations, `<task id>.json`.
    pub per_task: bool,
    pub dry_run: bool,
    pub page_size: u64,
    /// Only tasks updated after this (Unix seconds): what serve's reconcile loop catches up.
    pub since: Option<i64>,
    /// Remove the folder's objects (`<id>.json`) that no annotation (task, with `per_task`)
    /// of the project makes any more; only in a whole-project export that ran to the end.
    pub delete_missing: bool,
}

/// What an export did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Tasks with annotations.
    pub tasks: u64,
    /// Objects the project's annotations make.
    pub objects: u64,
    /// Written (or, in a dry run, that would be).
    pub written: u64,
    /// Already in the bucket with the same content.
    pub unchanged: u64,
    pub failed: u64,
    /// Removed (or, in a dry run, that would be) with `delete_missing`.
    pub deleted: u64,
    pub ls_requests: u64,
    /// Time spent waiting for Label Studio's pages, and comparing and writing objects.
    pub in_label_studio: Duration,
    pub in_store: Duration,
    pub interrupted: bool,
}

/// Exports the project: its tasks with annotations (updated after `opts.since`), in id order;
/// `progress` is told their count at the start of each pass, then each page.
pub async fn export_project(
    resolver: &Resolver,
    storages: &Storages,
    ls: &LabelStudio,
    opts: &Options,
    stop: &AtomicBool,
    progress: &(dyn Fn(Option<u64>, &Summary) + Sync),
) -> Result<Summary, LsError> {
    let mut s = Summary::default();
    // A whole-project export reads what the folder holds in one listing.
    let listed = Instant::now();
    let held = match opts.since {
        Some(_) => None,
        None => held(storages, &opts.folder).await,
    };
    s.in_store += listed.elapsed();
    let held = held.as_ref();
    let mut made: HashSet<String> = HashSet::new();
    // A task with both kinds of annotation comes in both passes; it is exported once.
    let mut done: HashSet<u64> = HashSet::new();
    'passes: for counted in COUNTED {
        let mut after = 0;
        for page in 1.. {
            let asked = Instant::now();
            let ids = ls
                .annotated_task_ids(opts.project, counted, after, opts.since, opts.page_size)
                .await?;
            s.ls_requests += 1;
            if page == 1 {
                progress(Some(ids.total), &s);
            }
            let ids: Vec<u64> = ids.tasks.iter().filter_map(|t| t["id"].as_u64()).collect();
            after = ids.iter().copied().max().unwrap_or(after);
            let fresh: Vec<u64> = ids.iter().copied().filter(|id| done.insert(*id)).collect();
            let mut tasks = Vec::with_capacity(fresh.len());
            for chunk in fresh.chunks(IDS_PER_REQUEST) {
                tasks.extend(ls.export_tasks(opts.project, chunk).await?);
                s.ls_requests += 1;
            }
            s.in_label_studio += asked.elapsed();
            let objects: Vec<(StorageUri, Bytes)> =
                tasks.iter().flat_map(|task| objects(resolver, opts, task)).collect();
            s.tasks += tasks.len() as u64;
            s.objects += objects.len() as u64;
            if opts.delete_missing {
                made.extend(objects.iter().map(|(uri, _)| name(&opts.folder, uri).to_owned()));
            }
            let stored = Instant::now();
            let mut results = futures_util::stream::iter(objects)
                .take_while(|_| std::future::ready(!stop.load(Ordering::Relaxed)))
                .map(|(uri, body)| async move {
                    let known = held.map(|h| h.get(name(&opts.folder, &uri)).copied().flatten());
                    let result = write_if_changed(storages, &uri, body, known, opts.dry_run).await;
                    (uri, result)
                })
                .buffer_unordered(CONCURRENCY);
            while let Some((uri, result)) = results.next().await {
                match result {
                    Ok(true) => s.written += 1,
                    Ok(false) => s.unchanged += 1,
                    Err(e) => {
                        s.failed += 1;
                        log::error!("export: {uri}: {e}");
                    }
                }
            }
            s.in_store += stored.elapsed();
            progress(None, &s);
            if stop.load(Ordering::Relaxed) {
                s.interrupted = true;
                break 'passes;
            }
            if (ids.len() as u64) < opts.page_size {
                break;
            }
        }
    }
    if let (true, Some(held)) = (opts.delete_missing && !s.interrupted, held) {
        delete_missing(storages, opts, held, &made, &mut s).await;
    }
    Ok(s)
}

/// An object's MD5 as its ETag gives it (`None`: a multipart or encrypted upload's ETag).
type Md5Sum = Option<[u8; 16]>;

/// What the folder holds, by name: one listing; `None` (each object asked for then) when the
/// store cannot list it.
async fn held(storages: &Storages, folder: &StorageUri) -> Option<HashMap<String, Md5Sum>> {
    let listed = async {
        let list = storages.list(folder, false).await?;
        list.map_ok(|o| (name(folder, &o.uri).to_owned(), md5_of(o.etag.as_deref())))
            .try_collect()
            .await
    };
    listed
        .await
        .inspect_err(|e: &StorageError| {
            log::warn!("export: cannot list {folder} ({e}); asking for each object instead")
        })
        .ok()
}

/// The ETag of a simple upload, `"<hex MD5>"`, as bytes.
fn md5_of(etag: Option<&str>) -> Md5Sum {
    let mut md5 = [0; 16];
    hex::decode_to_slice(etag?.trim_matches('"'), &mut md5).ok()?;
    Some(md5)
}

/// An object's name in its folder.
fn name<'a>(folder: &StorageUri, uri: &'a StorageUri) -> &'a str {
    uri.key.strip_prefix(folder.key.as_str()).unwrap_or(&uri.key)
}

/// Removes the objects named as this export names them (`<digits>.json`) that it did not make;
/// anything else in the folder is left alone.
async fn delete_missing(
    storages: &Storages,
    opts: &Options,
    held: &HashMap<String, Md5Sum>,
    made: &HashSet<String>,
    s: &mut Summary,
) {
    let ours = |n: &str| {
        n.strip_suffix(".json")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    };
    let gone: Vec<StorageUri> = held
        .keys()
        .filter(|n| ours(n) && !made.contains(n.as_str()))
        .map(|n| StorageUri {
            scheme: opts.folder.scheme,
            bucket: opts.folder.bucket.clone(),
            key: format!("{}{n}", opts.folder.key),
        })
        .collect();
    if opts.dry_run {
        s.deleted += gone.len() as u64;
        return;
    }
    let mut results = futures_util::stream::iter(gone)
        .map(|uri| async move { (storages.delete(&uri).await, uri) })
        .buffer_unordered(CONCURRENCY);
    while let Some((result, uri)) = results.next().await {
        match result {
            Ok(()) => s.deleted += 1,
            Err(e) => {
                s.failed += 1;
                log::error!("export: removing {uri}: {e}");
            }
        }
    }
}

/// The objects of one task: one per annotation, or the task with all of them.
fn objects(resolver: &Resolver, opts: &Options, task: &Value) -> Vec<(StorageUri, Bytes)> {
    let annotations = task["annotations"].as_array().map(Vec::as_slice).unwrap_or_default();
    if opts.per_task {
        return match (task["id"].as_u64(), annotations.is_empty()) {
            (Some(id), false) => vec![(object_uri(&opts.folder, id), Bytes::from(task_document(resolver, task)))],
            _ => Vec::new(),
        };
    }
    annotations
        .iter()
        .filter_map(|a| {
            let id = a["id"].as_u64()?;
            Some((object_uri(&opts.folder, id), Bytes::from(document(resolver, a, task))))
        })
        .collect()
}

/// Writes `body` unless the object already holds it; whether it was (or would be) written.
/// `known`: what a listing said the object holds (`Some(None)`: no object, or not an MD5 ETag);
/// `None`: ask the store.
async fn write_if_changed(
    storages: &Storages,
    uri: &StorageUri,
    body: Bytes,
    known: Option<Md5Sum>,
    dry_run: bool,
) -> Result<bool, StorageError> {
    let held = match known {
        Some(md5) => md5,
        None => md5_of(storages.etag(uri).await?.as_deref()),
    };
    if held.is_some_and(|md5| md5[..] == Md5::digest(&body)[..]) {
        return Ok(false);
    }
    if !dry_run {
        storages.write(uri, body, "application/json", false).await?;
    }
    Ok(true)
}
