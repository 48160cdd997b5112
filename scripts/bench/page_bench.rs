//! The OSS emulator for the browser benchmark (scripts/bench/page.sh): a V4-only bucket with
//! `--images` distinct BMP images, answering every request after `--latency-ms`, as a real
//! object store far from the browser would. It runs in its own process so the service's CPU
//! time can be read from /proc without the emulator's.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --profile profiling --example page_bench -- \
//!     --latency-ms 30 --images 200 --image-side 256 --secret <LS_PRESIGN_SECRET> \
//!     [--tls-cert cert.pem --tls-key key.pem [--store-h2]]
//! ```
//! Prints one JSON line: the endpoint, the credentials for the service's OSS_* settings, and the
//! stable-link token of every image (minted with the secret the services will use), then
//! serves until stdin closes or Ctrl-C.
//!
//! With `--tls-cert` and `--tls-key` it also serves HTTPS, HTTP/1.1 only, as OSS and S3 serve
//! browsers: `presign_endpoint` is then that HTTPS port (the service's `OSS_PRESIGN_ENDPOINT`),
//! while `endpoint` stays plain HTTP, like an `-internal` endpoint the service reads from.
//! Adding `--store-h2` offers browsers HTTP/2 on that port as well, as R2, MinIO over TLS or a
//! CDN in front of the bucket do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ls_presign::keys::KeyRing;
use ls_presign::link::LinkSigner;
use ls_presign::uri::{Scheme, StorageUri};
use oss_emulator::Emulator;
use secrecy::SecretString;

use ls_presign::demo::{BUCKET, REGION};

/// A `side`×`side` 24-bit BMP whose pixels depend on `seed`, so every image differs.
fn bmp(side: u32, seed: u32) -> Vec<u8> {
    let row = (side * 3).div_ceil(4) * 4;
    let pixels = row * side;
    let mut out = Vec::with_capacity(54 + pixels as usize);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(54 + pixels).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&(side as i32).to_le_bytes());
    out.extend_from_slice(&(side as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&pixels.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    for y in 0..side {
        for x in 0..side {
            out.push((x.wrapping_mul(seed + 3) ^ y) as u8);
            out.push((y.wrapping_mul(seed + 7) ^ x) as u8);
            out.push(seed.wrapping_mul(37) as u8);
        }
        out.resize(out.len() + (row - side * 3) as usize, 0);
    }
    out
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|p| args.get(p + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// HTTPS in front of the emulator's port `backend`, with `config`'s identity, offering HTTP/1.1
/// only (ALPN): each connection's TLS ends here and its bytes are piped to the emulator.
async fn tls_front(mut config: rustls::ServerConfig, backend: u16) -> std::io::Result<u16> {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(port)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let latency = Duration::from_millis(arg(&args, "--latency-ms", 30));
    let images: u32 = arg(&args, "--images", 200);
    let side: u32 = arg(&args, "--image-side", 256);
    let secret: String = arg(&args, "--secret", String::new());
    if secret.len() < 32 {
        eprintln!("page_bench: --secret (at least 32 characters, the services' LS_PRESIGN_SECRET) is required");
        std::process::exit(2);
    }
    let (config, credential) = ls_presign::demo::demo_bucket(latency);
    let plain = TcpListener::bind("127.0.0.1:0")?;
    let (cert, key) = (
        arg(&args, "--tls-cert", String::new()),
        arg(&args, "--tls-key", String::new()),
    );
    let identity = if cert.is_empty() || key.is_empty() {
        None
    } else {
        Some(ls_presign::tls::load(cert.as_ref(), key.as_ref()).map_err(std::io::Error::other)?)
    };
    let store_h2 = args.iter().any(|a| a == "--store-h2");
    let (emulator, presign_endpoint) = match (identity, store_h2) {
        // Plain HTTP only: browsers and the services use the same endpoint.
        (None, _) => {
            let emulator = Emulator::start(config, plain)?;
            let endpoint = emulator.endpoint();
            (emulator, endpoint)
        }
        // The emulator's own HTTPS port, HTTP/2 included.
        (Some(identity), true) => {
            let https = TcpListener::bind("127.0.0.1:0")?;
            let endpoint = format!("https://127.0.0.1:{}", https.local_addr()?.port());
            let tls = (https, (*identity.config).clone());
            (Emulator::start_with_tls(config, plain, tls)?, endpoint)
        }
        // HTTPS with HTTP/1.1 only, in front of the plain port.
        (Some(identity), false) => {
            let emulator = Emulator::start(config, plain)?;
            let port = tls_front((*identity.config).clone(), emulator.port()).await?;
            (emulator, format!("https://127.0.0.1:{port}"))
        }
    };
    let links = LinkSigner::new(KeyRing::hmac(&SecretString::from(secret), &[]));
    let mut tokens = Vec::new();
    let mut bytes = 0;
    for i in 0..images {
        let key = format!("page/{i:04}.bmp");
        let body = bmp(side, i);
        bytes = body.len();
        emulator.put_object(BUCKET, &key, Bytes::from(body), "image/bmp");
        tokens.push(links.mint(&StorageUri::new(Scheme::Oss, BUCKET, key)));
    }
    println!(
        "{}",
        serde_json::json!({
            "endpoint": emulator.endpoint(),
            "presign_endpoint": presign_endpoint,
            "bucket": BUCKET,
            "region": REGION,
            "access_key_id": credential.access_key_id,
            "access_key_secret": credential.access_key_secret,
            "latency_ms": latency.as_millis() as u64,
            "image_bytes": bytes,
            "tokens": tokens,
        })
    );
    // Until stdin closes (the driving script exits) or Ctrl-C.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed.send(());
    });
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    emulator.stop().await;
    Ok(())
}
