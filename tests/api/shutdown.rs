//! SIGTERM mid-import: the real binary stops accepting, finishes what it has, drains the
//! write-back queue and exits 0 — nothing it accepted is lost.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_ls::{FakeLs, Fault, LEGACY_TOKEN};

#[tokio::test]
async fn sigterm_drains_the_write_back_queue_then_exits_0() {
    let ls = FakeLs::start();
    let tasks: Vec<_> = (1..=20)
        .map(|id| json!({"id": id, "project": 1, "data": {"image": format!("oss://media/{id}.png")}, "meta": {}}))
        .collect();
    for t in &tasks {
        ls.add_task(t.clone());
        // Each write-back is slow, so most are still queued when SIGTERM arrives.
        ls.fail(t["id"].as_u64().unwrap(), &[Fault::Delay(Duration::from_millis(150))]);
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = "shutdown-test-secret-0123456789";
    let mut child = Command::new(env!("CARGO_BIN_EXE_ls-presign"))
        .arg("serve")
        .env_clear()
        .envs([
            ("HOST", "127.0.0.1"),
            ("PORT", &port.to_string()),
            ("RUST_LOG", "info"),
            ("OSS_BUCKET", "media"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ACCESS_KEY_ID", "AK"),
            ("OSS_ACCESS_KEY_SECRET", "SK"),
            ("LS_PRESIGN_SECRET", secret),
            ("LABEL_STUDIO_URL", &ls.url),
            ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
            ("LS_PRESIGN_WRITEBACK_CONCURRENCY", "2"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    crate::helpers::wait_until_up(&base).await;
    let token = crate::helpers::cli_token(secret, "webhook");
    let resp = client
        .post(format!("{base}/webhook"))
        .bearer_auth(&token)
        .json(&json!({"action": "TASKS_CREATED", "tasks": tasks}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let sent = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status, err)
    })
    .await
    .unwrap();
    let (status, log) = status;
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(log.contains("draining the write-back queue"), "{log}");
    assert!(log.contains("write-back queue drained"), "{log}");
    let done: std::collections::BTreeSet<u64> = ls.patched().iter().map(|(id, _)| *id).collect();
    assert_eq!(done.len(), 20, "written back: {done:?}");
    assert!(sent.elapsed() < Duration::from_secs(30));
    // It no longer accepts connections.
    assert!(client.get(format!("{base}/health")).send().await.is_err());
    ls.stop().await;
}
