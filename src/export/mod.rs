//! Annotations back to the bucket (Label Studio's "Target Storage", done from outside): as they
//! are made, from webhooks ([`live`]), and in bulk for what that missed ([`bulk`]: the `export`
//! command, and serve's reconcile loop).

pub mod bulk;
mod command;
pub mod live;

pub use self::bulk::{Options, Summary, export_project};
pub use self::command::run;
pub use self::live::{Exporter, Queued, document, object_uri, task_document};
