//! Black-box tests of the built binary: `sign`, `rewrite`, bad configuration, and `demo`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ls-presign");

fn cmd(env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

const OSS: [(&str, &str); 4] = [
    ("OSS_BUCKET", "photos"),
    ("OSS_REGION", "cn-hangzhou"),
    ("OSS_ACCESS_KEY_ID", "AKID"),
    ("OSS_ACCESS_KEY_SECRET", "SECRET"),
];

#[test]
fn sign_pins_the_time_and_explains() {
    let bkt = [("OSS_BUCKET", "bkt"), OSS[1], OSS[2], OSS[3]];
    let out = cmd(&bkt)
        .args([
            "sign",
            "oss://bkt/ a b+c%/d//é#?x ",
            "--at",
            "2026-11-27T10:00:00Z",
            "--ttl",
            "3600",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The same inputs as an alibabacloud-oss-v2 vector in tests/fixtures/sdk_vectors.json (virtual-hosted).
    assert_eq!(
        v["signature"],
        "444b7fe1ee11604f63d2e9712e697809878f22c3b4cc89987589f233a821c066"
    );
    assert_eq!(v["algorithm"], "oss-v4");
    assert!(
        v["url"]
            .as_str()
            .unwrap()
            .starts_with("https://bkt.oss-cn-hangzhou.aliyuncs.com/%20a%20b%2Bc%25/d//")
    );
    assert!(
        v["canonical_request"]
            .as_str()
            .unwrap()
            .starts_with("GET\n/bkt/%20a%20b")
    );

    let plain = cmd(&OSS).args(["sign", "oss://photos/k.jpg"]).output().unwrap();
    let url = String::from_utf8(plain.stdout).unwrap();
    assert!(url.trim_end().contains("x-oss-signature="), "{url}");
}

#[test]
fn bad_input_and_config_fail_with_a_clear_message() {
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            OSS.to_vec(),
            vec!["sign", "oss://other/k"],
            "not in a configured bucket",
        ),
        (
            OSS.to_vec(),
            vec!["sign", "http://x/y"],
            "does not start with oss:// or s3://",
        ),
        (
            OSS.to_vec(),
            vec!["sign", "oss://photos/k", "--ttl", "604801"],
            "--ttl 604801",
        ),
        (
            OSS.to_vec(),
            vec!["sign", "oss://photos/k", "--at", "yesterday"],
            "--at \"yesterday\"",
        ),
        (
            OSS.to_vec(),
            vec!["sign", "oss://photos/k", "--at", "99999999999999"],
            "--at \"99999999999999\": Unix seconds out of the range",
        ),
        (
            [&OSS[..], &[("LS_PRESIGN_TTL", "0")]].concat(),
            vec!["sign", "oss://photos/k"],
            "LS_PRESIGN_TTL",
        ),
        (
            OSS[..3].to_vec(),
            vec!["sign", "oss://photos/k"],
            "OSS_ACCESS_KEY_SECRET: required",
        ),
        (OSS.to_vec(), vec!["serve"], "LS_PRESIGN_SECRET: required"),
        (
            [&OSS[..], &[("LS_PRESIGN_CORS_ORIGIN", "https://ls.example.com/")]].concat(),
            vec!["serve"],
            "LS_PRESIGN_CORS_ORIGIN: \"https://ls.example.com/\" is not * or an origin",
        ),
        // Nothing configured: say so, and how to configure a storage.
        (
            vec![],
            vec!["sign", "oss://photos/k"],
            "no storage is configured: set OSS_BUCKET",
        ),
        (vec![], vec!["rewrite"], "no storage is configured: set OSS_BUCKET"),
        // In the user's words: what is wrong and what is accepted.
        (
            [&OSS[..], &[("PORT", "9999999")]].concat(),
            vec!["sign", "oss://photos/k"],
            "PORT: \"9999999\" is too large: a whole number from 0 to 65535",
        ),
        (
            [&OSS[..], &[("LS_PRESIGN_TTL", "-1")]].concat(),
            vec!["sign", "oss://photos/k"],
            "LS_PRESIGN_TTL: \"-1\" is not a whole number from 0 to",
        ),
        (
            [&OSS[..], &[("LS_PRESIGN_PUBLIC_URL", "notaurl")]].concat(),
            vec!["sign", "oss://photos/k"],
            "LS_PRESIGN_PUBLIC_URL: \"notaurl\" is not a URL (relative URL without a base): expected the http(s) base URL",
        ),
        (
            [&OSS[..], &[("LS_PRESIGN_MODE", "foo")]].concat(),
            vec!["sign", "oss://photos/k"],
            "LS_PRESIGN_MODE: \"foo\" is not one of presign, inline, proxy",
        ),
    ];
    for (env, args, expected) in cases {
        let out = cmd(&env).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("SECRET\"") && !stderr.contains("=SECRET"),
            "secret leaked: {stderr}"
        );
    }
}

