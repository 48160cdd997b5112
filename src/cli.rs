//! The command line: parses the arguments and runs one command — `serve`, `demo`, `sign`,
//! `token`, `sync`, `import`, `export`, `check`, `rewrite`. The commands with more to them live
//! in their own modules (`demo`, `check`, `sync`, `import`, `export`); this one only dispatches
//! and prints.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::command::{CommandError, CommandResult};
use crate::config::{Config, Env, NO_STORAGE};
use crate::http::Application;
use crate::resolve::{Resolver, RewriteAs};
use crate::storage::Storages;
use crate::uri::StorageUri;

/// What the tool is, in one line: `-h` shows it, `--help` starts with it.
const IMPORT_HELP: &str = "Recursive by default: buckets are laid out in folders (by date, camera, batch), and \
Label Studio's one-level default imports nothing from them. Objects already in the project are \
skipped, so a re-run imports only what is new (known from the tasks' meta.ls_presign.source, read \
from Label Studio and kept in LS_PRESIGN_STATE_DIR between runs). One import per project and \
bucket runs at a time: the import lease is a small object under .ls-presign/ in the bucket.

Examples:
  ls-presign import --project 3 oss://photos/cats/
  ls-presign import --project 3 oss://photos/ --glob '*.jpg' --glob '*.png' --dry-run
  ls-presign import --project 3 oss://photos/cats/ --delete-missing
  ls-presign import --project 4 --tasks s3://exports/tasks/";

const ABOUT: &str = "Serve Label Studio files straight from Aliyun OSS and S3-compatible storage";

