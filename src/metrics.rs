//! Counters and histograms, rendered as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::cache::CacheStats;

/// Upper bounds of the signing-latency buckets, microseconds.
const SIGN_BUCKETS_US: [u64; 8] = [1, 2, 5, 10, 25, 50, 100, 1000];

/// Process-wide metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Route pattern → status → count; looked up by `&str`, so counting allocates nothing.
    requests: DashMap<String, DashMap<u16, AtomicU64>>,
    sign_buckets: [AtomicU64; SIGN_BUCKETS_US.len()],
    sign_count: AtomicU64,
    sign_sum_ns: AtomicU64,
    /// Labelled counters: (family, label value) → count.
    counters: DashMap<(&'static str, &'static str), AtomicU64>,
    queue_depth: AtomicU64,
    /// Background jobs: (job, project, source) → their counts.
    jobs: DashMap<(Job, u64, String), JobCounts>,
}

/// A job `serve` runs by itself, per project, on an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    /// An `[[import]]` table (per project and source folder).
    Import,
    /// Reconciling a project's tasks that still hold raw references.
    Reconcile,
}

impl Job {
    /// Metric names: (items family, its help, runs help, last success help).
    fn families(self) -> [(&'static str, &'static str); 3] {
        match self {
            Job::Import => [
                ("import_objects_total", "Objects seen by scheduled imports, by outcome."),
                (
                    "import_runs_total",
                    "Scheduled import runs, by result (busy: another importer held the lease).",
                ),
                (
                    "import_last_success_timestamp_seconds",
                    "When a scheduled import last ran without failures.",
                ),
            ],
            Job::Reconcile => [
                (
                    "reconcile_tasks_total",
                    "Tasks the reconcile loop found still holding raw references, by outcome.",
                ),
                ("reconcile_runs_total", "Reconcile runs, by result."),
                (
                    "reconcile_last_success_timestamp_seconds",
                    "When a project was last reconciled without failures.",
                ),
            ],
        }
    }
}

/// Counts by label value.
type Tally = DashMap<&'static str, AtomicU64>;

/// What the runs of one job did.
#[derive(Debug, Default)]
struct JobCounts {
    /// Items by outcome (objects listed, imported, ...; tasks rewritten, ...).
    items: DashMap<&'static str, AtomicU64>,
    /// Runs by result (ok, failed, busy).
    runs: DashMap<&'static str, AtomicU64>,
    last_success: AtomicU64,
}

/// Labelled counter families: name, help, label name, the label values always shown.
const FAMILIES: [(&str, &str, &str, &[&str]); 5] = [
    (
        "references_total",
        "References seen in rewrites, by outcome.",
        "outcome",
        &["rewritten", "skipped", "failed"],
    ),
    (
        "writeback_tasks_total",
        "Tasks handled by write-back to Label Studio, by outcome.",
        "outcome",
        &["rewritten", "already_done", "gone", "failed"],
    ),
    ("webhooks_total", "Webhooks received, by action.", "action", &[]),
    (
        "session_lookups_total",
        "Label Studio sessions looked up for LS_PRESIGN_LINK_POLICY=login (one round trip each), by answer.",
        "answer",
        &["valid", "invalid", "failed"],
    ),
    (
        "export_objects_total",
        "Annotation objects written to or removed from export targets, by outcome.",
        "outcome",
        &["written", "deleted", "failed"],
    ),
];

/// Adds `n` to `map[key]`. Under a read lock once the key exists: every worker counts here, and
/// a write lock per count would make them take turns.
fn bump<K: std::hash::Hash + Eq>(map: &DashMap<K, AtomicU64>, key: K, n: u64) {
    match map.get(&key) {
        Some(count) => count.fetch_add(n, Ordering::Relaxed),
        None => map.entry(key).or_default().fetch_add(n, Ordering::Relaxed),
    };
}

impl Metrics {
    /// Counts one HTTP request by route pattern and status.
    pub fn request(&self, route: &str, status: u16) {
        match self.requests.get(route) {
            Some(by_status) => bump(by_status.value(), status, 1),
            None => bump(self.requests.entry(route.to_owned()).or_default().value(), status, 1),
        }
    }

