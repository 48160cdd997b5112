//! Scale-out needs no shared state: two service instances with the same settings, behind a
//! round-robin split, hand out the same stable link and the same presigned URL for the same
//! object in the same window, and each resolves the other's links.

use std::net::TcpListener;

use ls_presign::config::{Config, Env};
use ls_presign::http::Application;
use serde_json::Value;

#[tokio::test]
async fn two_replicas_agree_without_sharing_anything() {
    let emulator = super::helpers::single_bucket_emulator("media", super::helpers::ak_sk(), std::time::Duration::ZERO);
    emulator.put_object("media", "photo 1.jpg", "JPEG".into(), "image/jpeg");
    let endpoint = emulator.endpoint();
    let vars = super::helpers::bucket_vars(
        "media",
        &endpoint,
        &[
            ("LS_PRESIGN_SECRET", "replicas-share-only-this-secret"),
            // What browsers reach: the load balancer in front of both.
            ("LS_PRESIGN_PUBLIC_URL", "https://presign.example.com"),
            ("LS_PRESIGN_WORKERS", "1"),
        ],
    );
    let mut bases = Vec::new();
    let mut handles = Vec::new();
    let mut token = String::new();
    for _ in 0..2 {
        let app = Application::with_listener(
            Config::load(&Env::map(&vars)).unwrap(),
            TcpListener::bind("127.0.0.1:0").unwrap(),
        )
        .unwrap();
        bases.push(format!("http://127.0.0.1:{}", app.port()));
        handles.push(app.handle());
        token = app
            .state()
            .auth
            .mint("t", ls_presign::auth::Scope::Resolve, ls_presign::now(), 600)
            .unwrap();
        tokio::spawn(app.run_until_stopped());
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Round-robin over the replicas.
    let mut links = Vec::new();
    let mut urls = Vec::new();
    for i in 0..6 {
        let base = &bases[i % 2];
        let resolve = |mode: &str| {
            client
                .post(format!("{base}/v1/resolve?mode={mode}"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(r#"["oss://media/photo 1.jpg"]"#)
                .send()
        };
        let link: Value = resolve("link").await.unwrap().json().await.unwrap();
        let url: Value = resolve("presign").await.unwrap().json().await.unwrap();
        links.push(link[0].as_str().unwrap().to_owned());
        urls.push(url[0].as_str().unwrap().to_owned());
    }
    assert!(links.windows(2).all(|w| w[0] == w[1]), "{links:?}");
    // The window can roll over between two requests; within one window the URLs agree.
    let distinct: std::collections::BTreeSet<_> = urls.iter().collect();
    assert!(distinct.len() <= 2, "{urls:?}");
    // At most one window boundary falls inside the run, so at least two of the three A/B pairs
    // were signed in the same window — and there A and B must agree.
    let agreeing = urls.chunks(2).filter(|p| p[0] == p[1]).count();
    assert!(agreeing >= 2, "replicas disagree within a window: {urls:?}");
    // Each replica resolves the link (the load balancer's path, sent to either) to the same URL.
    let path = links[0].strip_prefix("https://presign.example.com").unwrap();
    let mut locations = Vec::new();
    for base in &bases {
        let resp = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 303);
        locations.push(resp.headers()["location"].to_str().unwrap().to_owned());
    }
    assert_eq!(locations[0], locations[1]);
    assert_eq!(reqwest::get(&locations[0]).await.unwrap().text().await.unwrap(), "JPEG");
    for h in handles {
        h.stop(true).await;
    }
    emulator.stop().await;
}
