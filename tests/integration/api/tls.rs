//! HTTPS: with a certificate and key the service serves its API and stable links over TLS,
//! speaking HTTP/2 or HTTP/1.1 as the client offers (ALPN); bad TLS files are named at start.
//! The OSS emulator serves HTTPS the same way, as the browser benchmark's HTTP/2 store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ls_presign::config::{Config, Env};
use oss_emulator::{Credential, Emulator, presign_oss4_for_tests};
use reqwest::Version;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

use super::helpers::{LINK_SECRET, TestApp, spawn_app_with, trusting};

/// A self-signed certificate for 127.0.0.1 and its key, written as PEM files in a new directory
/// (removed when the returned guard drops).
fn certificate(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let dir = tempfile::Builder::new()
        .prefix(&format!("ls-presign-tls-{name}-"))
        .tempdir()
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (dir, cert_path, key_path)
}

/// The service serving HTTPS with a fresh self-signed certificate; returns it with that
/// certificate's file and the directory holding it.
async fn spawn_https_app(name: &str) -> (TestApp, PathBuf, tempfile::TempDir) {
    let (dir, cert, key) = certificate(name);
    let app = spawn_app_with(&[
        ("LS_PRESIGN_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("LS_PRESIGN_TLS_KEY_FILE", key.to_str().unwrap()),
    ])
    .await;
    (app, cert, dir)
}

#[tokio::test]
async fn serves_links_over_https_with_http2_and_http1() {
    let (app, cert, _dir) = spawn_https_app("serve").await;
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
    let h1 = trusting(&cert)
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .build()
        .unwrap();
    let resp = h1.get(link).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.version()), (303, Version::HTTP_11));
    assert_eq!(resp.headers()["location"].to_str().unwrap(), location);

    // Plain HTTP and clients that do not trust the certificate get no answer; the service goes on.
    let plain = app.base.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/health")).await.is_err());
    assert!(reqwest::get(format!("{}/health", app.base)).await.is_err());
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

