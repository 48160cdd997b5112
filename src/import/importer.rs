//! One import run: list, compare with what the project holds, create tasks in batches, report
//! what is gone.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::filter::Filter;
use super::known::Known;
use super::lease::{Lease, LeaseError};
use super::source::{self, Field, NewTask, OWN_FOLDER};
use crate::labelstudio::{LabelStudio, LsError};
use crate::resolve::{Resolver, RewriteAs};
use crate::storage::{StorageError, Storages};
use crate::uri::StorageUri;

/// Largest task file read, bytes.
pub const MAX_TASK_FILE: u64 = 256 << 20;
/// Problems kept for the summary (the rest are counted and logged).
const PROBLEMS_KEPT: usize = 20;

/// What objects become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// One task per object, under the data key `--field` or the label config's first object tag.
    Blob { field: Option<String> },
    /// The tasks held in `.json` and `.jsonl` files.
    Tasks,
}

/// One import.
#[derive(Debug, Clone)]
pub struct Options {
    pub project: u64,
    /// A folder: a key that is empty or ends in `/`.
    pub prefix: StorageUri,
    pub recursive: bool,
    pub filter: Filter,
    pub mode: Mode,
    /// Stable links (the default) or presigned URLs, which expire.
    pub output: RewriteAs,
    pub delete_missing: bool,
    pub dry_run: bool,
    /// Tasks per import request.
    pub batch: usize,
    /// Take the lease (off only where nothing else can import into the project).
    pub lease: bool,
    /// Where what the project holds is kept between runs (none: read from Label Studio).
    pub state_dir: Option<PathBuf>,
}

/// What an import did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Objects listed under the prefix (task files in task-file mode count once each).
    pub listed: u64,
    /// Tasks created (or, in a dry run, that would be).
    pub imported: u64,
    /// Already in the project.
    pub present: u64,
    /// Left out by the filters.
    pub filtered: u64,
    /// Not a fit: a type the object tag does not show, or not a task file.
    pub skipped: u64,
    /// Objects or task-file items that could not be imported (see `problems`).
    pub failed: u64,
    /// Sources the project holds that are gone from the bucket.
    pub missing: u64,
    /// Their unannotated tasks, removed (with `--delete-missing`).
    pub deleted: u64,
    /// Tasks of missing sources kept because they have annotations.
    pub kept_annotated: Vec<u64>,
    /// Requests made to Label Studio.
    pub ls_requests: u64,
    /// Stopped before the end (Ctrl-C, shutdown): a re-run continues.
    pub interrupted: bool,
    /// The first problems, one line each.
    pub problems: Vec<String>,
    /// Where the time went.
    pub time: Timings,
}

/// Where an import's time went.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for the bucket's list pages.
    pub listing: Duration,
    /// Making tasks: links or presigned URLs, task files read and rewritten.
    pub tasks: Duration,
    /// Waiting for Label Studio.
    pub label_studio: Duration,
}

/// Runs `f`, adding the time it took to `into`.
async fn timed<T>(into: &mut Duration, f: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = f.await;
    *into += start.elapsed();
    out
}

impl Summary {
    /// The one line that sums an import up (also logged by scheduled runs).
    pub fn line(&self, opts: &Options) -> String {
        let s = self;
        let mode = match &opts.mode {
            Mode::Blob { .. } => "objects",
            Mode::Tasks => "task files",
        };
        let mut line = format!(
            "{} -> project {}{}: {} {mode} listed, {} {}, {} already there, {} filtered out, {} skipped, {} failed, {} missing from the bucket",
            opts.prefix,
            opts.project,
            if opts.dry_run { " (dry run)" } else { "" },
            s.listed,
            s.imported,
            if opts.dry_run { "to import" } else { "imported" },
            s.present,
            s.filtered,
            s.skipped,
            s.failed,
            s.missing,
        );
        if opts.delete_missing {
            line.push_str(&format!(" ({} tasks removed)", s.deleted));
        }
        line.push_str(&format!(
            "; {} Label Studio requests; {:.1} s listing, {:.1} s making tasks, {:.1} s in Label Studio",
            s.ls_requests,
            s.time.listing.as_secs_f64(),
            s.time.tasks.as_secs_f64(),
            s.time.label_studio.as_secs_f64()
        ));
        if s.interrupted {
            line.push_str(" (interrupted: run import again to continue)");
        }
        line
    }

    fn problem(&mut self, line: String) {
        log::warn!("import: {line}");
        self.failed += 1;
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(line);
        }
    }
}

/// Why an import could not run (what it did so far is not lost: a re-run continues).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Ls(#[from] LsError),
    #[error("listing {0}")]
    List(#[source] StorageError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("{0}")]
    Setup(String),
}

/// What an import runs with.
pub struct Importer<'a> {
    pub resolver: &'a Resolver,
    pub storages: &'a Storages,
    pub ls: &'a LabelStudio,
    /// Names this importer in the lease.
    pub holder: String,
}

