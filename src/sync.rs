//! `ls-presign sync --project N`: reconciles a whole project, because webhooks can be missed
//! (Label Studio sends each once, with a 1 s timeout, and never retries). Pages through the
//! project's tasks and writes back those that still hold raw references. Idempotent: stopping
//! it (Ctrl-C) and running it again is safe.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};

use crate::command::{CommandError, CommandResult, stop_on_ctrl_c};
use crate::config::Config;
use crate::labelstudio::{LabelStudio, LsError};
use crate::resolve::Resolver;
use crate::writeback::{Outcome, process};

/// What a sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub scanned: u64,
    pub rewritten: u64,
    pub already_done: u64,
    /// Deleted while the sync ran.
    pub gone: u64,
    pub failed: u64,
    /// Stopped early (Ctrl-C).
    pub interrupted: bool,
}

impl Summary {
    fn add(&mut self, outcome: Outcome) {
        self.scanned += 1;
        match outcome {
            Outcome::Rewritten => self.rewritten += 1,
            Outcome::AlreadyDone => self.already_done += 1,
            Outcome::Gone => self.gone += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

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
    progress: &dyn Fn(Option<u64>, &Summary),
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
        let mut pending = FuturesUnordered::new();
        for task in &got.tasks {
            if stop.load(Ordering::Relaxed) {
                summary.interrupted = true;
                break;
            }
            if pending.len() >= opts.concurrency
                && let Some(outcome) = pending.next().await
            {
                summary.add(outcome);
                progress(None, &summary);
            }
            pending.push(process(resolver, ls, task, opts.dry_run));
        }
        while let Some(outcome) = pending.next().await {
            summary.add(outcome);
            progress(None, &summary);
        }
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
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tasks  {msg}  [{elapsed_precise}, eta {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
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
    println!(
        "project {project}{}: {} scanned, {} {}, {} already done, {} gone, {} failed{}",
        if dry_run { " (dry run)" } else { "" },
        s.scanned,
        s.rewritten,
        if dry_run { "to rewrite" } else { "rewritten" },
        s.already_done,
        s.gone,
        s.failed,
        if s.interrupted {
            " (interrupted: run again to finish)"
        } else {
            ""
        }
    );
    Ok(if s.failed > 0 || s.interrupted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
