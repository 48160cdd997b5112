//! What a command of the binary ends with: an exit code, or a [`CommandError`] printed as
//! `ls-presign: <message>` with exit code 1.

use std::process::ExitCode;

/// A command's outcome.
pub type CommandResult = Result<ExitCode, CommandError>;

/// Why a command could not do its work. Messages name the setting or argument to fix.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] crate::http::StartError),
    /// A command-line argument is wrong: `--at "yesterday": expected ...`.
    #[error("{0}")]
    Argument(String),
    /// A setting the command needs is not set.
    #[error("{0}")]
    Missing(&'static str),
    #[error(transparent)]
    Uri(#[from] crate::uri::UriError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    StorageSetup(#[from] crate::storage::SetupError),
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    #[error(transparent)]
    Rewrite(#[from] crate::resolve::RewriteError),
    #[error(transparent)]
    LabelStudio(#[from] crate::labelstudio::LsError),
    #[error(transparent)]
    Import(#[from] crate::import::importer::ImportError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Reading or writing `what` failed.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

/// A flag raised at the first Ctrl-C, after saying `message` (how the command stops, and what to
/// run to finish): long commands check it between units of work.
pub fn stop_on_ctrl_c(message: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nls-presign: {message}");
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    stop
}

/// A progress bar over `what` (e.g. "tasks"): its length told later, position and message set
/// as the command goes.
pub fn progress_bar(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what}  {{msg}}  [{{elapsed_precise}}, eta {{eta}}]");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

impl CommandError {
    /// An I/O failure on `what` (a file, stdin, stdout, a listener).
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CommandError {
        let what = what.into();
        move |source| CommandError::Io { what, source }
    }
}

/// The end of a run that can fail item by item or be stopped (`sync`, `export`): what its
/// summary line ends with, and the exit code (failure when anything failed or is left).
pub fn run_end(failed: u64, interrupted: bool) -> (&'static str, ExitCode) {
    let note = if interrupted {
        " (interrupted: run again to finish)"
    } else {
        ""
    };
    let code = if failed > 0 || interrupted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    (note, code)
}
