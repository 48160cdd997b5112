//! The `[[import]]` tables `serve` runs by itself (on [`Periodic`]): each import every
//! `interval`, one log line per run, counted in `/metrics`. Replicas share the work safely through the import lease: the
//! one that takes it imports, the others count the run as `busy` and try at the next interval.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::filter::Filter;
use super::importer::{ImportError, Importer, Mode, Options};
use super::lease::{LeaseError, holder_name};
use crate::config::{ExportsConfig, ImportsConfig, ScheduledImport};
use crate::labelstudio::LabelStudio;
use crate::metrics::{Job, Metrics};
use crate::periodic::Periodic;
use crate::resolve::{Resolver, RewriteAs};
use crate::storage::Storages;

/// Tasks per import request in scheduled runs.
const BATCH: usize = 500;

/// What a scheduled import runs with.
#[derive(Clone)]
pub struct Shared {
    pub resolver: Arc<Resolver>,
    pub storages: Arc<Storages>,
    pub ls: Arc<LabelStudio>,
    pub metrics: Arc<Metrics>,
}

/// Adds every scheduled import of `config` to `jobs`.
pub fn schedule(config: &ImportsConfig, exports: &ExportsConfig, shared: &Shared, jobs: &mut Periodic) {
    let holder = holder_name();
    for scheduled in &config.scheduled {
        let mut opts = options(scheduled, config);
        opts.filter = opts.filter.excluding(exports.folders_under(&opts.prefix));
        let opts = Arc::new(opts);
        let (shared, holder) = (shared.clone(), holder.clone());
        jobs.every(scheduled.interval, move |stop| {
            let (shared, opts, holder) = (shared.clone(), opts.clone(), holder.clone());
            async move { run_once(&shared, &opts, &holder, &stop).await }
        });
    }
}

/// The import options of an `[[import]]` table.
fn options(s: &ScheduledImport, config: &ImportsConfig) -> Options {
    Options {
        project: s.project,
        prefix: s.uri.clone().into_folder(),
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
