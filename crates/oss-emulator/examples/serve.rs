//! Runs an emulator for programs outside Rust (the conformance suite drives one with the official
//! SDKs), until its standard input closes.
//!
//! ```text
//! cargo build -p oss-emulator --example serve
//! target/debug/examples/serve   # then, on stdin, one line of JSON:
//! {"buckets": [{"name": "b", "region": "cn-hangzhou", "allow_v1": false}],
//!  "credentials": [{"access_key_id": "AK", "access_key_secret": "SK", "security_token": null}]}
//! ```
//!
//! It answers on stdout with one line, `{"endpoint": "http://127.0.0.1:<port>"}`, once it serves.
//! The credentials come in on stdin, not the command line, so no process listing shows them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use oss_emulator::{BucketConfig, CorsRule, Credential, Emulator, EmulatorConfig};
use serde_json::Value;

fn text(v: &Value, name: &str) -> Result<String, String> {
    v[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("`{name}` must be a string in {v}"))
}

fn config(line: &str) -> Result<EmulatorConfig, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("the config line is not JSON: {e}"))?;
    let list = |name: &str| {
        v[name]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("`{name}` must be a list"))
    };
    let buckets = list("buckets")?
        .iter()
        .map(|b| {
            Ok(BucketConfig {
                name: text(b, "name")?,
                region: text(b, "region")?,
                allow_v1: b["allow_v1"].as_bool().unwrap_or(false),
                cors: CorsRule::AllowAll,
            })
        })
        .collect::<Result<_, String>>()?;
    let credentials = list("credentials")?
        .iter()
        .map(|c| {
            Ok(Credential {
                access_key_id: text(c, "access_key_id")?,
                access_key_secret: text(c, "access_key_secret")?,
                security_token: c["security_token"].as_str().map(str::to_string),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(EmulatorConfig {
        buckets,
        credentials,
        latency: Duration::ZERO,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let emulator = Emulator::start(config(&line)?, TcpListener::bind("127.0.0.1:0")?)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", serde_json::json!({ "endpoint": emulator.endpoint() }))?;
    stdout.flush()?;
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
    emulator.stop().await;
    Ok(())
}
