//! `import` against the OSS emulator and a stand-in Label Studio: every object once (across list
//! pages, re-runs, lost state, interruptions and two importers racing), exact keys, filters,
//! task files, objects gone from the bucket, dry runs, failed batches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ls_presign::config::{Config, Env};
use ls_presign::import::{Filter, ImportError, Importer, Mode, Options, Summary};
use ls_presign::labelstudio::LabelStudio;
use ls_presign::resolve::{Resolver, RewriteAs};
use ls_presign::storage::Storages;
use ls_presign::uri::StorageUri;
use oss_emulator::Emulator;
use serde_json::{Value, json};

use super::fake_ls::{FakeLs, Fault, IMPORT, LEGACY_TOKEN};

const CONFIG: &str =
    r#"<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="a"/></Choices></View>"#;
const PROJECT: u64 = 7;
const SECRET: &str = "import-tests-secret-0123456789";

/// Keys OSS keeps as written and OpenDAL would not (blanks at the ends, `//`, a leading `/`),
/// and characters a URL or query would eat.
const TRICKY: [&str; 10] = [
    "p/ leading.png",
    "p/trailing.png ",
    "p/a//b.png",
    "p//leading-slash.png",
    "p/plus+percent%25hash#q?amp&eq=.png",
    "p/unicode/猫 🐱 e\u{301}.jpg",
    "p/dir/with space.png",
    "p/\u{3000}ideographic\u{3000}.png",
    "p/tab\tinside.png",
    "p/no-extension",
];

struct Setup {
    emulator: Emulator,
    ls: FakeLs,
    storages: Arc<Storages>,
    resolver: Resolver,
    client: LabelStudio,
    state: tempfile::TempDir,
}

async fn setup(latency: Duration) -> Setup {
    let emulator = super::helpers::single_bucket_emulator("media", super::helpers::ak_sk(), latency);
    let ls = FakeLs::start();
    ls.add_project(PROJECT, CONFIG);
    let endpoint = emulator.endpoint();
    let vars = super::helpers::bucket_vars(
        "media",
        &endpoint,
        &[
            ("LS_PRESIGN_SECRET", SECRET),
            ("LS_PRESIGN_PUBLIC_URL", "https://presign.example.com"),
            ("LABEL_STUDIO_URL", ls.url.as_str()),
            ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
        ],
    );
    let config = Config::load(&Env::map(&vars)).unwrap();
    let storages = Arc::new(Storages::new(config.storages.list.clone()).unwrap());
    let resolver = Resolver::sharing(&config, storages.clone(), Arc::default());
    let client = LabelStudio::from_config(config.label_studio.as_ref().unwrap()).unwrap();
    Setup {
        emulator,
        ls,
        storages,
        resolver,
        client,
        state: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn importer(&self, holder: &str) -> Importer<'_> {
        Importer {
            resolver: &self.resolver,
            storages: &self.storages,
            ls: &self.client,
            holder: holder.into(),
        }
    }

    fn opts(&self, prefix: &str) -> Options {
        Options {
            project: PROJECT,
            prefix: StorageUri::parse_folder(prefix).unwrap().into_folder(),
            recursive: true,
            filter: Filter::default(),
            mode: Mode::Blob { field: None },
            output: RewriteAs::Link,
            delete_missing: false,
            dry_run: false,
            batch: 500,
            lease: true,
            state_dir: Some(self.state.path().to_owned()),
        }
    }

    async fn run(&self, opts: &Options) -> Summary {
        self.importer("test")
            .run(opts, &AtomicBool::new(false), &|_| {})
            .await
            .unwrap()
    }

    fn put(&self, key: &str) {
        self.emulator
            .put_object("media", key, "bytes".into(), "application/octet-stream");
    }

    /// The source of every task of the project, each once (a duplicate fails the test).
    fn sources(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for task in self.ls.tasks_of(PROJECT) {
            let source = task["meta"]["ls_presign"]["source"].as_str().unwrap().to_owned();
            let item = task["meta"]["ls_presign"]["item"].as_u64();
            let key = format!("{source} {item:?}");
            assert!(seen.insert(key.clone()), "{key} was imported twice");
            out.push(source);
        }
        out.sort();
        out
    }

    fn requests(&self) -> usize {
        self.ls.inner.lock().unwrap().requests.len()
    }
}

