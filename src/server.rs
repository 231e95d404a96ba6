//! The server: binds the listeners, builds the relay's parts and wires them together, runs every
//! task under one cancellation token and one task tracker, and shuts down within a bound.
//!
//! Tests bind port 0 and read the chosen ports back from the [`ServerHandle`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::access::{Guesses, generate_token};
use crate::admin::{self, App, view::StateView};
use crate::audit::Audit;
use crate::changes::Changes;
use crate::config::{Config, is_loopback, listen_addr};
use crate::debrief::Debrief;
use crate::gama::GamaLink;
use crate::headset;
use crate::metrics::Metrics;
use crate::monitor;
use crate::operator::Operator;
use crate::packages::Catalog;
use crate::passthrough::{self, Tools};
use crate::players::Players;
use crate::record::Recorder;
use crate::refusals::Refusals;
use crate::routing::{Router, Routes};
use crate::sessions::Sessions;
use crate::tasks::Tasks;
use crate::world::World;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The recording file could not be created.
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    /// A port could not be bound.
    #[error("cannot listen on {addr} for {what} ({setting}): {cause}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The setting that gives its port.
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error (part of the message, so not repeated as a source).
        cause: std::io::Error,
    },
    /// No admin token could be made.
    #[error(transparent)]
    Token(#[from] crate::access::TokenError),
}

/// A relay with its listeners bound, not yet running.
pub struct Server {
    config: Arc<Config>,
    headsets: TcpListener,
    admin: TcpListener,
    passthrough: Option<TcpListener>,
    monitor: Vec<TcpListener>,
    recording: Option<std::fs::File>,
    /// The token of the admin API, the tool endpoint and the monitor socket, and whether the relay
    /// made it (no `admin.token`).
    token: Option<String>,
    generated: bool,
}

