//! Stable links: `GET /r/{token}` in presign and proxy mode; forged links.

use ls_presign::uri::StorageUri;

use super::helpers::{LINK_SECRET, b64url, error_code, mint_link, spawn_app};

#[tokio::test]
async fn presign_mode_redirects_with_cors_and_cache_headers() {
    let app = spawn_app().await;
    app.put("media", "k 1.png", "PNGDATA", "image/png");
    let link = app.link("oss://media/k 1.png").await;
    // The link is stable: the same URI always gives the same link.
    assert_eq!(app.link("oss://media/k 1.png").await, link);

    let resp = app
        .client
        .get(&link)
        .header("Origin", "http://ls.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
    let max_age: i64 = cache.strip_prefix("private, max-age=").unwrap().parse().unwrap();
    assert!((2000..=3600).contains(&max_age), "{cache}");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();

    // What a browser does next: fetch the store with `Origin: null`; the bucket rule allows `*`.
    let obj = app
        .browser
        .get(&location)
        .header("Origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(obj.status(), 200);
    assert_eq!(obj.headers()["access-control-allow-origin"], "*");
    assert_eq!(obj.bytes().await.unwrap(), "PNGDATA");

    // Same window, same URL: the second request is a cache hit.
    let again = app.client.get(&link).send().await.unwrap();
    assert_eq!(again.headers()["location"].to_str().unwrap(), location);
    let stats = app.state.resolver.cache_stats();
    assert!(stats.hits >= 1, "{stats:?}");
    app.stop().await;
}

#[tokio::test]
async fn tampered_and_expired_presigned_urls_are_refused_by_the_store() {
    let app = spawn_app().await;
    app.put("media", "t.png", "T", "image/png");
    app.put("media", "u.png", "U", "image/png");
    let link = app.link("oss://media/t.png").await;
    let location = app.client.get(&link).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let sig_at = location.find("x-oss-signature=").unwrap() + "x-oss-signature=".len();
    let flipped = if &location[sig_at..sig_at + 1] == "a" { "b" } else { "a" };
    let tampered = [
        format!("{}{flipped}{}", &location[..sig_at], &location[sig_at + 1..]),
        location.replace("/t.png?", "/u.png?"),
        location.replace("x-oss-expires=3600", "x-oss-expires=3601"),
    ];
    for url in &tampered {
        let resp = app.browser.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{url}");
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("<Code>SignatureDoesNotMatch</Code>")
        );
    }
    // A URL whose lifetime has passed.
    let (_, storage) = app
        .state
        .storages
        .find(&StorageUri::parse("oss://media/t.png").unwrap())
        .unwrap();
    let expired = storage.presign("GET", "t.png", ls_presign::now() - 120, 60);
    let resp = app.browser.get(&expired.url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("Request has expired"));
    app.stop().await;
}

#[tokio::test]
async fn forged_or_foreign_links_get_403() {
    let app = spawn_app().await;
    let link = app.link("oss://media/a.png").await;
    let token = link.rsplit('/').next().unwrap();
    let (head, rest) = token.split_once('.').unwrap();
    let forged_payload = b64url(r#"{"uri":"oss://media/other.png","aud":"ls-presign:link"}"#);
    let sig = rest.split_once('.').unwrap().1;
    let other_key = mint_link("a-different-secret-0000", "oss://media/a.png");
    // A correctly signed link for a bucket the service does not serve.
    let unknown_bucket = mint_link(LINK_SECRET, "oss://elsewhere/a.png");
    for bad in [
        format!("{head}.{forged_payload}.{sig}"),
        token[..token.len() - 3].to_owned(),
        other_key,
        "not-a-token".to_owned(),
        format!(
            "{head}.{}.",
            b64url(r#"{"uri":"oss://media/a.png","aud":"ls-presign:link"}"#)
        ),
    ] {
        let (status, code) = error_code(app.get(&format!("/r/{bad}")).await).await;
        assert_eq!((status, code.as_str()), (403, "invalid_link"), "{bad}");
    }
    let (status, code) = error_code(app.get(&format!("/r/{unknown_bucket}")).await).await;
    assert_eq!((status, code.as_str()), (403, "unknown_bucket"));
    app.stop().await;
}

#[tokio::test]
async fn proxy_mode_streams_with_range_etag_and_304() {
    let app = spawn_app().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    app.put("vault", "v/a b.bin", body.clone(), "application/x-test");
    let link = app.link("oss://vault/v/a b.bin").await;

    let full = app.client.get(&link).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "application/x-test");
    assert_eq!(full.headers()["content-length"], "10000");
    assert_eq!(full.headers()["access-control-allow-origin"], "*");
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(full.bytes().await.unwrap(), body);

    let part = app
        .client
        .get(&link)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/10000");
    assert_eq!(part.bytes().await.unwrap(), body[10..20]);

    let cached = app
        .client
        .get(&link)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert!(cached.bytes().await.unwrap().is_empty());

    let head = app.client.head(&link).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "10000");

    let missing = app.link("oss://vault/missing.bin").await;
    let (status, code) = error_code(app.client.get(&missing).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "object_not_found"));
    app.stop().await;
}