fn long_about() -> String {
    format!(
        "{ABOUT}.\n\nRewrites oss:// and s3:// references in Label Studio tasks to presigned URLs, stable \
links of its own that redirect to them, or data: URLs. Configured by environment variables \
(OSS_BUCKET, OSS_REGION, OSS_ACCESS_KEY_ID, ...; see docs/CONFIGURATION.md)."
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "ls-presign",
    version,
    about = ABOUT,
    long_about = long_about()
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (HOST:PORT, default 0.0.0.0:9090).
    #[command(
        after_help = "Example:\n  OSS_BUCKET=photos OSS_REGION=cn-hangzhou OSS_ACCESS_KEY_ID=... \\\n  OSS_ACCESS_KEY_SECRET=... LS_PRESIGN_SECRET=$(openssl rand -hex 32) ls-presign serve"
    )]
    Serve,
    /// Run a self-contained demo: an OSS emulator with sample images, and the service on it
    /// (HOST:PORT, default 127.0.0.1:9090).
    #[command(after_help = "Example:\n  ls-presign demo            # then open the printed URL in a browser")]
    Demo,
    /// Presign one storage URI and print the URL.
    #[command(
        after_help = "Examples:\n  ls-presign sign oss://photos/cats/1.jpg\n  ls-presign sign oss://photos/a.jpg --at 2026-11-27T10:00:00Z --ttl 600 --json"
    )]
    Sign {
        /// `oss://bucket/key` or `s3://bucket/key`.
        uri: String,
        /// Lifetime in seconds (default: the storage's LS_PRESIGN_TTL).
        #[arg(long)]
        ttl: Option<u64>,
        /// Signing time: RFC 3339 (`2026-11-27T10:00:00Z`), `YYYYMMDDTHHMMSSZ` or Unix seconds.
        /// Without it, the start of the current window (what the service hands out).
        #[arg(long)]
        at: Option<String>,
        /// HTTP method to sign for.
        #[arg(long, default_value = "GET", value_parser = ["GET", "HEAD"])]
        method: String,
        /// Print JSON with the canonical request, string to sign and signature.
        #[arg(long)]
        json: bool,
    },
    /// Mint an API token (for the Label Studio webhook header, scripts, admins).
    #[command(
        after_help = "Examples:\n  ls-presign token --scope webhook --ttl 365d --sub label-studio\n  ls-presign token --scope resolve --ttl 30d --sub annotation-script"
    )]
    Token {
        /// resolve (/v1/*), webhook (/webhook) or admin (everything).
        #[arg(long)]
        scope: crate::auth::Scope,
        /// Lifetime: 30d, 12h, 15m or seconds.
        #[arg(long, default_value = "30d")]
        ttl: String,
        /// Who the token is for (shows in logs).
        #[arg(long, default_value = "ls-presign")]
        sub: String,
    },
    /// Rewrite every task of a Label Studio project that still holds raw references.
    #[command(after_help = "Examples:\n  ls-presign sync --project 3 --dry-run\n  ls-presign sync --project 3")]
    Sync {
        /// Project id.
        #[arg(long)]
        project: u64,
        /// Only count what would change.
        #[arg(long)]
        dry_run: bool,
        /// Tasks per page read from Label Studio.
        #[arg(long, default_value_t = 100)]
        page_size: u64,
    },
    /// Create Label Studio tasks from the objects under a bucket prefix (each object once).
    #[command(after_help = IMPORT_HELP)]
    Import {
        /// The folder to import: oss://bucket/prefix/ or s3://bucket/prefix/ (a prefix without a
        /// trailing / is taken as that folder; oss://bucket/ is the whole bucket).
        uri: String,
        /// The Label Studio project (the number in its URL, /projects/<id>/).
        #[arg(long)]
        project: u64,
        /// Import the tasks held in .json and .jsonl files instead of one task per object.
        #[arg(long)]
        tasks: bool,
        /// The data key of each object's task (default: the value="$name" of the label config's
        /// first object tag, as Label Studio does).
        #[arg(long, conflicts_with = "tasks")]
        field: Option<String>,
        /// Only keys matching this glob below the prefix (`*.jpg`, `2026-*/**`); repeat for more.
        #[arg(long)]
        glob: Vec<String>,
        /// Only keys in which this regular expression matches (anchor with ^ and $).
        #[arg(long)]
        regex: Option<String>,
        /// Only the prefix itself, not its subfolders (Label Studio's default).
        #[arg(long)]
        no_recursive: bool,
        /// Remove the tasks of objects gone from the bucket, unless they have annotations.
        #[arg(long)]
        delete_missing: bool,
        /// Say what would be imported; create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Tasks per Label Studio import request.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=5000))]
        batch: u64,
        /// What goes in the tasks: stable links (never expire) or presigned URLs (expire after
        /// the storage's TTL).
        #[arg(long = "as", default_value = "link", value_parser = ["link", "presign"])]
        output: String,
        /// Do not take the import lease in the bucket (for read-only credentials, when nothing
        /// else can import into the project at the same time).
        #[arg(long)]
        no_lease: bool,
    },
    /// Write every annotation of a Label Studio project to a bucket folder (objects already the
    /// same are skipped), as the live export of [[export]] does.
    #[command(
        after_help = "Examples:\n  ls-presign export --project 3 oss://photos/annotations/ --dry-run\n  ls-presign export --project 3 oss://photos/annotations/\n  ls-presign export --project 3 s3://media/by-task/ --per-task\n  ls-presign export --project 3 oss://photos/annotations/ --delete-missing\n\nObjects: <folder><annotation id>.json holding the annotation, completed_by and the task with\nits original oss:// or s3:// URIs (keys sorted: the same content is the same bytes); with\n--per-task, <folder><task id>.json holding the task and all its annotations. An object is\nrewritten only when its content changed (compared by ETag, nothing is downloaded).\n--delete-missing also removes <folder><id>.json objects that no annotation (task) of the project\nmakes any more; other objects in the folder are left alone. Ctrl-C stops after the objects in\nflight; run it again to finish."
    )]
    Export {
        /// The folder: oss://bucket/prefix/ or s3://bucket/prefix/, of a configured storage.
        uri: String,
        /// The Label Studio project (the number in its URL, /projects/<id>/).
        #[arg(long)]
        project: u64,
        /// One object per task with all its annotations, <task id>.json.
        #[arg(long)]
        per_task: bool,
        /// Remove the folder's <id>.json objects of annotations (tasks) the project no longer has.
        #[arg(long)]
        delete_missing: bool,
        /// Count what would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Tasks per page read from Label Studio.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
        page_size: u64,
    },
    /// Check the configuration, the storages, the bucket's CORS rule and Label Studio.
    #[command(after_help = "Examples:\n  ls-presign check\n  ls-presign check --object oss://photos/cats/1.jpg")]
    Check {
        /// A known object to read (and to check the bucket's CORS answer with).
        #[arg(long)]
        object: Option<String>,
    },
    /// Rewrite the references in a JSON file (or stdin) and print the result.
    #[command(
        after_help = "Examples:\n  ls-presign rewrite tasks.json > import.json\n  cat tasks.json | ls-presign rewrite --mode link"
    )]
    Rewrite {
        /// JSON file; standard input when omitted.
        file: Option<PathBuf>,
        /// presign | link | inline (default: each storage's LS_PRESIGN_MODE).
        #[arg(long)]
        mode: Option<RewriteAs>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    crate::logging::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(CommandError::io("cannot start the async runtime")(e)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve().await,
            Command::Demo => crate::demo::run().await,
            Command::Sign {
                uri,
                ttl,
                at,
                method,
                json,
            } => sign(&uri, ttl, at.as_deref(), &method, json),
            Command::Rewrite { file, mode } => rewrite(file, mode).await,
            Command::Token { scope, ttl, sub } => token(scope, &ttl, &sub),
            Command::Check { object } => crate::check::run(object).await,
            Command::Export {
                uri,
                project,
                per_task,
                delete_missing,
                dry_run,
                page_size,
            } => {
                let opts = crate::export::Options {
                    project,
                    folder: StorageUri::parse_folder(&uri)?.into_folder(),
                    per_task,
                    dry_run,
                    page_size,
                    since: None,
                    delete_missing,
                };
                crate::export::run(load_storage_config()?, opts).await
            }
            Command::Sync {
                project,
                dry_run,
                page_size,
            } => crate::sync::run(load_config_with_keys()?, project, dry_run, page_size).await,
            Command::Import {
                uri,
                project,
                tasks,
                field,
                glob,
                regex,
                no_recursive,
                delete_missing,
                dry_run,
                batch,
                output,
                no_lease,
            } => {
                let filter = crate::import::Filter::new(&glob, regex.as_deref()).map_err(CommandError::Argument)?;
                let opts = crate::import::Options {
                    project,
                    prefix: StorageUri::parse_folder(&uri)?.into_folder(),
                    recursive: !no_recursive,
                    filter,
                    mode: match tasks {
                        true => crate::import::Mode::Tasks,
                        false => crate::import::Mode::Blob { field },
                    },
                    output: if output == "presign" {
                        RewriteAs::Presign
                    } else {
                        RewriteAs::Link
                    },
                    delete_missing,
                    dry_run,
                    batch: batch as usize,
                    lease: !no_lease,
                    state_dir: None,
                };
                crate::import::run(load_storage_config()?, opts).await
            }
        }
    });
    result.unwrap_or_else(fail)
}

