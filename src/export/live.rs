//! Annotations back to the bucket, as they are made (Label Studio's "Target Storage", done from
//! outside): on `ANNOTATION_CREATED`, `ANNOTATIONS_CREATED` and `ANNOTATION_UPDATED` webhooks
//! of a project with an export target, one JSON object per annotation,
//! `<folder>/<annotation id>.json`, holding the annotation, `completed_by`, and the task with its
//! data restored to the original `oss://`/`s3://` URIs. `ANNOTATIONS_DELETED` removes the
//! objects when the target allows deletion.
//!
//! Writes are queued (the webhook is answered at once), retried with backoff on store errors,
//! drained at shutdown and counted; the same content always gives the same bytes (keys sorted),
//! so writing an annotation again changes nothing. A write that fails past its retries is caught
//! up by serve's reconcile loop (its task was updated); a removal that fails is noted in
//! [`Unremoved`], and the loop's next run compares that project whole, which removes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::{ExportTarget, ExportsConfig};
use crate::metrics::Metrics;
use crate::queue::{Full, Queue};
use crate::resolve::Resolver;
use crate::storage::Storages;
use crate::uri::StorageUri;

/// The fields of an annotation an object keeps: those Label Studio 1.23.2 gives both in its
/// webhooks and in its API (tests/fixtures/ls-1.23.2/webhook_ANNOTATION_CREATED.json,
/// api_annotations.json), so a bulk export writes the same bytes as the live one. Left out:
/// `prediction`, `result_count`, `unique_id` (webhook only), `created_username` and
/// `created_ago` (API only; the latter changes with the clock).
const ANNOTATION_FIELDS: [&str; 18] = [
    "id",
    "result",
    "completed_by",
    "was_cancelled",
    "ground_truth",
    "created_at",
    "updated_at",
    "draft_created_at",
    "lead_time",
    "import_id",
    "last_action",
    "bulk_created",
    "task",
    "project",
    "updated_by",
    "parent_prediction",
    "parent_annotation",
    "last_created_by",
];

/// Attempts per object (the first try and the retries).
const ATTEMPTS: u32 = 5;
/// The first wait before a retry; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// One object to write or remove.
#[derive(Debug)]
enum Job {
    Write {
        annotation: u64,
        uri: StorageUri,
        body: Bytes,
    },
    Delete {
        project: u64,
        annotation: u64,
        uri: StorageUri,
    },
}

/// Projects with an annotation object the live export failed to remove, and since when (Unix
/// seconds). Shared with serve's reconcile loop: only a run comparing the whole project finds
/// such an object, so the loop makes its next run of the project a whole one.
#[derive(Debug, Default)]
pub struct Unremoved(Mutex<HashMap<u64, i64>>);

impl Unremoved {
    fn note(&self, project: u64) {
        self.lock().entry(project).or_insert_with(crate::time::now);
    }

    /// Whether `project` has an object left to remove.
    pub fn has(&self, project: u64) -> bool {
        self.lock().contains_key(&project)
    }

