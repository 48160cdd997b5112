//! The ceiling for the load benchmark: the smallest actix-web service that answers every
//! `GET /r/{token}` with a fixed `303 See Other`, on as many workers as ls-presign uses.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --profile profiling --example ceiling -- \
//!     127.0.0.1:9190 [workers] [links] [--tls-cert cert.pem --tls-key key.pem]
//! ```
//! The Location is a presigned URL of the same length as ls-presign's, with the same
//! Cache-Control header, so the bytes on the wire match; everything else (token check, cache
//! lookup, CORS and metrics middleware, access log) is what ls-presign adds on top.
//!
//! With a `links` file (lines of `token location`), `GET /r/{token}` answers with that token's
//! location instead (404 for others): the browser benchmark (scripts/bench/page.sh) uses it as
//! the floor of a 303 per image, with ls-presign's own tokens (so the requests are as long) and
//! the presigned URL ls-presign gave for each. A links file with no link, or a line that is not
//! `token location`, is an error (exit 2), never a fall-back to the fixed Location.
//!
//! With `--tls-cert` and `--tls-key` (PEM files, loaded as ls-presign loads its
//! `LS_PRESIGN_TLS_CERT_FILE` and `LS_PRESIGN_TLS_KEY_FILE`) it serves HTTPS and HTTP/2, as
//! ls-presign does with those; one without the other, or files that make no TLS identity, is an
//! error (exit 2). Without them it serves plain HTTP, whatever its environment holds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

const LOCATION: &str = "http://127.0.0.1:40000/demo/images/cat.png?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20261127T120000Z&x-oss-expires=3600&x-oss-credential=LTAIdemoAbCdEfGhIjKl%2F20261127%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-signature=444b7fe1ee11604f63d2e9712e697809878f22c3b4cc89987589f233a821c066";

fn see_other(location: HeaderValue) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3240"))
        .finish()
}

async fn fixed() -> HttpResponse {
    see_other(HeaderValue::from_static(LOCATION))
}

/// The `token location` lines of `file`, or why they are not.
fn read_links(file: &str) -> Result<HashMap<String, HeaderValue>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read links file {file}: {e}"))?;
    let mut locations = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let (token, url) = line
            .split_once(' ')
            .filter(|(token, url)| !token.is_empty() && !url.is_empty())
            .ok_or_else(|| format!("{file}:{}: not `token location`: {line:?}", i + 1))?;
        let url =
            HeaderValue::from_str(url).map_err(|e| format!("{file}:{}: location is no header value: {e}", i + 1))?;
        locations.insert(token.to_owned(), url);
    }
    if locations.is_empty() {
        return Err(format!("links file {file} has no `token location` line"));
    }
    Ok(locations)
}

async fn listed(req: HttpRequest, locations: web::Data<HashMap<String, HeaderValue>>) -> HttpResponse {
    match req.path().strip_prefix("/r/").and_then(|token| locations.get(token)) {
        Some(location) => see_other(location.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

const USAGE: &str = "usage: ceiling [addr [workers [links]]] [--tls-cert FILE --tls-key FILE]";

/// The command line: up to three positional arguments (`addr [workers] [links]`), and
/// `--tls-cert FILE --tls-key FILE` anywhere among them.
struct Args {
    positional: Vec<String>,
    /// The certificate and key files, given both or neither.
    tls: Option<(String, String)>,
}

/// `args` (without the program name) as [`Args`], or why they are not.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let (mut positional, mut cert, mut key) = (Vec::new(), None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--tls-cert" => &mut cert,
            "--tls-key" => &mut key,
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => {
                positional.push(arg);
                continue;
            }
        };
        *slot = Some(
            args.next()
                .filter(|file| !file.is_empty())
                .ok_or_else(|| format!("{arg} needs a file"))?,
        );
    }
    if let Some(extra) = positional.get(3) {
        return Err(format!("unexpected argument {extra:?}"));
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err("--tls-cert needs --tls-key too".into()),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert too".into()),
    };
    Ok(Args { positional, tls })
}

/// Prints `error` and ends the process with exit status 2.
fn fail(error: impl std::fmt::Display) -> ! {
    eprintln!("ceiling: {error}");
    std::process::exit(2);
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let Args { positional, tls } =
        parse_args(std::env::args().skip(1)).unwrap_or_else(|e| fail(format!("{e}\n{USAGE}")));
    let mut args = positional.into_iter();
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9190".into());
    let workers = args
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Some only with a links file: without one, the fixed Location for every token.
    let locations: Option<HashMap<String, HeaderValue>> =
        args.next().map(|file| read_links(&file).unwrap_or_else(|e| fail(e)));
    let tls = tls.map(|(cert, key)| {
        ls_presign::tls::load(cert.as_ref(), key.as_ref()).unwrap_or_else(|e| fail(format!("TLS identity: {e}")))
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    let what = locations
        .as_ref()
        .map_or("a fixed location".into(), |l| format!("{} locations", l.len()));
    eprintln!("ceiling: 303 on {scheme}://{addr}/r/{{token}}, {workers} workers, {what}");
    let locations = locations.map(web::Data::new);
    // Routed the way ls-presign routes its links (a `/r` prefix scope), so the comparison
    // measures what ls-presign adds, not a difference in routing.
    let server = HttpServer::new(move || {
        let links = web::scope("/r");
        match &locations {
            None => App::new().service(links.default_service(web::to(fixed))),
            Some(locations) => App::new()
                .app_data(locations.clone())
                .service(links.default_service(web::to(listed))),
        }
    })
    .workers(workers);
    match tls {
        Some(tls) => server.bind_rustls_0_23(&addr, (*tls.config).clone())?,
        None => server.bind(&addr)?,
    }
    .run()
    .await
}
