//! `ls-presign sync --project N`: reconciles a whole project, because webhooks can be missed
//! (Label Studio sends each once, with a 1 s timeout, and never retries). Pages through the
//! project's tasks and writes back those that still hold raw references. Idempotent: stopping
//! it (Ctrl-C) and running it again is safe.

use std::sync::atomic::AtomicBool;

use crate::command::{CommandError, CommandResult, progress_bar, run_end, stop_on_ctrl_c};
use crate::config::Config;
use crate::labelstudio::{LabelStudio, LsError};
use crate::resolve::Resolver;
pub use crate::writeback::Summary;
use crate::writeback::{Pace, write_back_all};

/// Options of one sync.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub project: u64,
    pub dry_run: bool,
    pub page_size: u64,
    pub concurrency: usize,
}

/// Syncs a project. `stop` is checked before each task; `progress` is told the project's size
/// once and then each task's outcome.
pub async fn sync_project(
    resolver: &Resolver,
    ls: &LabelStudio,
    opts: Options,
    stop: &AtomicBool,
    progress: &(dyn Fn(Option<u64>, &Summary) + Sync),
) -> Result<Summary, LsError> {
    let mut summary = Summary::default();
    let mut page = 1;
    loop {
        let got = ls.list_tasks(opts.project, page, opts.page_size).await?;
        if page == 1 {
            progress(Some(got.total), &summary);
        }
        if got.tasks.is_empty() {
            break;
        }
        let pace = Pace {
            concurrency: opts.concurrency,
            dry_run: opts.dry_run,
        };
        write_back_all(resolver, ls, &got.tasks, pace, stop, &mut summary, progress).await;
        if summary.interrupted || (got.tasks.len() as u64) < opts.page_size {
            break;
        }
        page += 1;
    }
    Ok(summary)
}

/// The `sync` command.
pub async fn run(config: Config, project: u64, dry_run: bool, page_size: u64) -> CommandResult {
    config.keys.require_secret()?;
    let ls_config = config.label_studio.as_ref().ok_or(CommandError::Missing(
        "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY: required for sync",
    ))?;
    let resolver = Resolver::new(&config)?;
    let ls = LabelStudio::from_config(ls_config)?;

    let stop = stop_on_ctrl_c("stopping after the tasks in flight; run sync again to finish");
    let bar = progress_bar("tasks");
    let progress = |total: Option<u64>, s: &Summary| {
        if let Some(t) = total {
            bar.set_length(t);
        } else {
            bar.set_position(s.scanned);
            bar.set_message(format!("{} rewritten, {} failed", s.rewritten, s.failed));
        }
    };
    let opts = Options {
        project,
        dry_run,
        page_size: page_size.clamp(1, 1000),
        concurrency: config.writeback.concurrency,
    };
    let s = sync_project(&resolver, &ls, opts, &stop, &progress).await?;
    bar.finish_and_clear();
    let (note, code) = run_end(s.failed, s.interrupted);
    println!(
        "project {project}{}: {} scanned, {} {}, {} already done, {} gone, {} failed{}",
        if dry_run { " (dry run)" } else { "" },
        s.scanned,
        s.rewritten,
        if dry_run { "to rewrite" } else { "rewritten" },
        s.already_done,
        s.gone,
        s.failed,
        note
    );
    Ok(code)
}