#[test]
fn rewrite_reads_stdin_or_a_file() {
    let input = r#"{"data": {"image": "oss://photos/a.jpg", "keep": "oss://other/b.jpg", "n": 1.50}}"#;
    let mut child = cmd(&OSS)
        .arg("rewrite")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(r#"{"data": {"image": "https://photos.oss-cn-hangzhou.aliyuncs.com/a.jpg?"#),
        "{text}"
    );
    assert!(
        text.ends_with(r#"", "keep": "oss://other/b.jpg", "n": 1.50}}"#),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 rewritten, 1 skipped, 0 failed"));

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tasks.json");
    std::fs::write(&path, "[1, 2 ,{\"a\":null}]").unwrap();
    let out = cmd(&OSS).arg("rewrite").arg(&path).output().unwrap();
    assert_eq!(out.stdout, b"[1, 2 ,{\"a\":null}]");
    std::fs::write(&path, "{\"a\":").unwrap();
    let out = cmd(&OSS).arg("rewrite").arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid JSON"));
    // Links need the secret: without it each reference fails, loudly.
    let out = cmd(&OSS)
        .args(["rewrite", "--mode", "link"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn demo_serves_an_image_through_a_303_from_the_emulator() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cmd(&[("PORT", &port.to_string()), ("RUST_LOG", "warn")])
        .arg("demo")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut link = None;
    let mut printed = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        let Some(Ok(line)) = lines.next() else { break };
        printed.push_str(&line);
        printed.push('\n');
        if line.trim_start().starts_with(&format!("http://127.0.0.1:{port}/r/")) && link.is_none() {
            link = Some(line.trim().to_owned());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let link = link.unwrap_or_else(|| panic!("no link printed:\n{printed}"));
    let import_start = printed.find("\n[").unwrap();
    let import_end = printed.find("\n]\n").unwrap() + 2;
    let tasks: serde_json::Value = serde_json::from_str(&printed[import_start..import_end]).unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 3);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // The service may still be binding right after printing.
        let mut resp = None;
        for _ in 0..50 {
            if let Ok(r) = no_redirect.get(&link).send().await {
                resp = Some(r);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let resp = resp.expect("the demo service answers");
        assert_eq!(resp.status(), 303);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.contains("x-oss-signature-version=OSS4-HMAC-SHA256"),
            "{location}"
        );
        let bytes = reqwest::get(&link).await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), include_bytes!("../../assets/demo/cat.png"));
        for task in tasks.as_array().unwrap() {
            let url = task["data"]["image"].as_str().unwrap();
            let got = reqwest::get(url).await.unwrap();
            assert_eq!(got.status(), 200, "{url}");
            assert!(got.bytes().await.unwrap().len() > 1000);
        }
        // The printed environment points the command line at the demo: `sign` gives a URL the
        // demo's emulator serves.
        let export = printed
            .lines()
            .find_map(|l| l.trim().strip_prefix("export "))
            .unwrap_or_else(|| panic!("no export line printed:\n{printed}"));
        let env: Vec<(&str, &str)> = export
            .split(' ')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k, v.trim_matches('\''))
            })
            .collect();
        let out = cmd(&env).args(["sign", "oss://demo/images/dog.jpg"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let url = String::from_utf8(out.stdout).unwrap();
        let got = reqwest::get(url.trim()).await.unwrap();
        assert_eq!(got.status(), 200, "{url}");
        assert_eq!(
            got.bytes().await.unwrap().as_ref(),
            include_bytes!("../../assets/demo/dog.jpg")
        );
        assert!(
            printed.contains("Label Studio:") && printed.contains("not configured"),
            "{printed}"
        );
    });
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn check_reports_each_part_and_catches_a_bucket_cors_rule_browsers_fail() {
    use oss_emulator::{BucketConfig, CorsRule, Credential, Emulator, EmulatorConfig};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let emulator = Emulator::start(
        EmulatorConfig {
            buckets: vec![
                BucketConfig {
                    name: "open".into(),
                    region: "cn-hangzhou".into(),
                    allow_v1: false,
                    cors: CorsRule::AllowAll,
                },
                BucketConfig {
                    name: "strict".into(),
                    region: "cn-hangzhou".into(),
                    allow_v1: false,
                    cors: CorsRule::Only(vec!["https://ls.example.com".into()]),
                },
            ],
            credentials: vec![Credential {
                access_key_id: "AK".into(),
                access_key_secret: "SK".into(),
                security_token: None,
            }],
            latency: Duration::ZERO,
        },
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap();
    for b in ["open", "strict"] {
        emulator.put_object(b, "a.png", "PNG".into(), "image/png");
    }
    let ep = emulator.endpoint();
    let run = |bucket: &str| {
        cmd(&[
            ("OSS_BUCKET", bucket),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ENDPOINT", &ep),
            ("OSS_ADDRESSING_STYLE", "path"),
            ("OSS_ACCESS_KEY_ID", "AK"),
            ("OSS_ACCESS_KEY_SECRET", "SK"),
            ("LS_PRESIGN_SECRET", "check-secret-0123456789"),
        ])
        .args(["check", "--object", &format!("oss://{bucket}/a.png")])
        .output()
        .unwrap()
    };
    let ok = run("open");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    for line in [
        "PASS configuration",
        "PASS secret",
        "PASS sign oss://open",
        "PASS reach oss://open",
        "PASS read oss://open/a.png",
        "PASS bucket CORS",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let strict = run("strict");
    let text = String::from_utf8_lossy(&strict.stdout);
    assert!(!strict.status.success());
    assert!(text.contains("FAIL bucket CORS after a redirect"), "{text}");
    let bad = cmd(&[("OSS_BUCKET", "x1"), ("OSS_REGION", "cn-hangzhou")])
        .arg("check")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("FAIL configuration: OSS_ACCESS_KEY_ID"));
    drop(emulator);
}

/// `-h` and `--help` open with the same one-line description of the tool.
#[test]
fn short_and_long_help_describe_the_tool_alike() {
    let first_line = |flag: &str| {
        let out = cmd(&[]).arg(flag).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_owned()
    };
    let short = first_line("-h");
    assert!(short.starts_with("Serve Label Studio files"), "{short}");
    assert_eq!(short, first_line("--help"));
}

/// A region id OSS does not list (a typo) is accepted, with a warning naming the closest one.
#[test]
fn an_unknown_oss_region_is_warned_about() {
    let env = [OSS[0], ("OSS_REGION", "hangzhou"), OSS[2], OSS[3]];
    let out = cmd(&env).args(["sign", "oss://photos/k"]).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OSS_REGION: \"hangzhou\" is not a known OSS region id; did you mean \"cn-hangzhou\"?"),
        "{stderr}"
    );
}

