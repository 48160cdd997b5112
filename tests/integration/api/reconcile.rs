//! The reconcile loop of `serve`: tasks a missed webhook left with raw references are found with
//! Data Manager filters and written back with no operator action; a project with nothing left
//! costs one request per scheme; the projects webhooks came from survive a restart.

use std::time::Duration;

use serde_json::{Value, json};

use super::fake_ls::{FakeLs, LEGACY_TOKEN};
use super::helpers::{TestApp, spawn_app_with};

/// Long ago, as Label Studio writes `updated_at`.
const OLD: &str = "2026-01-01T00:00:00.000000Z";

fn task(id: u64, project: u64, image: &str) -> Value {
    json!({"id": id, "project": project, "data": {"image": image, "n": id}, "meta": {}, "updated_at": OLD})
}

async fn app(ls: &FakeLs, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("LABEL_STUDIO_URL", ls.url.as_str()),
        ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
        ("LS_PRESIGN_RECONCILE_INTERVAL", "1"),
    ];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

fn list_requests(ls: &FakeLs) -> u32 {
    ls.inner.lock().unwrap().list_requests
}

async fn metric(app: &TestApp, prefix: &str) -> Option<u64> {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn tasks_a_missed_webhook_left_raw_are_rewritten_and_a_quiet_project_costs_a_request_per_scheme() {
    let ls = FakeLs::start();
    // 230 tasks with raw references (three pages), 5 with an s3:// one, 4 already links, 3 in a
    // bucket no storage serves, and a task of another project that must not be touched.
    for id in 1..=230 {
        ls.add_task(task(id, 7, &format!("oss://media/missed/{id}.jpg")));
    }
    for id in 231..=235 {
        ls.add_task(task(id, 7, &format!("s3://s3media/missed/{id}.jpg")));
    }
    for id in 236..=239 {
        ls.add_task(task(id, 7, "http://127.0.0.1:1/r/done"));
    }
    for id in 240..=242 {
        ls.add_task(task(id, 7, &format!("oss://nowhere/{id}.jpg")));
    }
    ls.add_task(task(900, 8, "oss://media/other-project.jpg"));
    let app = app(&ls, &[("LS_PRESIGN_RECONCILE_PROJECTS", "7")]).await;

    ls.wait_for_patches(235, 20).await;
    let patched: Vec<u64> = ls.patched().iter().map(|(id, _)| *id).collect();
    assert_eq!(patched.len(), 235, "each task written back once");
    assert!(patched.iter().all(|id| (1..=235).contains(id)), "{patched:?}");
    let t = ls.inner.lock().unwrap().tasks[&17].clone();
    assert!(
        t["data"]["image"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/r/", app.base)),
        "{t}"
    );
    assert_eq!(t["data"]["n"], 17, "nothing else in the task changed");
    assert_eq!(
        t["meta"]["ls_presign"]["original_uris"],
        json!(["oss://media/missed/17.jpg"])
    );
    assert_eq!(
        ls.inner.lock().unwrap().tasks[&900]["data"]["image"],
        "oss://media/other-project.jpg"
    );

    // Counted once the run is over.
    for _ in 0..100 {
        if metric(&app, "lspresign_reconcile_runs_total{project=\"7\",result=\"ok\"}").await >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rewritten = metric(
        &app,
        "lspresign_reconcile_tasks_total{project=\"7\",outcome=\"rewritten\"}",
    )
    .await;
    assert_eq!(rewritten, Some(235));
    let found = metric(&app, "lspresign_reconcile_tasks_total{project=\"7\",outcome=\"found\"}").await;
    assert_eq!(found, Some(235));
    assert!(
        metric(
            &app,
            "lspresign_reconcile_last_success_timestamp_seconds{project=\"7\"}"
        )
        .await
            > Some(0)
    );

    // Later runs: the project has nothing left. The oss:// and s3:// storages make two requests
    // a run, and the tasks of the unserved bucket, not updated since, are not read again.
    let before = list_requests(&ls);
    let runs = |n| format!("lspresign_reconcile_runs_total{{project=\"7\",result=\"ok\"}} {n}");
    let ok_runs = || async { app.get("/metrics").await.text().await.unwrap() };
    let first = ok_runs().await;
    let done: u64 = first
        .lines()
        .find(|l| l.starts_with("lspresign_reconcile_runs_total{project=\"7\",result=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    let mut after_two = String::new();
    for _ in 0..100 {
        after_two = ok_runs().await;
        if after_two.contains(&runs(done + 2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(after_two.contains(&runs(done + 2)), "{after_two}");
    let per_run = (list_requests(&ls) - before) as f64 / 2.0;
    assert!((2.0..=3.0).contains(&per_run), "{per_run} list requests a run");
    assert_eq!(ls.patched().len(), 235, "nothing written twice");
    let already = metric(
        &app,
        "lspresign_reconcile_tasks_total{project=\"7\",outcome=\"already_done\"}",
    )
    .await;
    assert_eq!(
        already,
        Some(3),
        "the unserved bucket's tasks were read in the first run only"
    );
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn projects_webhooks_came_from_are_reconciled_after_a_restart() {
    let ls = FakeLs::start();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let first = app(&ls, &[("LS_PRESIGN_STATE_DIR", state_dir)]).await;
    // Any project webhook names its project (the captured ANNOTATION_CREATED: project 1).
    let path = format!(
        "{}/tests/fixtures/ls-1.23.2/webhook_ANNOTATION_CREATED.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let event = &event["received"]["body"];
    let resp = first.post_webhook(&first.webhook_token(), event).await;
    assert_eq!(resp.status(), 200);
    first.stop().await;

    // While the service was down, tasks arrived in that project (their webhook was missed),
    // and a project it knew was deleted.
    for id in 1..=3 {
        ls.add_task(task(id, 1, &format!("oss://media/while-down/{id}.jpg")));
    }
    let second = app(
        &ls,
        &[
            ("LS_PRESIGN_STATE_DIR", state_dir),
            ("LS_PRESIGN_RECONCILE_PROJECTS", "55"),
        ],
    )
    .await;
    ls.wait_for_patches(3, 20).await;
    // Project 55 does not exist: forgotten, and never saved.
    let saved = std::fs::read_dir(state.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|s| s.contains("\"projects\""))
        .unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["projects"], json!([1]), "{saved}");
    second.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn reconcile_can_be_turned_off() {
    let ls = FakeLs::start();
    ls.add_task(task(1, 7, "oss://media/a.jpg"));
    let app = app(
        &ls,
        &[
            ("LS_PRESIGN_RECONCILE_INTERVAL", "0"),
            ("LS_PRESIGN_RECONCILE_PROJECTS", "7"),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(list_requests(&ls), 0);
    assert!(ls.patched().is_empty());
    app.stop().await;
    ls.stop().await;
}

/// An annotated task of project 7 (as the task list gives it, annotations embedded) last
/// updated at `updated_at`.
fn annotated(id: u64, choice: &str, updated_at: &str) -> Value {
    let mut t = super::export::listed_task(id, "https://cdn.example.com/plain.jpg", &[(1000 + id, choice)]);
    t["project"] = json!(7);
    t["annotations"][0]["project"] = json!(7);
    t["updated_at"] = json!(updated_at);
    t
}

/// Polls `/metrics` until the line starting with `prefix` reads `want` (20 s at most).
async fn metric_reaches(app: &TestApp, prefix: &str, want: u64) {
    for _ in 0..400 {
        if metric(app, prefix).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{prefix} never reached {want}: {:?}", metric(app, prefix).await);
}

#[tokio::test]
async fn annotation_objects_the_live_export_missed_are_caught_up_and_later_runs_look_only_at_changes() {
    let ls = FakeLs::start();
    // Annotated while ls-presign was down: 150 tasks (two pages), 20 tasks without annotations,
    // and an annotated task of a project without an export target.
    for id in 1..=150 {
        ls.add_task(annotated(id, "a", OLD));
    }
    for id in 151..=170 {
        ls.add_task(task(id, 7, "https://cdn.example.com/plain.jpg"));
    }
    let mut other = annotated(900, "a", OLD);
    other["project"] = json!(8);
    ls.add_task(other);
    let app = app(
        &ls,
        &[
            ("LS_PRESIGN_EXPORT_PROJECT", "7"),
            ("LS_PRESIGN_EXPORT_URI", "oss://media/exports/"),
        ],
    )
    .await;
    let written = "lspresign_export_objects_total{outcome=\"written\"}";
    metric_reaches(&app, written, 150).await;
    let keys = app.emulator.keys("media");
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("exports/")).count(),
        150,
        "{keys:?}"
    );
    let doc: Value = serde_json::from_slice(&app.emulator.object("media", "exports/1005.json").unwrap().0).unwrap();
    assert_eq!(doc["task"]["id"], 5);
    assert_eq!(doc["annotation"]["result"][0]["value"]["choices"], json!(["a"]));

    // Later: one annotation changes and a task is annotated, their webhooks missed too. The
    // runs after a clean one ask only for tasks updated since it: 2 objects compared, not 150.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    ls.add_task(annotated(5, "b", &now));
    ls.add_task(annotated(300, "a", &now));
    metric_reaches(&app, written, 152).await;
    let doc: Value = serde_json::from_slice(&app.emulator.object("media", "exports/1005.json").unwrap().0).unwrap();
    assert_eq!(doc["annotation"]["result"][0]["value"]["choices"], json!(["b"]));
    let before = app.emulator.stats().received;
    // A run is counted once both its parts are done.
    let ok_runs = "lspresign_reconcile_runs_total{project=\"7\",result=\"ok\"}";
    let runs = metric(&app, ok_runs).await.unwrap_or(0);
    metric_reaches(&app, ok_runs, runs + 2).await;
    let per_run = (app.emulator.stats().received - before) / 2;
    assert!(
        per_run <= 4,
        "{per_run} store requests a run: the unchanged objects are read again"
    );
    assert_eq!(metric(&app, written).await, Some(152), "nothing written twice");
    assert!(
        app.emulator.object("media", "exports/1900.json").is_none(),
        "project 8 has no target"
    );
    app.stop().await;
    ls.stop().await;
}

/// With deletion on, the first run after a start (every annotation compared) also removes the
/// objects of annotations deleted while the service was down; other objects stay.
#[tokio::test]
async fn objects_of_annotations_deleted_while_down_are_removed_at_start_with_deletion_on() {
    use super::helpers::{ak_sk, bucket_vars, single_bucket_emulator, spawn_serve, wait_until_up};

    let ls = FakeLs::start();
    ls.add_task(annotated(1, "a", OLD));
    let emulator = single_bucket_emulator("media", ak_sk(), Duration::ZERO);
    // Left from before: annotation 1001's object, annotation 4242's (deleted in Label Studio
    // while ls-presign was down) and a file someone keeps in the folder.
    for (key, body) in [
        ("exports/1001.json", "{}"),
        ("exports/4242.json", "{}"),
        ("exports/README.txt", "x"),
    ] {
        emulator.put_object("media", key, bytes::Bytes::from(body), "application/json");
    }
    let vars = bucket_vars(
        "media",
        &emulator.endpoint(),
        &[
            ("LS_PRESIGN_SECRET", "reconcile-delete-secret-0123456789"),
            ("LABEL_STUDIO_URL", &ls.url),
            ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
            ("LS_PRESIGN_EXPORT_PROJECT", "7"),
            ("LS_PRESIGN_EXPORT_URI", "oss://media/exports/"),
            ("LS_PRESIGN_EXPORT_DELETE", "true"),
        ],
    );
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (mut child, port) = spawn_serve(&env);
    wait_until_up(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;
    for _ in 0..200 {
        if emulator.object("media", "exports/4242.json").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let keys = emulator.keys("media");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(keys, ["exports/1001.json", "exports/README.txt"]);
    let doc: Value = serde_json::from_slice(&emulator.object("media", "exports/1001.json").unwrap().0).unwrap();
    assert_eq!(doc["annotation"]["id"], 1001, "rewritten with its content");
    emulator.stop().await;
    ls.stop().await;
}

/// A removal the store refuses past the live export's retries is not lost: the reconcile loop's
/// next run compares that project whole (later runs otherwise look only at updated tasks) and
/// removes the object.
#[tokio::test]
async fn an_object_the_live_export_failed_to_remove_is_removed_by_the_next_run() {
    let ls = FakeLs::start();
    ls.add_task(annotated(1, "a", OLD));
    let app = app(
        &ls,
        &[
            ("LS_PRESIGN_EXPORT_PROJECT", "7"),
            ("LS_PRESIGN_EXPORT_URI", "oss://media/exports/"),
            ("LS_PRESIGN_EXPORT_DELETE", "true"),
        ],
    )
    .await;
    let ok_runs = "lspresign_reconcile_runs_total{project=\"7\",result=\"ok\"}";
    metric_reaches(&app, ok_runs, 1).await;
    // Written by the live export after that run; then its annotation is deleted in Label Studio
    // while the store refuses every attempt to remove it.
    app.emulator.put_object(
        "media",
        "exports/1002.json",
        bytes::Bytes::from("{}"),
        "application/json",
    );
    app.emulator.refuse_next(5);
    let mut deleted = super::export::event("webhook_ANNOTATIONS_DELETED_api.json");
    deleted["project"]["id"] = json!(7);
    deleted["annotations"] = json!([{"id": 1002}]);
    let resp = app.post_webhook(&app.webhook_token(), &deleted).await;
    assert_eq!(resp.status(), 200);
    // Five attempts over 0.5 + 1 + 2 + 4 s.
    metric_reaches(&app, "lspresign_export_objects_total{outcome=\"failed\"}", 1).await;
    for _ in 0..100 {
        if app.emulator.object("media", "exports/1002.json").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.emulator.keys("media"), ["exports/1001.json"]);
    metric_reaches(&app, "lspresign_export_objects_total{outcome=\"deleted\"}", 1).await;
    app.stop().await;
    ls.stop().await;
}
