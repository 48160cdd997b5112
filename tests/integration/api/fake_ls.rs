//! A stand-in for Label Studio's REST API (task GET/PATCH/list, PAT refresh, and what `import`
//! uses: the project, task import, tasks above an id, the delete_tasks action) that can fail on
//! demand: status codes, delays, deleted tasks, revoked access tokens. Shapes follow the captures
//! in tests/fixtures/ls-1.23.2 (api_import_flow.json for the import calls).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::helpers::b64url;

pub const LEGACY_TOKEN: &str = "legacy-token-0123456789";

/// What the next request for a task does instead of answering normally.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    Status(u16),
    Delay(Duration),
    /// 200 with an HTML page instead of JSON.
    Garbage,
}

#[derive(Default)]
pub struct Inner {
    pub tasks: BTreeMap<u64, Value>,
    pub faults: HashMap<u64, VecDeque<Fault>>,
    /// (task id, body) of every PATCH that succeeded.
    pub patches: Vec<(u64, Value)>,
    pub authorizations: Vec<String>,
    pub refreshes: u32,
    /// Access tokens LS will accept; cleared to simulate revocation.
    pub valid_access: Vec<String>,
    pub list_requests: u32,
    /// The Data Manager query (`query=`) of every task list request that had one.
    pub queries: Vec<Value>,
    /// Projects by id: their label config.
    pub projects: BTreeMap<u64, String>,
    /// Sizes of the import requests that created tasks.
    pub imports: Vec<usize>,
    /// Every item of every import request, as sent.
    pub imported: Vec<Value>,
    /// Every request, `METHOD path`, in order.
    pub requests: Vec<String>,
    /// Session cookies (`sessionid` values) of signed-in browsers.
    pub sessions: Vec<String>,
    /// `GET /api/current-user/whoami` requests answered.
    pub whoami: u32,
    /// How many of the next whoami requests get a 500.
    pub whoami_failures: u32,
}

/// The key of the faults scripted for import requests.
pub const IMPORT: u64 = u64::MAX;

#[derive(Clone)]
pub struct FakeLs {
    pub url: String,
    pub inner: Arc<Mutex<Inner>>,
    handle: actix_web::dev::ServerHandle,
}