    /// Records how long one signature took.
    pub fn signed(&self, elapsed: std::time::Duration) {
        let ns = elapsed.as_nanos() as u64;
        self.sign_count.fetch_add(1, Ordering::Relaxed);
        self.sign_sum_ns.fetch_add(ns, Ordering::Relaxed);
        for (bound, bucket) in SIGN_BUCKETS_US.iter().zip(&self.sign_buckets) {
            if ns <= bound * 1000 {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds `n` to a labelled counter (`references_total`, `writeback_tasks_total`, `webhooks_total`).
    pub fn count(&self, family: &'static str, label: &'static str, n: usize) {
        if n > 0 {
            bump(&self.counters, (family, label), n as u64);
        }
    }

    /// The value of a labelled counter.
    pub fn counter(&self, family: &'static str, label: &'static str) -> u64 {
        self.counters
            .get(&(family, label))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts one run of `job` for `project` (and `source`, the import's folder; empty for a
    /// reconcile): its `result` (`ok`, `failed`, `busy`) and its items by outcome; an `ok` run at
    /// `now` is the last success.
    pub fn job_run(
        &self,
        job: Job,
        project: u64,
        source: &str,
        result: &'static str,
        items: &[(&'static str, u64)],
        now: i64,
    ) {
        let entry = self.jobs.entry((job, project, source.to_owned())).or_default();
        bump(&entry.runs, result, 1);
        for &(outcome, n) in items {
            bump(&entry.items, outcome, n);
        }
        if result == "ok" {
            entry.last_success.store(now.max(0) as u64, Ordering::Relaxed);
        }
    }

    /// Sets the write-back queue depth gauge.
    pub fn set_queue_depth(&self, n: usize) {
        self.queue_depth.store(n as u64, Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self, cache: CacheStats) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP lspresign_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE lspresign_http_requests_total counter");
        let mut rows: Vec<_> = self
            .requests
            .iter()
            .flat_map(|route| {
                route
                    .value()
                    .iter()
                    .map(|s| ((route.key().clone(), *s.key()), s.value().load(Ordering::Relaxed)))
                    .collect::<Vec<_>>()
            })
            .collect();
        rows.sort();
        for ((route, status), n) in rows {
            let _ = writeln!(
                out,
                "lspresign_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                route.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        for (name, help, value) in [
            ("cache_hits_total", "Signed-URL cache hits.", cache.hits),
            (
                "cache_misses_total",
                "Signed-URL cache misses (a URL was signed).",
                cache.misses,
            ),
        ] {
            let _ = writeln!(out, "# HELP lspresign_{name} {help}\n# TYPE lspresign_{name} counter");
            let _ = writeln!(out, "lspresign_{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP lspresign_cache_entries Signed URLs held in the cache.\n# TYPE lspresign_cache_entries gauge\nlspresign_cache_entries {}",
            cache.entries
        );
        for (name, help, label, fixed) in FAMILIES {
            let _ = writeln!(out, "# HELP lspresign_{name} {help}\n# TYPE lspresign_{name} counter");
            let mut values: Vec<&str> = fixed.to_vec();
            for e in self.counters.iter() {
                if e.key().0 == name && !values.contains(&e.key().1) {
                    values.push(e.key().1);
                }
            }
            for v in values {
                let _ = writeln!(out, "lspresign_{name}{{{label}=\"{v}\"}} {}", self.counter(name, v));
            }
        }
        let _ = writeln!(
            out,
            "# HELP lspresign_writeback_queue_depth Tasks waiting for write-back.\n# TYPE lspresign_writeback_queue_depth gauge\nlspresign_writeback_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        self.render_jobs(&mut out, Job::Import);
        self.render_jobs(&mut out, Job::Reconcile);
        let _ = writeln!(out, "# HELP lspresign_sign_duration_seconds Time to sign one URL.");
        let _ = writeln!(out, "# TYPE lspresign_sign_duration_seconds histogram");
        for (bound, bucket) in SIGN_BUCKETS_US.iter().zip(&self.sign_buckets) {
            let _ = writeln!(
                out,
                "lspresign_sign_duration_seconds_bucket{{le=\"{}\"}} {}",
                *bound as f64 / 1e6,
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.sign_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "lspresign_sign_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "lspresign_sign_duration_seconds_sum {}",
            self.sign_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "lspresign_sign_duration_seconds_count {count}");
        out
    }

    /// The families of one kind of job.
    fn render_jobs(&self, out: &mut String, job: Job) {
        let mut jobs: Vec<_> = self.jobs.iter().filter(|j| j.key().0 == job).collect();
        jobs.sort_by(|a, b| a.key().cmp(b.key()));
        let label = |(_, project, source): &(Job, u64, String)| match source.is_empty() {
            true => format!("project=\"{project}\""),
            false => format!(
                "project=\"{project}\",source=\"{}\"",
                source.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        };
        let sorted = |map: &Tally| {
            let mut rows: Vec<(&'static str, u64)> = map
                .iter()
                .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
                .collect();
            rows.sort();
            rows
        };
        let [(items, items_help), (runs, runs_help), (last, last_help)] = job.families();
        // The two counter families: items by outcome, runs by result.
        for (name, help, label_name, runs) in [(items, items_help, "outcome", false), (runs, runs_help, "result", true)]
        {
            let _ = writeln!(out, "# HELP lspresign_{name} {help}\n# TYPE lspresign_{name} counter");
            for j in &jobs {
                for (value, n) in sorted(if runs { &j.runs } else { &j.items }) {
                    let _ = writeln!(
                        out,
                        "lspresign_{name}{{{},{label_name}=\"{value}\"}} {n}",
                        label(j.key())
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP lspresign_{last} {last_help}\n# TYPE lspresign_{last} gauge"
        );
        for j in &jobs {
            let _ = writeln!(
                out,
                "lspresign_{last}{{{}}} {}",
                label(j.key()),
                j.last_success.load(Ordering::Relaxed)
            );
        }
    }
}
