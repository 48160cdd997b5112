//! Spawns the real service on port 0 against the OSS emulator, with a real HTTP client.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use ls_presign::config::{Config, Env};
use ls_presign::http::{AppState, Application};
use ls_presign::keys::KeyRing;
use ls_presign::link::LinkSigner;
use ls_presign::uri::StorageUri;
use oss_emulator::{BucketConfig, CorsRule, Credential, Emulator, EmulatorConfig};
use secrecy::SecretString;

pub const AK: &str = "LTAItestkey0001";
pub const SK: &str = "test-secret-0123456789abcdef";
pub const STS_AK: &str = "STS.testkey0002";
pub const STS_SK: &str = "sts-secret-abcdefghijklmnop";
pub const STS_TOKEN: &str = "CAIS+token/with=odd&chars";
pub const LINK_SECRET: &str = "link-secret-for-tests-0123456789";
/// Objects above this many bytes are not inlined.
pub const INLINE_MAX: usize = 20_000;

pub struct TestApp {
    pub base: String,
    pub emulator: Emulator,
    /// Follows no redirects, so tests see the 303; sends an admin token.
    pub client: reqwest::Client,
    /// Follows redirects, resolving `*.localhost` to 127.0.0.1.
    pub browser: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    /// The service's files (its TOML, its `LS_PRESIGN_STATE_DIR`), removed when the app drops.
    _dir: tempfile::TempDir,
    /// Tells the running service to stop (see [`TestApp::stop`]).
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    /// A token Label Studio's webhooks would carry (scope `webhook`).
    pub fn webhook_token(&self) -> String {
        self.state
            .auth
            .mint(
                "label-studio",
                ls_presign::auth::Scope::Webhook,
                ls_presign::now(),
                3600,
            )
            .unwrap()
    }

