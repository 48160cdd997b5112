//! The Label Studio REST client: tasks by id and by project page, and PATCH to write them back.
//!
//! Authenticates with a legacy token (`Authorization: Token ...`) or a Personal Access Token —
//! a JWT refresh token exchanged at `/api/token/refresh/` for a short-lived access token, sent as
//! `Bearer` and refreshed before it expires and on 401. Timeouts, 429 and 5xx are retried with
//! exponential backoff.

use std::time::{Duration, Instant};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::net_error;

/// Attempts per request (the first try plus retries).
const ATTEMPTS: u32 = 5;
/// The cookie Label Studio (Django) keeps a signed-in browser's session in.
pub const SESSION_COOKIE: &str = "sessionid";
/// Refresh the access token this long before LS says it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// `query=` of a Data Manager filter whose `items` all hold, in task id order.
fn dm_query(items: &[Value]) -> String {
    let query = serde_json::json!({
        "filters": {"conjunction": "and", "items": items},
        "ordering": ["tasks:id"],
    });
    let query: String = url::form_urlencoded::byte_serialize(query.to_string().as_bytes()).collect();
    format!("query={query}")
}

/// The Data Manager filter item "task id above `after`".
fn id_above(after: u64) -> Value {
    serde_json::json!({"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": after})
}

/// The Data Manager filter item "updated after `since`" (Unix seconds).
fn updated_after(since: i64) -> Option<Value> {
    let since = chrono::DateTime::from_timestamp(since, 0)?;
    // The one format 1.23.2 parses; an offset such as +00:00 is a 500.
    let at = since.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    Some(
        serde_json::json!({"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": at}),
    )
}

/// Why a Label Studio call failed.
#[derive(Debug, thiserror::Error)]
pub enum LsError {
    #[error("Label Studio has no task {0} (deleted?)")]
    TaskGone(u64),
    #[error("Label Studio has no project {0}: check the id in the project's URL (/projects/<id>/)")]
    ProjectGone(u64),
    #[error("Label Studio refused the credentials ({status}): {detail}")]
    Unauthorized { status: u16, detail: String },
    #[error("Label Studio answered {status} to {what}: {detail}")]
    Status { what: String, status: u16, detail: String },
    #[error("{}", unreachable(.what, .source))]
    Unreachable {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Label Studio sent a response that is not the expected JSON for {what}: {detail}")]
    Garbage { what: String, detail: String },
}

enum Credential {
    Legacy(SecretString),
    Pat {
        refresh: SecretString,
        access: Mutex<Option<(SecretString, Instant)>>,
    },
}

/// A Label Studio instance.
pub struct LabelStudio {
    base: String,
    http: reqwest::Client,
    credential: Credential,
}

impl std::fmt::Debug for LabelStudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelStudio")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// What `GET /api/projects/{id}/` says of a project.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Project {
    pub title: String,
    /// Tasks in the project.
    pub task_number: u64,
    pub label_config: String,
}

/// One page of a project's tasks.
#[derive(Debug)]
pub struct TaskPage {
    pub tasks: Vec<Value>,
    /// Tasks in the project, as Label Studio counts them.
    pub total: u64,
}

impl LabelStudio {
    /// The Label Studio of `LABEL_STUDIO_URL` and its settings.
    pub fn from_config(c: &crate::config::LabelStudioConfig) -> Result<LabelStudio, reqwest::Error> {
        Self::new(&c.url, c.api_key.clone(), c.timeout)
    }

