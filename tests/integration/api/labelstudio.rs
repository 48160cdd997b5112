//! Label Studio integration against a stand-in LS API: webhook write-back, retries, token
//! refresh, deleted tasks, sync, ML-backend endpoints, task reads.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ls_presign::auth::Scope;
use ls_presign::labelstudio::LabelStudio;
use ls_presign::sync::{Options, sync_project};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::fake_ls::{FakeLs, Fault, LEGACY_TOKEN, pat};
use super::helpers::{TestApp, error_code, spawn_app_with};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/ls-1.23.2/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn app_with_ls(ls: &FakeLs, key: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("LABEL_STUDIO_URL", ls.url.as_str()),
        ("LABEL_STUDIO_API_KEY", key),
        ("LABEL_STUDIO_TIMEOUT", "1"),
    ];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

#[tokio::test]
async fn tasks_created_webhook_writes_links_back_into_label_studio() {
    let ls = FakeLs::start();
    let event = fixture("webhook_TASKS_CREATED_import.json")["received"]["body"].clone();
    for t in event["tasks"].as_array().unwrap() {
        ls.add_task(t.clone());
    }
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[]).await;
    let started = Instant::now();
    let resp = app.post_webhook(&app.webhook_token(), &event).await;
    let answered = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert!(
        answered < Duration::from_millis(900),
        "LS waits 1 s: answered in {answered:?}"
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["queued"], 5);

    // Tasks 1, 3, 4, 5 hold oss://my-bucket references; task 2 only s3:// (not configured).
    ls.wait_for_patches(4, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let patched = ls.patched();
    let ids: std::collections::BTreeSet<u64> = patched.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), [1, 3, 4, 5]);
    let link_prefix = format!("{}/r/", app.base);
    for (id, body) in &patched {
        let text = body["data"].to_string();
        assert!(!text.contains("oss://"), "task {id}: {text}");
        assert!(text.contains(&link_prefix), "task {id}: {text}");
        assert!(
            !body["meta"]["ls_presign"]["original_uris"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    // The links resolve to the objects.
    app.put("my-bucket", "nested/d.jpg", "D", "image/jpeg");
    let task3 = &patched.iter().find(|(id, _)| *id == 3).unwrap().1;
    let link = task3["data"]["meta"]["img"].as_str().unwrap();
    assert_eq!(app.browser.get(link).send().await.unwrap().text().await.unwrap(), "D");
    // Idempotent: the same webhook again (as LS would hold the rewritten tasks) changes nothing.
    let again = json!({"action": "TASKS_CREATED", "tasks": ls.inner.lock().unwrap().tasks.values().cloned().collect::<Vec<_>>()});
    app.post_webhook(&app.webhook_token(), &again).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ls.patched().len(), 4);
    assert_eq!(app.state.metrics.counter("writeback_tasks_total", "rewritten"), 4);
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn retries_timeouts_429_and_5xx_and_reports_what_finally_failed() {
    let ls = FakeLs::start();
    for id in 1..=5 {
        ls.add_task(
            json!({"id": id, "project": 1, "data": {"image": format!("oss://my-bucket/{id}.jpg")}, "meta": {}}),
        );
    }
    ls.fail(1, &[Fault::Status(500), Fault::Status(502)]);
    ls.fail(2, &[Fault::Status(429)]);
    ls.fail(3, &[Fault::Delay(Duration::from_millis(1500))]);
    ls.fail(4, &[Fault::Status(500); 5]);
    // Task 5 is deleted before the write-back.
    let deleted = ls.inner.lock().unwrap().tasks.remove(&5).unwrap();
    let mut all: Vec<Value> = ls.inner.lock().unwrap().tasks.values().cloned().collect();
    all.push(deleted);
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[]).await;
    let resp = app
        .post_webhook(&app.webhook_token(), &json!({"action": "TASKS_CREATED", "tasks": all}))
        .await;
    assert_eq!(resp.status(), 200);
    ls.wait_for_patches(3, 30).await;
    let m = &app.state.metrics;
    for _ in 0..400 {
        if m.counter("writeback_tasks_total", "failed") + m.counter("writeback_tasks_total", "gone") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let patched = ls.patched();
    let mut ids: Vec<u64> = patched.iter().map(|(id, _)| *id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, [1, 2, 3]);
    // The timed-out PATCH of task 3 may still have landed before its retry: the same body twice
    // is harmless, which is why a timeout may be retried at all.
    let bodies: Vec<&Value> = patched.iter().filter(|(id, _)| *id == 3).map(|(_, b)| b).collect();
    assert!(bodies.windows(2).all(|w| w[0]["data"] == w[1]["data"]));
    assert_eq!(m.counter("writeback_tasks_total", "failed"), 1);
    assert_eq!(m.counter("writeback_tasks_total", "gone"), 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("lspresign_writeback_tasks_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn personal_access_token_is_refreshed_and_renewed_on_401() {
    let ls = FakeLs::start();
    ls.add_task(json!({"id": 7, "project": 1, "data": {"image": "oss://my-bucket/a.jpg"}, "meta": {}}));
    let client = LabelStudio::new(&ls.url, SecretString::from(pat()), Duration::from_secs(5)).unwrap();
    assert!(client.uses_pat());
    client.get_task(7).await.unwrap();
    client.get_task(7).await.unwrap();
    assert_eq!(
        ls.inner.lock().unwrap().refreshes,
        1,
        "the access token is reused until near expiry"
    );
    // LS revokes the access token: the next call gets 401, refreshes once and succeeds.
    ls.inner.lock().unwrap().valid_access.clear();
    client.get_task(7).await.unwrap();
    assert_eq!(ls.inner.lock().unwrap().refreshes, 2);
    assert!(
        ls.inner
            .lock()
            .unwrap()
            .authorizations
            .iter()
            .all(|a| a.starts_with("Bearer "))
    );
    // A legacy token is sent as `Token`; a wrong one is a clear error.
    let legacy = LabelStudio::new(&ls.url, SecretString::from("wrong-token"), Duration::from_secs(5)).unwrap();
    let err = legacy.get_task(7).await.unwrap_err().to_string();
    assert!(err.contains("refused the credentials (401)"), "{err}");
    let err = LabelStudio::new(&ls.url, SecretString::from(LEGACY_TOKEN), Duration::from_secs(5))
        .unwrap()
        .get_task(99)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no task 99"), "{err}");
    ls.stop().await;
}

#[tokio::test]
async fn ten_thousand_tasks_in_one_webhook() {
    let ls = FakeLs::start();
    let tasks: Vec<Value> = (1..=10_000)
        .map(|id| json!({"id": id, "project": 1, "data": {"image": format!("oss://my-bucket/big/{id}.jpg"), "n": id}, "meta": {}}))
        .collect();
    for t in &tasks {
        ls.add_task(t.clone());
    }
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[("LS_PRESIGN_WRITEBACK_CONCURRENCY", "16")]).await;
    let resp = app
        .post_webhook(
            &app.webhook_token(),
            &json!({"action": "TASKS_CREATED", "tasks": tasks}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    ls.wait_for_patches(10_000, 240).await;
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_503_and_loses_nothing_it_accepted() {
    let ls = FakeLs::start();
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[("LS_PRESIGN_QUEUE_CAPACITY", "3")]).await;
    let tasks: Vec<Value> = (1..=4).map(|id| json!({"id": id, "data": {}})).collect();
    let (status, code) = error_code(
        app.post_webhook(
            &app.webhook_token(),
            &json!({"action": "TASKS_CREATED", "tasks": tasks}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (503, "queue_full"));
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn webhook_auth_and_every_action() {
    let ls = FakeLs::start();
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[]).await;
    let hook = app.webhook_token();
    let resolve_only = app
        .state
        .auth
        .mint("script", Scope::Resolve, ls_presign::now(), 60)
        .unwrap();
    let body = json!({"action": "PROJECT_UPDATED"});
    let client = reqwest::Client::new();
    let url = format!("{}/webhook", app.base);
    let no_auth = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(error_code(no_auth).await, (401, "unauthorized".into()));
    assert_eq!(
        error_code(app.post_webhook(&resolve_only, &body).await).await,
        (403, "insufficient_scope".into())
    );
    assert_eq!(
        error_code(app.post_webhook("garbage", &body).await).await,
        (401, "invalid_token".into())
    );
    let dir = format!("{}/tests/fixtures/ls-1.23.2", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("webhook_") || name.contains("TASKS_CREATED") {
            continue;
        }
        let event = fixture(&name)["received"]["body"].clone();
        let resp = app.post_webhook(&hook, &event).await;
        assert_eq!(resp.status(), 200, "{name}");
        seen += 1;
    }
    assert!(seen >= 10, "{seen}");
    let unknown = app
        .post_webhook(&hook, &json!({"action": "SOMETHING_NEW", "x": 1}))
        .await;
    assert_eq!(unknown.json::<Value>().await.unwrap()["handled"], false);
    let no_action = app.post_webhook(&hook, &json!({"tasks": []})).await;
    assert_eq!(error_code(no_action).await, (400, "invalid_webhook".into()));
    assert!(ls.patched().is_empty());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("lspresign_webhooks_total{action=\"other\"} 1"),
        "{metrics}"
    );
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn sync_reconciles_a_project_and_can_run_again() {
    let ls = FakeLs::start();
    for id in 1..=250 {
        let image = if id % 5 == 0 {
            "https://elsewhere/x.jpg".to_owned()
        } else {
            format!("oss://my-bucket/p/{id}.png")
        };
        ls.add_task(json!({"id": id, "project": 3, "data": {"image": image}, "meta": {}}));
    }
    ls.add_task(json!({"id": 999, "project": 4, "data": {"image": "oss://my-bucket/other.png"}, "meta": {}}));
    ls.fail(17, &[Fault::Status(500); 5]);
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[]).await;
    let client = LabelStudio::new(&ls.url, SecretString::from(LEGACY_TOKEN), Duration::from_secs(5)).unwrap();
    let stop = AtomicBool::new(false);
    let opts = |dry_run| Options {
        project: 3,
        dry_run,
        page_size: 40,
        concurrency: 8,
    };
    let dry = sync_project(&app.state.resolver, &client, opts(true), &stop, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((dry.scanned, dry.rewritten, dry.already_done), (250, 200, 50));
    assert!(ls.patched().is_empty());

    let first = sync_project(&app.state.resolver, &client, opts(false), &stop, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (first.scanned, first.rewritten, first.already_done, first.failed),
        (250, 199, 50, 1)
    );
    let second = sync_project(&app.state.resolver, &client, opts(false), &stop, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (second.scanned, second.rewritten, second.already_done, second.failed),
        (250, 1, 249, 0)
    );
    assert!(ls.patched().iter().all(|(id, _)| *id != 999));
    // Stopped before starting: nothing scanned, reported as interrupted.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let stopped = sync_project(&app.state.resolver, &client, opts(false), &stop, &|_, _| {})
        .await
        .unwrap();
    assert!(stopped.interrupted && stopped.scanned == 0);
    // A project that does not exist is an error naming it, not "0 scanned".
    stop.store(false, std::sync::atomic::Ordering::Relaxed);
    let missing = Options {
        project: 99,
        ..opts(false)
    };
    let err = sync_project(&app.state.resolver, &client, missing, &stop, &|_, _| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Label Studio has no project 99: check the id in the project's URL (/projects/<id>/)"
    );
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn ml_backend_endpoints_and_basic_auth() {
    let ls = FakeLs::start();
    let app = app_with_ls(
        &ls,
        LEGACY_TOKEN,
        &[("BASIC_AUTH_USER", "mluser"), ("BASIC_AUTH_PASS", "mlpass")],
    )
    .await;
    let client = reqwest::Client::new();
    let setup = fixture("ml_POST_setup_basic_auth_extra_params.json")["received"]["body"].clone();
    let predict = fixture("ml_POST_predict_on_task_GET.json")["received"]["body"].clone();
    let ok = client
        .post(format!("{}/setup", app.base))
        .basic_auth("mluser", Some("mlpass"))
        .json(&setup)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.json::<Value>().await.unwrap()["model_version"]
            .as_str()
            .unwrap()
            .starts_with("ls-presign-")
    );
    let bad = client
        .post(format!("{}/setup", app.base))
        .basic_auth("mluser", Some("nope"))
        .json(&setup)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad).await, (401, "bad_basic_auth".into()));
    let p = client
        .post(format!("{}/predict", app.base))
        .basic_auth("mluser", Some("mlpass"))
        .json(&predict)
        .send()
        .await
        .unwrap();
    let p: Value = p.json().await.unwrap();
    assert_eq!(p["results"].as_array().unwrap().len(), 1);
    assert_eq!(p["results"][0]["result"], json!([]));
    let health = client.get(format!("{}/health", app.base)).send().await.unwrap();
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "UP");
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn annotation_scripts_read_tasks_with_direct_urls() {
    let ls = FakeLs::start();
    let app = app_with_ls(&ls, LEGACY_TOKEN, &[]).await;
    app.put("my-bucket", "s/1.png", "ONE", "image/png");
    // One task still raw, one already written back with a stable link.
    let link = app.link("oss://my-bucket/s/1.png").await;
    ls.add_task(json!({"id": 1, "project": 9, "data": {"image": "oss://my-bucket/s/1.png"}, "meta": {}}));
    ls.add_task(json!({"id": 2, "project": 9, "data": {"image": link}, "meta": {}}));
    for id in [1, 2] {
        let t: Value = app.get(&format!("/v1/tasks/{id}")).await.json().await.unwrap();
        let url = t["data"]["image"].as_str().unwrap();
        assert!(url.contains("x-oss-signature="), "{url}");
        assert_eq!(app.browser.get(url).send().await.unwrap().text().await.unwrap(), "ONE");
    }
    let page: Value = app
        .get("/v1/projects/9/tasks?page=1&page_size=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
    assert!(
        page["tasks"][1]["data"]["image"]
            .as_str()
            .unwrap()
            .contains("x-oss-signature=")
    );
    assert_eq!(
        error_code(app.get("/v1/tasks/404").await).await,
        (404, "task_not_found".into())
    );
    assert_eq!(
        error_code(app.get("/v1/projects/99/tasks").await).await,
        (404, "project_not_found".into())
    );
    assert_eq!(
        error_code(app.get("/v1/tasks/abc").await).await,
        (400, "invalid_path".into())
    );
    let anonymous = reqwest::get(format!("{}/v1/tasks/1", app.base)).await.unwrap();
    assert_eq!(error_code(anonymous).await, (401, "unauthorized".into()));
    app.stop().await;
    ls.stop().await;
}
