//! `POST /v1/resolve`: every rewritten URL fetched with a real HTTP client.

use base64::Engine;
use serde_json::{Value, json};

use super::helpers::{INLINE_MAX, spawn_app, spawn_app_with};

/// Keys that break naive signers: spaces, unicode, `+ % # ?`, `//`, leading/trailing spaces.
pub const TRICKY_KEYS: [&str; 12] = [
    "plain.jpg",
    "dir/with space.png",
    " leading and trailing ",
    "unicode/猫 ねこ 🐱 é.jpg",
    "combining/e\u{301}.png",
    "plus+sign+.png",
    "percent%20not-a-space%2F.png",
    "hash#and?query=1&x.png",
    "double//slash///x.png",
    "/leading-slash.png",
    "quote's \"dq\" (paren) [b] {c} *!@$;:,~.png",
    "tab\tand\u{7f}.bin",
];

fn body_for(key: &str) -> Vec<u8> {
    format!("bytes of {key:?}").repeat(3).into_bytes()
}

#[tokio::test]
async fn presigned_urls_fetch_exactly_the_named_objects() {
    let app = spawn_app().await;
    for key in TRICKY_KEYS {
        app.put("media", key, body_for(key), "application/octet-stream");
    }
    let tasks: Vec<Value> = TRICKY_KEYS
        .iter()
        .enumerate()
        .map(|(i, k)| json!({"id": i, "data": {"image": format!("oss://media/{k}"), "meta": {"n": [1, 2.5e3]}}}))
        .collect();
    let resp = app.post_json("/v1/resolve", serde_json::to_vec(&tasks).unwrap()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["ls-presign-rewritten"],
        TRICKY_KEYS.len().to_string().as_str()
    );
    assert_eq!(resp.headers()["ls-presign-skipped"], "0");
    let out: Vec<Value> = resp.json().await.unwrap();
    for (task, key) in out.iter().zip(TRICKY_KEYS) {
        let url = task["data"]["image"].as_str().unwrap();
        assert!(url.contains("x-oss-signature-version=OSS4-HMAC-SHA256"), "{url}");
        assert_eq!(task["data"]["meta"], json!({"n": [1, 2.5e3]}));
        let got = app.browser.get(url).send().await.unwrap();
        assert_eq!(got.status(), 200, "{key:?}: {}", got.text().await.unwrap());
        assert_eq!(got.bytes().await.unwrap(), body_for(key), "{key:?}");
        assert_eq!(app.emulator.gets_of("media", key), 1, "{key:?}");
    }
    app.stop().await;
}

