//! Every bad input gets its exact status and error code, and the service keeps serving.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ls_presign::auth::Scope;
use serde_json::{Value, json};

use super::fake_ls::{FakeLs, Fault, LEGACY_TOKEN};
use super::helpers::{LINK_SECRET, TestApp, b64url, mint_link, spawn_app_with};

/// One request and what it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    auth: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// The error code, or "" for a success.
    code: &'static str,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        auth: None,
        content_type: Some("application/json"),
        body: body.into(),
        status,
        code,
    }
}

impl Case {
    fn auth(mut self, value: impl Into<String>) -> Case {
        self.auth = Some(value.into());
        self
    }
    fn bearer(self, token: &str) -> Case {
        self.auth(format!("Bearer {token}"))
    }
    fn content_type(mut self, ct: Option<&'static str>) -> Case {
        self.content_type = ct;
        self
    }
}

/// The `kid` the service's HMAC key ring puts in its tokens.
fn our_kid(app: &TestApp) -> String {
    let t = app.state.auth.mint("x", Scope::Admin, ls_presign::now(), 60).unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// A token signed with the right secret but claims of our choosing.
fn forge(kid: &str, claims: Value, secret: &str) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test]
async fn sixty_plus_bad_inputs_get_exact_errors_and_nothing_breaks() {
    let ls = FakeLs::start();
    ls.add_task(json!({"id": 1, "project": 1, "data": {"image": "oss://my-bucket/a.png"}}));
    ls.fail(1, &[Fault::Garbage]);
    let app = spawn_app_with(&[
        ("LS_PRESIGN_MAX_BODY_BYTES", "1048576"),
        ("LS_PRESIGN_MAX_REFERENCES", "100"),
        ("BASIC_AUTH_USER", "mluser"),
        ("BASIC_AUTH_PASS", "mlpass"),
        ("LABEL_STUDIO_URL", ls.url.as_str()),
        ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
    ])
    .await;
    let now = ls_presign::now();
    let admin = app.state.auth.mint("t", Scope::Admin, now, 600).unwrap();
    let hook = app.state.auth.mint("t", Scope::Webhook, now, 600).unwrap();
    let resolve = app.state.auth.mint("t", Scope::Resolve, now, 600).unwrap();
    let kid = our_kid(&app);
    let claims = |over: Value| {
        let mut c = json!({"sub": "t", "scope": "admin", "aud": "ls-presign:api", "iss": "ls-presign", "iat": now, "nbf": now, "exp": now + 600});
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let expired = forge(&kid, claims(json!({"exp": now - 3600, "nbf": now - 7200})), LINK_SECRET);
    let not_yet = forge(&kid, claims(json!({"nbf": now + 3600, "exp": now + 7200})), LINK_SECRET);
    let wrong_aud = forge(&kid, claims(json!({"aud": "someone-else"})), LINK_SECRET);
    let wrong_iss = forge(&kid, claims(json!({"iss": "evil"})), LINK_SECRET);
    let wrong_key = forge(&kid, claims(json!({})), "not-the-service-secret-at-all");
    let unknown_kid = forge("hs-000000000000", claims(json!({})), LINK_SECRET);
    let alg_none = format!(
        "{}.{}.",
        b64url(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#)),
        b64url(&claims(json!({})).to_string())
    );
    // RS256 header over an HMAC signature made with the shared secret: the classic confusion.
    let good = forge(&kid, claims(json!({})), LINK_SECRET);
    let mut parts = good.split('.');
    let (_, payload, sig) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let confused = format!(
        "{}.{payload}.{sig}",
        b64url(&format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#))
    );
    let link = |u: &str| mint_link(LINK_SECRET, u);
    let good_link = link("oss://media/x.png");
    let foreign_link = mint_link("some-other-secret-000", "oss://media/x.png");
    let (lh, lp, ls_sig) = {
        let mut p = good_link.split('.');
        (
            p.next().unwrap().to_owned(),
            p.next().unwrap().to_owned(),
            p.next().unwrap().to_owned(),
        )
    };
    let altered_link = format!(
        "{lh}.{}.{ls_sig}",
        b64url(r#"{"uri":"oss://media/secret.png","aud":"ls-presign:link"}"#)
    );
    let none_link = format!("{}.{lp}.", b64url(r#"{"alg":"none"}"#));
    let many_refs = serde_json::to_vec(&(0..101).map(|i| format!("oss://media/{i}.png")).collect::<Vec<_>>()).unwrap();
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let sign = |uri: Value| json!({ "uri": uri }).to_string();

    let r = "/v1/resolve";
    let s = "/v1/sign";
    let cases = vec![
        // Malformed JSON and bodies.
        case("truncated object", "POST", r, "{\"a\":", 400, "invalid_json").bearer(&resolve),
        case("truncated array", "POST", r, "[1,2", 400, "invalid_json").bearer(&resolve),
        case("trailing garbage", "POST", r, "{} x", 400, "invalid_json").bearer(&resolve),
        case("single quotes", "POST", r, "{'a':1}", 400, "invalid_json").bearer(&resolve),
        case("NaN", "POST", r, "{\"a\":NaN}", 400, "invalid_json").bearer(&resolve),
        case("invalid UTF-8", "POST", r, b"[\"\xff\"]".to_vec(), 400, "invalid_json").bearer(&resolve),
        case(
            "control character in string",
            "POST",
            r,
            "[\"a\u{1}b\"]",
            400,
            "invalid_json",
        )
        .bearer(&resolve),
        case("bare word", "POST", r, "oss://media/a.png", 400, "invalid_json").bearer(&resolve),
        case("empty body", "POST", r, "", 400, "empty_body").bearer(&resolve),
        case("whitespace body", "POST", r, " \n\t ", 400, "empty_body").bearer(&resolve),
        case("text/plain", "POST", r, "{}", 415, "unsupported_media_type")
            .bearer(&resolve)
            .content_type(Some("text/plain")),
        case("form", "POST", r, "a=1", 415, "unsupported_media_type")
            .bearer(&resolve)
            .content_type(Some("application/x-www-form-urlencoded")),
        case("10 MB body", "POST", r, vec![b' '; 10 << 20], 413, "body_too_large").bearer(&resolve),
        case(
            "10,000-deep arrays",
            "POST",
            r,
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            400,
            "json_too_deep",
        )
        .bearer(&resolve),
        case(
            "200-deep objects",
            "POST",
            r,
            format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)),
            400,
            "json_too_deep",
        )
        .bearer(&resolve),
        case("too many references", "POST", r, many_refs, 413, "too_many_references").bearer(&resolve),
        case("bad mode", "POST", &format!("{r}?mode=fast"), "{}", 400, "invalid_mode").bearer(&resolve),
        case(
            "unknown query parameter",
            "POST",
            &format!("{r}?ttl=5"),
            "{}",
            400,
            "invalid_query",
        )
        .bearer(&resolve),
        case("GET on resolve", "GET", r, "", 405, "method_not_allowed").bearer(&resolve),
        case("PUT on resolve", "PUT", r, "{}", 405, "method_not_allowed").bearer(&resolve),
        // Invalid URIs, buckets and prefixes.
        case("http URI", "POST", s, sign(json!("http://x/y")), 400, "invalid_uri").bearer(&resolve),
        case("no bucket", "POST", s, sign(json!("oss://")), 400, "invalid_uri").bearer(&resolve),
        case("no key", "POST", s, sign(json!("oss://media")), 400, "invalid_uri").bearer(&resolve),
        case("empty key", "POST", s, sign(json!("oss://media/")), 400, "invalid_uri").bearer(&resolve),
        case(
            "uppercase bucket",
            "POST",
            s,
            sign(json!("oss://MEDIA/k")),
            400,
            "invalid_uri",
        )
        .bearer(&resolve),
        case(
            "host smuggled as bucket",
            "POST",
            s,
            sign(json!("oss://evil.com:80@x/k")),
            400,
            "invalid_uri",
        )
        .bearer(&resolve),
        case(
            "unknown bucket",
            "POST",
            s,
            sign(json!("oss://elsewhere/k")),
            403,
            "unknown_bucket",
        )
        .bearer(&resolve),
        case(
            "other scheme's bucket",
            "POST",
            s,
            sign(json!("s3://media/k")),
            403,
            "unknown_bucket",
        )
        .bearer(&resolve),
        case(
            "disallowed prefix",
            "POST",
            s,
            sign(json!("oss://limited/private/x")),
            403,
            "prefix_not_allowed",
        )
        .bearer(&resolve),
        case(
            "dot-dot out of a prefix",
            "POST",
            s,
            sign(json!("oss://limited/public/../private/x")),
            403,
            "prefix_not_allowed",
        )
        .bearer(&resolve),
        case("uri not a string", "POST", s, sign(json!(5)), 400, "invalid_json").bearer(&resolve),
        case(
            "uris not a list",
            "POST",
            s,
            json!({"uris": "oss://media/a"}).to_string(),
            400,
            "invalid_json",
        )
        .bearer(&resolve),
        case(
            "uri and uris",
            "POST",
            s,
            json!({"uri": "oss://media/a", "uris": []}).to_string(),
            400,
            "invalid_request",
        )
        .bearer(&resolve),
        case("neither", "POST", s, "{}", 400, "invalid_request").bearer(&resolve),
        case(
            "unknown field",
            "POST",
            s,
            json!({"url": "oss://media/a"}).to_string(),
            400,
            "invalid_json",
        )
        .bearer(&resolve),
        case(
            "DELETE method",
            "POST",
            s,
            json!({"uri": "oss://media/a", "method": "DELETE"}).to_string(),
            400,
            "invalid_method",
        )
        .bearer(&resolve),
        case(
            "key with CR/LF",
            "POST",
            s,
            sign(json!("oss://media/a\r\nSet-Cookie: x")),
            200,
            "",
        )
        .bearer(&resolve),
        case("key with NUL", "POST", s, sign(json!("oss://media/a\u{0}b")), 200, "").bearer(&resolve),
        // Stable links.
        case("garbage link", "GET", "/r/not-a-token", "", 403, "invalid_link"),
        case(
            "truncated link",
            "GET",
            &format!("/r/{}", &good_link[..good_link.len() - 4]),
            "",
            403,
            "invalid_link",
        ),
        case(
            "altered link",
            "GET",
            &format!("/r/{altered_link}"),
            "",
            403,
            "invalid_link",
        ),
        case(
            "link from another secret",
            "GET",
            &format!("/r/{foreign_link}"),
            "",
            403,
            "invalid_link",
        ),
        case(
            "alg none link",
            "GET",
            &format!("/r/{none_link}"),
            "",
            403,
            "invalid_link",
        ),
        case(
            "API token as link",
            "GET",
            &format!("/r/{admin}"),
            "",
            403,
            "invalid_link",
        ),
        case(
            "link to unknown bucket",
            "GET",
            &format!("/r/{}", link("oss://elsewhere/a.png")),
            "",
            403,
            "unknown_bucket",
        ),
        case(
            "link to disallowed prefix",
            "GET",
            &format!("/r/{}", link("oss://limited/private/a.png")),
            "",
            403,
            "prefix_not_allowed",
        ),
        case(
            "link with CR/LF key",
            "GET",
            &format!("/r/{}", link("oss://media/a\r\nLocation: evil")),
            "",
            303,
            "",
        ),
        case(
            "POST on link",
            "POST",
            &format!("/r/{good_link}"),
            "",
            405,
            "method_not_allowed",
        ),
        // Every token failure.
        case(
            "missing auth",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "unauthorized",
        ),
        case(
            "other auth scheme",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "unauthorized",
        )
        .auth("Token abc"),
        case(
            "empty bearer",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .auth("Bearer"),
        case(
            "garbage bearer",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer("abc.def.ghi"),
        case(
            "expired token",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&expired),
        case(
            "not yet valid token",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&not_yet),
        case(
            "wrong audience",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&wrong_aud),
        case(
            "link token as bearer",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&good_link),
        case(
            "wrong issuer",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&wrong_iss),
        case(
            "wrong key",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&wrong_key),
        case(
            "unknown kid",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&unknown_kid),
        case(
            "alg none",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&alg_none),
        case(
            "HS/RS confusion",
            "POST",
            s,
            sign(json!("oss://media/a")),
            401,
            "invalid_token",
        )
        .bearer(&confused),
        case(
            "wrong scope",
            "POST",
            s,
            sign(json!("oss://media/a")),
            403,
            "insufficient_scope",
        )
        .bearer(&hook),
        case(
            "Basic on a REST endpoint",
            "POST",
            s,
            sign(json!("oss://media/a")),
            403,
            "insufficient_scope",
        )
        .auth(basic("mluser", "mlpass")),
        // ML backend and webhook.
        case("Basic wrong password", "POST", "/setup", "{}", 401, "bad_basic_auth").auth(basic("mluser", "nope")),
        case("Basic not base64", "POST", "/setup", "{}", 401, "bad_basic_auth").auth("Basic ***"),
        case("setup without auth", "POST", "/setup", "{}", 401, "unauthorized"),
        case("predict with bad JSON", "POST", "/predict", "{", 400, "invalid_json").auth(basic("mluser", "mlpass")),
        case(
            "webhook unknown action",
            "POST",
            "/webhook",
            json!({"action": "NEW_THING"}).to_string(),
            200,
            "",
        )
        .bearer(&hook),
        case(
            "webhook without action",
            "POST",
            "/webhook",
            "{}",
            400,
            "invalid_webhook",
        )
        .bearer(&hook),
        case(
            "webhook tasks not a list",
            "POST",
            "/webhook",
            json!({"action": "TASKS_CREATED", "tasks": {}}).to_string(),
            400,
            "invalid_webhook",
        )
        .bearer(&hook),
        case(
            "webhook invalid JSON",
            "POST",
            "/webhook",
            "{\"action\"",
            400,
            "invalid_json",
        )
        .bearer(&hook),
        case(
            "webhook with a resolve token",
            "POST",
            "/webhook",
            json!({"action": "X"}).to_string(),
            403,
            "insufficient_scope",
        )
        .bearer(&resolve),
        // Label Studio reads.
        case("task id not a number", "GET", "/v1/tasks/abc", "", 400, "invalid_path").bearer(&resolve),
        case("task id negative", "GET", "/v1/tasks/-1", "", 400, "invalid_path").bearer(&resolve),
        case(
            "bad page",
            "GET",
            "/v1/projects/1/tasks?page=x",
            "",
            400,
            "invalid_query",
        )
        .bearer(&resolve),
        case(
            "unknown paging parameter",
            "GET",
            "/v1/projects/1/tasks?limit=5",
            "",
            400,
            "invalid_query",
        )
        .bearer(&resolve),
        case(
            "LS answers garbage",
            "GET",
            "/v1/tasks/1",
            "",
            502,
            "label_studio_error",
        )
        .bearer(&resolve),
        case("LS has no such task", "GET", "/v1/tasks/2", "", 404, "task_not_found").bearer(&resolve),
        // Routing.
        case("unknown route", "GET", "/admin", "", 404, "not_found"),
        case("DELETE health", "DELETE", "/health", "", 405, "method_not_allowed"),
    ];
    assert!(cases.len() >= 60, "{}", cases.len());

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        let mut req = client.request(c.method.parse().unwrap(), format!("{}{}", app.base, c.path));
        if let Some(a) = &c.auth {
            req = req.header("authorization", a);
        }
        if let Some(ct) = c.content_type.filter(|_| !c.body.is_empty()) {
            req = req.header("content-type", ct);
        }
        let resp = req.body(c.body.clone()).send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|v| v.as_bytes().to_vec());
        let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("");
        if (status, code) != (c.status, c.code) {
            failures.push(format!(
                "{}: got {status} {code:?}, want {} {:?} ({body})",
                c.name, c.status, c.code
            ));
        }
        // Header injection is impossible: no raw control characters reach a header or a URL.
        if let Some(loc) = location {
            assert!(!loc.iter().any(|b| b.is_ascii_control()), "{}: {loc:?}", c.name);
        }
        if let Some(url) = body["url"].as_str() {
            assert!(!url.chars().any(|ch| ch.is_control()), "{}: {url}", c.name);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Still serving, and still right.
    assert_eq!(app.get("/health").await.status(), 200);
    app.put("media", "ok.png", "OK", "image/png");
    let resp = app.post_json("/v1/resolve", r#"{"i": "oss://media/ok.png"}"#).await;
    let out: Value = resp.json().await.unwrap();
    assert_eq!(
        app.browser
            .get(out["i"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "OK"
    );
    app.stop().await;
    ls.stop().await;
}
