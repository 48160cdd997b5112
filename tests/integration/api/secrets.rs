//! With `RUST_LOG=trace`, a whole session of the real binary — presign, inline, proxy, links,
//! webhook write-back through a Personal Access Token, bad tokens, errors, metrics — never
//! prints a configured secret, raw or percent-encoded.

use oss_emulator::Credential;
use serde_json::{Value, json};

use super::fake_ls::{FakeLs, pat};
use super::helpers::cli_token;

const SK: &str = "sk-SECRET-value-9d8f7a6b5c";
const STS: &str = "sts-TOKEN-value+with/odd=chars";
const LINK_SECRET: &str = "link-SECRET-value-1a2b3c4d5e6f";

#[tokio::test]
async fn no_secret_reaches_logs_errors_or_metrics() {
    let emulator = super::helpers::single_bucket_emulator(
        "media",
        Credential {
            access_key_id: "STS.AKID".into(),
            access_key_secret: SK.into(),
            security_token: Some(STS.into()),
        },
        std::time::Duration::ZERO,
    );
    emulator.put_object("media", "a.png", "PNG".into(), "image/png");
    let ls = FakeLs::start();
    ls.add_task(json!({"id": 1, "project": 1, "data": {"image": "oss://media/a.png"}, "meta": {}}));
    let log_path = std::env::temp_dir().join(format!("ls-presign-trace-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let pat = pat();
    let (mut child, port) = super::helpers::spawn_serve_to(
        &[
            ("RUST_LOG", "trace"),
            ("OSS_BUCKET", "media"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ENDPOINT", &emulator.endpoint()),
            ("OSS_ADDRESSING_STYLE", "path"),
            ("OSS_ACCESS_KEY_ID", "STS.AKID"),
            ("OSS_ACCESS_KEY_SECRET", SK),
            ("OSS_SESSION_TOKEN", STS),
            ("LS_PRESIGN_SECRET", LINK_SECRET),
            ("LABEL_STUDIO_URL", &ls.url),
            ("LABEL_STUDIO_API_KEY", &pat),
            ("BASIC_AUTH_USER", "ml"),
            ("BASIC_AUTH_PASS", "basic-PASS-secret"),
        ],
        log.try_clone().unwrap().into(),
        log.into(),
    );
    let base = format!("http://127.0.0.1:{port}");

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    super::helpers::wait_until_up(&client, &base).await;
    let (admin, hook) = (cli_token(LINK_SECRET, "admin"), cli_token(LINK_SECRET, "webhook"));
    let mut bodies = Vec::new();
    let get_text = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let post = |path: &str, body: &str, auth: &str| {
        client
            .post(format!("{base}{path}"))
            .header("authorization", auth.to_owned())
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let bearer = format!("Bearer {admin}");
    for (path, body) in [
        ("/v1/resolve", r#"{"a":"oss://media/a.png"}"#),
        (
            "/v1/resolve?mode=inline",
            r#"{"a":"oss://media/a.png","b":"oss://media/missing.png"}"#,
        ),
        ("/v1/resolve?mode=link", r#"["oss://media/a.png"]"#),
        ("/v1/sign", r#"{"uri":"oss://media/a.png"}"#),
        ("/v1/sign", r#"{"uri":"oss://other/a.png"}"#),
        ("/v1/resolve", r#"{"a":"#),
    ] {
        let resp = post(path, body, &bearer).await.unwrap();
        bodies.push(format!("{:?}", resp.headers()));
        bodies.push(resp.text().await.unwrap());
    }
    for bad in ["Bearer garbage", "Basic bWw6d3Jvbmc=", &format!("Bearer {admin}x")] {
        bodies.push(
            post("/v1/sign", r#"{"uri":"oss://media/a.png"}"#, bad)
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let links: Value = post("/v1/resolve?mode=link", r#"["oss://media/a.png"]"#, &bearer)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = links[0].as_str().unwrap();
    let redirect = client.get(link).send().await.unwrap();
    assert_eq!(redirect.status(), 303);
    bodies.push(get_text(format!("{base}/r/forged.token.here")).await);
    let webhook =
        json!({"action": "TASKS_CREATED", "tasks": [{"id": 1, "data": {"image": "oss://media/a.png"}, "meta": {}}]});
    let resp = post("/webhook", &webhook.to_string(), &format!("Bearer {hook}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    ls.wait_for_patches(1, 10).await;
    bodies.push(get_text(format!("{base}/metrics")).await);

    child.kill().unwrap();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "trace logging is on");
    let access_tokens = ls.inner.lock().unwrap().valid_access.clone();
    let mut secrets: Vec<String> = vec![
        SK.into(),
        STS.into(),
        LINK_SECRET.into(),
        pat.clone(),
        "basic-PASS-secret".into(),
    ];
    secrets.extend(access_tokens);
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    for secret in &secrets {
        let encoded = percent_encoding::utf8_percent_encode(secret, UNRESERVED).to_string();
        for form in [secret.as_str(), encoded.as_str()] {
            assert!(!logs.contains(form), "a secret is in the log: {}…", &secret[..6]);
            // An STS token is part of every presigned URL by design (useless without the key
            // secret); everything else must never reach a client.
            if secret != STS {
                for b in &bodies {
                    assert!(!b.contains(form), "a secret is in a response: {}…", &secret[..6]);
                }
            }
        }
    }
    let sts_in_url = percent_encoding::utf8_percent_encode(STS, UNRESERVED).to_string();
    assert!(
        bodies[1].contains(&sts_in_url),
        "the STS token rides in the presigned URL"
    );
    // Signed URLs appear in logs only without their query.
    assert!(
        !logs.contains("x-oss-signature="),
        "a signed URL with its query is in the log"
    );
    let _ = std::fs::remove_file(&log_path);
    emulator.stop().await;
    ls.stop().await;
}
