//! What every worker shares.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::export::live::Exporter;
use crate::labelstudio::LabelStudio;
use crate::metrics::Metrics;
use crate::reconcile::Projects;
use crate::resolve::Resolver;
use crate::session::Sessions;
use crate::storage::Storages;
use crate::writeback::Queue;

use super::inflight::InFlight;

/// Shared state of every worker.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub resolver: Arc<Resolver>,
    /// The configured buckets, for the service's own reads (proxy, inline, `/ready`).
    pub storages: Arc<Storages>,
    pub metrics: Arc<Metrics>,
    pub auth: Authenticator,
    /// Label Studio, when `LABEL_STUDIO_URL` is set.
    pub label_studio: Option<Arc<LabelStudio>>,
    /// Label Studio sessions, when links require a login (`LS_PRESIGN_LINK_POLICY=login`).
    pub sessions: Option<Sessions>,
    /// The projects the reconcile loop looks after, when it runs; webhooks add theirs.
    pub projects: Option<Arc<Projects>>,
    /// The export queue, when a project has an export target.
    pub exporter: Option<Exporter>,
    /// Write-back queue, when Label Studio is configured.
    pub queue: Option<Queue>,
    /// Requests in flight, counted when serving TLS (HTTP/2); see [`super::inflight`].
    pub in_flight: Option<Arc<InFlight>>,
}