/// A refresh JWT shaped like LS's Personal Access Token (the signature is never checked here).
pub fn pat() -> String {
    format!(
        "{}.{}.sig",
        b64url(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(r#"{"token_type":"refresh","exp":8102975840,"user_id":"1"}"#)
    )
}

impl FakeLs {
    pub fn start() -> FakeLs {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let data = web::Data::from(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/api/token/refresh/", web::post().to(refresh))
                .route("/api/tasks/", web::get().to(list))
                .route("/api/tasks/{id}/", web::get().to(get_task))
                .route("/api/tasks/{id}/", web::patch().to(patch_task))
                .route("/api/projects/{id}/", web::get().to(get_project))
                .route("/api/projects/{id}/import", web::post().to(import))
                .route("/api/projects/{id}/export", web::get().to(export))
                .route("/api/dm/actions", web::post().to(action))
                .route("/api/current-user/whoami", web::get().to(whoami))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeLs {
            url: format!("http://127.0.0.1:{port}"),
            inner,
            handle,
        }
    }

    pub fn add_task(&self, task: Value) {
        let id = task["id"].as_u64().unwrap();
        self.inner.lock().unwrap().tasks.insert(id, task);
    }

    pub fn add_project(&self, id: u64, label_config: &str) {
        self.inner.lock().unwrap().projects.insert(id, label_config.to_owned());
    }

    /// The tasks of a project, by id.
    pub fn tasks_of(&self, project: u64) -> Vec<Value> {
        let s = self.inner.lock().unwrap();
        s.tasks.values().filter(|t| t["project"] == project).cloned().collect()
    }

    pub fn fail(&self, id: u64, faults: &[Fault]) {
        self.inner.lock().unwrap().faults.entry(id).or_default().extend(faults);
    }

    pub fn patched(&self) -> Vec<(u64, Value)> {
        self.inner.lock().unwrap().patches.clone()
    }

    /// Waits until `n` PATCHes succeeded (or panics after `secs`).
    pub async fn wait_for_patches(&self, n: usize, secs: u64) {
        for _ in 0..secs * 20 {
            if self.patched().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("only {} of {n} tasks were written back", self.patched().len());
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

type State = web::Data<Mutex<Inner>>;

/// One of Label Studio's answers to whoami, as captured (tests/fixtures/ls-1.23.2/session_whoami.json).
fn whoami_answer(status: u16) -> Value {
    let path = format!(
        "{}/tests/fixtures/ls-1.23.2/session_whoami.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let calls = capture["calls"].as_array().unwrap();
    calls.iter().find(|c| c["status"] == status).unwrap()["response"].clone()
}

/// `GET /api/current-user/whoami`: 200 with the user for a session cookie LS knows, 401 otherwise.
async fn whoami(state: State, req: HttpRequest) -> HttpResponse {
    let mut s = state.lock().unwrap();
    s.whoami += 1;
    if s.whoami_failures > 0 {
        s.whoami_failures -= 1;
        return HttpResponse::InternalServerError().body("scripted 500");
    }
    let cookie = req.headers().get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    let signed_in = cookie
        .split(';')
        .filter_map(|c| c.trim().strip_prefix("sessionid="))
        .any(|c| s.sessions.iter().any(|v| v == c));
    match signed_in {
        true => HttpResponse::Ok().json(whoami_answer(200)),
        false => HttpResponse::Unauthorized().json(whoami_answer(401)),
    }
}

fn authorized(state: &State, req: &HttpRequest) -> Option<HttpResponse> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut s = state.lock().unwrap();
    s.authorizations.push(header.clone());
    let ok = header == format!("Token {LEGACY_TOKEN}")
        || header
            .strip_prefix("Bearer ")
            .is_some_and(|t| s.valid_access.iter().any(|a| a == t));
    (!ok).then(|| HttpResponse::Unauthorized().json(json!({"detail": "Authentication credentials were not provided."})))
}

/// Applies the next scripted fault for `id`, if any.
async fn fault(state: &State, id: u64) -> Option<HttpResponse> {
    let f = state.lock().unwrap().faults.get_mut(&id).and_then(VecDeque::pop_front);
    match f? {
        Fault::Status(code) => Some(
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                .json(json!({"detail": format!("scripted {code}")})),
        ),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Garbage => Some(HttpResponse::Ok().content_type("text/html").body("<html>login</html>")),
    }
}

async fn refresh(state: State, body: web::Json<Value>) -> HttpResponse {
    if body["refresh"] != pat() {
        return HttpResponse::Unauthorized().json(json!({"detail": "Token is blacklisted"}));
    }
    let mut s = state.lock().unwrap();
    s.refreshes += 1;
    let exp = ls_presign::now() + 300;
    let access = format!(
        "{}.{}.sig{}",
        b64url(r#"{"alg":"HS256"}"#),
        b64url(&format!(r#"{{"token_type":"access","exp":{exp}}}"#)),
        s.refreshes
    );
    s.valid_access.push(access.clone());
    HttpResponse::Ok().json(json!({ "access": access }))
}

async fn get_task(state: State, req: HttpRequest, id: web::Path<u64>) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    if let Some(r) = fault(&state, *id).await {
        return r;
    }
    match state.lock().unwrap().tasks.get(&id) {
        Some(t) => HttpResponse::Ok().json(t),
        None => HttpResponse::NotFound().json(json!({"detail": "Not found."})),
    }
}

async fn patch_task(state: State, req: HttpRequest, id: web::Path<u64>, body: web::Json<Value>) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    if let Some(r) = fault(&state, *id).await {
        return r;
    }
    let mut s = state.lock().unwrap();
    let Some(task) = s.tasks.get_mut(&id) else {
        return HttpResponse::NotFound().json(json!({"detail": "Not found."}));
    };
    // Like LS: each given field replaces the stored one whole, and the task is updated now.
    for (k, v) in body.as_object().unwrap() {
        task[k] = v.clone();
    }
    task["updated_at"] = json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
    let task = task.clone();
    s.patches.push((*id, body.into_inner()));
    HttpResponse::Ok().json(task)
}

async fn list(state: State, req: HttpRequest, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    let project: u64 = q["project"].parse().unwrap();
    let page: usize = q.get("page").map_or(1, |p| p.parse().unwrap());
    let size: usize = q.get("page_size").map_or(100, |p| p.parse().unwrap());
    // The Data Manager filters import and reconcile send (all must hold): the id above a
    // number, the data containing a string (ignoring case, as 1.23.2 does), updated after a
    // moment (tests/fixtures/ls-1.23.2/api_reconcile_filters.json), with annotations not
    // skipped, or skipped ones (api_export_by_ids.json; counted here from the task's embedded
    // list).
    let mut after = 0;
    let mut counted: Option<bool> = None;
    let mut needle: Option<String> = None;
    let mut since: Option<String> = None;
    if let Some(query) = q.get("query") {
        let query: Value = serde_json::from_str(query).unwrap();
        assert_eq!(query["filters"]["conjunction"], "and");
        for item in query["filters"]["items"].as_array().unwrap() {
            match (item["filter"].as_str().unwrap(), item["operator"].as_str().unwrap()) {
                ("filter:tasks:id", "greater") => after = item["value"].as_u64().unwrap(),
                (count @ ("filter:tasks:total_annotations" | "filter:tasks:cancelled_annotations"), "greater") => {
                    assert_eq!(item["value"], 0, "only \"at least one\" is modelled");
                    counted = Some(count.ends_with("cancelled_annotations"));
                }
                ("filter:tasks:data", "contains") => needle = Some(item["value"].as_str().unwrap().to_lowercase()),
                ("filter:tasks:updated_at", "greater") => {
                    let at = item["value"].as_str().unwrap();
                    // Only this spelling is accepted by 1.23.2 (anything else is its 500).
                    assert!(at.len() == 27 && at.ends_with('Z') && at.as_bytes()[19] == b'.', "{at}");
                    since = Some(at.to_owned());
                }
                other => panic!("filter not modelled: {other:?}"),
            }
        }
    }
    let matches = |t: &Value| {
        counted.is_none_or(|skipped| {
            t["annotations"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a["was_cancelled"].as_bool().unwrap_or(false) == skipped)
            })
        }) && needle
            .as_ref()
            .is_none_or(|n| t["data"].to_string().to_lowercase().contains(n.as_str()))
            && since
                .as_ref()
                .is_none_or(|s| t["updated_at"].as_str().is_none_or(|u| u > s.as_str()))
    };
    let include: Option<Vec<&str>> = q.get("include").map(|i| i.split(',').collect());
    let mut s = state.lock().unwrap();
    s.list_requests += 1;
    if let Some(query) = q.get("query") {
        s.queries.push(serde_json::from_str(query).unwrap());
    }
    s.requests.push(format!("GET /api/tasks/ page {page}"));
    let all: Vec<Value> = s
        .tasks
        .values()
        .filter(|t| t["project"].as_u64() == Some(project) && t["id"].as_u64().unwrap() > after && matches(t))
        .map(|t| match &include {
            None => t.clone(),
            Some(fields) => fields.iter().map(|f| (f.to_string(), t[*f].clone())).collect(),
        })
        .collect();
    // Label Studio 1.23.2 answers a project that does not exist so, on every page
    // (tests/fixtures/ls-1.23.2/api_project_missing.json); here a project exists when it was
    // added or has tasks.
    let exists = s.projects.contains_key(&project) || s.tasks.values().any(|t| t["project"] == project);
    if !exists {
        return HttpResponse::NotFound()
            .json(json!({"status_code": 404, "detail": "No Project matches the given query."}));
    }
    let start = (page - 1) * size;
    if start >= all.len() && page > 1 {
        return HttpResponse::NotFound().json(json!({"detail": "Invalid page."}));
    }
    let tasks: Vec<Value> = all.iter().skip(start).take(size).cloned().collect();
    HttpResponse::Ok().json(json!({"total": all.len(), "total_annotations": 0, "total_predictions": 0, "tasks": tasks}))
}

/// Label Studio's JSON export of the tasks `ids[]` (every field, annotations embedded), as
/// tests/fixtures/ls-1.23.2/api_export_by_ids.json.
async fn export(state: State, req: HttpRequest, id: web::Path<u64>) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    let ids: Vec<u64> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k == "ids[]")
        .map(|(_, v)| v.parse().unwrap())
        .collect();
    assert!(
        req.query_string().contains("download_all_tasks=true"),
        "{}",
        req.query_string()
    );
    let mut s = state.lock().unwrap();
    s.requests.push(format!("GET /api/projects/{id}/export"));
    let tasks: Vec<Value> = ids
        .iter()
        .filter_map(|i| s.tasks.get(i))
        .filter(|t| t["project"] == *id)
        .cloned()
        .collect();
    HttpResponse::Ok().json(tasks)
}

async fn get_project(state: State, req: HttpRequest, id: web::Path<u64>) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    let mut s = state.lock().unwrap();
    s.requests.push(format!("GET /api/projects/{id}/"));
    let Some(config) = s.projects.get(&id).cloned() else {
        return HttpResponse::NotFound()
            .json(json!({"status_code": 404, "detail": "No Project matches the given query."}));
    };
    let task_number = s.tasks.values().filter(|t| t["project"] == *id).count();
    HttpResponse::Ok()
        .json(json!({"id": *id, "title": format!("project {id}"), "task_number": task_number, "label_config": config}))
}

/// Creates the tasks (`{"data", "meta"}` each), with ids after the highest one, as LS does.
async fn import(
    state: State,
    req: HttpRequest,
    id: web::Path<u64>,
    q: web::Query<HashMap<String, String>>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    if let Some(r) = fault(&state, IMPORT).await {
        return r;
    }
    let mut s = state.lock().unwrap();
    s.requests.push(format!("POST /api/projects/{id}/import"));
    if !s.projects.contains_key(&id) {
        return HttpResponse::NotFound().json(json!({"detail": "Not found."}));
    }
    let items = body.as_array().unwrap();
    let mut ids = Vec::new();
    for item in items {
        let next = s.tasks.keys().next_back().map_or(1, |last| last + 1);
        assert!(
            item["data"].is_object(),
            "LS reads an unwrapped item's keys as data: {item}"
        );
        let meta = if item["meta"].is_object() {
            item["meta"].clone()
        } else {
            json!({})
        };
        s.tasks.insert(
            next,
            json!({"id": next, "project": *id, "data": item["data"], "meta": meta, "total_annotations": 0, "annotations": []}),
        );
        ids.push(next);
    }
    s.imports.push(items.len());
    s.imported.extend(items.iter().cloned());
    let mut answer = json!({"task_count": items.len(), "annotation_count": 0, "prediction_count": 0});
    // As captured: the ids in the order sent, when asked for and tasks were made.
    if q.get("return_task_ids").is_some_and(|v| v == "true") && !ids.is_empty() {
        answer["task_ids"] = json!(ids);
    }
    HttpResponse::Created().json(answer)
}

/// The Data Manager's `delete_tasks` action on the selected ids.
async fn action(
    state: State,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(r) = authorized(&state, &req) {
        return r;
    }
    assert_eq!(q["id"], "delete_tasks");
    let mut s = state.lock().unwrap();
    s.requests.push("POST /api/dm/actions?id=delete_tasks".into());
    let ids: Vec<u64> = body["selectedItems"]["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    for id in &ids {
        s.tasks.remove(id);
    }
    HttpResponse::Ok()
        .json(json!({"processed_items": ids.len(), "reload": false, "detail": format!("Deleted {} tasks", ids.len())}))
}
