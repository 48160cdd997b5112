//! Write-back: rewriting tasks *in Label Studio* so every storage reference becomes a stable
//! link, from webhooks (a bounded background queue) and from `ls-presign sync`.
//!
//! A task is rewritten with one `PATCH /api/tasks/{id}/` carrying its whole `data` (LS replaces
//! it whole) and its `meta` with the original URIs under `ls_presign`. A task without raw
//! references is left alone, so both paths are idempotent.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::labelstudio::{LabelStudio, LsError};
use crate::metrics::Metrics;
use crate::resolve::{Resolver, RewriteAs};
use crate::rewrite::Document;

/// What a task needs.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// No raw reference to a configured bucket: nothing to do.
    AlreadyDone,
    /// The PATCH body that rewrites it.
    Rewrite(Patch),
}

/// The body of the PATCH that writes a task back: its rewritten `data`, kept as the text the
/// rewriter produced, and its `meta` with the original URIs.
#[derive(Debug, Serialize)]
pub struct Patch {
    pub data: Box<RawValue>,
    pub meta: Map<String, Value>,
}

impl PartialEq for Patch {
    fn eq(&self, other: &Patch) -> bool {
        self.data.get() == other.data.get() && self.meta == other.meta
    }
}

/// How one task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Rewritten,
    AlreadyDone,
    /// Deleted in Label Studio before it could be written back.
    Gone,
    Failed,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Rewritten => "rewritten",
            Outcome::AlreadyDone => "already_done",
            Outcome::Gone => "gone",
            Outcome::Failed => "failed",
        }
    }
}

/// Why a task could not be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum WritebackError {
    #[error("task has no numeric \"id\"")]
    NoId,
    #[error("task {0} has no \"data\" object")]
    NoData(u64),
    #[error("task {id}: {message}")]
    Resolve { id: u64, message: String },
    #[error(transparent)]
    Ls(#[from] LsError),
}

/// The task's id.
pub fn task_id(task: &Value) -> Result<u64, WritebackError> {
    task.get("id").and_then(Value::as_u64).ok_or(WritebackError::NoId)
}

