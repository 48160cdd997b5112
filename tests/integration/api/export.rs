//! Live export of annotations to the bucket (`[[export]]`, `LS_PRESIGN_EXPORT_*`): the captured
//! Label Studio 1.23.2 annotation webhooks, answered at once, written as one JSON object per
//! annotation with the task's original URIs, byte-identical when written again, deleted only
//! when the target allows it, store errors retried and then counted.

use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app_with};

fn event(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/ls-1.23.2/{name}", env!("CARGO_MANIFEST_DIR"));
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    capture["received"]["body"].clone()
}

async fn post(app: &TestApp, event: &Value) -> Value {
    let resp = app.post_webhook(&app.webhook_token(), event).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The object at `key` of bucket `media` once it exists (or panics after 10 s).
async fn object(app: &TestApp, key: &str) -> (bytes::Bytes, String) {
    for _ in 0..200 {
        if let Some(found) = app.emulator.object("media", key) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{key} was never written");
}

async fn metric(app: &TestApp, line: &str) -> bool {
    for _ in 0..300 {
        if app.get("/metrics").await.text().await.unwrap().contains(line) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn annotations_are_written_with_the_original_uris_and_the_same_content_is_the_same_bytes() {
    let app = spawn_app_with(&[
        ("LS_PRESIGN_EXPORT_PROJECT", "1"),
        ("LS_PRESIGN_EXPORT_URI", "oss://media/exports/"),
    ])
    .await;
    // The task as write-back left it: a stable link, and one inside HTML.
    let link = app.link("oss://media/images/a b+c.jpg").await;
    let mut created = event("webhook_ANNOTATION_CREATED.json");
    created["task"]["data"] = json!({"image": link, "html": format!("<p><img src=\"{link}\"></p>")});
    let answer = post(&app, &created).await;
    assert_eq!(answer["export"], json!({"writes": 1, "deletes": 0}), "{answer}");

    let (bytes, content_type) = object(&app, "exports/1.json").await;
    assert_eq!(content_type, "application/json");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["task"]["data"]["image"], "oss://media/images/a b+c.jpg");
    assert_eq!(
        doc["task"]["data"]["html"],
        "<p><img src=\"oss://media/images/a b+c.jpg\"></p>"
    );
    assert_eq!(doc["task"]["id"], 1);
    assert_eq!(doc["annotation"]["result"], created["annotation"]["result"]);
    assert_eq!(doc["completed_by"], 1);
    // Only the fields Label Studio's API gives too, so a bulk export writes the same bytes.
    let fields: Vec<&str> = doc["annotation"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(!fields.contains(&"unique_id") && !fields.contains(&"prediction") && fields.contains(&"lead_time"));

    // Again, with the task's keys in another order: the same bytes.
    let mut again = created.clone();
    let data = again["task"]["data"].as_object().unwrap().clone();
    again["task"]["data"] = Value::Object(data.into_iter().rev().collect());
    app.emulator.delete_object("media", "exports/1.json");
    post(&app, &again).await;
    assert_eq!(object(&app, "exports/1.json").await.0, bytes);

    // An update replaces it.
    let mut updated = event("webhook_ANNOTATION_UPDATED_patch.json");
    updated["task"]["data"] = created["task"]["data"].clone();
    post(&app, &updated).await;
    let mut changed = bytes.clone();
    for _ in 0..200 {
        changed = object(&app, "exports/1.json").await.0;
        if changed != bytes {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let doc: Value = serde_json::from_slice(&changed).unwrap();
    assert_eq!(doc["annotation"]["updated_at"], updated["annotation"]["updated_at"]);

    // Deletion is off by default: the object stays, and nothing is queued.
    let answer = post(&app, &event("webhook_ANNOTATIONS_DELETED_api.json")).await;
    assert_eq!(answer["handled"], false, "{answer}");
    assert!(app.emulator.object("media", "exports/1.json").is_some());

    // Other projects are not exported.
    let mut other = created.clone();
    other["project"]["id"] = json!(2);
    assert_eq!(post(&app, &other).await["handled"], false);
    assert!(metric(&app, "lspresign_export_objects_total{outcome=\"written\"} 3").await);
    app.stop().await;
}

#[tokio::test]
async fn with_deletion_enabled_deleted_annotations_lose_their_objects() {
    let app = spawn_app_with(&[
        ("LS_PRESIGN_EXPORT_PROJECT", "1"),
        ("LS_PRESIGN_EXPORT_URI", "oss://media/exports"),
        ("LS_PRESIGN_EXPORT_DELETE", "true"),
    ])
    .await;
    post(&app, &event("webhook_ANNOTATION_CREATED.json")).await;
    object(&app, "exports/1.json").await;
    let answer = post(&app, &event("webhook_ANNOTATIONS_DELETED_api.json")).await;
    assert_eq!(answer["export"], json!({"writes": 0, "deletes": 1}), "{answer}");
    assert!(metric(&app, "lspresign_export_objects_total{outcome=\"deleted\"} 1").await);
    assert!(app.emulator.object("media", "exports/1.json").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_store_that_keeps_refusing_is_retried_then_counted_and_the_service_keeps_serving() {
    let app = spawn_app_with(&[
        ("S3_BUCKET", "gone"),
        ("S3_REGION", "us-east-1"),
        ("S3_ENDPOINT", "http://127.0.0.1:1"),
        ("S3_ADDRESSING_STYLE", "path"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-example-0123456789"),
        ("LS_PRESIGN_EXPORT_PROJECT", "1"),
        ("LS_PRESIGN_EXPORT_URI", "s3://gone/annotations/"),
    ])
    .await;
    let answer = post(&app, &event("webhook_ANNOTATION_CREATED.json")).await;
    assert_eq!(answer["export"]["writes"], 1);
    assert_eq!(app.get("/health").await.status(), 200);
    // Five attempts over 0.5 + 1 + 2 + 4 s.
    assert!(metric(&app, "lspresign_export_objects_total{outcome=\"failed\"} 1").await);
    app.stop().await;
}
