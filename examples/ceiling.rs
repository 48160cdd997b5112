//! The ceiling for the load benchmark: the smallest actix-web service that answers every
//! `GET /r/{token}` with a fixed `303 See Other`, on as many workers as ls-presign uses.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release --example ceiling -- 127.0.0.1:9190 [workers]
//! ```
//! The Location is a presigned URL of the same length as ls-presign's, with the same
//! Cache-Control header, so the bytes on the wire match; everything else (token check, cache
//! lookup, CORS and metrics middleware, access log) is what ls-presign adds on top.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};

const LOCATION: &str = "http://127.0.0.1:40000/demo/images/cat.png?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20261127T120000Z&x-oss-expires=3600&x-oss-credential=LTAIdemoAbCdEfGhIjKl%2F20261127%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-signature=444b7fe1ee11604f63d2e9712e697809878f22c3b4cc89987589f233a821c066";

async fn redirect() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, LOCATION))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3240"))
        .finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9190".into());
    let workers = args
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    eprintln!("ceiling: 303 on http://{addr}/r/{{token}}, {workers} workers");
    // Routed the way ls-presign routes its links (a `/r` prefix scope), so the comparison
    // measures what ls-presign adds, not a difference in routing.
    HttpServer::new(|| App::new().service(web::scope("/r").default_service(web::to(redirect))))
        .workers(workers)
        .bind(&addr)?
        .run()
        .await
}