/// A configuration with four problems reports all four in one run, in `serve` and in `check`
/// (which goes on to the secret).
#[test]
fn every_configuration_problem_is_reported_at_once() {
    let out = cmd(&[("OSS_BUCKET", "x")]).arg("serve").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "ls-presign: OSS_REGION: required for OSS, e.g. cn-hangzhou",
            "ls-presign: OSS_ACCESS_KEY_ID: required",
            "ls-presign: OSS_ACCESS_KEY_SECRET: required",
            "ls-presign: LS_PRESIGN_SECRET: required: the key that signs stable links (or set LS_PRESIGN_SECRET_FILE)",
        ],
        "{stderr}"
    );
    let out = cmd(&[("OSS_BUCKET", "x"), ("PORT", "99999999")])
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "FAIL configuration: PORT: \"99999999\" is too large",
        "FAIL configuration: OSS_REGION: required",
        "FAIL configuration: OSS_ACCESS_KEY_ID: required",
        "FAIL configuration: OSS_ACCESS_KEY_SECRET: required",
        // The keys section loaded: its check runs too.
        "FAIL secret: LS_PRESIGN_SECRET: required",
        "5 checks failed",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
}

/// An export folder inside an import's folder: the import leaves it out, and check says so.
#[test]
fn check_warns_of_an_export_folder_inside_an_import_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let tables = "[[import]]\nproject = 3\nuri = \"oss://photos/\"\n\n[[export]]\nproject = 3\nuri = \"oss://photos/annotations/\"\n";
    std::fs::write(&file, tables).unwrap();
    let env = [
        OSS[0],
        OSS[1],
        OSS[2],
        OSS[3],
        ("LS_PRESIGN_CONFIG", file.to_str().unwrap()),
        ("LABEL_STUDIO_URL", "http://127.0.0.1:1"),
        ("LABEL_STUDIO_API_KEY", "k"),
    ];
    let out = cmd(&env).arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "WARN export under import: annotations go to oss://photos/annotations/, inside oss://photos/ that project 3 \
             imports from; the import leaves oss://photos/annotations/ out, so they never become tasks"
        ),
        "{stdout}"
    );
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broken storage configuration does not stop `check`: Label Studio, configured on its own,
/// is still pinged, and its failure names the host and the cause.
#[test]
fn check_goes_on_to_label_studio_when_the_storage_config_is_broken() {
    let port = dead_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = cmd(&[
        ("OSS_BUCKET", "x"),
        ("LABEL_STUDIO_URL", &url),
        ("LABEL_STUDIO_API_KEY", "x-token"),
        ("LS_PRESIGN_SECRET", "check-secret-0123456789"),
    ])
    .arg("check")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "FAIL configuration: OSS_REGION: required for OSS, e.g. cn-hangzhou",
            "FAIL configuration: OSS_ACCESS_KEY_ID: required",
            "FAIL configuration: OSS_ACCESS_KEY_SECRET: required",
            "PASS secret: LS_PRESIGN_SECRET is set (stable links and tokens)",
            &format!(
                "FAIL label studio: cannot reach Label Studio at 127.0.0.1:{port}: connection refused (is it running?)"
            ),
            "4 checks failed",
        ],
        "{stdout}"
    );
}

