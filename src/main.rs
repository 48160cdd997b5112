//! The `ls-presign` command: only wiring; see `ls_presign::cli`.

fn main() -> std::process::ExitCode {
    ls_presign::cli::main()
}
