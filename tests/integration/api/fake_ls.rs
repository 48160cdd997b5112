//! A stand-in for Label Studio's REST API (task GET/PATCH/list, PAT refresh) that can fail on
//! demand: status codes, delays, deleted tasks, revoked access tokens.

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
}

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
    // Like LS: each given field replaces the stored one whole.
    for (k, v) in body.as_object().unwrap() {
        task[k] = v.clone();
    }
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
    let mut s = state.lock().unwrap();
    s.list_requests += 1;
    let all: Vec<Value> = s
        .tasks
        .values()
        .filter(|t| t["project"].as_u64() == Some(project))
        .cloned()
        .collect();
    // Label Studio 1.23.2 answers a project that does not exist so, on every page
    // (tests/fixtures/ls-1.23.2/api_project_missing.json); here a project exists while it has tasks.
    if all.is_empty() {
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