/// Every object becomes one task whose stable link opens exactly its key — across list pages
/// and import batches — and a re-run imports nothing, with two Label Studio requests; with the
/// state file lost, the project is read again and still nothing is imported twice.
#[tokio::test]
async fn every_object_once_with_its_exact_key() {
    let s = setup(Duration::ZERO).await;
    let mut want: Vec<String> = (0..1_205).map(|i| format!("p/many/{i:05}.jpg")).collect();
    want.extend(TRICKY.iter().map(|k| k.to_string()));
    for key in &want {
        s.put(key);
    }
    s.put("p/notes.txt"); // an <Image> does not show text: skipped
    s.put("p/folder/"); // a folder marker: not an object
    s.put("outside/x.jpg");
    s.put(".ls-presign/leases/project-1/00000000000000000001.json");

    let first = s.run(&s.opts("oss://media/p/")).await;
    assert_eq!(
        (first.listed, first.imported, first.present, first.skipped, first.failed),
        (want.len() as u64 + 1, want.len() as u64, 0, 1, 0),
        "{first:?}"
    );
    assert_eq!(s.ls.inner.lock().unwrap().imports, [500, 500, 215]);
    let mut want_sources: Vec<String> = want.iter().map(|k| format!("oss://media/{k}")).collect();
    want_sources.sort();
    assert_eq!(s.sources(), want_sources);
    for task in s.ls.tasks_of(PROJECT) {
        let link = task["data"]["image"].as_str().unwrap();
        assert!(link.starts_with("https://presign.example.com/r/"), "{link}");
        let opened = s.resolver.link_target(link).unwrap();
        let source = task["meta"]["ls_presign"]["source"].as_str().unwrap();
        assert_eq!(opened.to_string(), source);
        assert_eq!(task["meta"]["ls_presign"]["original_uris"], json!([source]));
    }

    let before = s.requests();
    let again = s.run(&s.opts("oss://media/p/")).await;
    assert_eq!((again.imported, again.present, again.failed), (0, want.len() as u64, 0));
    assert_eq!(
        s.requests() - before,
        2,
        "the project, and the tasks above the last id seen"
    );
    assert_eq!(again.ls_requests, 2);

    std::fs::remove_dir_all(s.state.path()).unwrap();
    let lost = s.run(&s.opts("oss://media/p/")).await;
    assert_eq!((lost.imported, lost.present), (0, want.len() as u64));
    // A new object is all a later run imports.
    s.put("p/later.jpg");
    let later = s.run(&s.opts("oss://media/p")).await;
    assert_eq!((later.imported, later.present), (1, want.len() as u64));
    assert_eq!(s.sources().len(), want.len() + 1);
}

