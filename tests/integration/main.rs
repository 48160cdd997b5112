//! The integration tests, in one binary so the crate links once: the HTTP service against the OSS
//! emulator (`api`), the built binary (`cli`), the configuration reference and error table
//! (`docs`), one-way imports in `src/` (`architecture`), fuzzing and properties of the pure core,
//! and reqsign as a second signing reference.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests, benches and examples may panic

mod api;
mod architecture;
mod cli;
mod docs;
mod fuzz;
mod properties;
mod reqsign;
