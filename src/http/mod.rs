//! The HTTP service: `Application::build` binds a listener and reports its port, so tests spawn
//! the real app on port 0.

mod error;
mod hooks;
pub mod inflight;
mod routes;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, middleware, web};

pub use error::ApiError;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::labelstudio::LabelStudio;
use crate::resolve::Resolver;
use crate::writeback::Queue;

/// Shared state of every worker.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub resolver: Arc<Resolver>,
    pub auth: Authenticator,
    /// Label Studio, when `LABEL_STUDIO_URL` is set.
    pub label_studio: Option<Arc<LabelStudio>>,
    /// Write-back queue, when Label Studio is configured.
    pub queue: Option<Queue>,
    /// Requests in flight, counted when serving TLS (HTTP/2); see [`inflight`].
    pub in_flight: Option<Arc<inflight::InFlight>>,
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
    #[error("cannot start the server: {0}")]
    Server(std::io::Error),
}

/// A bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
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
        let resolver = Arc::new(Resolver::new(&config)?);
        let label_studio = match &config.label_studio {
            Some(ls) => Some(Arc::new(LabelStudio::from_config(ls)?)),
            None => None,
        };
        let queue = label_studio.as_ref().map(|ls| {
            Queue::spawn(
                resolver.clone(),
                ls.clone(),
                config.writeback.queue_capacity,
                config.writeback.concurrency,
            )
        });
        let state = web::Data::new(AppState {
            auth: Authenticator::new(api_keys, config.keys.basic_auth.clone()),
            resolver,
            label_studio,
            queue,
            in_flight: config.keys.tls.as_ref().map(|_| Arc::default()),
            config,
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(middleware::from_fn(routes::observe))
                .configure(routes::configure)
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
        Ok(Application { port, server, state })
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

    /// Runs until the server is stopped (via its handle or SIGINT/SIGTERM handled by the caller).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Runs until `stop` resolves, then stops gracefully: no new connections, in-flight
    /// requests finish. Over HTTP/2 it returns once no request has been in flight for a second,
    /// without waiting for browsers to close their idle connections.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
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

/// Drops cache entries whose window has ended, until the service is gone.
fn spawn_sweeper(state: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else { break };
            let removed = state.resolver.cache.sweep(crate::now());
            if removed > 0 {
                log::debug!("cache sweep removed {removed} entries");
            }
        }
    });
}
