//! Live export of annotations to the bucket (`[[export]]`, `LS_PRESIGN_EXPORT_*`): the captured
//! Label Studio 1.23.2 annotation webhooks, answered at once, written as one JSON object per
//! annotation with the task's original URIs, byte-identical when written again, deleted only
//! when the target allows it, store errors retried and then counted.

use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app_with};

pub(super) fn event(name: &str) -> Value {
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

#[tokio::test]
async fn a_store_that_refuses_for_a_while_is_retried_until_the_object_is_written() {
    let app = spawn_app_with(&[
        ("LS_PRESIGN_EXPORT_PROJECT", "1"),
        ("LS_PRESIGN_EXPORT_URI", "oss://media/exports/"),
    ])
    .await;
    // The write and the first retry get 503 ServiceUnavailable; the wait doubles each time.
    app.emulator.refuse_next(2);
    let before = app.emulator.stats().received;
    let answer = post(&app, &event("webhook_ANNOTATION_CREATED.json")).await;
    assert_eq!(answer["export"]["writes"], 1);
    let (bytes, _) = object(&app, "exports/1.json").await;
    let written: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(written["annotation"]["id"], 1);
    assert!(metric(&app, "lspresign_export_objects_total{outcome=\"written\"} 1").await);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("lspresign_export_objects_total{outcome=\"failed\"} 0"),
        "{text}"
    );
    assert_eq!(
        app.emulator.stats().received - before,
        3,
        "two refused, the third written"
    );
    app.stop().await;
}

/// A task as Label Studio's task list gives it with every field (annotations embedded, in the
/// shape of tests/fixtures/ls-1.23.2/api_annotations.json).
pub(super) fn listed_task(id: u64, image: &str, annotations: &[(u64, &str)]) -> Value {
    let annotations: Vec<Value> = annotations
        .iter()
        .map(|(a, choice)| {
            json!({"id": a, "result": [{"from_name": "c", "to_name": "image", "type": "choices", "value": {"choices": [choice]}}],
                   "created_username": " admin@example.com, 1", "created_ago": "3\u{a0}minutes", "completed_by": 1,
                   "was_cancelled": false, "ground_truth": false, "created_at": "2026-12-05T01:00:00.000000Z",
                   "updated_at": "2026-12-05T01:00:00.000000Z", "draft_created_at": null, "lead_time": 2.5,
                   "import_id": null, "last_action": null, "bulk_created": false, "task": id, "project": 5,
                   "updated_by": 1, "parent_prediction": null, "parent_annotation": null, "last_created_by": null})
        })
        .collect();
    json!({"id": id, "project": 5, "data": {"image": image}, "meta": {}, "annotations": annotations, "total_annotations": annotations.len()})
}