    /// `POST /webhook` with `body`, as Label Studio sends it with `token`.
    pub async fn post_webhook(&self, token: &str, body: &serde_json::Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/webhook", self.base))
            .header("authorization", format!("Bearer {token}"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The stable link the service gives for `uri` (`POST /v1/resolve?mode=link`).
    pub async fn link(&self, uri: &str) -> String {
        let resp = self
            .post_json("/v1/resolve?mode=link", serde_json::json!([uri]).to_string())
            .await;
        let out: serde_json::Value = resp.json().await.unwrap();
        out[0].as_str().unwrap().to_owned()
    }

    pub fn put(&self, bucket: &str, key: &str, body: impl Into<Bytes>, content_type: &str) {
        self.emulator.put_object(bucket, key, body.into(), content_type);
    }

    /// Stops the service as SIGTERM does ([`Application::run_until`]: in-flight requests
    /// finish; over TLS idle HTTP/2 connections are not waited for), then the emulator.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.emulator.stop().await;
    }
}

/// `{"error":{"code":..}}` of a response, with its status.
pub async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let v: serde_json::Value = resp.json().await.unwrap();
    (status, v["error"]["code"].as_str().unwrap().to_owned())
}

/// Unpadded base64url, as in JWTs.
pub fn b64url(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// The stable-link token for `uri` signed with `secret`, as a service with that secret mints it.
pub fn mint_link(secret: &str, uri: &str) -> String {
    LinkSigner::new(KeyRing::hmac(&SecretString::from(secret), &[])).mint(&StorageUri::parse(uri).unwrap())
}

fn bucket(name: &str, region: &str, allow_v1: bool) -> BucketConfig {
    BucketConfig {
        name: name.into(),
        region: region.into(),
        allow_v1,
        cors: CorsRule::AllowAll,
    }
}

/// The emulator's buckets and the storages pointing at them:
/// - `media`: OSS V4, path-style, presign (env variables)
/// - `legacy`: OSS V1 on a bucket that still accepts V1
/// - `v1refused`: OSS V1 configured against a V4-only bucket
/// - `s3media`: S3 SigV4, path-style
/// - `vhost`: OSS V4, virtual-hosted on `vhost.localhost`
/// - `sts`: OSS V4 with an STS token
/// - `vault`: proxy mode
/// - `limited`: only keys under `public/`
/// - `my-bucket`: the bucket named in the captured Label Studio payloads
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra_env: &[(&str, &str)]) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    let emulator = Emulator::start(
        EmulatorConfig {
            buckets: vec![
                bucket("media", "cn-hangzhou", false),
                bucket("legacy", "cn-hangzhou", true),
                bucket("v1refused", "cn-hangzhou", false),
                bucket("s3media", "us-east-1", false),
                bucket("vhost", "cn-beijing", false),
                bucket("sts", "cn-hangzhou", false),
                bucket("vault", "cn-hangzhou", false),
                bucket("limited", "cn-hangzhou", false),
                bucket("my-bucket", "cn-hangzhou", false),
            ],
            credentials: vec![
                Credential {
                    access_key_id: AK.into(),
                    access_key_secret: SK.into(),
                    security_token: None,
                },
                Credential {
                    access_key_id: STS_AK.into(),
                    access_key_secret: STS_SK.into(),
                    security_token: Some(STS_TOKEN.into()),
                },
            ],
            latency: Duration::ZERO,
        },
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap();
    let ep = emulator.endpoint();
    let port = emulator.port();
    let vhost_ep = format!("http://localhost:{port}");
    let sts_token = format!("session_token = \"{STS_TOKEN}\"");
    // One `[[storage]]` table; `extra` is more TOML lines.
    let storage_at = |scheme: &str,
                      bucket: &str,
                      region: &str,
                      endpoint: &str,
                      style: &str,
                      (ak, sk): (&str, &str),
                      extra: &str| {
        format!(
            "[[storage]]\nscheme = \"{scheme}\"\nbucket = \"{bucket}\"\nregion = \"{region}\"\nendpoint = \"{endpoint}\"\naddressing_style = \"{style}\"\naccess_key_id = \"{ak}\"\naccess_key_secret = \"{sk}\"\n{extra}\n"
        )
    };
    // The usual case: cn-hangzhou, path-style on the emulator, the AK/SK credential.
    let storage = |scheme: &str, bucket: &str, extra: &str| {
        storage_at(scheme, bucket, "cn-hangzhou", &ep, "path", (AK, SK), extra)
    };
    let toml = [
        storage("oss", "legacy", "signature_version = \"v1\""),
        storage("oss", "v1refused", "signature_version = \"v1\""),
        storage_at("s3", "s3media", "us-east-1", &ep, "path", (AK, SK), ""),
        storage("oss", "vault", "mode = \"proxy\""),
        storage("oss", "limited", "allowed_prefixes = [\"public/\"]"),
        // The bucket of the captured Label Studio fixtures (oss:// only; their s3:// stays raw).
        storage("oss", "my-bucket", ""),
        storage_at("oss", "sts", "cn-hangzhou", &ep, "path", (STS_AK, STS_SK), &sts_token),
        storage_at("oss", "vhost", "cn-beijing", &vhost_ep, "virtual", (AK, SK), ""),
    ]
    .concat();
    // Removed when the TestApp drops.
    let dir = tempfile::Builder::new().prefix("ls-presign-test-").tempdir().unwrap();
    let toml_path = dir.path().join("storages.toml");
    let state_dir = dir.path().join("state");
    std::fs::write(&toml_path, toml).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app_port = listener.local_addr().unwrap().port().to_string();
    let inline_max = INLINE_MAX.to_string();
    let mut vars: HashMap<String, String> = [
        ("OSS_BUCKET", "media"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ENDPOINT", ep.as_str()),
        ("OSS_ADDRESSING_STYLE", "path"),
        ("OSS_ACCESS_KEY_ID", AK),
        ("OSS_ACCESS_KEY_SECRET", SK),
        ("LS_PRESIGN_SECRET", LINK_SECRET),
        ("LS_PRESIGN_CONFIG", toml_path.to_str().unwrap()),
        ("LS_PRESIGN_INLINE_MAX_BYTES", inline_max.as_str()),
        // The public URL defaults to http(s)://127.0.0.1:{PORT}, https with a TLS certificate.
        ("PORT", app_port.as_str()),
        ("LS_PRESIGN_WORKERS", "1"),
        ("LS_PRESIGN_STATE_DIR", state_dir.to_str().unwrap()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra_env {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = Config::load(&Env::map(&vars)).unwrap();
    let base = config.server.public_url.clone();
    // Serving HTTPS, the test clients trust the service's certificate.
    let tls_cert = config.keys.tls.as_ref().map(|tls| tls.cert.clone());
    let app = Application::with_listener(config, listener).unwrap();
    let state = app.shared_state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        // A TestApp dropped without `stop` leaves the service running, as before.
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    }));

    let localhost: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // With asymmetric token keys the service cannot mint; such tests bring their own tokens.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = state
        .auth
        .mint("tests", ls_presign::auth::Scope::Admin, ls_presign::now(), 3600)
    {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let client_builder = || match &tls_cert {
        Some(cert) => trusting(cert),
        None => reqwest::Client::builder(),
    };
    TestApp {
        base,
        emulator,
        client: client_builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        browser: client_builder()
            .resolve("vhost.localhost", localhost)
            .resolve("localhost", localhost)
            .build()
            .unwrap(),
        state,
        _dir: dir,
        stop,
        server,
    }
}

/// A client builder that trusts the certificate in the PEM file `cert` (besides the usual roots).
pub fn trusting(cert: &Path) -> reqwest::ClientBuilder {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    reqwest::Client::builder().add_root_certificate(cert)
}

/// The credential [`bucket_vars`] signs with (`AK`/`SK`), for an emulator to accept.
pub fn ak_sk() -> Credential {
    Credential {
        access_key_id: "AK".into(),
        access_key_secret: "SK".into(),
        security_token: None,
    }
}

/// The settings of OSS bucket `bucket` on the emulator at `endpoint` (path style, credentials
/// `AK`/`SK`, as [`ak_sk`] gives them), plus `extra`.
pub fn bucket_vars(bucket: &str, endpoint: &str, extra: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    [
        ("OSS_BUCKET", bucket),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ENDPOINT", endpoint),
        ("OSS_ADDRESSING_STYLE", "path"),
        ("OSS_ACCESS_KEY_ID", "AK"),
        ("OSS_ACCESS_KEY_SECRET", "SK"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An emulator with one V4-only bucket (CORS `*`) that accepts `credential`, answering each
/// request after `latency`.
pub fn single_bucket_emulator(bucket_name: &str, credential: Credential, latency: Duration) -> Emulator {
    Emulator::start(
        EmulatorConfig {
            buckets: vec![bucket(bucket_name, "cn-hangzhou", false)],
            credentials: vec![credential],
            latency,
        },
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap()
}

/// Waits until a service started as a separate process answers `/health` to `client` (or panics).
pub async fn wait_until_up(client: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        if client.get(format!("{base}/health")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not start");
}

/// `ls-presign serve` as its own process on a free port of 127.0.0.1 (`RUST_LOG=info`), with
/// nothing else in its environment but `env`. Its stderr is kept for [`sigterm_and_wait`].
pub fn spawn_serve(env: &[(&str, &str)]) -> (std::process::Child, u16) {
    spawn_serve_to(env, Stdio::null(), Stdio::piped())
}

/// [`spawn_serve`] with its stdout and stderr going to `stdout` and `stderr`; `env` may set
/// another `RUST_LOG`.
pub fn spawn_serve_to(env: &[(&str, &str)], stdout: Stdio, stderr: Stdio) -> (std::process::Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ls-presign"))
        .arg("serve")
        .env_clear()
        .envs([("HOST", "127.0.0.1"), ("PORT", &port.to_string()), ("RUST_LOG", "info")])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    (child, port)
}

/// Sends SIGTERM, then waits for the process: its exit status, its stderr, and how long it took.
pub async fn sigterm_and_wait(mut child: std::process::Child) -> (std::process::ExitStatus, String, Duration) {
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let sent = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status, err, sent.elapsed())
    })
    .await
    .unwrap()
}

/// A token minted through the CLI, as an operator would.
pub fn cli_token(secret: &str, scope: &str) -> String {
    cli_token_with(&[("LS_PRESIGN_SECRET", secret)], scope)
}

/// A one-hour token minted through the CLI with nothing else in its environment but `env`.
pub fn cli_token_with(env: &[(&str, &str)], scope: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ls-presign"))
        .args(["token", "--scope", scope, "--ttl", "1h"])
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
