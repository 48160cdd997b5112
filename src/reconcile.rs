//! `serve` heals by itself what a missed webhook left behind.
//!
//! Label Studio sends each webhook once (1 s timeout, no retry), and the write-back queue lives
//! in memory: tasks created while the service was down, restarting or killed keep their raw
//! `oss://`/`s3://` references. Every `LS_PRESIGN_RECONCILE_INTERVAL` (and once at start) the
//! service asks Label Studio, per project, only for the tasks whose data still contains a
//! configured scheme (a Data Manager `contains` filter, one request per scheme when nothing is
//! left) and writes those back as a webhook would have.
//!
//! Projects: every project a webhook came from (kept in `LS_PRESIGN_STATE_DIR`, so a restart
//! remembers them), `LS_PRESIGN_RECONCILE_PROJECTS`, and the projects of `[[import]]` and
//! `[[export]]` tables.
//! After a run that left nothing failed, the next asks only for tasks updated since that run
//! began (less a margin for the two clocks), so tasks whose references no storage serves are
//! not read again and again; a restart reads them once more.
//!
//! A project with an export target also gets its annotation objects caught up: the annotated
//! tasks updated since the last clean run (every change to an annotation moves its task's
//! `updated_at`), written as `ls-presign export` writes them, only where the object differs —
//! so annotations made while the service was down, or whose write the store refused past the
//! retries, reach the bucket by themselves. The first run after a start compares them all.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ExportsConfig;
use crate::export::bulk::{Options, export_project};
use crate::export::live::Unremoved;
use crate::import::schedule::Shared;
use crate::labelstudio::LsError;
use crate::metrics::Job;
use crate::periodic::Periodic;
use crate::writeback::{Pace, Summary, write_back_all};

/// Tasks asked for per request.
const PAGE: u64 = 100;
/// How far back from a clean run's start the next looks, for clocks that disagree and tasks
/// saved while the run was reading.
const MARGIN_SECS: i64 = 600;

/// The projects to reconcile: those webhooks came from, remembered across restarts, and the
/// configured ones.
#[derive(Debug)]
pub struct Projects {
    set: Mutex<BTreeSet<u64>>,
    /// Where the projects webhooks came from are kept (`None`: not kept).
    file: Option<PathBuf>,
    label_studio: String,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    label_studio: String,
    projects: BTreeSet<u64>,
}

impl Projects {
    /// The projects saved in `state_dir` for `label_studio`, and `configured`.
    pub fn load(state_dir: Option<&Path>, label_studio: &str, configured: impl IntoIterator<Item = u64>) -> Projects {
        let file = state_dir.map(|dir| dir.join(format!("reconcile-{}.json", instance(label_studio))));
        let saved = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice::<Saved>(&bytes).ok())
            .filter(|s| s.label_studio == label_studio)
            .map(|s| s.projects)
            .unwrap_or_default();
        Projects {
            set: Mutex::new(saved.into_iter().chain(configured).collect()),
            file,
            label_studio: label_studio.to_owned(),
        }
    }

    /// A webhook came from `project`: reconcile it from now on.
    pub fn saw(&self, project: u64) {
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        if set.insert(project) {
            self.save(&set);
        }
    }

    /// Stops reconciling `project` (Label Studio no longer has it).
    fn forget(&self, project: u64) {
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        if set.remove(&project) {
            self.save(&set);
        }
    }

    pub fn all(&self) -> Vec<u64> {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Writes the set (a temporary file renamed over the old one); a failure is logged, not
    /// fatal: the projects are still reconciled until the next restart.
    fn save(&self, set: &BTreeSet<u64>) {
        let Some(file) = &self.file else { return };
        let saved = Saved {
            label_studio: self.label_studio.clone(),
            projects: set.clone(),
        };
        let tmp = file.with_extension("tmp");
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(&saved).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            log::warn!("reconcile: cannot keep the projects seen in {}: {e}", file.display());
        }
    }
}