/// The emulator's HTTPS port (the browser benchmark's store that speaks HTTP/2) serves the same
/// bucket as its plain port, to presigned requests only, over HTTP/2 or HTTP/1.1.
#[tokio::test]
async fn emulator_serves_presigned_objects_over_https_with_http2() {
    let (_dir, cert, key) = certificate("emulator");
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

/// How an HPACK header field is represented on the wire (RFC 7541, section 6).
#[derive(Debug, PartialEq)]
enum Field {
    Indexed,
    /// Literal with incremental indexing: added to the connection's dynamic table.
    Indexing {
        name_index: u64,
    },
    WithoutIndexing {
        name_index: u64,
    },
    NeverIndexed {
        name_index: u64,
    },
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541, 5.1), read from `block` at `*at`.
fn hpack_int(block: &[u8], at: &mut usize, n: u32) -> u64 {
    let mask = (1u64 << n) - 1;
    let mut value = u64::from(block[*at]) & mask;
    *at += 1;
    if value == mask {
        let mut shift = 0;
        loop {
            let b = block[*at];
            *at += 1;
            value += u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    value
}

/// Appends an HPACK integer with an `n`-bit prefix (RFC 7541, 5.1) to `block`; `first` holds
/// the bits of the first octet above the prefix.
fn hpack_put_int(block: &mut Vec<u8>, first: u8, n: u32, value: u64) {
    let mask = (1u64 << n) - 1;
    if value < mask {
        block.push(first | value as u8);
        return;
    }
    block.push(first | mask as u8);
    let mut rest = value - mask;
    while rest >= 128 {
        block.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    block.push(rest as u8);
}

/// The representation of each field in a header block (strings are skipped, not decoded).
fn hpack_fields(block: &[u8]) -> Vec<Field> {
    let skip_string = |at: &mut usize| {
        let len = hpack_int(block, at, 7) as usize;
        *at += len;
    };
    let mut at = 0;
    let mut fields = Vec::new();
    while at < block.len() {
        let b = block[at];
        let literal = |at: &mut usize, n| {
            let name_index = hpack_int(block, at, n);
            if name_index == 0 {
                skip_string(at);
            }
            skip_string(at);
            name_index
        };
        fields.push(match b {
            _ if b & 0x80 != 0 => {
                hpack_int(block, &mut at, 7);
                Field::Indexed
            }
            _ if b & 0xc0 == 0x40 => Field::Indexing {
                name_index: literal(&mut at, 6),
            },
            _ if b & 0xe0 == 0x20 => {
                hpack_int(block, &mut at, 5); // dynamic table size update
                continue;
            }
            _ if b & 0xf0 == 0x10 => Field::NeverIndexed {
                name_index: literal(&mut at, 4),
            },
            _ => Field::WithoutIndexing {
                name_index: literal(&mut at, 4),
            },
        });
    }
    fields
}

/// A presigned URL is a credential and unique: over HTTP/2 the 303's `Location`, and the
/// per-response `X-Request-Id`, go out as never-indexed literals, so neither enters the
/// connection's HPACK table (nor any intermediary's). Read off the wire, since HTTP clients
/// do not surface how a field was encoded.
#[tokio::test]
async fn http2_sends_the_presigned_location_and_the_request_id_never_indexed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (app, cert, _dir) = spawn_https_app("hpack").await;
    app.put("media", "hpack.png", "PNGDATA", "image/png");
    let link = app.link("oss://media/hpack.png").await;
    let (authority, path) = link.trim_start_matches("https://").split_once('/').unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(&cert).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(authority).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();

    // The request: GET https://<authority>/<path>, literals not indexed, no Huffman coding.
    let mut block = vec![0x82, 0x87]; // :method GET, :scheme https
    for (name_index, value) in [(1u8, authority.to_owned()), (4, format!("/{path}"))] {
        block.push(name_index); // literal without indexing, name from the static table
        hpack_put_int(&mut block, 0, 7, value.len() as u64); // no Huffman coding
        block.extend_from_slice(value.as_bytes());
    }
    let frame = |kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[])); // SETTINGS
    out.extend(frame(1, 0x4 | 0x1, 1, &block)); // HEADERS, END_HEADERS | END_STREAM, stream 1
    tls.write_all(&out).await.unwrap();

    // The response's HEADERS frame on stream 1 (short enough to need no CONTINUATION).
    let read_headers = async {
        loop {
            let mut head = [0u8; 9];
            tls.read_exact(&mut head).await.unwrap();
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            tls.read_exact(&mut payload).await.unwrap();
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            match head[3] {
                3 if stream == 1 => panic!("the service reset stream 1 (RST_STREAM {payload:02x?})"),
                7 => panic!("the service closed the connection (GOAWAY {payload:02x?})"),
                _ => {}
            }
            if head[3] == 4 && head[4] & 1 == 0 {
                tls.write_all(&frame(4, 1, 0, &[])).await.unwrap(); // SETTINGS ACK
            }
            if head[3] == 1 && stream == 1 {
                assert_ne!(head[4] & 0x4, 0, "the response headers span a CONTINUATION frame");
                assert_eq!(head[4] & (0x8 | 0x20), 0, "padded or prioritised HEADERS");
                break hpack_fields(&payload);
            }
        }
    };
    let fields = tokio::time::timeout(Duration::from_secs(10), read_headers)
        .await
        .unwrap_or_else(|_| panic!("no HEADERS frame on stream 1 within 10 s"));
    // `location` is entry 46 of HPACK's static table; `x-request-id` has a literal name (0).
    // Header order varies from response to response.
    let mut never: Vec<u64> = fields
        .iter()
        .filter_map(|f| match f {
            Field::NeverIndexed { name_index } => Some(*name_index),
            _ => None,
        })
        .collect();
    never.sort();
    assert_eq!(never, [0, 46], "{fields:?}");
    assert!(!fields.contains(&Field::Indexing { name_index: 46 }), "{fields:?}");
    app.stop().await;
}

/// Browsers keep idle HTTP/2 connections open. On SIGTERM the service still finishes the
/// request in flight, then exits without waiting for the idle connection to go away.
#[tokio::test]
async fn sigterm_over_http2_finishes_in_flight_requests_and_does_not_wait_for_idle_connections() {
    let (_dir, cert, key) = certificate("sigterm");
    let (ak, sk) = ("LTAItlsshutdown01", "tls-shutdown-secret-0123456789");
    // Every store request takes 3 s, so a proxied read is still in flight when SIGTERM comes
    // (the emulator counts a request on arrival, before that wait: the test polls for it).
    let emulator = super::helpers::single_bucket_emulator(
        "media",
        Credential {
            access_key_id: ak.into(),
            access_key_secret: sk.into(),
            security_token: None,
        },
        Duration::from_millis(3000),
    );
    emulator.put_object("media", "slow.png", "PNGDATA".into(), "image/png");
    let secret = "tls-shutdown-link-secret-0123456789";
    let endpoint = emulator.endpoint();
    let (child, port) = super::helpers::spawn_serve(&[
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
    super::helpers::wait_until_up(&client, &base).await;
    let resp = client
        .post(format!("{base}/v1/resolve?mode=link"))
        .bearer_auth(super::helpers::cli_token(secret, "resolve"))
        .json(&["oss://media/slow.png"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    let link = resp.json::<Value>().await.unwrap()[0].as_str().unwrap().to_owned();
    let received = emulator.stats().received;
    let read = tokio::spawn({
        let client = client.clone();
        async move {
            let resp = client.get(link).send().await.unwrap();
            (resp.status().as_u16(), resp.bytes().await.unwrap())
        }
    });
    // Until the GET reaches the store, where it then waits 3 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while emulator.stats().received == received {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxied GET never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, log, took) = super::helpers::sigterm_and_wait(child).await;
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
    let (_dir, cert, key) = certificate("bad");
    let garbage = cert.with_file_name("garbage.pem");
    std::fs::write(&garbage, "not a PEM file").unwrap();
    let (_other_dir, _, other_key) = certificate("other");
    let load = |cert: &PathBuf, key: &PathBuf| {
        let vars = [
            ("LS_PRESIGN_SECRET", LINK_SECRET),
            ("LS_PRESIGN_TLS_CERT_FILE", cert.to_str().unwrap()),
            ("LS_PRESIGN_TLS_KEY_FILE", key.to_str().unwrap()),
        ];
        let map = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(&Env::map(&map))
    };
    assert!(load(&cert, &key).unwrap().keys.tls.is_some());
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
