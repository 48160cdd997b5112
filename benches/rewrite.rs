//! The JSON rewriter over a synthetic 100,000-task Label Studio export.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo bench --bench rewrite
//! ```
//! `scan_render` is the pure rewriter (validate + find references + splice a constant); the
//! `resolver` benches are `Resolver::rewrite` with real OSS V4 presigning through the cache, on
//! a current-thread runtime (one core). Throughput is in bytes of task JSON; the reference count
//! is printed at start, so references/s = references / time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use std::borrow::Cow;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ls_presign::config::{Config, Env};
use ls_presign::resolve::{Resolver, RewriteAs};
use ls_presign::rewrite::Document;

const TASKS: usize = 100_000;
/// 2026-11-27T10:00:00Z.
const NOW: i64 = 1_795_773_600;

/// A Label Studio JSON export (`GET /api/projects/<id>/export?exportType=JSON`) of an image
/// bounding-box project: every task has `data.image` as an `oss://` reference, one annotation
/// with two boxes, a prediction, and every tenth task an HTML caption quoting a second object.
pub fn export(tasks: usize) -> Vec<u8> {
    let mut out = String::with_capacity(tasks * 2200);
    out.push_str("[\n");
    for i in 0..tasks {
        if i > 0 {
            out.push_str(",\n");
        }
        let id = 1000 + i;
        let (x, y) = ((i * 37) % 80, (i * 53) % 70);
        let caption = if i % 10 == 0 {
            format!(
                r#", "caption": "<p>Reference frame: <img src=\"oss://my-bucket/projects/42/ref/{i:07}.png\" width=\"120\"/> shot on site {}</p>""#,
                i % 17
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            r#"  {{
    "id": {id},
    "data": {{"image": "oss://my-bucket/projects/42/images/2026-11-{day:02}/IMG_{i:07}.jpg", "site": "warehouse-{site}", "camera": "cam-{cam:02}"{caption}}},
    "annotations": [
      {{
        "id": {ann},
        "completed_by": {user},
        "result": [
          {{"original_width": 1920, "original_height": 1080, "image_rotation": 0, "value": {{"x": {x}.25, "y": {y}.5, "width": 12.375, "height": 20.0625, "rotation": 0, "rectanglelabels": ["Forklift"]}}, "id": "r{i:x}a", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "origin": "manual"}},
          {{"original_width": 1920, "original_height": 1080, "image_rotation": 0, "value": {{"x": {y}.125, "y": {x}.75, "width": 8.5, "height": 15.25, "rotation": 0, "rectanglelabels": ["Person"]}}, "id": "r{i:x}b", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "origin": "manual"}}
        ],
        "was_cancelled": false,
        "ground_truth": false,
        "created_at": "2026-11-{day:02}T08:{min:02}:13.512345Z",
        "updated_at": "2026-11-{day:02}T08:{min:02}:41.004211Z",
        "draft_created_at": null,
        "lead_time": 27.318,
        "prediction": {{}},
        "result_count": 2,
        "unique_id": "6f1c2d3e-{i:04x}-4a5b-9c8d-0123456789ab",
        "import_id": null,
        "last_action": null,
        "bulk_created": false,
        "task": {id},
        "project": 42,
        "updated_by": {user},
        "parent_prediction": null,
        "parent_annotation": null,
        "last_created_by": null
      }}
    ],
    "predictions": [
      {{"id": {pred}, "model_version": "yolo-v8-2026-10", "created_ago": "3 weeks", "result": [{{"original_width": 1920, "original_height": 1080, "image_rotation": 0, "value": {{"x": {x}.0, "y": {y}.0, "width": 12.0, "height": 20.0, "rotation": 0, "rectanglelabels": ["Forklift"]}}, "id": "p{i:x}", "from_name": "label", "to_name": "image", "type": "rectanglelabels", "score": 0.87}}], "score": 0.87, "cluster": null, "neighbors": null, "mislabeling": 0.0, "created_at": "2026-11-01T00:00:00.000000Z", "updated_at": "2026-11-01T00:00:00.000000Z", "model": null, "model_run": null, "task": {id}, "project": 42}}
    ],
    "file_upload": null,
    "drafts": [],
    "meta": {{}},
    "created_at": "2026-11-{day:02}T07:00:00.000000Z",
    "updated_at": "2026-11-{day:02}T08:{min:02}:41.004211Z",
    "inner_id": {inner},
    "total_annotations": 1,
    "cancelled_annotations": 0,
    "total_predictions": 1,
    "comment_count": 0,
    "unresolved_comment_count": 0,
    "last_comment_updated_at": null,
    "project": 42,
    "updated_by": {user},
    "comment_authors": []
  }}"#,
            day = 1 + i % 27,
            site = i % 9,
            cam = i % 24,
            ann = 50_000 + i,
            pred = 90_000 + i,
            user = 1 + i % 5,
            min = i % 60,
            inner = i + 1,
        ));
    }
    out.push_str("\n]\n");
    out.into_bytes()
}

