//! Import: the objects under a bucket prefix become Label Studio tasks — one per object (blob
//! mode), or the tasks held in `.json`/`.jsonl` files (task-file mode) — created in batches
//! through `POST /api/projects/{id}/import`, with stable links (or presigned URLs) in `data` and
//! the original URIs in `meta.ls_presign`.
//!
//! Never a duplicate: what the project holds is read from Label Studio ([`known`]), and one
//! importer at a time holds the lease of the project in the bucket ([`lease`]). Objects gone from
//! the bucket are reported, and their unannotated tasks removed when asked. Used by the `import`
//! command and by `serve` on a schedule ([`schedule`]).

mod command;
pub mod filter;
pub mod importer;
mod known;
mod lease;
pub mod schedule;
mod source;

pub use self::command::run;
pub use self::filter::Filter;
pub use self::importer::{ImportError, Importer, Mode, Options, Summary};
