//! Memory of the signed-URL cache: resident memory with 1,000,000 entries, the overhead per
//! entry beyond the URL bytes, and (with `--soak SECS`) that the bound holds while keys churn.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo bench --bench memory                  # fill only
//! CARGO_TARGET_DIR=/tmp/bench-target cargo bench --bench memory -- --soak 300    # + 5-min soak
//! ```
//! Not a criterion bench: it prints one line per measurement (`key=value ...`) for
//! scripts/bench/memory.sh and docs/PERFORMANCE.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use std::time::{Duration, Instant};

use ls_presign::cache::UrlCache;
use ls_presign::sign::{Addressing, Credentials, OssV4, Request, Target};

const ENTRIES: usize = 1_000_000;

/// Entries to fill: all of them under `cargo bench`; a smoke run under `cargo test --all-targets`
/// (which runs benches once without `--bench`).
fn entries() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        ENTRIES
    } else {
        10_000
    }
}

/// VmRSS of this process, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// The object key of entry `i`: a realistic Label Studio path.
fn object_key(i: u64) -> String {
    format!("projects/42/images/2026-11-{:02}/IMG_{i:08}.jpg", 1 + i % 27)
}

struct Signer {
    oss: OssV4,
    target: Target,
}

impl Signer {
    fn new() -> Self {
        Signer {
            oss: OssV4::new(
                Credentials::new("LTAI5tBenchAccessKey01", "bench-secret-0123456789abcdefghijkl", None),
                "cn-hangzhou",
            ),
            target: Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap(),
        }
    }

    /// What `Resolver::presigned` does on a miss: a URL, its expiry and the end of its window.
    fn sign(&self, key: &str, now: i64, window: i64) -> (String, i64, i64) {
        let signed_at = now - now.rem_euclid(window);
        let p = self.oss.presign(
            &self.target,
            &Request {
                method: "GET",
                bucket: "my-bucket",
                key,
                signed_at,
                expires_in: 3600,
            },
        );
        (p.url, p.expires_at, signed_at + window)
    }
}

fn fill() {
    let signer = Signer::new();
    let now = 1_795_773_600;
    // Warm the allocator and the signer so the baseline includes them.
    let _ = signer.sign("warm-up", now, 1800);
    let entries = entries();
    let cache = UrlCache::new(entries);
    let before = rss();
    let started = Instant::now();
    let (mut url_bytes, mut key_bytes) = (0u64, 0u64);
    for i in 0..entries as u64 {
        let key = object_key(i);
        let cache_key = UrlCache::key(0, "GET", &key);
        key_bytes += cache_key.len() as u64;
        let got = cache.get_or_sign(cache_key, now, || signer.sign(&key, now, 1800));
        url_bytes += got.url.len() as u64;
    }
    let elapsed = started.elapsed();
    let after = rss();
    assert_eq!(cache.stats().entries, entries);
    let n = entries as f64;
    let delta = after.saturating_sub(before) as f64;
    println!(
        "fill entries={entries} secs={:.2} rss_before_mb={:.1} rss_after_mb={:.1} rss_delta_mb={:.1} \
         url_bytes_per_entry={:.1} cache_key_bytes_per_entry={:.1} rss_per_entry={:.1} \
         overhead_beyond_url={:.1} overhead_beyond_url_and_key={:.1}",
        elapsed.as_secs_f64(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        delta / 1e6,
        url_bytes as f64 / n,
        key_bytes as f64 / n,
        delta / n,
        (delta - url_bytes as f64) / n,
        (delta - url_bytes as f64 - key_bytes as f64) / n,
    );
}

/// Keys drawn from 4x the bound, a 60 s window (entries renew and expire), the service's
/// 30 s sweep, and a steady insert rate: the map stays at its bound and RSS must stay flat.
fn soak(secs: u64, rate: u64) {
    let signer = Signer::new();
    let cache = UrlCache::new(ENTRIES);
    let window = 60;
    let started = Instant::now();
    let mut next_sample = Duration::ZERO;
    let mut next_sweep = Duration::from_secs(30);
    let mut i: u64 = 0;
    // xorshift: cheap, deterministic key choice.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let key_space = 4 * ENTRIES as u64;
    println!("soak secs={secs} rate_per_sec={rate} key_space={key_space} bound={ENTRIES} window_secs={window}");
    loop {
        let elapsed = started.elapsed();
        if elapsed >= next_sample {
            let s = cache.stats();
            println!(
                "sample t={:>3} rss_mb={:.1} entries={} hits={} misses={} ops={}",
                next_sample.as_secs(),
                rss() as f64 / 1e6,
                s.entries,
                s.hits,
                s.misses,
                i
            );
            if elapsed.as_secs() >= secs {
                break;
            }
            next_sample += Duration::from_secs(10);
        }
        if elapsed >= next_sweep {
            cache.sweep(ls_presign::now());
            next_sweep += Duration::from_secs(30);
        }
        // Keep to `rate` operations per second, in batches of 1000.
        let due = (elapsed.as_secs_f64() * rate as f64) as u64;
        if i >= due {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let now = ls_presign::now();
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = object_key(x % key_space);
            cache.get_or_sign(UrlCache::key(0, "GET", &key), now, || signer.sign(&key, now, window));
            i += 1;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|p| args.get(p + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    fill();
    if let Some(secs) = arg("--soak") {
        soak(secs, arg("--rate").unwrap_or(100_000));
    }
}