impl Importer<'_> {
    /// Runs one import. `stop` is checked between batches; `progress` sees the summary grow.
    pub async fn run(
        &self,
        opts: &Options,
        stop: &AtomicBool,
        progress: &(dyn Fn(&Summary) + Sync),
    ) -> Result<Summary, ImportError> {
        let mut summary = Summary::default();
        let project = timed(&mut summary.time.label_studio, self.ls.project(opts.project)).await?;
        summary.ls_requests += 1;
        let field = match &opts.mode {
            Mode::Blob { field } => {
                Some(Field::from_config(&project.label_config, field.as_deref()).map_err(ImportError::Setup)?)
            }
            Mode::Tasks => None,
        };
        let mut lease = match opts.lease && !opts.dry_run {
            true => Some(Lease::acquire(self.storages, &opts.prefix, opts.project, self.holder.clone()).await?),
            false => None,
        };
        let result = self
            .run_held(
                opts,
                field.as_ref(),
                project.task_number,
                &mut lease,
                stop,
                progress,
                &mut summary,
            )
            .await;
        if let Some(lease) = lease {
            lease.release().await;
        }
        result.map(|()| summary)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_held(
        &self,
        opts: &Options,
        field: Option<&Field>,
        task_number: u64,
        lease: &mut Option<Lease<'_>>,
        stop: &AtomicBool,
        progress: &(dyn Fn(&Summary) + Sync),
        summary: &mut Summary,
    ) -> Result<(), ImportError> {
        let state_file = opts
            .state_dir
            .as_ref()
            .map(|d| Known::file_in(d, self.ls.base(), opts.project));
        let mut known = Known::load(state_file.as_deref(), self.ls.base(), opts.project);
        let refreshed = timed(&mut summary.time.label_studio, known.refresh(self.ls, task_number)).await;
        summary.ls_requests += known.requests;
        refreshed?;

        let mut batch = Batch {
            tasks: Vec::new(),
            sources: Vec::new(),
        };
        // Sources seen in the bucket, and task files that could not be read (their items are
        // not "missing": they could not be looked at).
        let mut seen: HashSet<String> = HashSet::new();
        let mut unreadable: HashSet<String> = HashSet::new();
        let now = crate::time::now();
        let mut listing = timed(
            &mut summary.time.listing,
            self.storages.list(&opts.prefix, opts.recursive),
        )
        .await
        .map_err(ImportError::List)?;
        while let Some(listed) = timed(&mut summary.time.listing, listing.next()).await {
            let listed = listed.map_err(ImportError::List)?;
            let uri = listed.uri;
            if uri.key.starts_with(OWN_FOLDER) {
                continue;
            }
            summary.listed += 1;
            if !opts.filter.takes(&opts.prefix.key, &uri.key) {
                summary.filtered += 1;
                continue;
            }
            match field {
                Some(field) => {
                    let source = uri.to_string();
                    seen.insert(source.clone());
                    if known.contains(&source) {
                        summary.present += 1;
                    } else if !field.fits(&uri.key) {
                        summary.skipped += 1;
                    } else {
                        let start = Instant::now();
                        match source::object_task(self.resolver, field, &uri, opts.output, now) {
                            Ok(task) => batch.push(task),
                            Err(e) => summary.problem(format!("{uri}: {e}")),
                        }
                        summary.time.tasks += start.elapsed();
                    }
                }
                None if !source::is_task_file(&uri.key) => summary.skipped += 1,
                None => {
                    let start = Instant::now();
                    if !self
                        .read_task_file(&uri, opts, now, &known, &mut seen, &mut batch, summary)
                        .await
                    {
                        unreadable.insert(uri.to_string());
                    }
                    summary.time.tasks += start.elapsed();
                }
            }
            if batch.tasks.len() >= opts.batch {
                self.flush(opts, &mut batch, &mut known, lease, summary).await?;
            }
            progress(summary);
            if stop.load(Ordering::Relaxed) {
                summary.interrupted = true;
                break;
            }
        }
        if !summary.interrupted {
            self.flush(opts, &mut batch, &mut known, lease, summary).await?;
            progress(summary);
            let start = Instant::now();
            let missing = self.missing(opts, &seen, &unreadable, &mut known, summary).await;
            summary.time.label_studio += start.elapsed();
            missing?;
        }
        if let Some(file) = &state_file
            && let Err(e) = known.save(file)
        {
            log::warn!(
                "import: cannot keep what project {} holds in {}: {e}",
                opts.project,
                file.display()
            );
        }
        Ok(())
    }

    /// Adds the new tasks of a task file to `batch`; `false` when the file, or part of it, could
    /// not be read.
    #[allow(clippy::too_many_arguments)]
    async fn read_task_file(
        &self,
        uri: &StorageUri,
        opts: &Options,
        now: i64,
        known: &Known,
        seen: &mut HashSet<String>,
        batch: &mut Batch,
        summary: &mut Summary,
    ) -> bool {
        let bytes = match self.storages.read_all(uri, MAX_TASK_FILE).await {
            Ok((_, bytes)) => bytes,
            Err(e) => {
                summary.problem(format!("{uri}: {e}"));
                return false;
            }
        };
        let (items, problems) = source::parse_task_file(&uri.to_string(), &bytes);
        let whole = problems.is_empty();
        for p in problems {
            summary.problem(p.to_string());
        }
        for (item, task) in items {
            let source = source::source_key(&uri.to_string(), Some(item));
            seen.insert(source.clone());
            if known.contains(&source) {
                summary.present += 1;
                continue;
            }
            match source::file_task(self.resolver, uri, item, task, opts.output, now).await {
                Ok(task) => batch.push(task),
                Err(e) => summary.problem(format!("{uri} item {item}: {e}")),
            }
        }
        whole
    }

    /// Sends the batch (keeping the lease first); Label Studio answers the new tasks' ids. A
    /// batch that fails counts as failed; what landed of it is found by reading the tasks above
    /// the highest id seen.
    async fn flush(
        &self,
        opts: &Options,
        batch: &mut Batch,
        known: &mut Known,
        lease: &mut Option<Lease<'_>>,
        summary: &mut Summary,
    ) -> Result<(), ImportError> {
        if batch.tasks.is_empty() {
            return Ok(());
        }
        let tasks = std::mem::take(&mut batch.tasks);
        let sources = std::mem::take(&mut batch.sources);
        if opts.dry_run {
            summary.imported += tasks.len() as u64;
            return Ok(());
        }
        if let Some(lease) = lease {
            lease.keep().await?;
        }
        let start = Instant::now();
        let sent = self.ls.import_tasks(opts.project, &tasks).await;
        summary.ls_requests += 1;
        if let Ok(ids) = &sent
            && ids.len() == sources.len()
        {
            summary.time.label_studio += start.elapsed();
            summary.imported += ids.len() as u64;
            known.record(sources, ids);
            return Ok(());
        }
        let before = known.requests;
        let read = known.read_new(self.ls).await;
        summary.time.label_studio += start.elapsed();
        summary.ls_requests += known.requests - before;
        read?;
        match sent {
            Ok(ids) => summary.imported += ids.len() as u64,
            Err(e) => {
                let landed = sources.iter().filter(|s| known.contains(s)).count() as u64;
                summary.imported += landed;
                summary.failed += tasks.len() as u64 - landed;
                let line = format!("importing {} tasks into project {}: {e}", tasks.len(), opts.project);
                log::warn!("import: {line}");
                if summary.problems.len() < PROBLEMS_KEPT {
                    summary.problems.push(line);
                }
                if matches!(e, LsError::Unauthorized { .. } | LsError::ProjectGone(_)) {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Reports the sources the project holds that the bucket no longer has (within this
    /// prefix, recursion and filters), and removes their unannotated tasks when asked.
    async fn missing(
        &self,
        opts: &Options,
        seen: &HashSet<String>,
        unreadable: &HashSet<String>,
        known: &mut Known,
        summary: &mut Summary,
    ) -> Result<(), ImportError> {
        let prefix = opts.prefix.to_string();
        let gone: Vec<(String, Vec<u64>)> = known
            .sources()
            .filter(|(source, _)| {
                let (uri, item) = source::split_source(source);
                let Some(key) = uri.strip_prefix(&prefix) else {
                    return false;
                };
                item.is_some() == (opts.mode == Mode::Tasks)
                    && (opts.recursive || !key.contains('/'))
                    && !seen.contains(*source)
                    && !unreadable.contains(uri)
                    && opts
                        .filter
                        .takes(&opts.prefix.key, &format!("{}{key}", opts.prefix.key))
            })
            .map(|(s, ids)| (s.clone(), ids.clone()))
            .collect();
        summary.missing = gone.len() as u64;
        for (source, _) in gone.iter().take(PROBLEMS_KEPT) {
            log::info!("import: {source} is gone from the bucket");
        }
        if !opts.delete_missing || opts.dry_run || gone.is_empty() {
            return Ok(());
        }
        let mut unannotated = Vec::new();
        let mut removed_sources = Vec::new();
        for (source, ids) in &gone {
            let mut all_removed = true;
            for &id in ids {
                let task = match self.ls.get_task(id).await {
                    Ok(task) => task,
                    Err(LsError::TaskGone(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                summary.ls_requests += 1;
                if task.get("total_annotations").and_then(Value::as_u64).unwrap_or(0) == 0 {
                    unannotated.push(id);
                } else {
                    all_removed = false;
                    summary.kept_annotated.push(id);
                }
            }
            if all_removed {
                removed_sources.push(source.clone());
            }
        }
        for chunk in unannotated.chunks(1000) {
            self.ls.delete_tasks(opts.project, chunk).await?;
            summary.ls_requests += 1;
            summary.deleted += chunk.len() as u64;
        }
        for source in removed_sources {
            known.forget(&source);
        }
        Ok(())
    }
}

/// Tasks waiting to be sent.
struct Batch {
    tasks: Vec<Value>,
    sources: Vec<String>,
}

impl Batch {
    fn push(&mut self, task: NewTask) {
        self.tasks.push(task.task);
        self.sources.push(task.source);
    }
}
