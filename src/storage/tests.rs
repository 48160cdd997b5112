//! Reads through OpenDAL against the OSS emulator, compared with the store's own answers (a
//! presigned request sends the client's headers and passes the response on as it is), and the
//! keys OpenDAL would read as another object.

use std::net::TcpListener;

use oss_emulator::{BucketConfig, CorsRule, Credential, Emulator, EmulatorConfig};

use super::*;
use crate::config::StorageMode;
use crate::sign::{Credentials, Target};

/// Keys OpenDAL would read as another object (blanks at either end, `//`, a leading `/`, a
/// trailing `/`), and keys with what it leaves unescaped in a path or that a query would eat.
const TRICKY_KEYS: [&str; 14] = [
    "plain.png",
    " leading",
    "trailing ",
    "\u{3000}ideographic blanks\u{3000}",
    "\ttab at both ends\t",
    "a//b///c.png",
    "/leading-slash.png",
    "///three.png",
    "trailing/slash/",
    "bang!star*quote'paren(x).png",
    "plus+percent%25hash#q?amp&eq=.png",
    "tab\tinside and \u{7f}",
    "unicode/猫 🐱 e\u{301}.jpg",
    "dir/with space.png",
];

const AK: &str = "AKID";
const SK: &str = "SECRET";
const STS_AK: &str = "STS.AKID";
const STS_SK: &str = "STS-SECRET";
const STS_TOKEN: &str = "CAIS+token/with=chars&more";