/// The service's own reads (inline `data:` URLs, proxied links) fetch exactly the named objects
/// too, in every flavour of storage, path-style — though OpenDAL, which reads them, would take ` a ` for `a`,
/// `a//b` for `a/b` and `/a` for `a`: each such neighbour holds other bytes here.
#[tokio::test]
async fn inline_and_proxy_read_exactly_the_named_objects() {
    let app = spawn_app_with(&[("LS_PRESIGN_MODE", "proxy")]).await;
    // (Not `vhost`: the service, unlike the tests' browser, cannot resolve `vhost.localhost`.)
    for (scheme, bucket) in [("oss", "media"), ("oss", "legacy"), ("oss", "sts"), ("s3", "s3media")] {
        for key in TRICKY_KEYS {
            app.put(bucket, key, body_for(key), "application/x-test");
            for neighbour in [key.trim().trim_start_matches('/').to_owned(), key.replace("//", "/")] {
                if neighbour != key {
                    app.put(bucket, &neighbour, "a neighbour", "text/plain");
                }
            }
        }
        let uris: Vec<String> = TRICKY_KEYS.iter().map(|k| format!("{scheme}://{bucket}/{k}")).collect();
        let body = serde_json::to_vec(&uris).unwrap();
        let inline: Vec<String> = app
            .post_json("/v1/resolve?mode=inline", body.clone())
            .await
            .json()
            .await
            .unwrap();
        let links: Vec<String> = app.post_json("/v1/resolve", body).await.json().await.unwrap();
        for ((key, data), link) in TRICKY_KEYS.iter().zip(inline).zip(links) {
            let b64 = data
                .strip_prefix("data:application/x-test;base64,")
                .unwrap_or_else(|| panic!("{bucket} {key:?}: {data}"));
            assert_eq!(
                base64::engine::general_purpose::STANDARD.decode(b64).unwrap(),
                body_for(key),
                "{bucket} {key:?}"
            );
            let got = app.browser.get(&link).send().await.unwrap();
            assert_eq!(got.status(), 200, "{bucket} {key:?}");
            assert_eq!(got.bytes().await.unwrap(), body_for(key), "{bucket} {key:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn every_signing_flavour_is_accepted_by_the_store() {
    let app = spawn_app().await;
    let cases = [
        ("oss://legacy/old.png", "legacy", "OSSAccessKeyId="),
        ("s3://s3media/dir/a b.png", "s3media", "X-Amz-Signature="),
        ("oss://vhost/in vhost+.png", "vhost", "http://vhost.localhost:"),
        ("oss://sts/token.png", "sts", "x-oss-security-token="),
    ];
    for (uri, bucket, marker) in cases {
        let key = uri.split_once(&format!("{bucket}/")).unwrap().1;
        app.put(bucket, key, body_for(key), "image/png");
        let resp = app.post_json("/v1/resolve", json!({ "image": uri }).to_string()).await;
        let out: Value = resp.json().await.unwrap();
        let url = out["image"].as_str().unwrap();
        assert!(url.contains(marker), "{uri} -> {url}");
        let got = app.browser.get(url).send().await.unwrap();
        assert_eq!(got.status(), 200, "{uri}: {}", got.text().await.unwrap());
        assert_eq!(got.bytes().await.unwrap(), body_for(key));
    }
    app.stop().await;
}

#[tokio::test]
async fn v1_against_a_v4_only_bucket_is_refused_by_the_store() {
    let app = spawn_app().await;
    app.put("v1refused", "x.png", "x", "image/png");
    let resp = app.post_json("/v1/resolve", r#"{"i":"oss://v1refused/x.png"}"#).await;
    let out: Value = resp.json().await.unwrap();
    let got = app.browser.get(out["i"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(got.status(), 403);
    assert!(got.text().await.unwrap().contains("<Code>AccessDenied</Code>"));
    app.stop().await;
}

#[tokio::test]
async fn shapes_html_and_untouched_content() {
    let app = spawn_app().await;
    app.put("media", "a.jpg", "A", "image/jpeg");
    // One task, a list, {"tasks": [...]}, and arbitrary JSON all work; the rest stays byte for byte.
    let src = r#"{"tasks": [ {"data": {"html": "<img src='oss://media/a.jpg'> <img src=\"oss://nope/b.jpg\">", "text": "see oss://media/a.jpg", "n": 1.0e2 }} ], "oss://media/a.jpg": true}"#;
    let resp = app.post_json("/v1/resolve", src).await;
    assert_eq!(resp.headers()["ls-presign-rewritten"], "1");
    assert_eq!(resp.headers()["ls-presign-skipped"], "1");
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let html = v["tasks"][0]["data"]["html"].as_str().unwrap();
    assert!(html.starts_with("<img src='http://127.0.0.1:"), "{html}");
    assert!(html.ends_with("<img src=\"oss://nope/b.jpg\">"), "{html}");
    assert_eq!(v["tasks"][0]["data"]["text"], "see oss://media/a.jpg");
    assert!(
        text.contains(r#""n": 1.0e2 }} ], "oss://media/a.jpg": true}"#),
        "{text}"
    );

    // Nothing configured: the exact bytes come back.
    let plain = "[ {\"a\" : \"gs://b/k\",\"b\":[1,2 ,3]} ]";
    let resp = app.post_json("/v1/resolve", plain).await;
    assert_eq!(resp.text().await.unwrap(), plain);

    // Idempotent: resolving the output again changes nothing.
    let again = app.post_json("/v1/resolve", text.clone()).await;
    assert_eq!(again.headers()["ls-presign-rewritten"], "0");
    assert_eq!(again.text().await.unwrap(), text);
    app.stop().await;
}

#[tokio::test]
async fn modes_link_and_inline() {
    let app = spawn_app().await;
    let png = include_bytes!("../../../assets/demo/cat.png");
    app.put("media", "cat.png", &png[..], "image/png");
    app.put("media", "guess.jpg", &b"jpeg-ish"[..], "");
    app.put(
        "media",
        "big.bin",
        vec![7u8; INLINE_MAX + 1],
        "application/octet-stream",
    );

    let resp = app
        .post_json(
            "/v1/resolve?mode=inline",
            r#"{"a":"oss://media/cat.png","b":"oss://media/guess.jpg","c":"oss://media/big.bin","d":"oss://media/missing.png"}"#,
        )
        .await;
    assert_eq!(resp.headers()["ls-presign-rewritten"], "2");
    assert_eq!(resp.headers()["ls-presign-failed"], "2");
    let errors: Value = serde_json::from_str(resp.headers()["ls-presign-errors"].to_str().unwrap()).unwrap();
    let codes: Vec<_> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["object_too_large", "object_not_found"]);
    let out: Value = resp.json().await.unwrap();
    let a = out["a"]
        .as_str()
        .unwrap()
        .strip_prefix("data:image/png;base64,")
        .unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(a).unwrap(), png);
    assert!(out["b"].as_str().unwrap().starts_with("data:image/jpeg;base64,"));
    assert_eq!(out["c"], "oss://media/big.bin");

    let link = app.link("oss://media/cat.png").await;
    assert!(link.starts_with(&format!("{}/r/", app.base)), "{link}");
    let got = app.browser.get(&link).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), png);
    app.stop().await;
}

#[tokio::test]
async fn allow_lists_skip_other_buckets_and_prefixes() {
    let app = spawn_app().await;
    app.put("limited", "public/a.png", "ok", "image/png");
    let resp = app
        .post_json(
            "/v1/resolve",
            r#"{"a":"oss://limited/public/a.png","b":"oss://limited/private/a.png","c":"s3://media/a.png"}"#,
        )
        .await;
    assert_eq!(resp.headers()["ls-presign-rewritten"], "1");
    assert_eq!(resp.headers()["ls-presign-skipped"], "2");
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["b"], "oss://limited/private/a.png");
    assert_eq!(out["c"], "s3://media/a.png");
    app.stop().await;
}

/// A captured Label Studio 1.23.2 document, `key` of the fixture file (`response`, `received.body`).
fn captured(file: &str, pointer: &str) -> Value {
    let path = format!("{}/tests/fixtures/ls-1.23.2/{file}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.pointer(pointer).unwrap().clone()
}

/// `POST /v1/resolve` of `doc`; the rewritten document.
async fn resolved(app: &super::helpers::TestApp, doc: &Value) -> Value {
    let resp = app.post_json("/v1/resolve", serde_json::to_vec(doc).unwrap()).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Every key but `data` of each task comes back as it was sent; `data` is rewritten where it
/// names the configured bucket (`s3://` is not configured here and stays).
fn only_data_changed(sent: &[Value], got: &[Value]) {
    assert_eq!(sent.len(), got.len());
    for (s, g) in sent.iter().zip(got) {
        let (s, g) = (s.as_object().unwrap(), g.as_object().unwrap());
        assert_eq!(s.keys().collect::<Vec<_>>(), g.keys().collect::<Vec<_>>());
        for (k, v) in s {
            if k == "data" && v.to_string().contains("oss://my-bucket/") {
                assert!(
                    g[k].to_string().contains("x-oss-signature="),
                    "data is rewritten: {}",
                    g[k]
                );
            } else {
                assert_eq!(&g[k], v, "{k} is kept");
            }
        }
    }
}

#[tokio::test]
async fn only_task_data_is_rewritten() {
    let app = spawn_app().await;
    // A task with the same URI in `meta`: only `data` changes, byte for byte elsewhere.
    let text = r#"{"data": {"image": "oss://my-bucket/a.jpg"}, "meta": {"source": "oss://my-bucket/a.jpg"}}"#;
    let resp = app.post_json("/v1/resolve", text).await;
    assert_eq!(resp.headers()["ls-presign-rewritten"], "1");
    let out = resp.text().await.unwrap();
    assert!(
        out.ends_with(r#"}, "meta": {"source": "oss://my-bucket/a.jpg"}}"#),
        "{out}"
    );

    // A Label Studio JSON export: annotations quoting the URI (an annotator's text answer),
    // predictions, drafts and ids stay; each task's data is rewritten.
    let export = captured("api_export_JSON.json", "/response");
    let got = resolved(&app, &export).await;
    only_data_changed(export.as_array().unwrap(), got.as_array().unwrap());
    assert!(
        export
            .to_string()
            .contains("the file oss://my-bucket/cats/1.jpg is blurry")
    );

    // An ML backend's /predict body: each task's data, never label_config or params.
    let mut predict = captured("ml_POST_predict_dm_retrieve_batch.json", "/received/body");
    predict["label_config"] = json!("<View><Image name=\"i\" value=\"oss://my-bucket/a.jpg\"/></View>");
    predict["params"] = json!({"context": {"image": "oss://my-bucket/a.jpg"}});
    let got = resolved(&app, &predict).await;
    assert_eq!(got["label_config"], predict["label_config"]);
    assert_eq!(got["params"], predict["params"]);
    only_data_changed(predict["tasks"].as_array().unwrap(), got["tasks"].as_array().unwrap());

    // A script that reads a task, resolves it and writes it back keeps the original URIs.
    let task = json!({"id": 7, "data": {"image": "oss://my-bucket/a.jpg"},
        "meta": {"ls_presign": {"original_uris": ["oss://my-bucket/a.jpg"]}}});
    let got = resolved(&app, &task).await;
    assert_eq!(got["meta"], task["meta"]);
    assert_ne!(got["data"], task["data"]);
    app.stop().await;
}
