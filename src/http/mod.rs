//! The HTTP service: the route table, and `Application`, which binds a listener and reports its
//! port (so tests spawn the real app on port 0), runs, and shuts down in order.
//!
//! Imports go one way: `mod.rs` → handler files (`api`, `links`, `label_studio`) and the
//! `middleware` → `common` → `error`, `state`.

mod api;
mod common;
mod error;
pub mod inflight;
mod label_studio;
mod links;
mod middleware;
mod state;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

pub use error::ApiError;
pub use state::AppState;

use crate::auth::Authenticator;
use crate::config::{Config, LinkPolicy};
use crate::error_code::ErrorCode;
use crate::export::live::{Exporter, Unremoved};
use crate::import::schedule::Shared;
use crate::labelstudio::LabelStudio;
use crate::metrics::Metrics;
use crate::periodic::Periodic;
use crate::reconcile::Projects;
use crate::resolve::Resolver;
use crate::session::Sessions;
use crate::storage::Storages;
use crate::writeback::Queue;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(api::health)))
        .service(resource("/metrics").route(web::get().to(api::metrics)))
        .service(resource("/ready").route(web::get().to(api::ready)))
        .service(resource("/openapi.json").route(web::get().to(api::openapi)))
        .service(resource("/v1/resolve").route(web::post().to(api::resolve)))
        .service(resource("/v1/sign").route(web::post().to(api::sign)))
        // A prefix scope, not a `/r/{token}` pattern: matching a ~200-character token against
        // the router's pattern costs more than the rest of the redirect (docs/PERFORMANCE.md).
        .service(web::scope("/r").default_service(web::to(links::link)))
        .service(resource("/webhook").route(web::post().to(label_studio::webhook)))
        .service(resource("/setup").route(web::post().to(label_studio::setup)))
        .service(resource("/predict").route(web::post().to(label_studio::predict)))
        .service(resource("/versions").route(web::get().to(label_studio::versions)))
        .service(resource("/v1/tasks/{id}").route(web::get().to(label_studio::task)))
        .service(resource("/v1/projects/{id}/tasks").route(web::get().to(label_studio::project_tasks)))
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::new(ErrorCode::InvalidPath, e.to_string()).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::new(ErrorCode::InvalidQuery, e.to_string()).into()),
        )
        .default_service(web::to(error::not_found));
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(error::method_not_allowed))
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Storage(#[from] crate::storage::SetupError),
    #[error("cannot start the server: {0}")]
    Server(std::io::Error),
    #[error("the configuration's [[import]] tables need Label Studio: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY")]
    ImportWithoutLabelStudio,
}

/// A bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The `[[import]]` tables and the reconcile loop, running.
    jobs: Option<Periodic>,
}

