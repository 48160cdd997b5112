//! The ceiling for the load benchmark: the smallest actix-web service that answers every
//! `GET /r/{token}` with a fixed `303 See Other`, on as many workers as ls-presign uses.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release --example ceiling -- 127.0.0.1:9190 [workers] [links]
//! ```
//! The Location is a presigned URL of the same length as ls-presign's, with the same
//! Cache-Control header, so the bytes on the wire match; everything else (token check, cache
//! lookup, CORS and metrics middleware, access log) is what ls-presign adds on top.
//!
//! With a `links` file (lines of `token location`), `GET /r/{token}` answers with that token's
//! location instead (404 for others): the browser benchmark (scripts/bench/page.sh) uses it as
//! the floor of a 303 per image, with ls-presign's own tokens (so the requests are as long) and
//! the presigned URL ls-presign gave for each. A links file with no link, or a line that is not
//! `token location`, is an error (exit 2), never a fall-back to the fixed Location. With
//! `LS_PRESIGN_TLS_CERT_FILE` and `LS_PRESIGN_TLS_KEY_FILE` set it serves HTTPS and HTTP/2, as
//! ls-presign does with them.

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

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9190".into());
    let workers = args
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Some only with a links file: without one, the fixed Location for every token.
    let locations: Option<HashMap<String, HeaderValue>> = match args.next() {
        Some(file) => match read_links(&file) {
            Ok(locations) => Some(locations),
            Err(e) => {
                eprintln!("ceiling: {e}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let tls = match (
        std::env::var_os("LS_PRESIGN_TLS_CERT_FILE"),
        std::env::var_os("LS_PRESIGN_TLS_KEY_FILE"),
    ) {
        (Some(cert), Some(key)) => Some(ls_presign::tls::load(cert.as_ref(), key.as_ref()).expect("TLS identity")),
        _ => None,
    };
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