/// Decides what a task (as Label Studio returns it) needs.
pub async fn plan(resolver: &Resolver, task: &Value, now: i64) -> Result<Plan, WritebackError> {
    let id = task_id(task)?;
    let data = task
        .get("data")
        .filter(|d| d.is_object())
        .ok_or(WritebackError::NoData(id))?;
    let resolve_err = |message: String| WritebackError::Resolve { id, message };
    let src = serde_json::to_vec(data).map_err(|e| resolve_err(e.to_string()))?;
    let doc = Document::scan(&src).map_err(|e| resolve_err(e.to_string()))?;
    let uris: Vec<String> = doc
        .references()
        .filter(|u| resolver.handles(u))
        .map(|u| u.to_string())
        .collect();
    if uris.is_empty() {
        return Ok(Plan::AlreadyDone);
    }
    let out = resolver
        .rewrite_scanned(&doc, Some(RewriteAs::Link), now)
        .await
        .map_err(|e| resolve_err(e.to_string()))?;
    if let Some(f) = out.failures.first() {
        return Err(resolve_err(format!("{}: {}", f.uri, f.message)));
    }
    let data = String::from_utf8(out.body)
        .map_err(|e| resolve_err(e.to_string()))
        .and_then(|text| RawValue::from_string(text).map_err(|e| resolve_err(e.to_string())))?;

    let mut meta = match task.get("meta") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut original: Vec<String> = meta
        .get("ls_presign")
        .and_then(|v| v.get("original_uris"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    // Each URI once, in the order first seen (a task may name one object in several places).
    let mut seen: HashSet<String> = original.iter().cloned().collect();
    original.extend(uris.into_iter().filter(|u| seen.insert(u.clone())));
    meta.insert(
        "ls_presign".into(),
        json!({ "original_uris": original, "rewritten_at": crate::time::rfc3339(now) }),
    );
    Ok(Plan::Rewrite(Patch { data, meta }))
}

/// Plans and, unless `dry_run`, writes one task back.
pub async fn process(resolver: &Resolver, ls: &LabelStudio, task: &Value, dry_run: bool) -> Outcome {
    let id = task_id(task).unwrap_or(0);
    let result = async {
        match plan(resolver, task, crate::time::now()).await? {
            Plan::AlreadyDone => Ok(Outcome::AlreadyDone),
            Plan::Rewrite(_) if dry_run => Ok(Outcome::Rewritten),
            Plan::Rewrite(body) => {
                ls.patch_task(id, &body).await?;
                Ok(Outcome::Rewritten)
            }
        }
    }
    .await;
    match result {
        Ok(o) => o,
        Err(WritebackError::Ls(LsError::TaskGone(_))) => {
            log::info!("write-back: task {id} was deleted before it could be rewritten");
            Outcome::Gone
        }
        Err(e) => {
            log::error!("write-back of task {id} failed: {e}");
            Outcome::Failed
        }
    }
}

/// What a run of write-backs did (`sync`, the reconcile loop).
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

/// How a run of write-backs goes: tasks at once, and whether only to count.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub concurrency: usize,
    pub dry_run: bool,
}

/// Writes back `tasks` at `pace`, adding each outcome to `summary` and telling `progress`; once
/// `stop` is set no task is started (`summary.interrupted`). For `sync` and the reconcile loop.
pub async fn write_back_all(
    resolver: &Resolver,
    ls: &LabelStudio,
    tasks: &[Value],
    pace: Pace,
    stop: &AtomicBool,
    summary: &mut Summary,
    progress: &(dyn Fn(Option<u64>, &Summary) + Sync),
) {
    let mut pending = FuturesUnordered::new();
    for task in tasks {
        if stop.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        if pending.len() >= pace.concurrency
            && let Some(outcome) = pending.next().await
        {
            summary.add(outcome);
            progress(None, summary);
        }
        pending.push(process(resolver, ls, task, pace.dry_run));
    }
    while let Some(outcome) = pending.next().await {
        summary.add(outcome);
        progress(None, summary);
    }
}

/// The queue is full: the caller should answer 503.
#[derive(Debug, thiserror::Error)]
#[error("the write-back queue has room for {free} tasks, {wanted} were sent; try again later or run `ls-presign sync`")]
pub struct QueueFull {
    pub free: usize,
    pub wanted: usize,
}

/// The bounded queue of tasks that webhooks hand over for write-back.
#[derive(Debug, Clone)]
pub struct Queue {
    jobs: crate::queue::Queue<Value>,
    metrics: Arc<Metrics>,
}

impl Queue {
    /// Starts the worker on the current runtime: `concurrency` tasks written back at a time.
    pub fn spawn(
        resolver: Arc<Resolver>,
        ls: Arc<LabelStudio>,
        metrics: Arc<Metrics>,
        capacity: usize,
        concurrency: usize,
    ) -> Queue {
        let gauge = metrics.clone();
        let counts = metrics.clone();
        let jobs = crate::queue::Queue::spawn(
            capacity,
            concurrency,
            move |waiting| gauge.set_queue_depth(waiting),
            move |task: Value| {
                let (resolver, ls, metrics) = (resolver.clone(), ls.clone(), counts.clone());
                async move {
                    let outcome = process(&resolver, &ls, &task, false).await;
                    metrics.count("writeback_tasks_total", outcome.label(), 1);
                }
            },
        );
        Queue { jobs, metrics }
    }

    /// Tasks accepted and not yet written back: queued, or being written back.
    pub fn pending(&self) -> usize {
        self.jobs.pending()
    }

    /// Waits until every queued task is written back, or `timeout` passes; returns how many
    /// tasks were left (0 when drained).
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.jobs.drain(timeout).await
    }

    /// Queues all of `tasks`, or none when they don't all fit.
    pub fn push_all(&self, tasks: Vec<Value>) -> Result<usize, QueueFull> {
        let queued = self.jobs.push_all(tasks).map_err(|f| QueueFull {
            free: f.free,
            wanted: f.wanted,
        })?;
        self.metrics.set_queue_depth(self.jobs.len());
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Env};
    use std::collections::HashMap;

    fn resolver() -> Resolver {
        let vars: HashMap<String, String> = [
            ("OSS_BUCKET", "my-bucket"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ACCESS_KEY_ID", "AK"),
            ("OSS_ACCESS_KEY_SECRET", "SK"),
            ("LS_PRESIGN_SECRET", "0123456789abcdef0123"),
            ("LS_PRESIGN_PUBLIC_URL", "https://presign.example.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Resolver::new(&Config::load(&Env::map(&vars)).unwrap()).unwrap()
    }

    /// The tasks of the captured TASKS_CREATED webhook (LS 1.23.2).
    fn captured_tasks() -> Vec<Value> {
        let text = include_str!("../tests/fixtures/ls-1.23.2/webhook_TASKS_CREATED_import.json");
        let v: Value = serde_json::from_str(text).unwrap();
        v["received"]["body"]["tasks"].as_array().unwrap().clone()
    }

    #[tokio::test]
    async fn plans_links_with_originals_in_meta_and_is_idempotent() {
        let r = resolver();
        let tasks = captured_tasks();
        let Plan::Rewrite(body) = plan(&r, &tasks[3], 1_795_773_600).await.unwrap() else {
            panic!("task 4 holds references");
        };
        let body = serde_json::to_value(body).unwrap();
        let data = &body["data"];
        assert!(
            data["image"]
                .as_str()
                .unwrap()
                .starts_with("https://presign.example.com/r/")
        );
        assert!(
            data["images"][0]
                .as_str()
                .unwrap()
                .starts_with("https://presign.example.com/r/")
        );
        // s3:// is not configured here; plain URLs stay.
        assert_eq!(data["images"][1], "s3://my-bucket/list/2.png");
        assert_eq!(data["images"][2], "https://example.com/3.jpg");
        assert_eq!(
            body["meta"]["ls_presign"]["original_uris"],
            json!(["oss://my-bucket/images/e.jpg", "oss://my-bucket/list/1.jpg"])
        );
        // After the PATCH, LS holds the new data: nothing left to do.
        let rewritten = json!({"id": 4, "data": data, "meta": body["meta"]});
        assert_eq!(plan(&r, &rewritten, 1_795_773_600).await.unwrap(), Plan::AlreadyDone);
        // s3-only task: nothing configured, nothing to do.
        assert_eq!(plan(&r, &tasks[1], 0).await.unwrap(), Plan::AlreadyDone);
        assert!(matches!(
            plan(&r, &json!({"data": {}}), 0).await,
            Err(WritebackError::NoId)
        ));
        assert!(matches!(
            plan(&r, &json!({"id": 9}), 0).await,
            Err(WritebackError::NoData(9))
        ));
    }

    #[tokio::test]
    async fn existing_meta_is_kept() {
        let r = resolver();
        let task = json!({"id": 1, "data": {"b": "x", "a": "oss://my-bucket/k.jpg"}, "meta": {"k": "v"}});
        let Plan::Rewrite(body) = plan(&r, &task, 0).await.unwrap() else {
            panic!()
        };
        let body = serde_json::to_value(body).unwrap();
        assert_eq!(body["meta"]["k"], "v");
        assert_eq!(
            body["meta"]["ls_presign"]["original_uris"],
            json!(["oss://my-bucket/k.jpg"])
        );
        // Key order of data is preserved.
        let keys: Vec<_> = body["data"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["b", "a"]);
    }

    #[tokio::test]
    async fn an_object_named_twice_is_one_original() {
        let r = resolver();
        let task = json!({"id": 1, "data": {"a": "oss://my-bucket/1.jpg", "b": "oss://my-bucket/2.jpg", "c": "oss://my-bucket/1.jpg"}});
        let Plan::Rewrite(body) = plan(&r, &task, 0).await.unwrap() else {
            panic!()
        };
        let body = serde_json::to_value(body).unwrap();
        assert_eq!(
            body["meta"]["ls_presign"]["original_uris"],
            json!(["oss://my-bucket/1.jpg", "oss://my-bucket/2.jpg"])
        );
    }
}
