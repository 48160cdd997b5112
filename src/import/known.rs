//! What a project already holds: the source of every task an import made (from the task's
//! `meta.ls_presign`), so a re-run imports only what is new.
//!
//! Label Studio is the truth; the state file is a cache of it, so a re-run need not read every
//! task. Each run reads only the tasks above the highest id seen (one request when nothing is
//! new) and checks the project's task count: when it does not add up (tasks were deleted, or
//! the file was lost), every task is read again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::source::recorded_source;
use crate::labelstudio::{LabelStudio, LsError};

/// Tasks per page when reading what a project holds.
const PAGE: u64 = 1000;

/// The sources of a project's tasks, as of its highest task id seen.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Known {
    label_studio: String,
    project: u64,
    /// The highest task id read.
    max_id: u64,
    /// How many tasks have an id up to `max_id` (all of them were read).
    seen: u64,
    /// Source → the ids of its tasks (more than one only if something else duplicated it).
    sources: HashMap<String, Vec<u64>>,
    /// Requests made to Label Studio by this run (not saved).
    #[serde(skip)]
    pub requests: u64,
}

impl Known {
    /// The saved state of `project` on `label_studio`, or an empty one (a missing, unreadable
    /// or foreign file is read again from Label Studio).
    pub fn load(file: Option<&Path>, label_studio: &str, project: u64) -> Known {
        let saved = file
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice::<Known>(&bytes).ok())
            .filter(|k| k.label_studio == label_studio && k.project == project);
        saved.unwrap_or_else(|| Known {
            label_studio: label_studio.to_owned(),
            project,
            ..Known::default()
        })
    }

    /// Writes the state (to a temporary file renamed over the old one).
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(tmp, file)
    }

    /// The state file of `project` on `label_studio` in `dir`.
    pub fn file_in(dir: &Path, label_studio: &str, project: u64) -> PathBuf {
        use sha2::Digest;
        let instance = hex::encode(&sha2::Sha256::digest(label_studio.as_bytes())[..6]);
        dir.join(format!("import-{instance}-project-{project}.json"))
    }

    /// Catches up with Label Studio, whose project holds `task_number` tasks: reads the tasks
    /// above the highest id seen, and everything again when the count does not add up.
    pub async fn refresh(&mut self, ls: &LabelStudio, task_number: u64) -> Result<(), LsError> {
        self.read_new(ls).await?;
        if self.seen != task_number {
            log::info!(
                "import: project {} holds {task_number} tasks, {} expected: reading all of them again",
                self.project,
                self.seen
            );
            self.max_id = 0;
            self.seen = 0;
            self.sources.clear();
            self.read_new(ls).await?;
        }
        Ok(())
    }

    /// Reads the tasks above the highest id seen; answers how many there were.
    pub async fn read_new(&mut self, ls: &LabelStudio) -> Result<u64, LsError> {
        let after = self.max_id;
        let mut read = 0;
        for page in 1.. {
            let got = ls.task_sources(self.project, after, page, PAGE).await?;
            self.requests += 1;
            for task in &got.tasks {
                let Some(id) = task.get("id").and_then(serde_json::Value::as_u64) else {
                    continue;
                };
                read += 1;
                self.seen += 1;
                self.max_id = self.max_id.max(id);
                if let Some(source) = recorded_source(task.get("meta")) {
                    self.sources.entry(source).or_default().push(id);
                }
            }
            if (got.tasks.len() as u64) < PAGE {
                break;
            }
        }
        Ok(read)
    }

    /// Records tasks just made, `ids[i]` from `sources[i]` (as Label Studio answered the import),
    /// instead of reading them back. Tasks someone else made meanwhile are not read; the count
    /// check of the next [`Known::refresh`] finds them.
    pub fn record(&mut self, sources: Vec<String>, ids: &[u64]) {
        for (source, &id) in sources.into_iter().zip(ids) {
            self.max_id = self.max_id.max(id);
            self.seen += 1;
            self.sources.entry(source).or_default().push(id);
        }
    }

    pub fn contains(&self, source: &str) -> bool {
        self.sources.contains_key(source)
    }

    /// The sources recorded, with their task ids.
    pub fn sources(&self) -> impl Iterator<Item = (&String, &Vec<u64>)> {
        self.sources.iter()
    }

    /// Forgets the tasks of `source` (deleted).
    pub fn forget(&mut self, source: &str) {
        if let Some(ids) = self.sources.remove(source) {
            self.seen = self.seen.saturating_sub(ids.len() as u64);
        }
    }
}
