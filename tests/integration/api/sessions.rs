//! `LS_PRESIGN_LINK_POLICY=login`: stable links answer only a browser signed in to Label Studio,
//! checked against a stand-in Label Studio that answers whoami as 1.23.2 does
//! (tests/fixtures/ls-1.23.2/session_whoami.json).

use super::fake_ls::{FakeLs, LEGACY_TOKEN};
use super::helpers::{TestApp, error_code, spawn_app_with};

const SESSION: &str =
    ".eJxVjDsOwjAQRO_iGln-bTahpOcM1tq7xgGUSHFSIe5OIqWAdt6beavoaRy-2qsQizBEQLBz3ngl5wUjCZ:1t2b3c:a-b_c";

async fn app(ls: &FakeLs) -> TestApp {
    spawn_app_with(&[
        ("LABEL_STUDIO_URL", ls.url.as_str()),
        ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
        ("LS_PRESIGN_LINK_POLICY", "login"),
    ])
    .await
}

fn signed_in(ls: &FakeLs) {
    ls.inner.lock().unwrap().sessions.push(SESSION.to_owned());
}

fn whoami(ls: &FakeLs) -> u32 {
    ls.inner.lock().unwrap().whoami
}

async fn get(app: &TestApp, link: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(link);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn without_a_session_a_link_is_refused_with_401_and_no_label_studio_call() {
    let ls = FakeLs::start();
    let app = app(&ls).await;
    let link = app.link("oss://media/a.png").await;
    let resp = get(&app, &link, None).await;
    assert!(resp.headers().get("location").is_none());
    assert_eq!(error_code(resp).await, (401, "login_required".into()));
    // Other cookies are not a session.
    let resp = get(&app, &link, Some("csrftoken=abc; sessionid_x=1")).await;
    assert_eq!(error_code(resp).await, (401, "login_required".into()));
    assert_eq!(whoami(&ls), 0);
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn a_session_costs_one_label_studio_round_trip_for_a_page_of_images() {
    let ls = FakeLs::start();
    signed_in(&ls);
    let app = app(&ls).await;
    app.put("media", "a b.png", "PNGDATA", "image/png");
    let link = app.link("oss://media/a b.png").await;
    let cookie = format!("csrftoken=xyz; sessionid={SESSION}");
    // A page's images arrive at once: they wait for one lookup.
    let answers = futures_util::future::join_all((0..40).map(|_| get(&app, &link, Some(&cookie)))).await;
    for resp in answers {
        assert_eq!(resp.status(), 303);
        // The browser asks again next time: signing out ends the redirects.
        assert_eq!(resp.headers()["cache-control"], "private, no-cache");
    }
    assert_eq!(whoami(&ls), 1);
    let resp = get(&app, &link, Some(&cookie)).await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        app.browser.get(&location).send().await.unwrap().bytes().await.unwrap(),
        "PNGDATA"
    );
    // HEAD is checked the same way.
    let head = app.client.head(&link).send().await.unwrap();
    assert_eq!(head.status(), 401);
    let head = app.client.head(&link).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(head.status(), 303);
    assert_eq!(whoami(&ls), 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("lspresign_session_lookups_total{answer=\"valid\"} 1"),
        "{metrics}"
    );
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn a_session_label_studio_refuses_gets_401_in_proxy_mode_too() {
    let ls = FakeLs::start();
    signed_in(&ls);
    let app = app(&ls).await;
    app.put("vault", "secret.txt", "TOP", "text/plain");
    let link = app.link("oss://vault/secret.txt").await;
    let forged = format!("sessionid={}x", SESSION);
    for _ in 0..3 {
        let resp = get(&app, &link, Some(&forged)).await;
        assert_eq!(error_code(resp).await, (401, "login_required".into()));
    }
    // The refusal is remembered too: a flood of one bad cookie is one lookup.
    assert_eq!(whoami(&ls), 1);
    let resp = get(&app, &link, Some(&format!("sessionid={SESSION}"))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), "TOP");
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn label_studio_failing_is_a_502_and_the_next_request_asks_again() {
    let ls = FakeLs::start();
    signed_in(&ls);
    ls.inner.lock().unwrap().whoami_failures = 1;
    let app = app(&ls).await;
    let link = app.link("oss://media/a.png").await;
    let cookie = format!("sessionid={SESSION}");
    let resp = get(&app, &link, Some(&cookie)).await;
    assert_eq!(error_code(resp).await, (502, "label_studio_error".into()));
    // A failure is not remembered: the next request asks again.
    assert_eq!(get(&app, &link, Some(&cookie)).await.status(), 303);
    assert_eq!(whoami(&ls), 2);
    app.stop().await;
    ls.stop().await;
}

#[tokio::test]
async fn links_stay_open_without_the_policy() {
    let ls = FakeLs::start();
    let app = spawn_app_with(&[
        ("LABEL_STUDIO_URL", ls.url.as_str()),
        ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
    ])
    .await;
    let link = app.link("oss://media/a.png").await;
    assert_eq!(get(&app, &link, None).await.status(), 303);
    assert_eq!(whoami(&ls), 0);
    app.stop().await;
    ls.stop().await;
}
