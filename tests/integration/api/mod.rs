//! Black-box tests of the HTTP service, spawned on port 0 against the OSS emulator.

mod bad_input;
mod export;
mod fake_ls;
mod helpers;
mod import;
mod labelstudio;
mod links;
mod misc;
mod reconcile;
mod replicas;
mod resolve;
mod secrets;
mod sessions;
mod shutdown;
mod signing;
mod tls;
