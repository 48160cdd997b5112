//! Health, metrics, CORS preflight and the error shape for bad requests.

use serde_json::Value;

use super::helpers::{error_code, spawn_app};

#[tokio::test]
async fn health_is_the_ml_backend_shape() {
    let app = spawn_app().await;
    let resp = app.get("/health").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "UP");
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_the_service_keeps_serving() {
    let app = spawn_app().await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            app.client
                .post(format!("{}/v1/resolve", app.base))
                .header("content-type", "application/json")
                .body("{\"a\":"),
            400,
            "invalid_json",
        ),
        (
            app.client
                .post(format!("{}/v1/resolve", app.base))
                .header("content-type", "application/json")
                .body(""),
            400,
            "empty_body",
        ),
        (
            app.client
                .post(format!("{}/v1/resolve", app.base))
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "unsupported_media_type",
        ),
        (
            app.client
                .post(format!("{}/v1/resolve?mode=fast", app.base))
                .header("content-type", "application/json")
                .body("{}"),
            400,
            "invalid_mode",
        ),
        (
            app.client
                .post(format!("{}/v1/resolve?x=1", app.base))
                .header("content-type", "application/json")
                .body("{}"),
            400,
            "invalid_query",
        ),
        (
            app.client
                .post(format!("{}/v1/resolve", app.base))
                .header("content-type", "application/json")
                .body("[".repeat(10_000)),
            400,
            "invalid_json",
        ),
        (
            app.client.get(format!("{}/v1/resolve", app.base)),
            405,
            "method_not_allowed",
        ),
        (app.client.get(format!("{}/nope", app.base)), 404, "not_found"),
        (
            app.client.delete(format!("{}/health", app.base)),
            405,
            "method_not_allowed",
        ),
    ];
    for (req, status, code) in cases {
        let (got_status, got_code) = error_code(req.send().await.unwrap()).await;
        assert_eq!((got_status, got_code.as_str()), (status, code));
    }
    let big = vec![b' '; 65 << 20];
    let (status, code) = error_code(app.post_json("/v1/resolve", big).await).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn preflight_and_metrics() {
    let app = spawn_app().await;
    let pre = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/resolve", app.base))
        .header("Origin", "http://ls.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        pre.headers()["access-control-allow-headers"],
        "content-type, authorization"
    );

    app.put("media", "m.png", "m", "image/png");
    app.post_json("/v1/resolve", r#"{"a":"oss://media/m.png"}"#).await;
    app.post_json("/v1/resolve", r#"{"a":"oss://media/m.png"}"#).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("lspresign_http_requests_total{route=\"/v1/resolve\",status=\"200\"} 2"),
        "{text}"
    );
    assert!(text.contains("lspresign_cache_hits_total 1"), "{text}");
    assert!(text.contains("lspresign_cache_misses_total 1"), "{text}");
    assert!(text.contains("lspresign_cache_entries 1"), "{text}");
    assert!(text.contains("lspresign_sign_duration_seconds_count 1"), "{text}");
    assert!(
        text.contains("lspresign_references_total{outcome=\"rewritten\"} 2"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn cors_origin_is_configurable() {
    let app = super::helpers::spawn_app_with(&[("LS_PRESIGN_CORS_ORIGIN", "http://ls.example:8080")]).await;
    let resp = app.get("/health").await;
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://ls.example:8080");
    assert!(resp.headers().get_all("vary").iter().any(|v| v == "Origin"));
    app.stop().await;
}

#[tokio::test]
async fn request_ids_and_readiness() {
    let app = spawn_app().await;
    let resp = app.get("/health").await;
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    let echoed = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-abc.123");
    let odd = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    assert_ne!(odd.headers()["x-request-id"], "a b\"c");

    // The test storages include a V1 signer against a V4-only bucket: readiness names it.
    let resp = app.get("/ready").await;
    assert_eq!(resp.status(), 503);
    let ready: Value = resp.json().await.unwrap();
    assert_eq!(ready["status"], "not_ready", "{ready}");
    assert_eq!(ready["checks"]["oss://media"], "ok");
    assert_eq!(ready["checks"]["s3://s3media"], "ok");
    assert!(
        ready["checks"]["oss://v1refused"].as_str().unwrap().contains("refused"),
        "{ready}"
    );
    app.stop().await;

    // Label Studio configured but down: not ready, with the reason.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{dead}");
    let app =
        super::helpers::spawn_app_with(&[("LABEL_STUDIO_URL", url.as_str()), ("LABEL_STUDIO_API_KEY", "x-token")])
            .await;
    let resp = app.get("/ready").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    let check = body["checks"]["label_studio"].as_str().unwrap();
    assert_eq!(
        check,
        format!("cannot reach Label Studio at 127.0.0.1:{dead}: connection refused (is it running?)"),
        "{body}"
    );
    app.stop().await;
}

/// Every route the service answers is in docs/openapi.json with its methods, and the document
/// is what `/openapi.json` serves. (scripts/test also runs openapi-spec-validator on it.)
#[tokio::test]
async fn openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let file: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))).unwrap();
    assert_eq!(served, file);
    assert!(file["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v1/resolve", "post"),
        ("/v1/sign", "post"),
        ("/v1/tasks/{id}", "get"),
        ("/v1/projects/{id}/tasks", "get"),
        ("/r/{token}", "get"),
        ("/r/{token}", "head"),
        ("/webhook", "post"),
        ("/setup", "post"),
        ("/versions", "get"),
        ("/predict", "post"),
    ];
    let paths = file["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        routes.len(),
        "docs/openapi.json documents a route the service lacks"
    );
    for (path, method) in routes {
        assert!(paths[path][method].is_object(), "{method} {path} is not documented");
        // And the service really has it: anything but 404/405 from the router.
        let concrete = path.replace("{id}", "1").replace("{token}", "x");
        let resp = app
            .client
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{}{concrete}", app.base),
            )
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let code = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("\"not_found\"") && code != 405,
            "{method} {path}: {code} {body}"
        );
    }
    app.stop().await;
}

