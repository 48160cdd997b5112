//! SIGTERM mid-import: the real binary stops accepting, finishes what it has, drains the
//! write-back and export queues and exits 0 — nothing it accepted is lost; what a stalled Label
//! Studio or store keeps it from finishing within `LS_PRESIGN_DRAIN_TIMEOUT` is logged.

use std::time::Duration;

use serde_json::{Value, json};

use super::fake_ls::{FakeLs, Fault, LEGACY_TOKEN};

const SECRET: &str = "shutdown-test-secret-0123456789";

/// `serve` started with `env` (and [`SECRET`]), sent `events` as webhooks, each answered 200;
/// its process and base URL.
async fn serve_with_webhooks(env: &[(&str, &str)], events: &[Value]) -> (std::process::Child, String) {
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("LS_PRESIGN_SECRET", SECRET)]).collect();
    let (child, port) = super::helpers::spawn_serve(&env);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    super::helpers::wait_until_up(&client, &base).await;
    let token = super::helpers::cli_token(SECRET, "webhook");
    for event in events {
        let resp = client
            .post(format!("{base}/webhook"))
            .bearer_auth(&token)
            .json(event)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    (child, base)
}

/// Tasks 1..=n of project 1 in Label Studio, each with a raw reference; every request for one
/// first waits for each of `stalls`.
fn tasks_in(ls: &FakeLs, n: u64, stalls: &[Fault]) -> Vec<Value> {
    let tasks: Vec<_> = (1..=n)
        .map(|id| json!({"id": id, "project": 1, "data": {"image": format!("oss://media/{id}.png")}, "meta": {}}))
        .collect();
    for t in &tasks {
        ls.add_task(t.clone());
        ls.fail(t["id"].as_u64().unwrap(), stalls);
    }
    tasks
}

/// The captured bulk `ANNOTATIONS_CREATED` of project 1, with `n` annotations (ids 1..=n).
fn annotations_created(n: u64) -> Value {
    let path = format!(
        "{}/tests/fixtures/ls-1.23.2/webhook_ANNOTATIONS_CREATED_predictions_to_annotations.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let captured: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut event = captured["received"]["body"].clone();
    let template = event["annotation"][0].clone();
    event["annotation"] = (1..=n)
        .map(|id| {
            let mut a = template.clone();
            a["id"] = json!(id);
            a
        })
        .collect();
    event
}

#[tokio::test]
async fn sigterm_drains_the_write_back_queue_then_exits_0() {
    let ls = FakeLs::start();
    // Each write-back is slow, so most are still queued when SIGTERM arrives.
    let tasks = tasks_in(&ls, 20, &[Fault::Delay(Duration::from_millis(150))]);
    let (child, base) = serve_with_webhooks(
        &[
            ("OSS_BUCKET", "media"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ACCESS_KEY_ID", "AK"),
            ("OSS_ACCESS_KEY_SECRET", "SK"),
            ("LABEL_STUDIO_URL", &ls.url),
            ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
            ("LS_PRESIGN_WRITEBACK_CONCURRENCY", "2"),
        ],
        &[json!({"action": "TASKS_CREATED", "tasks": tasks})],
    )
    .await;
    let (status, log, took) = super::helpers::sigterm_and_wait(child).await;
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(log.contains("draining the write-back queue"), "{log}");
    assert!(log.contains("write-back queue drained"), "{log}");
    let done: std::collections::BTreeSet<u64> = ls.patched().iter().map(|(id, _)| *id).collect();
    assert_eq!(done.len(), 20, "written back: {done:?}");
    assert!(took < Duration::from_secs(30));
    // It no longer accepts connections.
    assert!(reqwest::get(format!("{base}/health")).await.is_err());
    ls.stop().await;
}

/// SIGTERM with annotation objects still queued for a slow store: all written, then exit 0.
#[tokio::test]
async fn sigterm_drains_the_export_queue_then_exits_0() {
    // Each write takes 200 ms, two at a time: most of the 20 are queued when SIGTERM arrives.
    let emulator = super::helpers::single_bucket_emulator("media", super::helpers::ak_sk(), Duration::from_millis(200));
    let vars = super::helpers::bucket_vars(
        "media",
        &emulator.endpoint(),
        &[
            ("LS_PRESIGN_EXPORT_PROJECT", "1"),
            ("LS_PRESIGN_EXPORT_URI", "oss://media/annotations/"),
            ("LS_PRESIGN_WRITEBACK_CONCURRENCY", "2"),
        ],
    );
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (child, _) = serve_with_webhooks(&env, &[annotations_created(20)]).await;
    let (status, log, _) = super::helpers::sigterm_and_wait(child).await;
    assert!(status.success(), "exit status {status:?}\n{log}");
    let keys = emulator.keys("media");
    assert_eq!(keys.len(), 20, "written: {keys:?}\n{log}");
    emulator.stop().await;
}

/// Label Studio and the store both stalled at SIGTERM: the reconcile run in flight, the
/// write-back queue and the export queue share one `LS_PRESIGN_DRAIN_TIMEOUT` (not one each),
/// and the log says what was left and how to catch it up.
#[tokio::test]
async fn sigterm_with_everything_stalled_stops_within_one_drain_timeout() {
    let ls = FakeLs::start();
    // Both writing a task back stall: the reconcile run at start and the webhook's.
    let stall = Fault::Delay(Duration::from_secs(8));
    let tasks = tasks_in(&ls, 4, &[stall, stall]);
    // Every store request (the reconcile's listing, the exports) takes 8 s.
    let emulator = super::helpers::single_bucket_emulator("media", super::helpers::ak_sk(), Duration::from_secs(8));
    let vars = super::helpers::bucket_vars(
        "media",
        &emulator.endpoint(),
        &[
            ("LABEL_STUDIO_URL", &ls.url),
            ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
            ("LS_PRESIGN_EXPORT_PROJECT", "1"),
            ("LS_PRESIGN_EXPORT_URI", "oss://media/annotations/"),
            ("LS_PRESIGN_DRAIN_TIMEOUT", "4"),
        ],
    );
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let events = [
        json!({"action": "TASKS_CREATED", "tasks": tasks}),
        annotations_created(4),
    ];
    let (child, _) = serve_with_webhooks(&env, &events).await;
    let (status, log, took) = super::helpers::sigterm_and_wait(child).await;
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(
        log.contains("tasks were not written back before LS_PRESIGN_DRAIN_TIMEOUT"),
        "{log}"
    );
    assert!(
        log.contains("annotation objects were not exported before LS_PRESIGN_DRAIN_TIMEOUT"),
        "{log}"
    );
    // One timeout each would be 12 s.
    assert!(took < Duration::from_secs(8), "stopped after {took:?}\n{log}");
    ls.stop().await;
    emulator.stop().await;
}