    /// `api_key` is a legacy token or a Personal Access Token (a JWT); which one is detected.
    pub fn new(base: &str, api_key: SecretString, timeout: Duration) -> Result<LabelStudio, reqwest::Error> {
        let credential = if is_refresh_jwt(api_key.expose_secret()) {
            Credential::Pat {
                refresh: api_key,
                access: Mutex::new(None),
            }
        } else {
            Credential::Legacy(api_key)
        };
        Ok(LabelStudio {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(5))
                .build()?,
            credential,
        })
    }

    /// The instance's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the key is a Personal Access Token.
    pub fn uses_pat(&self) -> bool {
        matches!(self.credential, Credential::Pat { .. })
    }

    /// Whether Label Studio answers its health check and accepts the credentials.
    pub async fn ping(&self) -> Result<(), LsError> {
        // One attempt: readiness wants the answer now, not after backoff.
        let path = "/api/projects/?page_size=1";
        self.send_attempts::<Value>(reqwest::Method::GET, path, None, "GET /api/projects/", 1)
            .await
            .map(|_| ())
    }

    /// Whether Label Studio accepts `sessionid` as a signed-in browser's session cookie:
    /// `GET /api/current-user/whoami` with that cookie alone (no API key), answered 200 with the
    /// user for a live session and 401 otherwise (tests/fixtures/ls-1.23.2/session_whoami.json).
    /// One attempt within `timeout`: a browser is waiting for an image.
    pub async fn session_valid(&self, sessionid: &str, timeout: Duration) -> Result<bool, LsError> {
        let what = "GET /api/current-user/whoami";
        let unreachable = |source| LsError::Unreachable {
            what: what.to_owned(),
            source,
        };
        let resp = self
            .http
            .get(format!("{}/api/current-user/whoami", self.base))
            .header("cookie", format!("{SESSION_COOKIE}={sessionid}"))
            .timeout(timeout)
            .send()
            .await
            .map_err(unreachable)?;
        match resp.status().as_u16() {
            // A user, not a login page that a redirect led to.
            200 => Ok(resp.json::<Value>().await.map_err(unreachable)?.get("id").is_some()),
            401 | 403 => Ok(false),
            status => Err(LsError::Status {
                what: what.to_owned(),
                status,
                detail: resp.text().await.unwrap_or_default().chars().take(200).collect(),
            }),
        }
    }

    pub async fn get_task(&self, id: u64) -> Result<Value, LsError> {
        self.task_call::<Value>(reqwest::Method::GET, id, None).await
    }

    /// Replaces the task's `data` (and `meta`) — LS's PATCH replaces each given field whole.
    pub async fn patch_task(&self, id: u64, body: &(impl Serialize + ?Sized)) -> Result<Value, LsError> {
        self.task_call(reqwest::Method::PATCH, id, Some(body)).await
    }

    /// `METHOD /api/tasks/{id}/`; a 404 means the task is gone.
    async fn task_call<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        id: u64,
        body: Option<&B>,
    ) -> Result<Value, LsError> {
        let path = format!("/api/tasks/{id}/");
        let what = format!("{method} {path}");
        match self.send(method, &path, body, &what).await {
            Err(LsError::Status { status: 404, .. }) => Err(LsError::TaskGone(id)),
            other => other,
        }
    }

    /// Page `page` (from 1) of a project's tasks.
    pub async fn list_tasks(&self, project: u64, page: u64, page_size: u64) -> Result<TaskPage, LsError> {
        self.tasks_page(project, page, page_size, "fields=all").await
    }

    /// Page `page` of the project's tasks with an id above `after`, in id order, each only with
    /// its `id`, `meta` and `total_annotations` (what `import` needs to know what it made).
    pub async fn task_sources(&self, project: u64, after: u64, page: u64, page_size: u64) -> Result<TaskPage, LsError> {
        // tests/fixtures/ls-1.23.2/api_import_flow.json
        let params = format!("include=id,meta,total_annotations&{}", dm_query(&[id_above(after)]));
        self.tasks_page(project, page, page_size, &params).await
    }

    /// The first `page_size` tasks of the project, in id order above `after`, whose data holds
    /// `needle` (Label Studio's `contains`: the whole data JSON, ignoring case, never `meta`), and
    /// with `since`, only those updated after it (Unix seconds). Each task with its `id`,
    /// `data` and `meta` (tests/fixtures/ls-1.23.2/api_reconcile_filters.json).
    pub async fn tasks_holding(
        &self,
        project: u64,
        needle: &str,
        after: u64,
        since: Option<i64>,
        page_size: u64,
    ) -> Result<TaskPage, LsError> {
        let holds = serde_json::json!({"filter": "filter:tasks:data", "operator": "contains", "type": "String", "value": needle});
        self.tasks_where(project, holds, after, since, page_size, "id,data,meta")
            .await
    }

    /// The ids of the first `page_size` tasks of the project whose `counted` (an annotation
    /// count: `total_annotations` counts those not skipped, `cancelled_annotations` the skipped
    /// ones) is above 0, in id order above `after`, and with `since`, only those updated after it
    /// (Unix seconds). Creating, updating or deleting an annotation, one by one or in bulk, moves
    /// its task's `updated_at` (tests/fixtures/ls-1.23.2/api_export_catch_up.json,
    /// api_export_by_ids.json).
    pub async fn annotated_task_ids(
        &self,
        project: u64,
        counted: &str,
        after: u64,
        since: Option<i64>,
        page_size: u64,
    ) -> Result<TaskPage, LsError> {
        let annotated = serde_json::json!({"filter": format!("filter:tasks:{counted}"), "operator": "greater", "type": "Number", "value": 0});
        self.tasks_where(project, annotated, after, since, page_size, "id")
            .await
    }

    /// The first `page_size` tasks of the project for which the Data Manager filter item `item`
    /// holds, in id order above `after`, updated after `since` when given; each with `include`'s
    /// fields. Page 1 each time: tasks the caller changes may leave the filter.
    async fn tasks_where(
        &self,
        project: u64,
        item: Value,
        after: u64,
        since: Option<i64>,
        page_size: u64,
        include: &str,
    ) -> Result<TaskPage, LsError> {
        let mut items = vec![item, id_above(after)];
        items.extend(since.and_then(updated_after));
        let params = format!("include={include}&{}", dm_query(&items));
        self.tasks_page(project, 1, page_size, &params).await
    }

    /// The tasks `ids` of the project with all their annotations (skipped ones included), from
    /// Label Studio's JSON export: a little faster per task than the Data Manager's `fields=all`
    /// (docs/PERFORMANCE.md §7), annotations in the webhooks' shape
    /// (tests/fixtures/ls-1.23.2/api_export_by_ids.json). Keep `ids` to a few hundred: they
    /// travel in the URL.
    pub async fn export_tasks(&self, project: u64, ids: &[u64]) -> Result<Vec<Value>, LsError> {
        let mut path = format!("/api/projects/{project}/export?exportType=JSON&download_all_tasks=true");
        for id in ids {
            path.push_str(&format!("&ids[]={id}"));
        }
        let what = format!("GET /api/projects/{project}/export");
        match self.send::<Value>(reqwest::Method::GET, &path, None, &what).await {
            Ok(Value::Array(tasks)) => Ok(tasks),
            Ok(_) => Err(LsError::Garbage {
                what,
                detail: "not a list of tasks".to_owned(),
            }),
            Err(LsError::Status { status: 404, .. }) => Err(LsError::ProjectGone(project)),
            Err(e) => Err(e),
        }
    }

    /// The project's title, task count and label config.
    pub async fn project(&self, id: u64) -> Result<Project, LsError> {
        let path = format!("/api/projects/{id}/");
        let what = format!("GET {path}");
        let v = match self.send::<Value>(reqwest::Method::GET, &path, None, &what).await {
            Err(LsError::Status { status: 404, .. }) => return Err(LsError::ProjectGone(id)),
            other => other?,
        };
        serde_json::from_value(v).map_err(|e| LsError::Garbage {
            what,
            detail: e.to_string(),
        })
    }

    /// Creates tasks (`{"data": ..., "meta": ...}` each) in one request; answers the new tasks'
    /// ids, in the order the tasks were sent (`return_task_ids`: 1.23.2 answers them so,
    /// tests/fixtures/ls-1.23.2/api_import_flow.json). Sent once: a retry after a lost answer
    /// could create them twice (the caller finds out from the tasks which landed).
    pub async fn import_tasks(&self, project: u64, tasks: &(impl Serialize + ?Sized)) -> Result<Vec<u64>, LsError> {
        let path = format!("/api/projects/{project}/import?return_task_ids=true");
        let what = format!("POST /api/projects/{project}/import");
        let v = self
            .send_attempts(reqwest::Method::POST, &path, Some(tasks), &what, 1)
            .await?;
        let garbage = |detail: &str| LsError::Garbage {
            what: what.clone(),
            detail: detail.to_owned(),
        };
        let count = v
            .get("task_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| garbage("no \"task_count\" in the answer"))?;
        // No ids for no tasks: LS leaves the key out then.
        let ids: Vec<u64> = match v.get("task_ids").and_then(Value::as_array) {
            Some(ids) => ids.iter().filter_map(Value::as_u64).collect(),
            None if count == 0 => Vec::new(),
            None => return Err(garbage("no \"task_ids\" in the answer")),
        };
        if ids.len() as u64 != count {
            return Err(garbage(&format!("{count} tasks made but {} ids", ids.len())));
        }
        Ok(ids)
    }

    /// Deletes tasks of a project with the Data Manager's `delete_tasks` action (one request).
    pub async fn delete_tasks(&self, project: u64, ids: &[u64]) -> Result<(), LsError> {
        let path = format!("/api/dm/actions?id=delete_tasks&project={project}");
        let body = serde_json::json!({ "selectedItems": { "all": false, "included": ids } });
        self.send::<Value>(
            reqwest::Method::POST,
            &path,
            Some(&body),
            "POST /api/dm/actions?id=delete_tasks",
        )
        .await
        .map(|_| ())
    }

    /// A page of `GET /api/tasks/` with `params`.
    async fn tasks_page(&self, project: u64, page: u64, page_size: u64, params: &str) -> Result<TaskPage, LsError> {
        let path = format!("/api/tasks/?project={project}&page={page}&page_size={page_size}&{params}");
        let what = format!("GET /api/tasks/?project={project}&page={page}");
        let mut v = match self.send::<Value>(reqwest::Method::GET, &path, None, &what).await {
            // Page 1 exists even for a project without tasks: 404 there means no such project
            // (tests/fixtures/ls-1.23.2/api_project_missing.json).
            Err(LsError::Status { status: 404, .. }) if page == 1 => return Err(LsError::ProjectGone(project)),
            // Past the last page LS answers 404.
            Err(LsError::Status { status: 404, .. }) => {
                return Ok(TaskPage {
                    tasks: vec![],
                    total: 0,
                });
            }
            other => other?,
        };
        let garbage = |detail: &str| LsError::Garbage {
            what: what.clone(),
            detail: detail.to_owned(),
        };
        let tasks = match v.get_mut("tasks").map(Value::take) {
            Some(Value::Array(tasks)) => tasks,
            _ => return Err(garbage("no \"tasks\" list")),
        };
        let total = v.get("total").and_then(Value::as_u64).unwrap_or(tasks.len() as u64);
        Ok(TaskPage { tasks, total })
    }

    /// One request with authentication, retries and JSON decoding.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        what: &str,
    ) -> Result<Value, LsError> {
        self.send_attempts(method, path, body, what, ATTEMPTS).await
    }

    async fn send_attempts<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        what: &str,
        attempts: u32,
    ) -> Result<Value, LsError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("authorization", self.authorization(false).await?);
            if let Some(b) = body {
                req = req.json(b);
            }
            let retry = |attempt: u32| attempt < attempts;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if (e.is_timeout() || e.is_connect() || e.is_request()) && retry(attempt) => {
                    log::warn!("{what}: {e}; retrying");
                    backoff(attempt).await;
                    continue;
                }
                Err(e) => {
                    return Err(LsError::Unreachable {
                        what: what.to_owned(),
                        source: e,
                    });
                }
            };
            let status = resp.status().as_u16();
            if status == 401 && self.uses_pat() && !refreshed {
                // The access token may have been revoked or expired early: refresh once.
                refreshed = true;
                self.authorization(true).await?;
                attempt -= 1;
                continue;
            }
            if (status == 429 || status >= 500) && retry(attempt) {
                log::warn!("{what}: Label Studio answered {status}; retrying");
                backoff(attempt).await;
                continue;
            }
            let text = resp.text().await.map_err(|e| LsError::Unreachable {
                what: what.to_owned(),
                source: e,
            })?;
            if status == 401 || status == 403 {
                return Err(LsError::Unauthorized {
                    status,
                    detail: detail(&text),
                });
            }
            if !(200..300).contains(&status) {
                return Err(LsError::Status {
                    what: what.to_owned(),
                    status,
                    detail: detail(&text),
                });
            }
            return serde_json::from_str(&text).map_err(|e| LsError::Garbage {
                what: what.to_owned(),
                detail: e.to_string(),
            });
        }
    }

    /// The `Authorization` header value; for a PAT, refreshes the access token when it is near
    /// expiry or when `force` is set.
    async fn authorization(&self, force: bool) -> Result<String, LsError> {
        let (refresh, access) = match &self.credential {
            Credential::Legacy(token) => return Ok(format!("Token {}", token.expose_secret())),
            Credential::Pat { refresh, access } => (refresh, access),
        };
        let mut slot = access.lock().await;
        if !force
            && let Some((token, until)) = slot.as_ref()
            && Instant::now() + REFRESH_MARGIN < *until
        {
            return Ok(format!("Bearer {}", token.expose_secret()));
        }
        let what = "POST /api/token/refresh/";
        let resp = self
            .http
            .post(format!("{}/api/token/refresh/", self.base))
            .json(&serde_json::json!({ "refresh": refresh.expose_secret() }))
            .send()
            .await
            .map_err(|e| LsError::Unreachable {
                what: what.into(),
                source: e,
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status != 200 {
            return Err(LsError::Unauthorized {
                status,
                detail: format!("refreshing the Personal Access Token failed: {}", detail(&text)),
            });
        }
        let token = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("access").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| LsError::Garbage {
                what: what.into(),
                detail: "no \"access\" token in the answer".into(),
            })?;
        let lifetime = jwt_lifetime(&token).unwrap_or(Duration::from_secs(300));
        let header = format!("Bearer {token}");
        *slot = Some((SecretString::from(token), Instant::now() + lifetime));
        Ok(header)
    }
}