fn fail(e: CommandError) -> ExitCode {
    // Several configuration problems come one to a line.
    for line in e.to_string().lines() {
        eprintln!("ls-presign: {line}");
    }
    ExitCode::FAILURE
}

fn load_config() -> Result<Config, CommandError> {
    Ok(Config::load(&Env::process())?)
}

/// The configuration of a command that signs tokens or links: a missing `LS_PRESIGN_SECRET`
/// comes with every other problem.
fn load_config_with_keys() -> Result<Config, CommandError> {
    Ok(Config::load_with_keys(&Env::process())?)
}

/// The configuration of a command that needs a storage to work on.
fn load_storage_config() -> Result<Config, CommandError> {
    let config = load_config()?;
    if config.storages.list.is_empty() {
        return Err(CommandError::Missing(NO_STORAGE));
    }
    Ok(config)
}

async fn serve() -> CommandResult {
    let config = load_config_with_keys()?;
    if config.storages.list.is_empty() {
        log::warn!("{NO_STORAGE}; until then every reference is skipped");
    }
    if let Some(ls) = &config.label_studio
        && let Some(Err(why)) = config.server.login_mount(&ls.url)
    {
        log::warn!("LS_PRESIGN_LINK_POLICY=login: {why}");
    }
    let app = Application::build(config)?;
    log::info!("listening on port {}", app.port());
    app.run_until_signal().await.map_err(CommandError::io("the server"))?;
    Ok(ExitCode::SUCCESS)
}