impl Server {
    /// Binds the headset and admin ports of `config`.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let headsets = listen(
            &config.headsets.host,
            config.headsets.port,
            "headsets",
            "headsets.port / HEADSET_WS_PORT",
        )
        .await?;
        let admin = listen(
            &config.admin.host,
            config.admin.port,
            "the admin page",
            "admin.port / WEB_APPLICATION_PORT",
        )
        .await?;
        let passthrough = if config.passthrough.enabled {
            Some(
                listen(
                    &config.passthrough.host,
                    config.passthrough.port,
                    "the gama-server endpoint for tools",
                    "passthrough.port (or passthrough.enabled = false)",
                )
                .await?,
            )
        } else {
            None
        };
        let monitor = if config.monitor.enabled {
            listen_monitor(&config.monitor.host, config.monitor.port).await?
        } else {
            Vec::new()
        };
        // One token for the admin API, the tool endpoint and the monitor socket, when one of them is
        // reachable from the network (or admin.token is set).
        let generated = config.admin.token.is_empty() && config.reachable_from_network();
        let token = if generated {
            Some(generate_token()?)
        } else {
            Some(config.admin.token.clone()).filter(|t| !t.is_empty())
        };
        let recording = if config.record.file.as_os_str().is_empty() {
            None
        } else {
            Some(crate::record::create(&config.record.file)?)
        };
        Ok(Server {
            config: Arc::new(config),
            headsets,
            admin,
            passthrough,
            monitor,
            recording,
            token,
            generated,
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
        let config = self.config;
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
        let passthrough_addr = self.passthrough.as_ref().and_then(|l| l.local_addr().ok());
        let monitor_addr = self.monitor.first().and_then(|l| l.local_addr().ok());
        info!(
            models = catalog.models.len(),
            "learning packages: {}",
            config
                .learning_package_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The parts, each behind its own handle; data flows GAMA → routing → connections and
        // headsets → players → GAMA.
        let metrics = Metrics::new();
        let tasks = Tasks {
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        };
        let recorder = self.recording.map(|file| {
            Recorder::start(
                file,
                &config.record,
                metrics.clone(),
                shutdown.clone(),
                &tracker,
            )
        });
        let changes = Changes::default();
        let world = Arc::new(World::default());
        let tools = Arc::new(Tools::default());
        let routes = Arc::new(Routes::default());
        let sessions = Sessions::new(
            config.sessions.clone(),
            config.sessions_folder(),
            metrics.clone(),
        );
        let audit = Audit::new(recorder.clone(), sessions.clone(), changes.clone());
        let refusals = Refusals::new(changes.clone(), config.headsets.max_waiting_for_id);
        let gama = GamaLink::new(config.gama.clone(), metrics.clone());
        let players = Players::new(
            &config,
            routes.clone(),
            gama.clone(),
            world.clone(),
            sessions.clone(),
            changes.clone(),
            tasks.clone(),
        );
        let operator = Operator::new(
            config.clone(),
            catalog,
            gama.clone(),
            players.clone(),
            sessions.clone(),
            changes.clone(),
            tasks.clone(),
        );
        let router = Router {
            routes,
            world: world.clone(),
            tools: tools.clone(),
            recorder: recorder.clone(),
            sessions: sessions.clone(),
            metrics: metrics.clone(),
        };
        gama.spawn(Arc::new(router), shutdown.clone(), &tracker);
        players.start();
        operator.start();
        Debrief {
            sessions: sessions.clone(),
            gama: gama.clone(),
            players: players.clone(),
            world: world.clone(),
            changes: changes.clone(),
        }
        .spawn(shutdown.clone(), &tracker);

        headset::serve(
            self.headsets,
            headset::Input {
                config: Arc::new(config.headsets.clone()),
                players: players.clone(),
                gama: gama.clone(),
                world: world.clone(),
                recorder,
                refusals: refusals.clone(),
                sessions: sessions.clone(),
                metrics: metrics.clone(),
            },
            shutdown.clone(),
            &tracker,
        );
        let guesses = Guesses::new(metrics.clone());
        let admin_open = !is_loopback(&config.admin.host);
        let tools_open = config.passthrough.enabled && !is_loopback(&config.passthrough.host);
        let monitor_open = config.monitor.enabled && !is_loopback(&config.monitor.host);
        let (token, generated) = (self.token, self.generated);
        let tools_token = token.clone().filter(|_| tools_open);
        if let Some(listener) = self.passthrough {
            passthrough::serve(
                listener,
                &config,
                passthrough::Endpoint {
                    tools,
                    gama: gama.clone(),
                    audit: audit.clone(),
                    settings: Arc::new(passthrough::Settings {
                        passthrough: config.passthrough.clone(),
                        gama: config.gama.clone(),
                    }),
                    token: tools_token.as_deref().map(Arc::from),
                    guesses: guesses.clone(),
                    shutdown: shutdown.clone(),
                    tracker: tracker.clone(),
                },
            );
        }
        if let Some(addr) = passthrough_addr {
            match &tools_token {
                Some(t) => info!(
                    "tools (gama-client…): ws://{addr}/?token={t} reaches GAMA through the relay \
                     (gama-client: GamaSyncClient(\"<this machine>\", \"{}/?token={t}\", …))",
                    addr.port()
                ),
                None => info!("tools (gama-client…): ws://{addr}/ reaches GAMA through the relay"),
            }
        }

        let mirror = crate::mirror::Mirror::new(
            config.mirror.clone(),
            changes.clone(),
            shutdown.clone(),
            tracker.clone(),
        );
        let players_for_mirror = players.clone();
        mirror.start(move || {
            let (players, _) = players_for_mirror.view();
            players
                .iter()
                .filter(|p| p.connected)
                .filter_map(|p| p.remote_address.parse::<std::net::SocketAddr>().ok())
                .map(|a| a.ip().to_canonical())
                .collect()
        });
        let monitor_guesses = guesses.clone();
        let access = admin::Access::new(&config.admin, token.as_deref(), guesses);
        announce_admin(
            &config.admin.host,
            admin_addr,
            access.token(),
            generated && admin_open,
        );
        let admin_token = access.token().map(str::to_string);
        let app = App {
            config: config.clone(),
            metrics,
            gama,
            players,
            operator,
            world,
            audit,
            refusals,
            sessions,
            changes,
            headset_addr,
            addresses: Arc::default(),
            mirror: mirror.clone(),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        };
        if !self.monitor.is_empty() {
            let token = token.clone().filter(|_| monitor_open);
            announce_monitor(monitor_addr, token.as_deref());
            monitor::serve(
                self.monitor,
                monitor::Endpoint {
                    app: app.clone(),
                    token: token.as_deref().map(Arc::from),
                    guesses: monitor_guesses,
                },
            );
        }
        let routes = admin::router(app.clone(), access);
        let admin_shutdown = shutdown.clone();
        let admin_listener = self.admin;
        tracker.spawn(async move {
            let service = routes.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(admin_listener, service)
                .with_graceful_shutdown(admin_shutdown.cancelled_owned())
                .await
            {
                warn!(error = %e, "admin server stopped");
            }
        });
        info!(
            "headsets: ws://{headset_addr}/  admin: http://{admin_addr}/  GAMA: {}",
            config.gama.url()
        );
        ServerHandle {
            app,
            headset_addr,
            admin_addr,
            passthrough_addr,
            monitor_addr,
            admin_token,
            tools_token,
            shutdown,
            tracker,
        }
    }
}

/// Logs where the monitor socket listens, with its token when one is needed.
fn announce_monitor(addr: Option<SocketAddr>, token: Option<&str>) {
    let Some(addr) = addr else { return };
    match token {
        Some(t) => info!("monitor socket (Unity editor tool): ws://{addr}/?token={t}"),
        None => info!("monitor socket (Unity editor tool): ws://{addr}/"),
    }
}

/// Binds the monitor socket: `localhost` on both loopback addresses (a client asking for
/// localhost may try either first, and a refused one costs it a second or two), at the same port.
async fn listen_monitor(host: &str, port: u16) -> Result<Vec<TcpListener>, ServerError> {
    const WHAT: &str = "the monitor socket";
    const SETTING: &str = "monitor.port / MONITOR_WS_PORT (or monitor.enabled = false)";
    if host != "localhost" {
        return Ok(vec![listen(host, port, WHAT, SETTING).await?]);
    }
    let v4 = listen("127.0.0.1", port, WHAT, SETTING).await?;
    let port = v4.local_addr().map_or(port, |a| a.port());
    let mut listeners = vec![v4];
    match TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, port)).await {
        Ok(v6) => listeners.push(v6),
        Err(e) => debug!(error = %e, "the monitor socket listens on IPv4 only"),
    }
    Ok(listeners)
}