/// A fresh key pair in PKCS#8 PEM (private, public) for an asymmetric token algorithm.
fn key_pair(algorithm: &str) -> (String, String) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    match algorithm {
        "ES256" => {
            let key = p256::SecretKey::random(&mut rand_core::OsRng);
            (
                key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                key.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            )
        }
        "RS256" => {
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
            (
                key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap(),
            )
        }
        other => panic!("no key pair for {other}"),
    }
}

/// ES256 API tokens: the service holds only the public keys; `ls-presign token` signs with the
/// private key; each key verifies by its `kid` (the file stem), so keys rotate by adding files.
#[tokio::test]
async fn es256_api_tokens_with_key_rotation() {
    asymmetric_api_tokens_with_key_rotation("ES256").await;
}

/// The same with RSA keys.
#[tokio::test]
async fn rs256_api_tokens_with_key_rotation() {
    asymmetric_api_tokens_with_key_rotation("RS256").await;
}

async fn asymmetric_api_tokens_with_key_rotation(algorithm: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut public_files = Vec::new();
    for kid in ["2026-01", "2026-06"] {
        let (private, public_pem) = key_pair(algorithm);
        std::fs::write(dir.join(format!("{kid}.key")), private).unwrap();
        let public = dir.join(format!("{kid}.pem"));
        std::fs::write(&public, public_pem).unwrap();
        public_files.push(public.to_str().unwrap().to_owned());
    }
    let publics = public_files.join(",");
    let app = super::helpers::spawn_app_with(&[
        ("LS_PRESIGN_TOKEN_ALGORITHM", algorithm),
        ("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", publics.as_str()),
    ])
    .await;
    assert!(
        app.state
            .auth
            .mint("x", ls_presign::auth::Scope::Admin, 0, 60)
            .is_none(),
        "the service cannot mint"
    );
    let mint = |kid: &str| {
        let private = dir.join(format!("{kid}.key"));
        super::helpers::cli_token_with(
            &[
                ("LS_PRESIGN_TOKEN_ALGORITHM", algorithm),
                ("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", &publics),
                ("LS_PRESIGN_TOKEN_PRIVATE_KEY_FILE", private.to_str().unwrap()),
            ],
            "resolve",
        )
    };
    let anon = reqwest::Client::new();
    for kid in ["2026-01", "2026-06"] {
        let resp = anon
            .post(format!("{}/v1/sign", app.base))
            .bearer_auth(mint(kid))
            .json(&serde_json::json!({"uri": "oss://media/a.png"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "token of key {kid}");
    }
    // An HS256 token made with the link secret is refused: API tokens are asymmetric now.
    let hs = ls_presign::auth::Authenticator::new(
        ls_presign::keys::KeyRing::hmac(&secrecy::SecretString::from(super::helpers::LINK_SECRET), &[]),
        None,
    )
    .mint("x", ls_presign::auth::Scope::Admin, ls_presign::now(), 60)
    .unwrap();
    let (status, code) = error_code(
        anon.post(format!("{}/v1/sign", app.base))
            .bearer_auth(hs)
            .json(&serde_json::json!({"uri": "oss://media/a.png"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
    // Stable links stay HS256 and keep working.
    app.put("media", "a.png", "A", "image/png");
    let link = app
        .state
        .resolver
        .link(&ls_presign::uri::StorageUri::parse("oss://media/a.png").unwrap())
        .unwrap();
    assert_eq!(app.browser.get(&link).send().await.unwrap().text().await.unwrap(), "A");
    app.stop().await;
}

/// Without `LS_PRESIGN_SECRET` (API tokens asymmetric) there are no stable links: `/r/` says so
/// with 409, as `/v1/resolve?mode=link` does, instead of failing as a server fault.
#[tokio::test]
async fn links_without_a_secret_are_disabled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let public = dir.join("k.pem");
    std::fs::write(&public, key_pair("ES256").1).unwrap();
    let app = super::helpers::spawn_app_with(&[
        ("LS_PRESIGN_SECRET", ""),
        ("LS_PRESIGN_TOKEN_ALGORITHM", "ES256"),
        ("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", public.to_str().unwrap()),
    ])
    .await;
    let link = super::helpers::mint_link(super::helpers::LINK_SECRET, "oss://media/a.png");
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let resp = app
            .browser
            .request(method.clone(), format!("{}/r/{link}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409, "{method}");
        if method == reqwest::Method::GET {
            let (_, code) = error_code(resp).await;
            assert_eq!(code, "links_disabled");
        }
    }
    app.stop().await;
}
