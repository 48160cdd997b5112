//! Logging: env_logger with the request id of the current request on every line, as text or
//! (`LS_PRESIGN_LOG_FORMAT=json`) as one JSON object per line.

use std::io::Write;

tokio::task_local! {
    /// The id of the request being served (`X-Request-Id`).
    pub static REQUEST_ID: String;
}

/// The current request's id, when inside one.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An incoming `X-Request-Id` worth keeping (short, no odd characters), or a new one.
pub fn request_id_from(header: Option<&str>) -> String {
    match header {
        Some(id)
            if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => format!("{:016x}", rand::random::<u64>()),
    }
}

/// How log lines are written (`LS_PRESIGN_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `<time> <level> <target> [<request id>] <message>`.
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `request_id`, `msg`.
    Json,
}

/// Installs the logger (`RUST_LOG`, default `info`). It starts before the configuration is read,
/// which refuses an unknown `LS_PRESIGN_LOG_FORMAT`; until then that is written as text.
pub fn init() {
    let json =
        std::env::var("LS_PRESIGN_LOG_FORMAT").is_ok_and(|f| crate::choice::parse(f.trim()) == Ok(LogFormat::Json));
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(move |buf, record| {
            let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let rid = request_id();
            if json {
                let line = serde_json::json!({
                    "ts": ts,
                    "level": record.level().as_str(),
                    "target": record.target(),
                    "request_id": rid,
                    "msg": record.args().to_string(),
                });
                writeln!(buf, "{line}")
            } else {
                let rid = rid.map(|r| format!(" [{r}]")).unwrap_or_default();
                writeln!(
                    buf,
                    "{ts} {:<5} {}{rid} {}",
                    record.level(),
                    record.target(),
                    record.args()
                )
            }
        })
        .init();
}
