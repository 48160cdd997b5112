//! Resolve Label Studio tasks through a running ls-presign, as an annotation script would.
//!
//! ```text
//! cargo run -- demo &                       # or any ls-presign deployment
//! export LS_PRESIGN_TOKEN=$(ls-presign token --scope resolve --ttl 1h)   # the demo prints one
//! cargo run --example resolve -- http://127.0.0.1:9090 tasks.json
//! ```
//! Prints the tasks with every `oss://`/`s3://` reference replaced by a presigned URL, and the
//! tallies from the response headers on stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: resolve <ls-presign base URL> <tasks.json>");
        return ExitCode::FAILURE;
    };
    let Ok(token) = std::env::var("LS_PRESIGN_TOKEN") else {
        eprintln!("set LS_PRESIGN_TOKEN to a token with scope resolve (ls-presign token --scope resolve)");
        return ExitCode::FAILURE;
    };
    let body = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/resolve?mode=presign", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            eprintln!("request failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned()
    };
    let (rewritten, skipped, failed) = (
        header("ls-presign-rewritten"),
        header("ls-presign-skipped"),
        header("ls-presign-failed"),
    );
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        eprintln!("ls-presign answered {status}: {text}");
        return ExitCode::FAILURE;
    }
    println!("{text}");
    eprintln!("rewritten {rewritten}, skipped {skipped}, failed {failed}");
    ExitCode::SUCCESS
}
