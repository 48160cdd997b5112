//! Export targets: where annotations of a project are written as they are made — `[[export]]`
//! tables of the TOML file, or `LS_PRESIGN_EXPORT_PROJECT` and `LS_PRESIGN_EXPORT_URI` for one
//! project.

use serde::Deserialize;

use super::env::Env;
use super::error::{ConfigError, Problems, err};
use crate::uri::StorageUri;

/// Export targets, at most one per project.
#[derive(Debug, Clone, Default)]
pub struct ExportsConfig {
    pub targets: Vec<ExportTarget>,
}

/// Annotations of `project` go to `<folder>/<annotation id>.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTarget {
    pub project: u64,
    /// A folder (its key empty or ending in `/`).
    pub folder: StorageUri,
    /// Whether `ANNOTATIONS_DELETED` removes the objects (as Label Studio's `can_delete_objects`).
    pub delete: bool,
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    export: Vec<RawExport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    project: u64,
    uri: String,
    #[serde(default)]
    delete: bool,
}

impl ExportsConfig {
    pub(super) fn load(env: &Env<'_>) -> Result<ExportsConfig, ConfigError> {
        let mut problems = Problems::default();
        let mut targets = Vec::new();
        match env.pair("LS_PRESIGN_EXPORT_PROJECT", "LS_PRESIGN_EXPORT_URI") {
            Ok(Some(_)) => {
                let project = problems.take(env.parse::<u64>("LS_PRESIGN_EXPORT_PROJECT"));
                let uri = env.get("LS_PRESIGN_EXPORT_URI").unwrap_or_default();
                let folder = problems.take(StorageUri::parse_folder(&uri).map_err(|e| err("LS_PRESIGN_EXPORT_URI", e)));
                let folder = folder.map(StorageUri::into_folder);
                let delete = problems.take(env.flag("LS_PRESIGN_EXPORT_DELETE"));
                if let (Some(Some(project)), Some(folder), Some(delete)) = (project, folder, delete) {
                    targets.push(ExportTarget {
                        project,
                        folder,
                        delete: delete.unwrap_or(false),
                    });
                }
            }
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
        if let Some((path, file)) = env.toml_file::<RawFile>() {
            for (i, raw) in file.export.into_iter().enumerate() {
                let name = format!("{path}: export[{i}]");
                let folder = StorageUri::parse_folder(&raw.uri)
                    .map(StorageUri::into_folder)
                    .map_err(|e| err(format!("{name}.uri"), e));
                targets.extend(problems.take(folder).map(|folder| ExportTarget {
                    project: raw.project,
                    folder,
                    delete: raw.delete,
                }));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &targets {
            if !seen.insert(t.project) {
                problems.push(err(
                    "export",
                    format!("project {} has two export targets: one folder per project", t.project),
                ));
            }
        }
        problems.check("exports")?;
        Ok(ExportsConfig { targets })
    }

    /// The keys of the export folders in `listed`'s bucket that lie under it: what an import of
    /// `listed` must leave out (its own annotations would become tasks).
    pub fn folders_under<'a>(&'a self, listed: &'a StorageUri) -> impl Iterator<Item = String> + 'a {
        self.targets
            .iter()
            .map(|t| &t.folder)
            .filter(move |f| f.scheme == listed.scheme && f.bucket == listed.bucket && f.key.starts_with(&listed.key))
            .map(|f| f.key.clone())
    }

    /// The target of `project`, if it has one.
    pub fn of(&self, project: u64) -> Option<&ExportTarget> {
        self.targets.iter().find(|t| t.project == project)
    }
}