/// The `reach` line of a storage `check` cannot reach names the host and port and why: a host
/// name that does not resolve, a server that does not speak TLS on an https endpoint.
#[test]
fn check_names_the_host_and_cause_of_an_unreachable_storage() {
    let run = |endpoint: &str| {
        let out = cmd(&[
            ("OSS_BUCKET", "photos"),
            OSS[1],
            OSS[2],
            OSS[3],
            ("OSS_ENDPOINT", endpoint),
            ("OSS_ADDRESSING_STYLE", "path"),
            ("LS_PRESIGN_SECRET", "check-secret-0123456789"),
        ])
        .arg("check")
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout
            .lines()
            .find(|l| l.starts_with("FAIL reach oss://photos: "))
            .unwrap_or_else(|| panic!("{stdout}"))
            .to_owned()
    };
    assert_eq!(
        run("https://oss.example.invalid"),
        "FAIL reach oss://photos: cannot reach the storage at oss.example.invalid:443 for \
         oss://photos/.ls-presign-ready: DNS lookup failed (check the host name)"
    );

    // Plain HTTP where the endpoint says https.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut socket in plain.incoming().flatten() {
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    assert_eq!(
        run(&format!("https://127.0.0.1:{port}")),
        format!(
            "FAIL reach oss://photos: cannot reach the storage at 127.0.0.1:{port} for \
             oss://photos/.ls-presign-ready: TLS handshake failed: received corrupt message of type \
             InvalidContentType (does the server speak https on this port?)"
        )
    );
}

/// A Label Studio that accepts connections and never answers: `check` waits
/// `LABEL_STUDIO_TIMEOUT` and says it timed out.
#[test]
fn check_says_when_label_studio_times_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for socket in silent.incoming().flatten() {
            open.push(socket);
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let storage_port = dead_port();
    let started = Instant::now();
    let out = cmd(&[
        OSS[0],
        OSS[1],
        OSS[2],
        OSS[3],
        ("OSS_ENDPOINT", &format!("http://127.0.0.1:{storage_port}")),
        ("OSS_ADDRESSING_STYLE", "path"),
        ("LABEL_STUDIO_URL", &url),
        ("LABEL_STUDIO_API_KEY", "x-token"),
        ("LABEL_STUDIO_TIMEOUT", "1"),
    ])
    .arg("check")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for line in [
        format!(
            "FAIL label studio: cannot reach Label Studio at 127.0.0.1:{port}: timed out (is a firewall in the way, \
             or the server overloaded?)"
        )
        .as_str(),
        "3 checks failed",
    ] {
        assert!(lines.contains(&line), "{line}: {stdout}");
    }
    // The storage on a port nothing listens on: refused.
    let refused = format!(
        "FAIL reach oss://photos: cannot reach the storage at 127.0.0.1:{storage_port} for \
         oss://photos/.ls-presign-ready: connection refused (is it running?)"
    );
    assert!(lines.contains(&refused.as_str()), "{stdout}");
}
