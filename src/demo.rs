//! `ls-presign demo`.

pub async fn run() -> Result<std::process::ExitCode, String> {
    Err("not yet".into())
}