/// A short name of a Label Studio instance, for file names.
fn instance(label_studio: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(label_studio.as_bytes())[..6])
}

/// Where each project's next run starts looking (Unix seconds): set after a clean run.
#[derive(Debug, Default)]
struct Since(Mutex<HashMap<u64, i64>>);

impl Since {
    fn of(&self, project: u64) -> Option<i64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&project).copied()
    }

    /// The run of `project` begun at `started` ended so: a clean one moves the next run's start.
    fn ran(&self, project: u64, started: i64, outcome: &Result<bool, LsError>) {
        let mut since = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(true) => {
                since.insert(project, started - MARGIN_SECS);
            }
            Err(LsError::ProjectGone(_)) => {
                since.remove(&project);
            }
            Ok(false) | Err(_) => {}
        }
    }
}

/// Adds the reconcile of `projects` to `jobs`: every `interval`, writing back `concurrency`
/// tasks at a time, and catching up the annotation objects of projects with an export target
/// (whole, with deletion, after a start and where the live export left an object `unremoved`).
pub fn schedule(
    projects: Arc<Projects>,
    shared: Shared,
    exports: Arc<ExportsConfig>,
    unremoved: Arc<Unremoved>,
    interval: Duration,
    concurrency: usize,
    jobs: &mut Periodic,
) {
    let (tasks_since, exports_since) = (Arc::new(Since::default()), Arc::new(Since::default()));
    jobs.every(interval, move |stop| {
        let (projects, shared, exports, unremoved) =
            (projects.clone(), shared.clone(), exports.clone(), unremoved.clone());
        let (tasks_since, exports_since) = (tasks_since.clone(), exports_since.clone());
        async move {
            for project in projects.all() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let started = crate::time::now();
                let export = exports.of(project).map(|target| {
                    let since = exports_since.of(project).filter(|_| !unremoved.has(project));
                    Options {
                        project,
                        folder: target.folder.clone(),
                        per_task: false,
                        dry_run: false,
                        page_size: PAGE,
                        since,
                        // Deletions missed are found where every annotation is compared.
                        delete_missing: target.delete && since.is_none(),
                    }
                });
                let whole = export.as_ref().is_some_and(|o| o.since.is_none());
                let (tasks, exported) =
                    run_once(&shared, project, tasks_since.of(project), export, concurrency, &stop).await;
                tasks_since.ran(project, started, &tasks);
                if let Some(exported) = &exported {
                    exports_since.ran(project, started, exported);
                    if matches!(exported, Ok(true)) && whole {
                        unremoved.compared(project, started);
                    }
                }
                match tasks.and(exported.unwrap_or(Ok(true))) {
                    Err(LsError::ProjectGone(_)) => {
                        log::info!("reconcile: Label Studio has no project {project} any more; forgetting it");
                        projects.forget(project);
                    }
                    Err(e) => log::error!("reconcile: project {project}: {e}"),
                    Ok(_) => {}
                }
            }
        }
    });
}

/// Whether a part of a run ended clean (`Ok(true)`: nothing failed or was cut short, so the
/// next run may look only at later updates).
type Clean = Result<bool, LsError>;

/// One reconcile of `project`: its tasks, then (with `export`) its annotation objects; logged
/// when it found work, counted.
async fn run_once(
    shared: &Shared,
    project: u64,
    since: Option<i64>,
    export: Option<Options>,
    concurrency: usize,
    stop: &AtomicBool,
) -> (Clean, Option<Clean>) {
    let (tasks, counts) = match reconcile_project(shared, project, since, concurrency, stop).await {
        Ok(s) => (Ok(s.failed == 0 && !s.interrupted), log_tasks(project, &s)),
        Err(e) => (Err(e), Vec::new()),
    };
    let exported = match (&tasks, export) {
        (Ok(_), Some(opts)) => Some(catch_up_exports(shared, &opts, stop).await),
        _ => None,
    };
    let clean = matches!(tasks, Ok(true)) && exported.as_ref().is_none_or(|e| matches!(e, Ok(true)));
    let result_label = if clean { "ok" } else { "failed" };
    shared
        .metrics
        .job_run(Job::Reconcile, project, "", result_label, &counts, crate::time::now());
    (tasks, exported)
}

