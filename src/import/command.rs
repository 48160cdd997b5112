//! The `import` command: one import with a progress bar, Ctrl-C between batches, a summary.

use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use super::importer::{Importer, Options, Summary};
use super::lease;
use crate::command::{CommandError, CommandResult, stop_on_ctrl_c};
use crate::config::Config;
use crate::labelstudio::LabelStudio;
use crate::resolve::{Resolver, RewriteAs};
use crate::storage::Storages;

/// Runs `import` as the command line asked; `opts.state_dir` comes from the configuration.
pub async fn run(config: Config, mut opts: Options) -> CommandResult {
    let ls_config = config.label_studio.as_ref().ok_or(CommandError::Missing(
        "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY: required for import",
    ))?;
    if opts.output == RewriteAs::Link {
        config.keys.require_secret()?;
    }
    opts.state_dir = config.imports.state_dir.clone();
    opts.filter = opts.filter.excluding(config.exports.folders_under(&opts.prefix));
    let storages = Arc::new(Storages::new(config.storages.list.clone())?);
    storages.find(&opts.prefix)?;
    let resolver = Resolver::sharing(&config, storages.clone(), Arc::default());
    let ls = LabelStudio::from_config(ls_config)?;
    let importer = Importer {
        resolver: &resolver,
        storages: &storages,
        ls: &ls,
        holder: lease::holder_name(),
    };

    let stop = stop_on_ctrl_c("stopping after the batch in flight; run import again to continue");
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}  [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let progress = |s: &Summary| {
        bar.set_message(format!(
            "{} listed, {} imported, {} present, {} skipped, {} failed",
            s.listed,
            s.imported,
            s.present,
            s.skipped + s.filtered,
            s.failed
        ));
        bar.tick();
    };
    let result = importer.run(&opts, &stop, &progress).await;
    bar.finish_and_clear();
    let s = result?;
    println!("{}", s.line(&opts));
    for p in &s.problems {
        println!("  problem: {p}");
    }
    if s.failed > s.problems.len() as u64 {
        println!("  ... {} problems in all (see the log)", s.failed);
    }
    if !s.kept_annotated.is_empty() {
        println!("  kept (annotated) tasks of missing objects: {:?}", s.kept_annotated);
    }
    Ok(if s.failed > 0 || s.interrupted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
