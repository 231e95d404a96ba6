//! The server: binds the two listeners, runs every task under one cancellation token and one task
//! tracker, and shuts down within a bound.
//!
//! Tests bind port 0 and read the chosen ports back from the [`ServerHandle`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::{Config, listen_addr};
use crate::packages::Catalog;
use crate::relay::Relay;
use crate::{admin, headset};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A port could not be bound.
    #[error("cannot listen on {addr} for {what} ({setting}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The setting that gives its port.
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A relay with its listeners bound, not yet running.
pub struct Server {
    config: Arc<Config>,
    headsets: TcpListener,
    admin: TcpListener,
}

impl Server {
    /// Binds the headset and admin ports of `config`.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let headset_addr = listen_addr(&config.headsets.host, config.headsets.port);
        let headsets =
            TcpListener::bind(headset_addr)
                .await
                .map_err(|source| ServerError::Bind {
                    what: "headsets",
                    setting: "headsets.port / HEADSET_WS_PORT",
                    addr: headset_addr,
                    source,
                })?;
        let admin_addr = listen_addr(&config.admin.host, config.admin.port);
        let admin = TcpListener::bind(admin_addr)
            .await
            .map_err(|source| ServerError::Bind {
                what: "the admin page",
                setting: "admin.port / WEB_APPLICATION_PORT",
                addr: admin_addr,
                source,
            })?;
        Ok(Server {
            config: Arc::new(config),
            headsets,
            admin,
        })
    }

    /// Starts every task on the current Tokio runtime.
    pub fn spawn(self) -> ServerHandle {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let catalog = Catalog::discover(&self.config.learning_package_paths(), &cwd);
        self.spawn_with_catalog(catalog)
    }

    /// Starts every task with a given catalog (tests build theirs in a temporary folder).
    pub fn spawn_with_catalog(self, catalog: Catalog) -> ServerHandle {
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let headset_addr = self
            .headsets
            .local_addr()
            .unwrap_or_else(|_| listen_addr("0.0.0.0", 0));
        let admin_addr = self
            .admin
            .local_addr()
            .unwrap_or_else(|_| listen_addr("0.0.0.0", 0));
        info!(
            models = catalog.models.len(),
            "learning packages: {}",
            self.config
                .learning_package_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let relay = Relay::new(
            self.config.clone(),
            catalog,
            shutdown.clone(),
            tracker.clone(),
        );
        relay.start();
        tracker.spawn(headset::serve(
            self.headsets,
            relay.clone(),
            shutdown.clone(),
            tracker.clone(),
        ));
        let app = admin::router(relay.clone());
        let admin_shutdown = shutdown.clone();
        let admin_listener = self.admin;
        tracker.spawn(async move {
            if let Err(e) = axum::serve(admin_listener, app)
                .with_graceful_shutdown(admin_shutdown.cancelled_owned())
                .await
            {
                warn!(error = %e, "admin server stopped");
            }
        });
        info!(
            "headsets: ws://{headset_addr}/  admin: http://{admin_addr}/  GAMA: {}",
            self.config.gama.url()
        );
        ServerHandle {
            relay,
            headset_addr,
            admin_addr,
            shutdown,
            tracker,
        }
    }
}

/// A running relay.
pub struct ServerHandle {
    relay: Relay,
    headset_addr: SocketAddr,
    admin_addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl ServerHandle {
    /// Where headsets connect.
    pub fn headset_addr(&self) -> SocketAddr {
        self.headset_addr
    }

    /// Where the admin page and API are served.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The relay itself.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Number of tasks still running.
    pub fn tasks(&self) -> usize {
        self.tracker.len()
    }

    /// Stops everything: headsets get a close frame with a reason, then tasks get `grace` to end.
    /// Returns whether every task ended in time.
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}