/// The emulator, and storages on it: OSS V4 path-style and virtual-hosted, OSS V4 with an STS
/// token, OSS V1, S3 path-style.
async fn setup() -> (Emulator, Storages) {
    let bucket = |name: &str, allow_v1| BucketConfig {
        name: name.into(),
        region: "cn-hangzhou".into(),
        allow_v1,
        cors: CorsRule::AllowAll,
    };
    let emulator = Emulator::start(
        EmulatorConfig {
            buckets: vec![
                bucket("v4", false),
                bucket("vhost", false),
                bucket("sts", false),
                bucket("legacy", true),
                bucket("s3b", false),
            ],
            credentials: [(AK, SK, None), (STS_AK, STS_SK, Some(STS_TOKEN))]
                .map(|(ak, sk, token)| Credential {
                    access_key_id: ak.into(),
                    access_key_secret: sk.into(),
                    security_token: token.map(str::to_owned),
                })
                .into(),
            latency: std::time::Duration::ZERO,
        },
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap();
    let ep = emulator.endpoint();
    let vhost_ep = format!("http://localhost:{}", emulator.port());
    let storage = |scheme, bucket: &str, endpoint: &str, addressing, version, creds: Credentials| {
        let target = Target::parse(endpoint, addressing).unwrap().fit_bucket(bucket);
        StorageConfig {
            scheme,
            bucket: bucket.into(),
            region: "cn-hangzhou".into(),
            endpoint: target.clone(),
            presign_endpoint: target,
            signature_version: version,
            credentials: creds,
            ttl: 3600,
            window: 900,
            mode: StorageMode::Proxy,
            allowed_prefixes: Vec::new(),
        }
    };
    let plain = || Credentials::new(AK, SK, None);
    // `vhost.localhost` is the emulator, for virtual-hosted requests.
    let vhost = std::net::SocketAddr::from(([127, 0, 0, 1], emulator.port()));
    let client = Storages::client(reqwest::Client::builder().resolve("vhost.localhost", vhost)).unwrap();
    let storages = Storages::with_client(
        vec![
            storage(Scheme::Oss, "v4", &ep, Addressing::Path, SignatureVersion::V4, plain()),
            storage(
                Scheme::Oss,
                "vhost",
                &vhost_ep,
                Addressing::Virtual,
                SignatureVersion::V4,
                plain(),
            ),
            storage(
                Scheme::Oss,
                "sts",
                &ep,
                Addressing::Path,
                SignatureVersion::V4,
                Credentials::new(STS_AK, STS_SK, Some(STS_TOKEN.into())),
            ),
            storage(
                Scheme::Oss,
                "legacy",
                &ep,
                Addressing::Path,
                SignatureVersion::V1,
                plain(),
            ),
            storage(Scheme::S3, "s3b", &ep, Addressing::Path, SignatureVersion::V4, plain()),
        ],
        client,
    )
    .unwrap();
    (emulator, storages)
}

const BUCKETS: [(Scheme, &str); 5] = [
    (Scheme::Oss, "v4"),
    (Scheme::Oss, "vhost"),
    (Scheme::Oss, "sts"),
    (Scheme::Oss, "legacy"),
    (Scheme::S3, "s3b"),
];

fn body_for(bucket: &str, key: &str) -> Vec<u8> {
    format!("{bucket}: bytes of {key:?}").repeat(3).into_bytes()
}

async fn collect(object: Object) -> (u16, Vec<u8>) {
    let status = object.status;
    let chunks: Vec<Bytes> = object.body.try_collect().await.unwrap();
    (status, chunks.concat())
}

/// Every tricky key reads exactly, in every storage, though OpenDAL would read ` a ` as `a`,
/// `a//b` as `a/b` and `/a` as `a`: each such neighbour holds other bytes here.
#[tokio::test]
async fn every_key_reads_exactly_the_named_object() {
    let (emulator, storages) = setup().await;
    for (scheme, bucket) in BUCKETS {
        for key in TRICKY_KEYS {
            emulator.put_object(bucket, key, body_for(bucket, key).into(), "application/x-test");
            let normalized = opendal::raw::normalize_path(key);
            if normalized != key {
                emulator.put_object(bucket, &normalized, "a neighbour".into(), "text/plain");
            }
        }
        for key in TRICKY_KEYS {
            let uri = StorageUri::new(scheme, bucket, key);
            let (content_type, bytes) = storages.read_all(&uri, 1 << 20).await.unwrap();
            assert_eq!(
                (content_type.as_str(), &bytes[..]),
                ("application/x-test", &body_for(bucket, key)[..]),
                "{uri}"
            );
            let (status, bytes) = collect(storages.read(&uri, &ReadOptions::default()).await.unwrap()).await;
            assert_eq!((status, bytes), (200, body_for(bucket, key)), "{uri}");
            let head = ReadOptions {
                method_head: true,
                ..ReadOptions::default()
            };
            let object = storages.read(&uri, &head).await.unwrap();
            assert_eq!(
                object.content_length(),
                Some(body_for(bucket, key).len() as u64),
                "{uri}"
            );
        }
        let missing = StorageUri::new(scheme, bucket, "no such key");
        assert!(matches!(
            storages.read(&missing, &ReadOptions::default()).await,
            Err(StorageError::NotFound(_))
        ));
        storages.probe(storages.find(&missing).unwrap().0).await.unwrap();
    }
}

/// Keys OpenDAL reads as written take OpenDAL; the others a presigned URL.
#[tokio::test]
async fn only_keys_opendal_keeps_go_through_it() {
    let (_emulator, storages) = setup().await;
    let storage = &storages.all()[0];
    for key in ["a.png", "dir/a b.png", "tab\tinside", "+%#?"] {
        assert!(storage.operator_for(key).is_some(), "{key:?}");
    }
    for key in [" a", "a ", "a//b", "/a", "a/", "", "\u{3000}a"] {
        assert!(storage.operator_for(key).is_none(), "{key:?}");
    }
}

/// For one object, OpenDAL's reads answer as the store does: same status, same headers the
/// proxy passes on, same bytes — ranges (ignored, clamped, suffix, unsatisfiable), conditions,
/// HEADs.
#[tokio::test]
async fn answers_match_the_store() {
    let (emulator, storages) = setup().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let tomorrow = httpdate(chrono::Utc::now() + chrono::Duration::days(1));
    let yesterday = httpdate(chrono::Utc::now() - chrono::Duration::days(1));
    for (scheme, bucket) in BUCKETS {
        emulator.put_object(bucket, "obj.bin", body.clone().into(), "application/x-test");
        let uri = StorageUri::new(scheme, bucket, "obj.bin");
        let (_, storage) = storages.find(&uri).unwrap();
        let operator = storage.operator.as_ref().unwrap();
        let etag = storages
            .read(&uri, &ReadOptions::default())
            .await
            .unwrap()
            .header("etag")
            .unwrap()
            .to_owned();
        let mut cases = Vec::new();
        for range in [
            None,
            Some("bytes=10-19"),
            Some("bytes=990-"),
            Some("bytes=-3"),
            Some("bytes=-3000"),
            Some("bytes=998-5000"),
            Some("bytes=1000-"),
            Some("bytes=-0"),
            Some("bytes=0-1,3-4"),
            Some("bytes=5-2"),
            Some("items=0-1"),
        ] {
            for head in [false, true] {
                cases.push(ReadOptions {
                    method_head: head,
                    range: range.map(str::to_owned),
                    ..ReadOptions::default()
                });
            }
        }
        for (inm, ims) in [
            (Some(etag.as_str()), None),
            (Some("\"other\""), None),
            (Some("\"other\", W/\"x\""), None),
            (Some("*"), None),
            (None, Some(tomorrow.as_str())),
            (None, Some(yesterday.as_str())),
            (None, Some("not a date")),
            (Some("\"other\""), Some(tomorrow.as_str())),
        ] {
            for head in [false, true] {
                cases.push(ReadOptions {
                    method_head: head,
                    if_none_match: inm.map(str::to_owned),
                    if_modified_since: ims.map(str::to_owned),
                    ..ReadOptions::default()
                });
            }
        }
        for opts in cases {
            let ours = read_through(operator, &uri, &opts).await.unwrap();
            let store = storages.read_presigned(storage, &uri, &opts).await.unwrap();
            let what = format!("{uri} {opts:?}");
            assert_eq!(ours.status, store.status, "{what}");
            for name in PASSED_ON.into_iter().chain(["content-length"]) {
                // A 416's body is the store's XML error; the proxy passes its length along.
                if ours.status == 416 && matches!(name, "content-type" | "content-length") {
                    continue;
                }
                assert_eq!(ours.header(name), store.header(name), "{name}: {what}");
            }
            if !opts.method_head && ours.status != 416 {
                assert_eq!(collect(ours).await, collect(store).await, "{what}");
            }
        }
    }
}

fn httpdate(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Refusals keep the store's status and code; a store that does not answer is unreachable.
#[tokio::test]
async fn refusals_and_silence() {
    let (emulator, _) = setup().await;
    let ep = emulator.endpoint();
    let wrong = |bucket: &str, scheme, version, endpoint: &str| StorageConfig {
        scheme,
        bucket: bucket.into(),
        region: "cn-hangzhou".into(),
        endpoint: Target::parse(endpoint, Addressing::Path).unwrap(),
        presign_endpoint: Target::parse(endpoint, Addressing::Path).unwrap(),
        signature_version: version,
        credentials: Credentials::new(AK, "wrong secret", None),
        ttl: 3600,
        window: 900,
        mode: StorageMode::Proxy,
        allowed_prefixes: Vec::new(),
    };
    let dead = format!(
        "http://127.0.0.1:{}",
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let storages = Storages::new(vec![
        wrong("v4", Scheme::Oss, SignatureVersion::V4, &ep),
        wrong("legacy", Scheme::Oss, SignatureVersion::V1, &ep),
        wrong("s3b", Scheme::S3, SignatureVersion::V4, &ep),
        wrong("gone", Scheme::Oss, SignatureVersion::V4, &dead),
    ])
    .unwrap();
    emulator.put_object("v4", "a.png", "x".into(), "image/png");
    emulator.put_object("s3b", "a.png", "x".into(), "image/png");
    for (scheme, bucket, code) in [
        (Scheme::Oss, "v4", "SignatureDoesNotMatch"),
        (Scheme::S3, "s3b", "SignatureDoesNotMatch"),
    ] {
        for key in ["a.png", " a.png"] {
            let uri = StorageUri::new(scheme, bucket, key);
            match storages.read(&uri, &ReadOptions::default()).await {
                Err(StorageError::Refused { status, code: got, .. }) => {
                    assert_eq!((status, got.as_str()), (403, code), "{uri}")
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
    }
    let uri = StorageUri::new(Scheme::Oss, "gone", "a.png");
    let e = storages.read(&uri, &ReadOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::StorageUnreachable, "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach the storage at {} for oss://gone/a.png: connection refused (is it running?)",
            dead.trim_start_matches("http://")
        )
    );
    // A HEAD refused: no body, so no code.
    match storages.probe(1).await {
        Err(StorageError::Refused { status: 403, code, .. }) => assert_eq!(code, "no error code"),
        other => panic!("{other:?}"),
    }
}

/// Every key is listed as stored, in every storage, across list pages (OpenDAL asks for 1,000
/// keys a page); folder markers are left out; one level lists no deeper.
#[tokio::test]
async fn listing_gives_every_key_exactly() {
    let (emulator, storages) = setup().await;
    for (scheme, bucket) in BUCKETS {
        let mut want: Vec<String> = TRICKY_KEYS
            .iter()
            .map(|k| format!("p/{k}"))
            .chain((0..1_005).map(|i| format!("p/many/{i:05}.jpg")))
            .collect();
        for key in &want {
            emulator.put_object(bucket, key, "x".into(), "image/jpeg");
        }
        emulator.put_object(bucket, "outside/a.jpg", "x".into(), "image/jpeg");
        emulator.put_object(bucket, "p/folder/", Bytes::new(), "application/x-directory");
        want.retain(|k| !k.ends_with('/'));
        want.sort();

        let prefix = StorageUri::new(scheme, bucket, "p/");
        if bucket == "legacy" {
            // OSS V1 on a path-style endpoint (OSS serves virtual-hosted requests only).
            assert!(matches!(
                storages.list(&prefix, true).await,
                Err(StorageError::Unsupported { .. })
            ));
            continue;
        }
        let listed: Vec<Listed> = storages.list(&prefix, true).await.unwrap().try_collect().await.unwrap();
        let keys: Vec<String> = listed.iter().map(|l| l.uri.key.clone()).collect();
        assert_eq!(keys, want, "{bucket}");
        assert!(listed.iter().all(|l| l.size == 1 && l.uri.bucket == bucket));

        let shallow: Vec<Listed> = storages
            .list(&prefix, false)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let shallow: Vec<&str> = shallow.iter().map(|l| l.uri.key.as_str()).collect();
        assert!(shallow.contains(&"p/plain.png") && !shallow.iter().any(|k| k.starts_with("p/many/")));

        let root = StorageUri::new(scheme, bucket, "");
        let all: Vec<Listed> = storages.list(&root, true).await.unwrap().try_collect().await.unwrap();
        assert_eq!(all.len(), want.len() + 1, "{bucket}: the whole bucket");
    }
}

/// A conditional write creates once; the second finds the object there and leaves it.
#[tokio::test]
async fn writes_if_absent_once() {
    let (emulator, storages) = setup().await;
    for (scheme, bucket) in BUCKETS {
        let uri = StorageUri::new(scheme, bucket, ".ls-presign/lease/1.json");
        let write = |body: &'static str| storages.write(&uri, body.into(), "application/json", true);
        assert_eq!(write("first").await.unwrap(), Written::Created, "{bucket}");
        assert_eq!(write("second").await.unwrap(), Written::AlreadyThere, "{bucket}");
        let (content_type, bytes) = storages.read_all(&uri, 100).await.unwrap();
        assert_eq!((content_type.as_str(), &bytes[..]), ("application/json", &b"first"[..]));
        storages
            .write(&uri, "third".into(), "application/json", false)
            .await
            .unwrap();
        assert_eq!(&storages.read_all(&uri, 100).await.unwrap().1[..], b"third");
        storages.delete(&uri).await.unwrap();
        storages.delete(&uri).await.unwrap();
        assert!(!emulator.keys(bucket).contains(&uri.key));
        let odd = StorageUri::new(scheme, bucket, " odd");
        assert!(matches!(
            storages.write(&odd, "x".into(), "text/plain", false).await,
            Err(StorageError::Unsupported { .. })
        ));
    }
}