    /// A whole compare of `project` that began at `started` and ended clean removed what was
    /// noted before it began.
    pub fn compared(&self, project: u64, started: i64) {
        let mut noted = self.lock();
        if noted.get(&project).is_some_and(|&at| at <= started) {
            noted.remove(&project);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The export queue and the targets it writes to.
#[derive(Debug, Clone)]
pub struct Exporter {
    queue: Queue<Job>,
    config: Arc<ExportsConfig>,
    resolver: Arc<Resolver>,
}

/// What one webhook asked of the export.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub writes: usize,
    pub deletes: usize,
}

impl Exporter {
    /// Starts the worker: `concurrency` objects at a time, at most `capacity` waiting.
    pub fn spawn(
        config: ExportsConfig,
        resolver: Arc<Resolver>,
        storages: Arc<Storages>,
        metrics: Arc<Metrics>,
        unremoved: Arc<Unremoved>,
        capacity: usize,
        concurrency: usize,
    ) -> Exporter {
        let queue = Queue::spawn(
            capacity,
            concurrency,
            |_| {},
            move |job: Job| {
                let (storages, metrics, unremoved) = (storages.clone(), metrics.clone(), unremoved.clone());
                async move {
                    let outcome = run(&storages, &job).await;
                    if let (Job::Delete { project, .. }, "failed") = (&job, outcome) {
                        unremoved.note(*project);
                    }
                    metrics.count("export_objects_total", outcome, 1);
                }
            },
        );
        Exporter {
            queue,
            config: Arc::new(config),
            resolver,
        }
    }

    /// Queues what a webhook `event` asks of the export (nothing for a project without a target
    /// or an action that is not about annotations). All of it, or none when the queue is full.
    pub fn handle(&self, event: &Value) -> Result<Queued, Full> {
        let action = event["action"].as_str().unwrap_or_default();
        let Some(target) = event["project"]["id"].as_u64().and_then(|p| self.config.of(p)) else {
            return Ok(Queued::default());
        };
        let jobs = match action {
            "ANNOTATION_CREATED" | "ANNOTATIONS_CREATED" | "ANNOTATION_UPDATED" => self.writes(target, event),
            "ANNOTATIONS_DELETED" if target.delete => deletes(target, event),
            _ => Vec::new(),
        };
        let writes = jobs.iter().filter(|j| matches!(j, Job::Write { .. })).count();
        let queued = self.queue.push_all(jobs)?;
        Ok(Queued {
            writes,
            deletes: queued - writes,
        })
    }

    /// One write per annotation of the event, each with its task.
    fn writes(&self, target: &ExportTarget, event: &Value) -> Vec<Job> {
        let tasks = one_or_many(&event["task"]);
        one_or_many(&event["annotation"])
            .into_iter()
            .filter_map(|annotation| {
                let id = annotation["id"].as_u64()?;
                let task = tasks.iter().find(|t| t["id"] == annotation["task"]).or(tasks.first())?;
                Some(Job::Write {
                    annotation: id,
                    uri: object_uri(&target.folder, id),
                    body: Bytes::from(document(&self.resolver, annotation, task)),
                })
            })
            .collect()
    }

    /// Jobs accepted and not yet done.
    pub fn pending(&self) -> usize {
        self.queue.pending()
    }

    /// Waits until every queued object is written, or `timeout` passes; answers how many were
    /// left.
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.queue.drain(timeout).await
    }
}

/// `ANNOTATIONS_DELETED` carries only ids: their objects.
fn deletes(target: &ExportTarget, event: &Value) -> Vec<Job> {
    one_or_many(&event["annotations"])
        .into_iter()
        .filter_map(|a| a["id"].as_u64())
        .map(|id| Job::Delete {
            project: target.project,
            annotation: id,
            uri: object_uri(&target.folder, id),
        })
        .collect()
}

/// An object, or each item of a list.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

/// Where the annotation `id` of a target in `folder` is kept.
pub fn object_uri(folder: &StorageUri, id: u64) -> StorageUri {
    StorageUri {
        scheme: folder.scheme,
        bucket: folder.bucket.clone(),
        key: format!("{}{id}.json", folder.key),
    }
}

/// The object of one annotation: the annotation ([`ANNOTATION_FIELDS`]), `completed_by`, and
/// its task (`id`, `project`, `meta`, and `data` with this service's stable links turned back
/// into the URIs they name). Keys are sorted at every level, so the same content is always the
/// same bytes.
pub fn document(resolver: &Resolver, annotation: &Value, task: &Value) -> Vec<u8> {
    sorted(json!({
        "annotation": annotation_part(annotation),
        "completed_by": annotation["completed_by"],
        "task": task_part(resolver, task),
    }))
}

/// The object of one task with all its annotations (`export --per-task`, Label Studio's other
/// format): the task as in [`document`], and its annotations in id order.
pub fn task_document(resolver: &Resolver, task: &Value) -> Vec<u8> {
    let mut annotations: Vec<&Value> = one_or_many(&task["annotations"]);
    annotations.sort_by_key(|a| a["id"].as_u64());
    let annotations: Vec<Value> = annotations.into_iter().map(annotation_part).collect();
    sorted(json!({"annotations": annotations, "task": task_part(resolver, task)}))
}

/// An annotation's [`ANNOTATION_FIELDS`].
fn annotation_part(annotation: &Value) -> Value {
    Value::Object(
        ANNOTATION_FIELDS
            .iter()
            .filter_map(|&f| Some((f.to_owned(), annotation.get(f)?.clone())))
            .collect(),
    )
}

/// A task's `id`, `project`, `meta`, and `data` with stable links turned back into URIs.
fn task_part(resolver: &Resolver, task: &Value) -> Value {
    let mut data = task["data"].clone();
    resolver.unlink(&mut data);
    json!({"id": task["id"], "project": task["project"], "data": data, "meta": task["meta"]})
}

/// `doc` with its keys sorted at every level, compact.
fn sorted(mut doc: Value) -> Vec<u8> {
    doc.sort_all_objects();
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Writes or removes one object, retrying store errors with backoff; the outcome's label.
async fn run(storages: &Storages, job: &Job) -> &'static str {
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let (result, annotation, uri) = match job {
            Job::Write { annotation, uri, body } => (
                storages
                    .write(uri, body.clone(), "application/json", false)
                    .await
                    .map(drop),
                annotation,
                uri,
            ),
            Job::Delete { annotation, uri, .. } => (storages.delete(uri).await, annotation, uri),
        };
        match result {
            Ok(()) => {
                return match job {
                    Job::Write { .. } => "written",
                    Job::Delete { .. } => "deleted",
                };
            }
            Err(e) if attempt < ATTEMPTS => {
                log::warn!("export of annotation {annotation} to {uri}: {e}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                log::error!("export of annotation {annotation} to {uri} failed after {ATTEMPTS} attempts: {e}");
            }
        }
    }
    "failed"
}
