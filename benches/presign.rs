//! Per-URL costs: OSS V4 and S3 SigV4 presigning, a cache hit, the stable-link token check.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo bench --bench presign
//! ```
//! See docs/PERFORMANCE.md for the numbers and how they compare to the Python SDKs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ls_presign::cache::UrlCache;
use ls_presign::keys::KeyRing;
use ls_presign::link::LinkSigner;
use ls_presign::sign::{Addressing, AwsV4, Credentials, OssV4, Request, Signer, Target};
use ls_presign::uri::StorageUri;
use secrecy::SecretString;

/// 2026-11-27T10:00:00Z, a fixed signing time so every run signs the same bytes.
const SIGNED_AT: i64 = 1_795_773_600;
/// A realistic Label Studio object key.
const KEY: &str = "projects/42/images/2026-11-27/IMG_004217.jpg";

fn creds() -> Credentials {
    Credentials::new("LTAI5tBenchAccessKey01", "bench-secret-0123456789abcdefghijkl", None)
}

fn request() -> Request<'static> {
    Request {
        method: "GET",
        bucket: "my-bucket",
        key: KEY,
        signed_at: SIGNED_AT,
        expires_in: 3600,
    }
}

fn presign(c: &mut Criterion) {
    let oss = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
    let s3 = Target::parse("https://s3.us-west-1.amazonaws.com", Addressing::Virtual).unwrap();
    let mut g = c.benchmark_group("presign");
    g.throughput(Throughput::Elements(1));

    // Warm: the signer of a running service, whose day key is already derived; the URL only,
    // as the service builds it.
    let warm = Signer::OssV4(OssV4::new(creds(), "cn-hangzhou"));
    warm.presign_url(&oss, &request());
    g.bench_function("oss_v4/day_key_cached", |b| {
        b.iter(|| black_box(warm.presign_url(black_box(&oss), black_box(&request()))))
    });
    // The same with the canonical request and string to sign kept (`ls-presign sign --json`).
    g.bench_function("oss_v4/explained", |b| {
        b.iter(|| black_box(warm.presign(black_box(&oss), black_box(&request()))))
    });

    // Cold: a new signer every time, so the four HMACs of the key derivation are included
    // (what a signer that does not cache the key pays per URL, as the Python SDKs do).
    g.bench_function("oss_v4/cold", |b| {
        b.iter(|| {
            let s = Signer::OssV4(OssV4::new(creds(), "cn-hangzhou"));
            black_box(s.presign_url(black_box(&oss), black_box(&request())))
        })
    });

    let aws = Signer::AwsV4(AwsV4::new(creds(), "us-west-1"));
    aws.presign_url(&s3, &request());
    g.bench_function("s3_v4/day_key_cached", |b| {
        b.iter(|| black_box(aws.presign_url(black_box(&s3), black_box(&request()))))
    });
    g.finish();
}

fn cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("cache");
    g.throughput(Throughput::Elements(1));
    // `cargo test --all-targets` runs benches once without `--bench`: keep that quick.
    let sizes: &[usize] = if std::env::args().any(|a| a == "--bench") {
        &[1_000, 1_000_000]
    } else {
        &[1_000]
    };
    for &size in sizes {
        let cache = UrlCache::new(size + 1);
        let signer = OssV4::new(creds(), "cn-hangzhou");
        let oss = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
        let keys: Vec<String> = (0..size).map(|i| format!("projects/42/images/{i:08}.jpg")).collect();
        for k in &keys {
            cache.get_or_sign(UrlCache::key(0, "GET", k), SIGNED_AT, || {
                let p = signer.presign(&oss, &Request { key: k, ..request() });
                (p.url, p.expires_at, SIGNED_AT + 1800)
            });
        }
        let mut i = 0usize;
        // A hit, including building the cache key as `Resolver::presigned` does.
        g.bench_with_input(BenchmarkId::new("hit", size), &size, |b, _| {
            b.iter(|| {
                i = (i + 7919) % size;
                let r = cache.get_or_sign(UrlCache::key(0, "GET", &keys[i]), SIGNED_AT + 1, || unreachable!());
                black_box(r)
            })
        });
    }
    g.finish();
}

fn link(c: &mut Criterion) {
    let signer = LinkSigner::new(KeyRing::hmac(
        &SecretString::from("bench-link-secret-0123456789abcdef"),
        &[],
    ));
    let uri = StorageUri::parse(&format!("oss://my-bucket/{KEY}")).unwrap();
    let token = signer.mint(&uri);
    assert_eq!(signer.verify(&token).unwrap(), uri);
    let mut g = c.benchmark_group("link");
    g.throughput(Throughput::Elements(1));
    // A link opened again: answered from the verified-token map.
    g.bench_function("verify_repeat", |b| {
        b.iter(|| black_box(signer.verify(black_box(&token)).unwrap()))
    });
    // Links seen for the first time: more distinct tokens than the map keeps, so each is a full
    // JWT check (signature, claims).
    let tokens: Vec<String> = (0..150_000)
        .map(|i| signer.mint(&StorageUri::parse(&format!("oss://my-bucket/{i}/{KEY}")).unwrap()))
        .collect();
    let mut i = 0;
    g.bench_function("verify_first", |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            black_box(signer.verify(black_box(&tokens[i])).unwrap())
        })
    });
    g.bench_function("mint", |b| b.iter(|| black_box(signer.mint(black_box(&uri)))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = presign, cache, link
}
criterion_main!(benches);
