//! `ls-presign export --project N oss://bucket/prefix/`: [`super::bulk`] with a progress bar,
//! Ctrl-C and a summary line.

use super::bulk::{Options, Summary, export_project};
use crate::command::{CommandError, CommandResult, progress_bar, run_end, stop_on_ctrl_c};
use crate::config::Config;
use crate::labelstudio::LabelStudio;
use crate::resolve::Resolver;
use crate::storage::Storages;

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
    let bar = progress_bar("annotated tasks");
    let progress = |total: Option<u64>, s: &Summary| match total {
        Some(t) => bar.inc_length(t),
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
        "project {} -> {}{}: {} annotated tasks, {} objects: {} {}, {} already the same, {}{} failed; {} Label Studio requests ({:.1} s), the bucket {:.1} s{}",
        opts.project,
        opts.folder,
        if opts.dry_run { " (dry run)" } else { "" },
        s.tasks,
        s.objects,
        s.written,
        if opts.dry_run { "to write" } else { "written" },
        s.unchanged,
        match (opts.delete_missing, opts.dry_run) {
            (false, _) => String::new(),
            (true, false) => format!("{} deleted, ", s.deleted),
            (true, true) => format!("{} to delete, ", s.deleted),
        },
        s.failed,
        s.ls_requests,
        s.in_label_studio.as_secs_f64(),
        s.in_store.as_secs_f64(),
        note
    );
    Ok(code)
}
