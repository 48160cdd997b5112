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
//! remembers them), `LS_PRESIGN_RECONCILE_PROJECTS`, and the projects of `[[import]]` tables.
//! After a run that left nothing failed, the next asks only for tasks updated since that run
//! began (less a margin for the two clocks), so tasks whose references no storage serves are
//! not read again and again; a restart reads them once more.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// Adds the reconcile of `projects` to `jobs`: every `interval`, writing back `concurrency`
/// tasks at a time.
pub fn schedule(projects: Arc<Projects>, shared: Shared, interval: Duration, concurrency: usize, jobs: &mut Periodic) {
    // Where each project's next run starts looking (Unix seconds).
    let since: Arc<Mutex<HashMap<u64, i64>>> = Arc::default();
    jobs.every(interval, move |stop| {
        let (projects, shared, since) = (projects.clone(), shared.clone(), since.clone());
        async move {
            for project in projects.all() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let started = crate::time::now();
                let from = since.lock().unwrap_or_else(|e| e.into_inner()).get(&project).copied();
                let outcome = run_once(&shared, project, from, concurrency, &stop).await;
                let mut since = since.lock().unwrap_or_else(|e| e.into_inner());
                match outcome {
                    Ok(true) => {
                        since.insert(project, started - MARGIN_SECS);
                    }
                    Ok(false) => {}
                    Err(LsError::ProjectGone(_)) => {
                        log::info!("reconcile: Label Studio has no project {project} any more; forgetting it");
                        projects.forget(project);
                        since.remove(&project);
                    }
                    Err(e) => log::error!("reconcile: project {project}: {e}"),
                }
            }
        }
    });
}

/// One reconcile of `project`: logged when it found work, counted. `Ok(true)` when nothing
/// failed or was cut short (the next run may then look only at later updates).
async fn run_once(
    shared: &Shared,
    project: u64,
    since: Option<i64>,
    concurrency: usize,
    stop: &AtomicBool,
) -> Result<bool, LsError> {
    let result = reconcile_project(shared, project, since, concurrency, stop).await;
    let now = crate::time::now();
    let s = match &result {
        Ok(s) => *s,
        Err(_) => {
            shared.metrics.job_run(Job::Reconcile, project, "", "failed", &[], now);
            return result.map(|_| false);
        }
    };
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
    let clean = s.failed == 0 && !s.interrupted;
    let counts = [
        ("found", found),
        ("rewritten", s.rewritten),
        ("already_done", s.already_done),
        ("gone", s.gone),
        ("failed", s.failed),
    ];
    let result_label = if clean { "ok" } else { "failed" };
    shared
        .metrics
        .job_run(Job::Reconcile, project, "", result_label, &counts, now);
    Ok(clean)
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
