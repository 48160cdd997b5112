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
