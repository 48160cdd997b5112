//! Black-box tests of the HTTP service, spawned on port 0 against the OSS emulator.

mod helpers;
mod links;
mod misc;
mod resolve;
mod signing;