/// Logs where the admin page is, with its token when one is needed.
fn announce_admin(host: &str, addr: SocketAddr, token: Option<&str>, generated: bool) {
    let port = addr.port();
    let shown_host = if addr.ip().is_unspecified() {
        local_ip().map_or_else(|| "localhost".to_string(), |ip| ip.to_string())
    } else if host == "localhost" {
        "localhost".to_string()
    } else {
        match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    match token {
        Some(token) => {
            info!("admin page: http://{shown_host}:{port}/#token={token}");
            if generated {
                info!(
                    "the admin port is reachable from the network, so its API needs this token; \
                     it changes at each start unless admin.token is set"
                );
            }
        }
        None => info!("admin page: http://{shown_host}:{port}/"),
    }
}

/// This machine's address on its default route, to print a URL a tablet can open. No packet is
/// sent: connecting a UDP socket only selects a route.
fn local_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Binds one listener, naming the port and its setting if that fails.
async fn listen(
    host: &str,
    port: u16,
    what: &'static str,
    setting: &'static str,
) -> Result<TcpListener, ServerError> {
    let addr = listen_addr(host, port);
    TcpListener::bind(addr)
        .await
        .map_err(|cause| ServerError::Bind {
            what,
            setting,
            addr,
            cause,
        })
}

/// A running relay.
pub struct ServerHandle {
    app: App,
    headset_addr: SocketAddr,
    admin_addr: SocketAddr,
    passthrough_addr: Option<SocketAddr>,
    monitor_addr: Option<SocketAddr>,
    admin_token: Option<String>,
    tools_token: Option<String>,
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

    /// Where tools reach GAMA through the relay, if enabled.
    pub fn passthrough_addr(&self) -> Option<SocketAddr> {
        self.passthrough_addr
    }

    /// Where the monitor socket listens (its IPv4 address on `localhost`), if enabled.
    pub fn monitor_addr(&self) -> Option<SocketAddr> {
        self.monitor_addr
    }

    /// The token the admin API requires, if any.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// The token the gama-server endpoint for tools requires, if any (it listens beyond loopback).
    pub fn tools_token(&self) -> Option<&str> {
        self.tools_token.as_deref()
    }

    /// Everything the admin page shows, now (`GET /api/state`).
    pub fn state(&self) -> StateView {
        admin::view::snapshot(&self.app)
    }

    /// Woken by every change of [`ServerHandle::state`] worth showing.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.app.changes.subscribe()
    }

    /// The parts a replay drives.
    pub(crate) fn app(&self) -> &App {
        &self.app
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