/// [`LsError::Unreachable`] in the user's words: the host and why, when the error says.
fn unreachable(what: &str, source: &reqwest::Error) -> String {
    match net_error::no_answer(source) {
        Some(no) => format!("cannot reach Label Studio at {}: {}", no.host, no.cause),
        None => format!("Label Studio could not be reached for {what}: {source}"),
    }
}

async fn backoff(attempt: u32) {
    let base = Duration::from_millis(250) * 2u32.pow(attempt.min(6));
    let jitter = Duration::from_millis(rand::random::<u64>() % 100);
    tokio::time::sleep(base.min(Duration::from_secs(8)) + jitter).await;
}

/// LS's error `detail`, or the start of the body.
fn detail(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// The claims of a JWT, without checking its signature (we only read what LS told us).
fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn is_refresh_jwt(token: &str) -> bool {
    token.split('.').count() == 3
        && jwt_claims(token).is_some_and(|c| c.get("token_type").and_then(Value::as_str) == Some("refresh"))
}

fn jwt_lifetime(token: &str) -> Option<Duration> {
    let c = jwt_claims(token)?;
    let exp = c.get("exp")?.as_i64()?;
    Some(Duration::from_secs((exp - crate::time::now()).max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_personal_access_token() {
        // The (redacted) refresh token captured from LS 1.23.2.
        let pat = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6ODEwMjk3NTg0MCwiaWF0IjoxNzk1Nzc1ODQwLCJqdGkiOiI0ZTM5NDcwZjY1Zjc0NmE2YTQ4OThkZThlN2VkMDU4ZiIsInVzZXJfaWQiOiIxIn0.SIGNATURE-REDACTED";
        assert!(is_refresh_jwt(pat));
        assert!(!is_refresh_jwt("research-legacy-token-0123456789"));
        assert_eq!(detail(r#"{"detail":"Token is blacklisted"}"#), "Token is blacklisted");
    }
}
