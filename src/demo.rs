//! `ls-presign demo`: the whole flow on one machine with no cloud account. Starts the OSS
//! emulator on 127.0.0.1 with a few real images, starts the service against it, and prints a
//! Label Studio import whose references already resolve.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::ExitCode;

use bytes::Bytes;
use oss_emulator::{BucketConfig, CorsRule, Credential, Emulator, EmulatorConfig};
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::command::{CommandError, CommandResult};
use crate::config::{Config, Env};
use crate::http::Application;
use crate::resolve::RewriteAs;

/// The demo bucket and region.
pub const BUCKET: &str = "demo";
pub const REGION: &str = "cn-hangzhou";

/// Sample images, embedded so the demo needs no files: (key, bytes, content type).
pub const IMAGES: [(&str, &[u8], &str); 3] = [
    ("images/cat.png", include_bytes!("../assets/demo/cat.png"), "image/png"),
    ("images/dog.jpg", include_bytes!("../assets/demo/dog.jpg"), "image/jpeg"),
    // A key with spaces and unicode, to show keys are signed exactly as written.
    (
        "images/鸟 bird (1).png",
        include_bytes!("../assets/demo/bird.png"),
        "image/png",
    ),
];

/// Settings a user may still pass to the demo (Label Studio among them, to try write-back);
/// everything about storage is the demo's own.
const PASSED_THROUGH: [&str; 11] = [
    "HOST",
    "PORT",
    "LS_PRESIGN_PUBLIC_URL",
    "LS_PRESIGN_MODE",
    "LS_PRESIGN_TTL",
    "LS_PRESIGN_WINDOW",
    "LS_PRESIGN_CORS_ORIGIN",
    "LS_PRESIGN_LINK_POLICY",
    "LS_PRESIGN_SECRET",
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
];

fn random(n: usize) -> String {
    rand::rng().sample_iter(Alphanumeric).take(n).map(char::from).collect()
}

/// Starts the emulator seeded with the sample images; returns it with the credentials it accepts.
pub fn start_emulator(listener: TcpListener) -> std::io::Result<(Emulator, Credential)> {
    let (config, credential) = demo_bucket(std::time::Duration::ZERO);
    let emulator = Emulator::start(config, listener)?;
    for (key, bytes, content_type) in IMAGES {
        emulator.put_object(BUCKET, key, Bytes::from_static(bytes), content_type);
    }
    Ok((emulator, credential))
}

/// The emulator's settings for the demo bucket (V4 only, CORS `*`), answering after `latency`,
/// with fresh random credentials; returns them with those credentials.
pub fn demo_bucket(latency: std::time::Duration) -> (EmulatorConfig, Credential) {
    let credential = Credential {
        access_key_id: format!("LTAIdemo{}", random(12)),
        access_key_secret: random(30),
        security_token: None,
    };
    let config = EmulatorConfig {
        buckets: vec![BucketConfig {
            name: BUCKET.into(),
            region: REGION.into(),
            // A bucket created today: V4 only, like real OSS.
            allow_v1: false,
            // Browsers send `Origin: null` after the 303; only `*` (or echo) lets them read.
            cors: CorsRule::AllowAll,
        }],
        credentials: vec![credential.clone()],
        latency,
    };
    (config, credential)
}

/// What points the service, and the command line, at the demo: the emulator as the one OSS
/// storage, the link secret, and the settings passed through from the environment.
pub fn demo_vars(emulator: &Emulator, credential: &Credential) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = PASSED_THROUGH
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    vars.entry("HOST".into()).or_insert_with(|| "127.0.0.1".into());
    for (k, v) in [
        ("OSS_BUCKET", BUCKET.to_owned()),
        ("OSS_REGION", REGION.to_owned()),
        ("OSS_ENDPOINT", emulator.endpoint()),
        ("OSS_ADDRESSING_STYLE", "path".to_owned()),
        ("OSS_ACCESS_KEY_ID", credential.access_key_id.clone()),
        ("OSS_ACCESS_KEY_SECRET", credential.access_key_secret.clone()),
    ] {
        vars.insert(k.into(), v);
    }
    vars.entry("LS_PRESIGN_SECRET".into()).or_insert_with(|| random(40));
    vars
}

