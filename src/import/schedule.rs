//! The `[[import]]` tables `serve` runs by itself: each import every `interval`, one log line
//! per run, counted in `/metrics`. Replicas share the work safely through the import lease: the
//! one that takes it imports, the others count the run as `busy` and try at the next interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

use super::filter::Filter;
use super::importer::{ImportError, Importer, Mode, Options, folder};
use super::lease::{LeaseError, holder_name};
use crate::config::{ImportsConfig, ScheduledImport};
use crate::labelstudio::LabelStudio;
use crate::metrics::{Job, Metrics};
use crate::resolve::{Resolver, RewriteAs};
use crate::storage::Storages;

/// Tasks per import request in scheduled runs.
const BATCH: usize = 500;

/// The running scheduled imports.
#[derive(Debug)]
pub struct Schedule {
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    runs: JoinSet<()>,
}

/// What a scheduled import runs with.
#[derive(Clone)]
pub struct Shared {
    pub resolver: Arc<Resolver>,
    pub storages: Arc<Storages>,
    pub ls: Arc<LabelStudio>,
    pub metrics: Arc<Metrics>,
}

impl Schedule {
    /// Starts every scheduled import of `config` (none: nothing runs).
    pub fn spawn(config: &ImportsConfig, shared: Shared) -> Schedule {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut runs = JoinSet::new();
        let holder = holder_name();
        for scheduled in &config.scheduled {
            let opts = options(scheduled, config);
            let (shared, stop, wake, holder) = (shared.clone(), stop.clone(), wake.clone(), holder.clone());
            let interval = scheduled.interval;
            runs.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    run_once(&shared, &opts, &holder, &stop).await;
                    tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        () = wake.notified() => {}
                    }
                }
            });
        }
        Schedule { stop, wake, runs }
    }

    /// Stops: a run in progress ends after its batch in flight, within `timeout`.
    pub async fn stop(mut self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_waiters();
        if tokio::time::timeout(timeout, async { while self.runs.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            log::warn!("scheduled imports did not stop in time; the next run continues them");
            self.runs.abort_all();
        }
    }
}

/// The import options of an `[[import]]` table.
fn options(s: &ScheduledImport, config: &ImportsConfig) -> Options {
    Options {
        project: s.project,
        prefix: folder(s.uri.clone()),
        recursive: s.recursive,
        // Checked when the configuration was loaded.
        filter: Filter::new(&s.glob, s.regex.as_deref()).unwrap_or_default(),
        mode: if s.tasks {
            Mode::Tasks
        } else {
            Mode::Blob { field: s.field.clone() }
        },
        output: RewriteAs::Link,
        delete_missing: s.delete_missing,
        dry_run: false,
        batch: BATCH,
        lease: true,
        state_dir: config.state_dir.clone(),
    }
}

/// One scheduled run: imported, logged, counted.
async fn run_once(shared: &Shared, opts: &Options, holder: &str, stop: &AtomicBool) {
    let importer = Importer {
        resolver: &shared.resolver,
        storages: &shared.storages,
        ls: &shared.ls,
        holder: holder.to_owned(),
    };
    let source = opts.prefix.to_string();
    let result = importer.run(opts, stop, &|_| {}).await;
    let now = crate::time::now();
    match result {
        Ok(s) => {
            let outcome = if s.failed > 0 { "failed" } else { "ok" };
            log::info!("scheduled import: {}", s.line(opts));
            shared.metrics.job_run(
                Job::Import,
                opts.project,
                &source,
                outcome,
                &[
                    ("listed", s.listed),
                    ("imported", s.imported),
                    ("present", s.present),
                    ("skipped", s.skipped + s.filtered),
                    ("failed", s.failed),
                    ("deleted", s.deleted),
                ],
                now,
            );
        }
        Err(ImportError::Lease(LeaseError::Busy { holder, .. })) => {
            log::info!(
                "scheduled import of {source} -> project {}: {holder} is importing it; next interval",
                opts.project
            );
            shared
                .metrics
                .job_run(Job::Import, opts.project, &source, "busy", &[], now);
        }
        Err(e) => {
            log::error!("scheduled import of {source} -> project {} failed: {e}", opts.project);
            shared
                .metrics
                .job_run(Job::Import, opts.project, &source, "failed", &[], now);
        }
    }
}