/// Parses `--at`: RFC 3339, `YYYYMMDDTHHMMSSZ`, or Unix seconds.
fn parse_time(s: &str) -> Result<i64, CommandError> {
    if let Ok(n) = s.parse::<i64>() {
        // The signer writes the date out: it must be one chrono can represent.
        return match chrono::DateTime::from_timestamp(n, 0) {
            Some(_) => Ok(n),
            None => Err(CommandError::Argument(format!(
                "--at {s:?}: Unix seconds out of the range of dates (about ±262,000 years)"
            ))),
        };
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc().timestamp())
        .map_err(|_| {
            CommandError::Argument(format!(
                "--at {s:?}: expected RFC 3339, YYYYMMDDTHHMMSSZ or Unix seconds"
            ))
        })
}

fn sign(uri: &str, ttl: Option<u64>, at: Option<&str>, method: &str, json: bool) -> CommandResult {
    let config = load_storage_config()?;
    let uri = StorageUri::parse(uri)?;
    let storages = Storages::new(config.storages.list)?;
    let (_, storage) = storages.find(&uri)?;
    let ttl = ttl.unwrap_or(storage.config.ttl);
    if ttl == 0 || ttl > crate::sign::MAX_TTL_SECS {
        return Err(CommandError::Argument(format!(
            "--ttl {ttl}: must be 1..={}",
            crate::sign::MAX_TTL_SECS
        )));
    }
    let signed_at = match at {
        Some(at) => parse_time(at)?,
        None => {
            let now = crate::time::now();
            now - now.rem_euclid(storage.config.window as i64)
        }
    };
    let p = storage.presign(method, &uri.key, signed_at, ttl);
    let mut out = std::io::stdout().lock();
    let written = if json {
        let v = serde_json::json!({
            "uri": uri.to_string(),
            "url": p.url,
            "method": p.method,
            "algorithm": storage.algorithm(),
            "signed_at": signed_at,
            "expires_at": p.expires_at,
            "canonical_request": p.canonical_request,
            "string_to_sign": p.string_to_sign,
            "signature": p.signature,
        });
        writeln!(out, "{v:#}")
    } else {
        writeln!(out, "{}", p.url)
    };
    written.map_err(CommandError::io("stdout"))?;
    Ok(ExitCode::SUCCESS)
}

async fn rewrite(file: Option<PathBuf>, mode: Option<RewriteAs>) -> CommandResult {
    let config = load_storage_config()?;
    let input = match &file {
        Some(path) => std::fs::read(path).map_err(CommandError::io(path.display().to_string()))?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(CommandError::io("stdin"))?;
            buf
        }
    };
    let resolver = Resolver::new(&config)?;
    let r = resolver.rewrite(&input, mode, crate::time::now()).await?;
    std::io::stdout()
        .lock()
        .write_all(&r.body)
        .map_err(CommandError::io("stdout"))?;
    eprintln!(
        "ls-presign: {} rewritten, {} skipped, {} failed",
        r.rewritten, r.skipped, r.failed
    );
    for f in &r.failures {
        eprintln!("ls-presign: {}: {} ({})", f.uri, f.message, f.code);
    }
    Ok(if r.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn token(scope: crate::auth::Scope, ttl: &str, sub: &str) -> CommandResult {
    let config = load_config_with_keys()?;
    let ttl = crate::auth::parse_duration(ttl).map_err(|e| CommandError::Argument(format!("--ttl {e}")))?;
    let auth = crate::auth::Authenticator::new(config.keys.api_keys()?, None);
    let token = auth.mint(sub, scope, crate::time::now(), ttl).ok_or(CommandError::Missing(
        "LS_PRESIGN_TOKEN_PRIVATE_KEY_FILE: required to mint RS256/ES256 tokens (the service itself needs only the public keys)",
    ))?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