/// `export ...` of the settings that point `sign`, `check`, `rewrite` and `token` at the demo.
fn cli_env(vars: &HashMap<String, String>, public_url: &str) -> String {
    let names = [
        "OSS_BUCKET",
        "OSS_REGION",
        "OSS_ENDPOINT",
        "OSS_ADDRESSING_STYLE",
        "OSS_ACCESS_KEY_ID",
        "OSS_ACCESS_KEY_SECRET",
        "LS_PRESIGN_SECRET",
        "LABEL_STUDIO_URL",
    ];
    let mut line = String::from("export");
    for name in names {
        if let Some(v) = vars.get(name) {
            line.push_str(&format!(" {name}='{v}'"));
        }
    }
    line.push_str(&format!(" LS_PRESIGN_PUBLIC_URL='{public_url}'"));
    line
}

/// Whether the demo will write tasks back to Label Studio, said in one line.
async fn label_studio_status(config: &Config) -> String {
    let Some(ls) = &config.label_studio else {
        return "not configured: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY to write tasks back".to_owned();
    };
    let answer = match crate::labelstudio::LabelStudio::from_config(ls) {
        Ok(client) => match tokio::time::timeout(std::time::Duration::from_secs(5), client.ping()).await {
            Ok(Ok(())) => "answers, and accepts the token: tasks sent to /webhook are written back".to_owned(),
            Ok(Err(e)) => format!("{e}: write-back will fail until this is fixed"),
            Err(_) => "no answer within 5 s: write-back will fail until it answers".to_owned(),
        },
        Err(e) => e.to_string(),
    };
    format!("{} {answer}", ls.url)
}

/// Label Studio tasks referring to the sample images, as a user would import them.
pub fn sample_tasks() -> serde_json::Value {
    let tasks: Vec<_> = IMAGES
        .iter()
        .map(|(key, _, _)| {
            serde_json::json!({
                "data": {
                    "image": format!("oss://{BUCKET}/{key}"),
                    "caption": format!("<p>From <code>oss://{BUCKET}/{key}</code></p>"),
                }
            })
        })
        .collect();
    serde_json::Value::Array(tasks)
}

/// The `demo` command.
pub async fn run() -> CommandResult {
    let (emulator, credential) = TcpListener::bind("127.0.0.1:0")
        .and_then(start_emulator)
        .map_err(CommandError::io("cannot start the OSS emulator"))?;
    let vars = demo_vars(&emulator, &credential);
    let config = Config::load(&Env::map(&vars))?;
    let label_studio = label_studio_status(&config).await;
    let app = Application::build(config)?;
    let resolver = &app.state().resolver;

    let tasks = format!("{:#}", sample_tasks());
    let import = resolver
        .rewrite(tasks.as_bytes(), Some(RewriteAs::Link), crate::time::now())
        .await?;
    let import = String::from_utf8_lossy(&import.body).into_owned();
    let first = crate::uri::StorageUri::new(crate::uri::Scheme::Oss, BUCKET, IMAGES[0].0);
    let first_link = resolver.link(&first)?;
    let base = &app.state().config.server.public_url;
    // The demo's keys are an HMAC secret, which always mints.
    let token = app
        .state()
        .auth
        .mint("demo", crate::auth::Scope::Admin, crate::time::now(), 86400)
        .ok_or(CommandError::Missing(
            "LS_PRESIGN_SECRET: the demo mints its token with it",
        ))?;
    println!(
        "\
ls-presign demo
  OSS emulator (bucket {BUCKET:?}, V4 signatures only): {}
  ls-presign service:                              {base}
  Label Studio:                                    {label_studio}

Open this stable link in a browser: it answers 303 with a presigned URL, and the image comes
straight from the emulator:
  {first_link}

Label Studio import JSON (Data Manager > Import, or POST /api/projects/<id>/import):
{import}

API token for this run (scope admin, valid 1 day; mint your own with `ls-presign token`):
  {token}

Resolve tasks to direct presigned URLs:
  curl -s -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
       {base}/v1/resolve -d '{{\"image\": \"oss://{BUCKET}/{}\"}}'

The command line against this demo (sign, check, rewrite, token, import), in another shell:
  {cli_env}
  ls-presign sign oss://{BUCKET}/{}

Connect the demo bucket to a Label Studio project whose label config has an <Image
value=\"$image\"/> (with LABEL_STUDIO_API_KEY set too): one task per image, each once:
  ls-presign import --project <id> oss://{BUCKET}/

Press Ctrl-C to stop.",
        emulator.endpoint(),
        IMAGES[1].0,
        IMAGES[1].0,
        cli_env = cli_env(&vars, base),
    );
    let served = app.run_until_signal().await;
    emulator.stop().await;
    served.map_err(CommandError::io("the server"))?;
    Ok(ExitCode::SUCCESS)
}
