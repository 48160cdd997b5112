//! Imports: where `import` keeps what a project holds between runs (`LS_PRESIGN_STATE_DIR`),
//! and the `[[import]]` tables of the TOML file that `serve` runs on a schedule.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::env::Env;
use super::error::{ConfigError, Problems, err};
use crate::import::filter::Filter;
use crate::uri::StorageUri;

/// Imports' settings.
#[derive(Debug, Clone, Default)]
pub struct ImportsConfig {
    /// Where what each project holds is kept between runs; `None`: read from Label Studio.
    pub state_dir: Option<PathBuf>,
    pub scheduled: Vec<ScheduledImport>,
}

/// One `[[import]]` table: an import `serve` runs every `interval`.
#[derive(Debug, Clone)]
pub struct ScheduledImport {
    pub project: u64,
    /// A folder (its key empty or ending in `/`).
    pub uri: StorageUri,
    pub recursive: bool,
    pub glob: Vec<String>,
    pub regex: Option<String>,
    /// Task files (`.json`, `.jsonl`) rather than one task per object.
    pub tasks: bool,
    pub field: Option<String>,
    pub delete_missing: bool,
    pub interval: Duration,
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    import: Vec<RawImport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImport {
    project: u64,
    uri: String,
    #[serde(default = "yes")]
    recursive: bool,
    #[serde(default)]
    glob: Vec<String>,
    regex: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    field: Option<String>,
    #[serde(default)]
    delete_missing: bool,
    interval: Option<String>,
}

fn yes() -> bool {
    true
}

/// How often a scheduled import runs unless its table says.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

impl ImportsConfig {
    pub(super) fn load(env: &Env<'_>) -> Result<ImportsConfig, ConfigError> {
        let mut problems = Problems::default();
        let state_dir = env.get("LS_PRESIGN_STATE_DIR").map(PathBuf::from).or_else(|| {
            env.get("XDG_STATE_HOME")
                .map(|d| Path::new(&d).join("ls-presign"))
                .or_else(|| env.get("HOME").map(|h| Path::new(&h).join(".local/state/ls-presign")))
        });
        let mut scheduled = Vec::new();
        if let Some((path, file)) = env.toml_file::<RawFile>() {
            for (i, raw) in file.import.into_iter().enumerate() {
                let name = format!("{path}: import[{i}]");
                scheduled.extend(problems.take(build(raw, &name)));
            }
        }
        problems.check("imports")?;
        Ok(ImportsConfig { state_dir, scheduled })
    }
}

fn build(raw: RawImport, name: &str) -> Result<ScheduledImport, ConfigError> {
    let setting = |key: &str| format!("{name}.{key}");
    let mut problems = Problems::default();
    let uri = problems.take(StorageUri::parse_folder(&raw.uri).map_err(|e| err(setting("uri"), e)));
    let tasks = problems.take(match raw.mode.as_deref() {
        None | Some("blob") => Ok(false),
        Some("tasks") => Ok(true),
        Some(other) => Err(err(setting("mode"), format!("{other:?} is not one of: blob, tasks"))),
    });
    problems.take(
        Filter::new(&raw.glob, raw.regex.as_deref())
            .map(drop)
            .map_err(|e| err(setting("glob/regex"), e)),
    );
    let interval = problems.take(match raw.interval.as_deref() {
        None => Ok(DEFAULT_INTERVAL),
        Some(text) => match crate::auth::parse_duration(text) {
            Ok(0) => Err(err(setting("interval"), "must be at least 1s")),
            Ok(secs) => Ok(Duration::from_secs(secs)),
            Err(e) => Err(err(setting("interval"), e)),
        },
    });
    match (uri, tasks, interval) {
        (Some(uri), Some(tasks), Some(interval)) if problems.is_empty() => Ok(ScheduledImport {
            project: raw.project,
            uri,
            recursive: raw.recursive,
            glob: raw.glob,
            regex: raw.regex,
            tasks,
            field: raw.field,
            delete_missing: raw.delete_missing,
            interval,
        }),
        _ => Err(problems.into_error(name)),
    }
}