fn config() -> Config {
    let vars: HashMap<String, String> = [
        ("OSS_BUCKET", "my-bucket"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ACCESS_KEY_ID", "LTAI5tBenchAccessKey01"),
        ("OSS_ACCESS_KEY_SECRET", "bench-secret-0123456789abcdefghijkl"),
        ("LS_PRESIGN_SECRET", "bench-link-secret-0123456789abcdef"),
        ("LS_PRESIGN_PUBLIC_URL", "https://presign.example.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::load(&Env::map(&vars)).unwrap()
}

fn rewrite(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once without `--bench`: keep that quick.
    let tasks = if std::env::args().any(|a| a == "--bench") {
        TASKS
    } else {
        1_000
    };
    let src = export(tasks);
    let doc = Document::scan(&src).unwrap();
    let refs = doc.reference_count();
    drop(doc);
    eprintln!(
        "export: {tasks} tasks, {} bytes ({:.1} MB), {refs} references",
        src.len(),
        src.len() as f64 / 1e6
    );

    let mut g = c.benchmark_group("rewrite_100k_tasks");
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(15));

    g.bench_function("scan_only", |b| {
        b.iter(|| black_box(Document::scan(black_box(&src)).unwrap().reference_count()))
    });
    // The same, keeping only what Label Studio reads as task data (each task's `data`): what
    // every rewrite of the service does.
    g.bench_function("scan_task_data_only", |b| {
        b.iter(|| black_box(Document::scan_task_data(black_box(&src)).unwrap().reference_count()))
    });
    g.bench_function("scan_render_constant", |b| {
        b.iter(|| {
            let doc = Document::scan(black_box(&src)).unwrap();
            let (out, counts) = doc.render(|_| Some(Cow::Borrowed("https://my-bucket.oss-cn-hangzhou.aliyuncs.com/x")));
            assert_eq!(counts.rewritten, refs);
            black_box(out.len())
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = config();
    // Cache empty at the start of each iteration: every distinct reference is presigned.
    g.bench_function("resolver_presign_cold_cache", |b| {
        b.iter_batched(
            || Resolver::new(&config).unwrap(),
            |resolver| {
                let r = rt
                    .block_on(resolver.rewrite(black_box(&src), Some(RewriteAs::Presign), NOW))
                    .unwrap();
                assert_eq!(r.rewritten, refs);
                black_box(r.body.len());
                resolver
            },
            BatchSize::PerIteration,
        )
    });
    // Re-resolving the same export within the window: every URL comes from the cache.
    let warm = Resolver::new(&config).unwrap();
    rt.block_on(warm.rewrite(&src, Some(RewriteAs::Presign), NOW)).unwrap();
    g.bench_function("resolver_presign_warm_cache", |b| {
        b.iter(|| {
            let r = rt
                .block_on(warm.rewrite(black_box(&src), Some(RewriteAs::Presign), NOW + 1))
                .unwrap();
            black_box(r.body.len())
        })
    });
    g.bench_function("resolver_link", |b| {
        b.iter(|| {
            let r = rt
                .block_on(warm.rewrite(black_box(&src), Some(RewriteAs::Link), NOW + 1))
                .unwrap();
            black_box(r.body.len())
        })
    });
    g.finish();
}

criterion_group!(benches, rewrite);
criterion_main!(benches);
