//! HTTPS: with a certificate and key the service serves its API and stable links over TLS,
//! speaking HTTP/2 or HTTP/1.1 as the client offers (ALPN); bad TLS files are named at start.
//! The OSS emulator serves HTTPS the same way, as the browser benchmark's HTTP/2 store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use ls_presign::config::{Config, Env};
use ls_presign::emulator::{Credential, Emulator, presign_oss4_for_tests};
use reqwest::Version;
use serde_json::Value;

use crate::helpers::{LINK_SECRET, spawn_app_with};

/// A self-signed certificate for 127.0.0.1 and its key, written as PEM files in a new directory.
fn certificate(name: &str) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = std::env::temp_dir().join(format!("ls-presign-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

#[tokio::test]
async fn serves_links_over_https_with_http2_and_http1() {
    let (cert, key) = certificate("serve");
    let app = spawn_app_with(&[
        ("LS_PRESIGN_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("LS_PRESIGN_TLS_KEY_FILE", key.to_str().unwrap()),
    ])
    .await;
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);
    app.put("media", "tls.png", "PNGDATA", "image/png");

    let resp = app
        .post_json("/v1/resolve?mode=link", r#"["oss://media/tls.png"]"#)
        .await;
    assert_eq!(resp.version(), Version::HTTP_2);
    let links: Value = resp.json().await.unwrap();
    let link = links[0].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/r/", app.base)), "{link}");

    // The stable link redirects over HTTP/2, and the browser-like client follows it to the store.
    let resp = app.client.get(link).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.version()), (303, Version::HTTP_2));
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        app.browser.get(&location).send().await.unwrap().bytes().await.unwrap(),
        "PNGDATA"
    );

    // A client that offers only HTTP/1.1 gets it.
    let h1 = trusting(&cert).http1_only().build().unwrap();
    let resp = h1.get(link).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.version()), (303, Version::HTTP_11));
    assert_eq!(resp.headers()["location"].to_str().unwrap(), location);

    // Plain HTTP and clients that do not trust the certificate get no answer; the service goes on.
    let plain = app.base.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/health")).await.is_err());
    assert!(reqwest::get(format!("{}/health", app.base)).await.is_err());
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop_now().await;
}

/// The emulator's HTTPS port (the browser benchmark's store that speaks HTTP/2) serves the same
/// bucket as its plain port, to presigned requests only, over HTTP/2 or HTTP/1.1.
#[tokio::test]
async fn emulator_serves_presigned_objects_over_https_with_http2() {
    let (cert, key) = certificate("emulator");
    let identity = ls_presign::tls::load(&cert, &key).unwrap();
    let (config, credential) = ls_presign::demo::demo_bucket(Duration::ZERO);
    let bucket = config.buckets[0].clone();
    let https = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://127.0.0.1:{}", https.local_addr().unwrap().port());
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let emulator = Emulator::start_with_tls(config, plain, (https, (*identity.config).clone())).unwrap();
    emulator.put_object(&bucket.name, "h2/one.png", "PNGDATA".into(), "image/png");

    let path = presign_oss4_for_tests(&credential, &bucket, false, "GET", "h2/one.png", Utc::now(), 60).unwrap();
    for (client, version) in [
        (trusting(&cert).build().unwrap(), Version::HTTP_2),
        (trusting(&cert).http1_only().build().unwrap(), Version::HTTP_11),
    ] {
        let resp = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
        assert_eq!(resp.bytes().await.unwrap(), "PNGDATA");
        let unsigned = client
            .get(format!("{base}/{}/h2/one.png", bucket.name))
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 403);
    }
    let plain = reqwest::get(format!("{}{path}", emulator.endpoint())).await.unwrap();
    assert_eq!(plain.bytes().await.unwrap(), "PNGDATA");
    emulator.stop().await;
}

/// A client that trusts `cert` and does not follow redirects.
fn trusting(cert: &Path) -> reqwest::ClientBuilder {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .redirect(reqwest::redirect::Policy::none())
}