/// Logs what the tasks part of a run found; its counts for the metrics.
fn log_tasks(project: u64, s: &Summary) -> Vec<(&'static str, u64)> {
    let found = s.scanned - s.already_done;
    if found > 0 {
        log::warn!(
            "reconcile: project {project}: {found} tasks still held raw references (missed webhooks: was ls-presign \
             down or unreachable?): {} rewritten, {} gone, {} failed",
            s.rewritten,
            s.gone,
            s.failed
        );
    } else {
        log::debug!(
            "reconcile: project {project}: nothing to do ({} tasks looked at)",
            s.scanned
        );
    }
    vec![
        ("found", found),
        ("rewritten", s.rewritten),
        ("already_done", s.already_done),
        ("gone", s.gone),
        ("failed", s.failed),
    ]
}

/// Writes the annotation objects of `opts.project` that are missing or differ in its export
/// target, and with `opts.delete_missing` removes those of deleted annotations (counted in
/// `export_objects_total`).
async fn catch_up_exports(shared: &Shared, opts: &Options, stop: &AtomicBool) -> Clean {
    let s = export_project(&shared.resolver, &shared.storages, &shared.ls, opts, stop, &|_, _| {}).await?;
    for (outcome, n) in [("written", s.written), ("deleted", s.deleted), ("failed", s.failed)] {
        shared.metrics.count("export_objects_total", outcome, n as usize);
    }
    if s.written + s.deleted + s.failed > 0 {
        log::warn!(
            "reconcile: project {}: {} annotation objects were missing, out of date or of deleted annotations in {} \
             (missed annotation webhooks: was ls-presign down, or the store refusing?): {} written, {} deleted, {} failed",
            opts.project,
            s.written + s.deleted + s.failed,
            opts.folder,
            s.written,
            s.deleted,
            s.failed
        );
    } else {
        log::debug!(
            "reconcile: project {}: the {} annotation objects of {} annotated tasks looked at are in {}",
            opts.project,
            s.objects,
            s.tasks,
            opts.folder
        );
    }
    Ok(s.failed == 0 && !s.interrupted)
}

/// Asks for the project's tasks holding each configured scheme and writes them back.
async fn reconcile_project(
    shared: &Shared,
    project: u64,
    since: Option<i64>,
    concurrency: usize,
    stop: &AtomicBool,
) -> Result<Summary, LsError> {
    let mut summary = Summary::default();
    // A task holding both schemes comes back twice; it is written back once.
    let mut done: HashSet<u64> = HashSet::new();
    for scheme in shared.storages.schemes() {
        let mut after = 0;
        loop {
            let page = shared
                .ls
                .tasks_holding(project, scheme.prefix(), after, since, PAGE)
                .await?;
            let got = page.tasks.len() as u64;
            after = page
                .tasks
                .iter()
                .filter_map(|t| t["id"].as_u64())
                .max()
                .unwrap_or(after);
            let fresh: Vec<_> = page
                .tasks
                .into_iter()
                .filter(|t| t["id"].as_u64().is_some_and(|id| done.insert(id)))
                .collect();
            write_back_all(
                &shared.resolver,
                &shared.ls,
                &fresh,
                Pace {
                    concurrency,
                    dry_run: false,
                },
                stop,
                &mut summary,
                &|_, _| {},
            )
            .await;
            if summary.interrupted || got < PAGE {
                break;
            }
        }
        if summary.interrupted {
            break;
        }
    }
    Ok(summary)
}