#[tokio::test]
async fn export_writes_every_annotation_once_and_only_what_changed_after() {
    use std::sync::atomic::AtomicBool;

    use ls_presign::export::{Options, Summary, export_project};
    use ls_presign::labelstudio::LabelStudio;
    use ls_presign::uri::StorageUri;
    use secrecy::SecretString;

    use super::fake_ls::{FakeLs, LEGACY_TOKEN};

    let app = spawn_app_with(&[]).await;
    let ls = FakeLs::start();
    let link = app.link("oss://media/cats/1.jpg").await;
    ls.add_task(listed_task(1, &link, &[(11, "a"), (12, "b")]));
    ls.add_task(listed_task(2, "oss://media/cats/2.jpg", &[(13, "a")]));
    ls.add_task(listed_task(3, "oss://media/cats/3.jpg", &[]));
    // Only a skipped annotation: Label Studio's total_annotations leaves it out.
    let mut skipped = listed_task(4, "oss://media/cats/4.jpg", &[(14, "a")]);
    skipped["annotations"][0]["was_cancelled"] = json!(true);
    skipped["annotations"][0]["result"] = json!([]);
    ls.add_task(skipped);
    let client = LabelStudio::new(&ls.url, SecretString::from(LEGACY_TOKEN), Duration::from_secs(5)).unwrap();
    let opts = |folder: &str, per_task: bool, dry_run: bool| Options {
        project: 5,
        folder: StorageUri::parse_folder(folder).unwrap().into_folder(),
        per_task,
        dry_run,
        page_size: 2,
        since: None,
        delete_missing: false,
    };
    let (resolver, storages) = (&app.state.resolver, &app.state.storages);
    let run = |o: Options| {
        let ls = &client;
        async move {
            export_project(resolver, storages, ls, &o, &AtomicBool::new(false), &|_, _| {})
                .await
                .unwrap()
        }
    };

    let dry = run(opts("oss://media/bulk", false, true)).await;
    assert_eq!((dry.objects, dry.written), (4, 4));
    assert!(
        app.emulator.object("media", "bulk/11.json").is_none(),
        "a dry run writes nothing"
    );

    let first = run(opts("oss://media/bulk", false, false)).await;
    let counts = |s: &Summary| {
        (
            s.tasks,
            s.objects,
            s.written,
            s.unchanged,
            s.failed,
            s.ls_requests,
            s.interrupted,
        )
    };
    // Per pass (annotations, skipped ones): pages of ids, and the export of each page's tasks.
    assert_eq!(counts(&first), (3, 4, 4, 0, 0, 5, false));
    let (bytes, content_type) = object(&app, "bulk/11.json").await;
    assert_eq!(content_type, "application/json");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["task"]["data"]["image"], "oss://media/cats/1.jpg");
    assert!(doc["annotation"].get("created_ago").is_none());

    let doc: Value = serde_json::from_slice(&object(&app, "bulk/14.json").await.0).unwrap();
    assert_eq!(
        doc["annotation"]["was_cancelled"], true,
        "a skipped annotation is exported too"
    );

    // Nothing changed: nothing written, nothing downloaded.
    let gets = app.emulator.stats();
    let again = run(opts("oss://media/bulk", false, false)).await;
    assert_eq!((again.written, again.unchanged), (0, 4));
    assert_eq!(
        app.emulator.stats().objects_served,
        gets.objects_served,
        "compared by ETag, not read"
    );

    // Compared from one listing of the folder: one store request, not one per object.
    let asked = app.emulator.stats().received;
    run(opts("oss://media/bulk", false, false)).await;
    assert_eq!(app.emulator.stats().received - asked, 1, "one listing");

    // An annotation deleted in Label Studio: --delete-missing removes its object (only names
    // this export makes), a dry run only counts it.
    app.emulator.put_object(
        "media",
        "bulk/999.json",
        bytes::Bytes::from_static(b"{}"),
        "application/json",
    );
    app.emulator
        .put_object("media", "bulk/notes.txt", bytes::Bytes::from_static(b"x"), "text/plain");
    let deleting = |dry_run: bool| Options {
        delete_missing: true,
        ..opts("oss://media/bulk", false, dry_run)
    };
    let counted = run(deleting(true)).await;
    assert_eq!((counted.deleted, counted.written), (1, 0));
    assert!(app.emulator.object("media", "bulk/999.json").is_some());
    let deleted = run(deleting(false)).await;
    assert_eq!((deleted.deleted, deleted.unchanged, deleted.failed), (1, 4, 0));
    assert!(app.emulator.object("media", "bulk/999.json").is_none());
    assert!(
        app.emulator.object("media", "bulk/notes.txt").is_some(),
        "not an object export makes"
    );

    // An annotation changes: only its object is written.
    ls.add_task(listed_task(2, "oss://media/cats/2.jpg", &[(13, "b")]));
    let changed = run(opts("oss://media/bulk", false, false)).await;
    assert_eq!((changed.written, changed.unchanged), (1, 3));

    // --per-task: one object per annotated task, its annotations in id order.
    let per_task = run(opts("oss://media/by-task/", true, false)).await;
    assert_eq!((per_task.objects, per_task.written), (3, 3));
    let doc: Value = serde_json::from_slice(&object(&app, "by-task/1.json").await.0).unwrap();
    let ids: Vec<&Value> = doc["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, [11, 12]);
    assert_eq!(doc["task"]["data"]["image"], "oss://media/cats/1.jpg");

    // Stopped (Ctrl-C) before it began: interrupted, nothing written.
    let stopped = export_project(
        resolver,
        storages,
        &client,
        &opts("oss://media/stopped/", false, false),
        &AtomicBool::new(true),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(stopped.interrupted && stopped.written == 0, "{stopped:?}");
    app.stop().await;
    ls.stop().await;
}

/// The live export (a webhook's annotation) and the bulk one (the API's) write the same bytes.
#[tokio::test]
async fn the_live_and_the_bulk_export_write_the_same_bytes() {
    let app = spawn_app_with(&[]).await;
    let webhook = event("webhook_ANNOTATION_CREATED.json");
    let mut api = webhook["annotation"].clone();
    let api_object = api.as_object_mut().unwrap();
    for webhook_only in ["prediction", "result_count", "unique_id"] {
        api_object.remove(webhook_only);
    }
    api_object.insert("created_username".into(), json!(" admin@example.com, 1"));
    api_object.insert("created_ago".into(), json!("1\u{a0}minute"));
    let live = ls_presign::export::document(&app.state.resolver, &webhook["annotation"], &webhook["task"]);
    let bulk = ls_presign::export::document(&app.state.resolver, &api, &webhook["task"]);
    assert_eq!(String::from_utf8(live).unwrap(), String::from_utf8(bulk).unwrap());
    app.stop().await;
}

/// What Label Studio 1.23.2's export gives (the bulk export reads tasks from it) makes the same
/// objects as its Data Manager's `fields=all` and its webhooks: captured in
/// tests/fixtures/ls-1.23.2/api_export_by_ids.json, skipped and ground-truth annotations included.
#[tokio::test]
async fn the_export_api_and_the_data_manager_give_the_same_objects() {
    let app = spawn_app_with(&[]).await;
    let path = format!(
        "{}/tests/fixtures/ls-1.23.2/api_export_by_ids.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let calls = capture["calls"].as_array().unwrap();
    let exported: Vec<&Value> = calls
        .iter()
        .filter(|c| c["request"]["path"].as_str().unwrap().contains("/export?"))
        .flat_map(|c| c["response"].as_array().unwrap())
        .collect();
    let listed = calls.last().unwrap()["response"]["tasks"].as_array().unwrap();
    let resolver = &app.state.resolver;
    let mut compared = 0;
    for task in &exported {
        let same = listed.iter().find(|t| t["id"] == task["id"]).unwrap();
        for (a, b) in task["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .zip(same["annotations"].as_array().unwrap())
        {
            assert_eq!(a["id"], b["id"]);
            let (x, y) = (
                ls_presign::export::document(resolver, a, task),
                ls_presign::export::document(resolver, b, same),
            );
            assert_eq!(String::from_utf8(x).unwrap(), String::from_utf8(y).unwrap());
            compared += 1;
        }
    }
    // Every annotated task of the capture, and every annotation: a plain one, a skipped one,
    // two on one task (one ground truth).
    let annotated = listed
        .iter()
        .filter(|t| !t["annotations"].as_array().unwrap().is_empty())
        .count();
    assert_eq!((exported.len(), annotated, compared), (3, 3, 4));
    app.stop().await;
}