/// Browsers keep idle HTTP/2 connections open. On SIGTERM the service still finishes the
/// request in flight, then exits without waiting for the idle connection to go away.
#[tokio::test]
async fn sigterm_over_http2_finishes_in_flight_requests_and_does_not_wait_for_idle_connections() {
    let (cert, key) = certificate("sigterm");
    let (ak, sk) = ("LTAItlsshutdown01", "tls-shutdown-secret-0123456789");
    // Every store request takes 1.5 s, so a proxied read is still in flight when SIGTERM comes.
    let emulator = crate::helpers::single_bucket_emulator(
        "media",
        Credential {
            access_key_id: ak.into(),
            access_key_secret: sk.into(),
            security_token: None,
        },
        Duration::from_millis(1500),
    );
    emulator.put_object("media", "slow.png", "PNGDATA".into(), "image/png");
    let secret = "tls-shutdown-link-secret-0123456789";
    let endpoint = emulator.endpoint();
    let (child, port) = crate::helpers::spawn_serve(&[
        ("OSS_BUCKET", "media"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ENDPOINT", &endpoint),
        ("OSS_ADDRESSING_STYLE", "path"),
        ("OSS_ACCESS_KEY_ID", ak),
        ("OSS_ACCESS_KEY_SECRET", sk),
        ("LS_PRESIGN_MODE", "proxy"),
        ("LS_PRESIGN_SECRET", secret),
        ("LS_PRESIGN_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("LS_PRESIGN_TLS_KEY_FILE", key.to_str().unwrap()),
    ]);
    let base = format!("https://127.0.0.1:{port}");
    let client = trusting(&cert).build().unwrap();
    crate::helpers::wait_until_up(&client, &base).await;
    let resp = client
        .post(format!("{base}/v1/resolve?mode=link"))
        .bearer_auth(crate::helpers::cli_token(secret, "resolve"))
        .json(&["oss://media/slow.png"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    let link = resp.json::<Value>().await.unwrap()[0].as_str().unwrap().to_owned();
    let read = tokio::spawn({
        let client = client.clone();
        async move {
            let resp = client.get(link).send().await.unwrap();
            (resp.status().as_u16(), resp.bytes().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, log, took) = crate::helpers::sigterm_and_wait(child).await;
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert_eq!(read.await.unwrap(), (200, "PNGDATA".into()), "{log}");
    assert!(log.contains("closing idle HTTP/2 connections"), "{log}");
    // actix-web alone would wait for the idle connection until its 30 s shutdown timeout.
    assert!(took < Duration::from_secs(15), "{took:?}\n{log}");
    assert!(client.get(format!("{base}/health")).send().await.is_err());
    emulator.stop().await;
}

#[test]
fn bad_tls_files_name_the_setting() {
    let (cert, key) = certificate("bad");
    let garbage = cert.with_file_name("garbage.pem");
    std::fs::write(&garbage, "not a PEM file").unwrap();
    let (_, other_key) = certificate("other");
    let load = |cert: &PathBuf, key: &PathBuf| {
        let vars = [
            ("LS_PRESIGN_SECRET", LINK_SECRET),
            ("LS_PRESIGN_TLS_CERT_FILE", cert.to_str().unwrap()),
            ("LS_PRESIGN_TLS_KEY_FILE", key.to_str().unwrap()),
        ];
        let map = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(&Env::map(&map))
    };
    assert!(load(&cert, &key).unwrap().tls.is_some());
    let cases = [
        (&garbage, &key, "LS_PRESIGN_TLS_CERT_FILE", "no CERTIFICATE"),
        (&cert, &garbage, "LS_PRESIGN_TLS_KEY_FILE", "garbage.pem"),
        (&key, &key, "LS_PRESIGN_TLS_CERT_FILE", "no CERTIFICATE"),
        (
            &cert,
            &other_key,
            "LS_PRESIGN_TLS_CERT_FILE",
            "do not make a TLS identity",
        ),
    ];
    for (c, k, setting, message) in cases {
        let e = load(c, k).unwrap_err();
        assert_eq!(e.setting, setting, "{e:?}");
        assert!(e.message.contains(message), "{e:?}");
    }
}