/// Globs below the prefix, a regex on the key, one level only, an explicit field.
#[tokio::test]
async fn filters_levels_and_fields() {
    let s = setup(Duration::ZERO).await;
    for key in ["p/a.jpg", "p/b.png", "p/sub/c.jpg", "p/cam1/d.jpg", "p/e.txt"] {
        s.put(key);
    }
    let mut opts = s.opts("oss://media/p/");
    opts.dry_run = true;
    opts.filter = Filter::new(&["*.jpg".into()], None).unwrap();
    let globbed = s.run(&opts).await;
    assert_eq!((globbed.imported, globbed.filtered), (3, 2));
    opts.filter = Filter::new(&[], Some(r"cam\d/")).unwrap();
    assert_eq!(s.run(&opts).await.imported, 1);
    opts.filter = Filter::default();
    opts.recursive = false;
    let shallow = s.run(&opts).await;
    assert_eq!((shallow.listed, shallow.imported, shallow.skipped), (3, 2, 1));
    assert!(s.ls.tasks_of(PROJECT).is_empty(), "a dry run creates nothing");

    let mut opts = s.opts("oss://media/p/");
    opts.mode = Mode::Blob {
        field: Some("doc".into()),
    };
    let all = s.run(&opts).await;
    assert_eq!(
        (all.imported, all.skipped),
        (5, 0),
        "a field no tag reads takes every type"
    );
    assert!(s.ls.tasks_of(PROJECT).iter().all(|t| t["data"]["doc"].is_string()));

    s.ls.add_project(8, "<View><Header value=\"$t\"/></View>");
    let mut opts = s.opts("oss://media/p/");
    opts.project = 8;
    let err = s
        .importer("t")
        .run(&opts, &AtomicBool::new(false), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--field"), "{err}");
    opts.project = 99;
    let err = s
        .importer("t")
        .run(&opts, &AtomicBool::new(false), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no project 99"), "{err}");
}

/// Task files: objects and arrays in `.json`, lines in `.jsonl`; references rewritten in `data`
/// only; other keys kept; a malformed line reported by file and line while the rest imports.
#[tokio::test]
async fn task_files_import_what_they_hold() {
    let s = setup(Duration::ZERO).await;
    let put = |key: &str, body: &str| {
        s.emulator
            .put_object("media", key, body.to_owned().into(), "application/json")
    };
    put(
        "t/a.json",
        r#"[{"image": "oss://media/img/1.jpg", "n": 1}, {"data": {"image": "oss://media/img/2.jpg"}, "meta": {"who": "me"}, "predictions": [{"result": [], "note": "oss://media/img/2.jpg"}]}]"#,
    );
    put(
        "t/b.jsonl",
        "{\"image\": \"oss://other/x.jpg\"}\nnot json\n\n{\"image\": \"s3://media/y.jpg\"}\n",
    );
    put("t/one.json", r#"{"image": "https://example.com/z.jpg"}"#);
    put("t/readme.md", "# not tasks");
    let mut opts = s.opts("oss://media/t/");
    opts.mode = Mode::Tasks;
    let first = s.run(&opts).await;
    assert_eq!(
        (first.listed, first.imported, first.skipped, first.failed),
        (4, 5, 1, 1),
        "{first:?}"
    );
    assert_eq!(
        first.problems,
        ["oss://media/t/b.jsonl line 2: expected ident at line 1 column 2"]
    );
    let sent = s.ls.inner.lock().unwrap().imported.clone();
    let one = &sent[0];
    assert!(
        one["data"]["image"]
            .as_str()
            .unwrap()
            .starts_with("https://presign.example.com/r/")
    );
    assert_eq!(one["data"]["n"], 1);
    assert_eq!(
        one["meta"]["ls_presign"],
        json!({"original_uris": ["oss://media/img/1.jpg"], "source": "oss://media/t/a.json", "item": 1,
               "imported_at": one["meta"]["ls_presign"]["imported_at"]})
    );
    let two = &sent[1];
    assert_eq!(two["meta"]["who"], "me");
    assert_eq!(
        two["predictions"][0]["note"], "oss://media/img/2.jpg",
        "only data is rewritten"
    );
    // Unconfigured buckets and plain URLs are left as they are.
    assert!(sent.iter().any(|t| t["data"]["image"] == "oss://other/x.jpg"));
    assert!(sent.iter().any(|t| t["data"]["image"] == "https://example.com/z.jpg"));
    let again = s.run(&opts).await;
    assert_eq!((again.imported, again.present), (0, 5));
}

/// Objects gone from the bucket are reported; with `--delete-missing` their unannotated tasks
/// go, annotated ones stay and are listed.
#[tokio::test]
async fn objects_gone_are_reported_and_removed() {
    let s = setup(Duration::ZERO).await;
    for key in ["p/a.jpg", "p/b.jpg", "p/c.jpg"] {
        s.put(key);
    }
    s.run(&s.opts("oss://media/p/")).await;
    s.emulator.delete_object("media", "p/a.jpg");
    s.emulator.delete_object("media", "p/b.jpg");
    let annotated =
        s.ls.tasks_of(PROJECT)
            .into_iter()
            .find(|t| t["meta"]["ls_presign"]["source"] == "oss://media/p/b.jpg")
            .unwrap();
    let annotated_id = annotated["id"].as_u64().unwrap();
    s.ls.inner.lock().unwrap().tasks.get_mut(&annotated_id).unwrap()["total_annotations"] = json!(1);

    let reported = s.run(&s.opts("oss://media/p/")).await;
    assert_eq!((reported.missing, reported.deleted), (2, 0));
    assert_eq!(s.ls.tasks_of(PROJECT).len(), 3);

    let mut opts = s.opts("oss://media/p/");
    opts.delete_missing = true;
    let removed = s.run(&opts).await;
    assert_eq!(
        (removed.missing, removed.deleted, removed.kept_annotated.clone()),
        (2, 1, vec![annotated_id])
    );
    assert_eq!(s.sources(), ["oss://media/p/b.jpg", "oss://media/p/c.jpg"]);
    // An object that comes back is imported again only if its task was removed.
    s.put("p/a.jpg");
    assert_eq!(s.run(&s.opts("oss://media/p/")).await.imported, 1);
}

/// Ctrl-C stops after the batch in flight; the next run imports the rest, nothing twice. A
/// batch Label Studio refuses counts as failed, and a re-run imports it.
#[tokio::test]
async fn interrupted_and_failed_runs_resume() {
    let s = setup(Duration::ZERO).await;
    for i in 0..250 {
        s.put(&format!("p/{i:03}.jpg"));
    }
    let mut opts = s.opts("oss://media/p/");
    opts.batch = 100;
    let stop = AtomicBool::new(false);
    let stopping = |sum: &Summary| {
        if sum.imported >= 100 {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let cut = s.importer("t").run(&opts, &stop, &stopping).await.unwrap();
    assert!(cut.interrupted && cut.imported == 100, "{cut:?}");
    assert_eq!(s.ls.tasks_of(PROJECT).len(), 100);

    s.ls.fail(IMPORT, &[Fault::Status(500)]);
    let failed = s.run(&opts).await;
    assert_eq!(
        (failed.imported, failed.failed, failed.present),
        (50, 100, 100),
        "{failed:?}"
    );
    let rest = s.run(&opts).await;
    assert_eq!((rest.imported, rest.present, rest.failed), (100, 150, 0));
    assert_eq!(s.sources().len(), 250);
}

/// Two importers racing on the same prefix and project, again and again (each with its own
/// state, as two replicas have): the lease lets one import at a time, so no object is ever
/// imported twice; the other is told who holds it.
#[tokio::test]
async fn two_importers_racing_never_import_twice() {
    let s = setup(Duration::from_millis(2)).await;
    let mut busy = 0;
    for round in 0..6 {
        for i in 0..40 {
            s.put(&format!("p/{round}/{i:02}.jpg"));
        }
        let (a, b) = (s.importer("replica-a"), s.importer("replica-b"));
        let mut opts_a = s.opts("oss://media/p/");
        let mut opts_b = s.opts("oss://media/p/");
        opts_a.batch = 7;
        opts_b.batch = 7;
        opts_a.state_dir = Some(s.state.path().join("a"));
        opts_b.state_dir = Some(s.state.path().join("b"));
        let never = AtomicBool::new(false);
        let (ra, rb) = tokio::join!(a.run(&opts_a, &never, &|_| {}), b.run(&opts_b, &never, &|_| {}));
        for r in [&ra, &rb] {
            match r {
                Ok(sum) => assert_eq!(sum.failed, 0),
                Err(ImportError::Lease(e)) => {
                    busy += 1;
                    assert!(
                        e.to_string()
                            .contains("another import of this project is running (replica-"),
                        "{e}"
                    );
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(s.sources().len(), 40 * (round + 1), "round {round}: every object, once");
    }
    assert!(busy > 0, "the importers never overlapped");
}

/// Without the lease (`--no-lease`) nothing is written to the bucket; with it, the lease's
/// objects stay under `.ls-presign/` and are never imported.
#[tokio::test]
async fn the_lease_lives_under_its_own_folder() {
    let s = setup(Duration::ZERO).await;
    s.put("a.jpg");
    let mut opts = s.opts("oss://media/");
    opts.lease = false;
    s.run(&opts).await;
    assert_eq!(s.emulator.keys("media"), ["a.jpg"]);
    s.put("b.jpg");
    let leased = s.run(&s.opts("oss://media/")).await;
    assert_eq!((leased.imported, leased.listed), (1, 2));
    let keys = s.emulator.keys("media");
    assert!(
        keys.iter().any(|k| k.starts_with(".ls-presign/leases/project-7/")),
        "{keys:?}"
    );
    assert_eq!(s.run(&s.opts("oss://media/")).await.listed, 2);
    let task: Value = s.ls.tasks_of(PROJECT)[0].clone();
    assert_eq!(task["meta"]["ls_presign"]["source"], "oss://media/a.jpg");

    // A hold another importer took and has not given up stops this one; once it has run out
    // (a crashed importer), the next import takes over.
    let keys = s.emulator.keys("media");
    let latest = keys.iter().filter(|k| k.contains("/leases/")).max().unwrap();
    let generation: u64 = latest
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".json")
        .parse()
        .unwrap();
    let hold = |until: i64| json!({"holder": "crashed-replica", "expires_at": until}).to_string();
    let next = format!(".ls-presign/leases/project-7/{:020}.json", generation + 1);
    let now = ls_presign::now();
    s.emulator
        .put_object("media", &next, hold(now + 60).into(), "application/json");
    let err = s
        .importer("t")
        .run(&s.opts("oss://media/"), &AtomicBool::new(false), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("crashed-replica"), "{err}");
    s.emulator
        .put_object("media", &next, hold(now - 1).into(), "application/json");
    s.put("c.jpg");
    assert_eq!(s.run(&s.opts("oss://media/")).await.imported, 1);
}

/// `serve` runs the `[[import]]` tables by itself. Two replicas with the same table: every
/// object is imported once, one uploaded later appears after an interval, the runs are counted
/// in `/metrics` (the replica that found the lease taken counts `busy`), and shutdown stops
/// the schedule.
#[tokio::test]
async fn serve_imports_on_a_schedule_from_two_replicas() {
    let s = setup(Duration::from_millis(1)).await;
    for i in 0..30 {
        s.put(&format!("p/{i:02}.jpg"));
    }
    let toml = s.state.path().join("imports.toml");
    std::fs::write(
        &toml,
        "[[import]]\nproject = 7\nuri = \"oss://media/p/\"\ninterval = \"1s\"\nglob = [\"*.jpg\"]\n",
    )
    .unwrap();
    let endpoint = s.emulator.endpoint();
    let replica = |state: &str| {
        let vars = super::helpers::bucket_vars(
            "media",
            &endpoint,
            &[
                ("LS_PRESIGN_SECRET", SECRET),
                ("LABEL_STUDIO_URL", s.ls.url.as_str()),
                ("LABEL_STUDIO_API_KEY", LEGACY_TOKEN),
                ("LS_PRESIGN_CONFIG", toml.to_str().unwrap()),
                ("LS_PRESIGN_STATE_DIR", state),
                ("LS_PRESIGN_WORKERS", "1"),
            ],
        );
        let config = Config::load(&Env::map(&vars)).unwrap();
        let app =
            ls_presign::http::Application::with_listener(config, std::net::TcpListener::bind("127.0.0.1:0").unwrap())
                .unwrap();
        let port = app.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        (port, stop, running)
    };
    let dir = |name: &str| s.state.path().join(name).to_str().unwrap().to_owned();
    let (port_a, stop_a, run_a) = replica(&dir("a"));
    let (port_b, stop_b, run_b) = replica(&dir("b"));
    wait_for_tasks(&s.ls, 30).await;
    s.put("p/later.jpg");
    s.put("p/later.txt");
    wait_for_tasks(&s.ls, 31).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.sources().len(), 31, "every object once, from two replicas");

    let http = reqwest::Client::new();
    let mut runs = HashMap::new();
    for port in [port_a, port_b] {
        let text = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in text.lines().filter(|l| l.starts_with("lspresign_import_runs_total{")) {
            assert!(line.contains(r#"project="7",source="oss://media/p/""#), "{line}");
            let (labels, n) = line.rsplit_once(' ').unwrap();
            let result = labels
                .split("result=\"")
                .nth(1)
                .unwrap()
                .trim_end_matches("\"}")
                .to_owned();
            *runs.entry(result).or_insert(0) += n.parse::<u64>().unwrap();
        }
        assert!(text.contains("lspresign_import_last_success_timestamp_seconds{project=\"7\""));
    }
    assert!(runs.get("ok").copied().unwrap_or(0) >= 2, "{runs:?}");
    assert_eq!(runs.get("failed"), None, "{runs:?}");

    for (stop, run) in [(stop_a, run_a), (stop_b, run_b)] {
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

async fn wait_for_tasks(ls: &FakeLs, n: usize) {
    for _ in 0..200 {
        if ls.tasks_of(PROJECT).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("only {} of {n} tasks after 10 s", ls.tasks_of(PROJECT).len());
}
