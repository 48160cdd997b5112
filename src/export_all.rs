//! `ls-presign export --project N oss://bucket/prefix/`: every annotation of a project written to
//! the bucket, for what the live export missed (ls-presign down, the store refusing past the
//! retries, annotations made before the target was set). Pages through the project's tasks
//! (annotations embedded: tests/fixtures/ls-1.23.2/api_annotations.json), writes the same bytes
//! as the live export, and skips an object whose content is already the same — compared by
//! ETag (the MD5 of a simple upload), so nothing is downloaded. Ctrl-C stops after the objects
//! in flight; running it again finishes.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use serde_json::Value;

use crate::command::{CommandError, CommandResult, run_end, stop_on_ctrl_c};
use crate::config::Config;
use crate::export::{document, object_uri, task_document};
use crate::labelstudio::{LabelStudio, LsError};
use crate::resolve::Resolver;
use crate::storage::{StorageError, Storages};
use crate::uri::StorageUri;

/// Objects compared and written at once.
const CONCURRENCY: usize = 8;

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
}

/// What an export did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub tasks: u64,
    /// Objects the project's annotations make.
    pub objects: u64,
    /// Written (or, in a dry run, that would be).
    pub written: u64,
    /// Already in the bucket with the same content.
    pub unchanged: u64,
    pub failed: u64,
    pub ls_requests: u64,
    pub interrupted: bool,
}

/// Exports the project; `progress` is told the project's task count once, then each page.
pub async fn export_project(
    resolver: &Resolver,
    storages: &Storages,
    ls: &LabelStudio,
    opts: &Options,
    stop: &AtomicBool,
    progress: &dyn Fn(Option<u64>, &Summary),
) -> Result<Summary, LsError> {
    let mut s = Summary::default();
    for page in 1.. {
        let got = ls.list_tasks(opts.project, page, opts.page_size).await?;
        s.ls_requests += 1;
        if page == 1 {
            progress(Some(got.total), &s);
        }
        let objects: Vec<(StorageUri, Bytes)> = got
            .tasks
            .iter()
            .flat_map(|task| objects(resolver, opts, task))
            .collect();
        s.tasks += got.tasks.len() as u64;
        s.objects += objects.len() as u64;
        let mut results = futures_util::stream::iter(objects)
            .take_while(|_| std::future::ready(!stop.load(Ordering::Relaxed)))
            .map(|(uri, body)| async move {
                let result = write_if_changed(storages, &uri, body, opts.dry_run).await;
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
        progress(None, &s);
        if stop.load(Ordering::Relaxed) {
            s.interrupted = true;
            break;
        }
        if (got.tasks.len() as u64) < opts.page_size {
            break;
        }
    }
    Ok(s)
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
async fn write_if_changed(
    storages: &Storages,
    uri: &StorageUri,
    body: Bytes,
    dry_run: bool,
) -> Result<bool, StorageError> {
    let md5 = hex::encode(Md5::digest(&body));
    if storages
        .etag(uri)
        .await?
        .is_some_and(|etag| etag.eq_ignore_ascii_case(&md5))
    {
        return Ok(false);
    }
    if !dry_run {
        storages.write(uri, body, "application/json", false).await?;
    }
    Ok(true)
}

/// The `export` command.
pub async fn run(config: Config, opts: Options) -> CommandResult {
    let ls_config = config.label_studio.as_ref().ok_or(CommandError::Missing(
        "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY: required for export",
    ))?;
    let storages = std::sync::Arc::new(Storages::new(config.storages.list.clone())?);
    storages.find(&opts.folder)?;
    let resolver = Resolver::sharing(&config, storages.clone(), std::sync::Arc::default());
    let ls = LabelStudio::from_config(ls_config)?;

    let stop = stop_on_ctrl_c("stopping after the objects in flight; run export again to finish");
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tasks  {msg}  [{elapsed_precise}, eta {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |total: Option<u64>, s: &Summary| match total {
        Some(t) => bar.set_length(t),
        None => {
            bar.set_position(s.tasks);
            bar.set_message(format!(
                "{} written, {} already the same, {} failed",
                s.written, s.unchanged, s.failed
            ));
        }
    };
    let s = export_project(&resolver, &storages, &ls, &opts, &stop, &progress).await?;
    bar.finish_and_clear();
    let (note, code) = run_end(s.failed, s.interrupted);
    println!(
        "project {} -> {}{}: {} tasks, {} objects: {} {}, {} already the same, {} failed; {} Label Studio requests{}",
        opts.project,
        opts.folder,
        if opts.dry_run { " (dry run)" } else { "" },
        s.tasks,
        s.objects,
        s.written,
        if opts.dry_run { "to write" } else { "written" },
        s.unchanged,
        s.failed,
        s.ls_requests,
        note
    );
    Ok(code)
}