impl Application {
    /// Binds `HOST:PORT` from the configuration.
    pub fn build(config: Config) -> Result<Application, StartError> {
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartError::Bind { addr, source })?;
        Self::with_listener(config, listener)
    }

    /// Serves on an already bound listener (tests bind port 0).
    pub fn with_listener(config: Config, listener: TcpListener) -> Result<Application, StartError> {
        let api_keys = config.keys.api_keys()?;
        let port = listener.local_addr().map_err(StartError::Server)?.port();
        let workers = config.server.workers.max(1);
        let storages = Arc::new(Storages::new(config.storages.list.clone())?);
        let metrics = Arc::new(Metrics::default());
        let resolver = Arc::new(Resolver::sharing(&config, storages.clone(), metrics.clone()));
        let label_studio = match &config.label_studio {
            Some(ls) => Some(Arc::new(LabelStudio::from_config(ls)?)),
            None => None,
        };
        let queue = label_studio.as_ref().map(|ls| {
            Queue::spawn(
                resolver.clone(),
                ls.clone(),
                metrics.clone(),
                config.writeback.queue_capacity,
                config.writeback.concurrency,
            )
        });
        // What the background jobs (scheduled imports, reconcile) run with.
        let shared = label_studio.as_ref().map(|ls| Shared {
            resolver: resolver.clone(),
            storages: storages.clone(),
            ls: ls.clone(),
            metrics: metrics.clone(),
        });
        let mut jobs = Periodic::default();
        match (&shared, config.imports.scheduled.is_empty()) {
            (_, true) => {}
            (None, false) => return Err(StartError::ImportWithoutLabelStudio),
            (Some(shared), false) => {
                crate::import::schedule::schedule(&config.imports, &config.exports, shared, &mut jobs)
            }
        }
        // Objects the live export failed to remove, for the reconcile loop to catch up.
        let unremoved = Arc::new(Unremoved::default());
        let projects = match (shared, config.writeback.reconcile_interval) {
            (Some(shared), Some(interval)) => {
                let configured = config.writeback.reconcile_projects.iter().copied();
                let imported = config.imports.scheduled.iter().map(|s| s.project);
                let exported = config.exports.targets.iter().map(|t| t.project);
                let projects = Arc::new(Projects::load(
                    config.imports.state_dir.as_deref(),
                    shared.ls.base(),
                    configured.chain(imported).chain(exported),
                ));
                let (exports, concurrency) = (Arc::new(config.exports.clone()), config.writeback.concurrency);
                crate::reconcile::schedule(
                    projects.clone(),
                    shared,
                    exports,
                    unremoved.clone(),
                    interval,
                    concurrency,
                    &mut jobs,
                );
                Some(projects)
            }
            _ => None,
        };
        let exporter = (!config.exports.targets.is_empty()).then(|| {
            Exporter::spawn(
                config.exports.clone(),
                resolver.clone(),
                storages.clone(),
                metrics.clone(),
                unremoved,
                config.writeback.queue_capacity,
                config.writeback.concurrency,
            )
        });
        let sessions = match (config.server.link_policy, &label_studio) {
            (LinkPolicy::Login, Some(ls)) => Some(Sessions::new(ls.clone(), metrics.clone())),
            // Configuration refuses login without Label Studio.
            _ => None,
        };
        let state = web::Data::new(AppState {
            auth: Authenticator::new(api_keys, config.keys.basic_auth.clone()),
            resolver,
            storages,
            metrics,
            label_studio,
            sessions,
            projects,
            exporter,
            queue,
            in_flight: config.keys.tls.as_ref().map(|_| Arc::default()),
            config,
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(actix_web::middleware::from_fn(middleware::observe))
                .configure(configure)
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(30);
        let server = match &state.config.keys.tls {
            Some(tls) => server.listen_rustls_0_23(listener, (*tls.config).clone()),
            None => server.listen(listener),
        }
        .map_err(StartError::Server)?
        .run();
        spawn_sweeper(Arc::downgrade(&state.clone().into_inner()));
        Ok(Application {
            port,
            server,
            state,
            jobs: (!jobs.is_empty()).then_some(jobs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The state, shared with the running workers.
    pub fn shared_state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until the server is stopped through its [`handle`](Application::handle), without
    /// the shutdown order of [`Application::run_until`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Runs until SIGINT or SIGTERM, then shuts down as [`Application::run_until`] does.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `stop` resolves, then shuts down in order: stop accepting, finish in-flight
    /// requests, then within one `LS_PRESIGN_DRAIN_TIMEOUT` in all: stop the background jobs,
    /// and drain the write-back and export queues (at once).
    pub async fn run_until(mut self, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let queue = self.state.queue.clone();
        let exporter = self.state.exporter.clone();
        let drain_timeout = self.state.config.writeback.drain_timeout;
        let jobs = self.jobs.take();
        self.serve_until(stop).await?;
        let deadline = tokio::time::Instant::now() + drain_timeout;
        let remaining = || deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Some(jobs) = jobs {
            // A scheduled import sends its batch in flight, a reconcile its tasks in flight.
            jobs.stop(remaining()).await;
        }
        let writeback = async {
            let Some(queue) = queue else { return };
            let waiting = queue.pending();
            if waiting > 0 {
                log::info!("draining the write-back queue: {waiting} tasks");
            }
            match queue.drain(remaining()).await {
                0 => log::info!("write-back queue drained"),
                left => log::warn!(
                    "{left} tasks were not written back before LS_PRESIGN_DRAIN_TIMEOUT; run `ls-presign sync` for their projects"
                ),
            }
        };
        let export = async {
            let Some(exporter) = exporter else { return };
            match exporter.drain(remaining()).await {
                0 => {}
                left => log::warn!(
                    "{left} annotation objects were not exported before LS_PRESIGN_DRAIN_TIMEOUT; the reconcile loop \
                     catches them up at the next start (or run `ls-presign export`)"
                ),
            }
        };
        tokio::join!(writeback, export);
        log::info!("stopped");
        Ok(())
    }

    /// Serves until `stop` resolves, then stops gracefully: no new connections, in-flight
    /// requests finish. Over HTTP/2 it returns once no request has been in flight for a second,
    /// without waiting for browsers to close their idle connections.
    async fn serve_until(self, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let mut server = self.server;
        tokio::select! {
            done = &mut server => return done,
            () = stop => log::info!("shutting down: no new connections; finishing in-flight requests"),
        }
        // The stop command is sent at once; awaiting the server carries it out.
        let _stopped = server.handle().stop(true);
        match self.state.in_flight.clone() {
            None => server.await,
            Some(in_flight) => tokio::select! {
                done = server => done,
                () = in_flight.settled(Duration::from_secs(1)) => {
                    log::info!("no request in flight; closing idle HTTP/2 connections");
                    Ok(())
                }
            },
        }
    }
}

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Drops cache entries whose window has ended, until the service is gone.
fn spawn_sweeper(state: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else { break };
            let removed = state.resolver.sweep(crate::time::now());
            if removed > 0 {
                log::debug!("cache sweep removed {removed} entries");
            }
        }
    });
}
