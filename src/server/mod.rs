//! The server: binds the listeners, builds the relay's parts and wires them together, runs every
//! task under one cancellation token and one task tracker, and shuts down within a bound.
//!
//! Tests bind port 0 and read the chosen ports back from the [`ServerHandle`]. Which endpoint asks
//! for the admin token, and where it comes from, is decided apart, from the settings alone
//! (`token`).
//!
//! Beside the wiring, what every part runs on: the accept loop of each listener ([`listen`](mod@listen)), the
//! supervised tasks ([`tasks`]), the access token and its brake on guessing ([`access`]),
//! Prometheus metrics ([`metrics`]), the rotating log file ([`logfile`]), and `demo`, the relay
//! run against the project's stand-in GAMA.

pub(crate) mod access;
pub mod demo;
pub(crate) mod listen;
pub(crate) mod logfile;
pub(crate) mod metrics;
pub(crate) mod tasks;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::admin::{self, App, view::StateView};
use crate::config::{Config, listen_addr};
use crate::control::audit::Audit;
use crate::control::monitor;
use crate::control::operator::Operator;
use crate::control::packages::Catalog;
use crate::gama::GamaLink;
use crate::gama::tools::{self, Tools};
use crate::gama::world::World;
use crate::headsets::endpoint;
use crate::headsets::players::Players;
use crate::headsets::refusals::Refusals;
use crate::headsets::routing::{Router, Routes};
use crate::history::debrief::Debrief;
use crate::history::kept::Sessions;
use crate::history::record::Recorder;
use crate::server::access::{Guesses, generate_token};
use crate::server::metrics::Metrics;
use crate::server::tasks::Tasks;
use crate::support::changes::Changes;

use token::Tokens;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The recording file could not be created.
    #[error(transparent)]
    Record(#[from] crate::history::record::RecordError),
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
    Token(#[from] crate::server::access::TokenError),
}

/// A relay with its listeners bound, not yet running.
pub struct Server {
    config: Arc<Config>,
    headsets: TcpListener,
    admin: TcpListener,
    passthrough: Option<TcpListener>,
    monitor: Vec<TcpListener>,
    recording: Option<std::fs::File>,
    /// The token each of the admin API, the tool endpoint and the monitor socket requires.
    tokens: Tokens,
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
        let tokens = token::decide(&config).tokens(generate_token)?;
        let recording = if config.record.file.as_os_str().is_empty() {
            None
        } else {
            Some(crate::history::record::create(&config.record.file)?)
        };
        Ok(Server {
            config: Arc::new(config),
            headsets,
            admin,
            passthrough,
            monitor,
            recording,
            tokens,
        })
    }

    /// Starts every task on the current Tokio runtime.
    pub fn spawn(self) -> ServerHandle {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let catalog = Catalog::discover(&self.config.learning_package_paths(), &cwd);
        self.spawn_with_catalog(catalog)
    }

    /// Starts every task with a given catalog (tests build theirs in a temporary folder): the parts
    /// wired together, then the headsets, the tools, the headset screens, the admin page and the
    /// monitor socket served, each with the token the policy gave it.
    pub fn spawn_with_catalog(self, catalog: Catalog) -> ServerHandle {
        let Server {
            config,
            headsets: headset_listener,
            admin: admin_listener,
            passthrough: tools_listener,
            monitor: monitor_listeners,
            recording,
            tokens,
        } = self;
        let run = Tasks {
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        };
        let bound = Bound::of(
            &headset_listener,
            &admin_listener,
            tools_listener.as_ref(),
            &monitor_listeners,
        );
        log_packages(&config, &catalog);
        let parts = Parts::wire(&config, catalog, recording, &run);
        serve_headsets(headset_listener, &config, &parts, &run);
        let guesses = Guesses::new(parts.metrics.clone());
        if let Some(listener) = tools_listener {
            serve_tools(listener, &config, &parts, &tokens, &guesses, &run);
        }
        announce_tools(bound.passthrough, tokens.tools.as_deref());
        let mirror = start_mirror(&config, &parts, &run);
        let access = admin::Access::new(&config.admin, tokens.admin.as_deref(), guesses.clone());
        announce_admin(
            &config.admin.host,
            bound.admin,
            access.token(),
            tokens.announce_generated,
        );
        let app = parts.into_app(config.clone(), bound.headsets, mirror, &run);
        if !monitor_listeners.is_empty() {
            announce_monitor(bound.monitor, tokens.monitor.as_deref());
            monitor::serve(
                monitor_listeners,
                monitor::Endpoint {
                    app: app.clone(),
                    token: tokens.monitor.as_deref().map(Arc::from),
                    guesses,
                },
            );
        }
        serve_admin(admin_listener, admin::router(app.clone(), access), &run);
        let (headset_addr, admin_addr) = (bound.headsets, bound.admin);
        info!(
            "headsets: ws://{headset_addr}/  admin: http://{admin_addr}/  GAMA: {}",
            config.gama.url()
        );
        ServerHandle {
            app,
            headset_addr,
            admin_addr,
            passthrough_addr: bound.passthrough,
            monitor_addr: bound.monitor,
            admin_token: tokens.admin,
            tools_token: tokens.tools,
            shutdown: run.shutdown,
            tracker: run.tracker,
        }
    }
}

/// Where the listeners were bound (the ports chosen when port 0 was asked).
struct Bound {
    headsets: SocketAddr,
    admin: SocketAddr,
    passthrough: Option<SocketAddr>,
    /// The monitor socket's first address (IPv4 on `localhost`).
    monitor: Option<SocketAddr>,
}

impl Bound {
    fn of(
        headsets: &TcpListener,
        admin: &TcpListener,
        passthrough: Option<&TcpListener>,
        monitor: &[TcpListener],
    ) -> Bound {
        let addr = |l: &TcpListener| l.local_addr().unwrap_or_else(|_| listen_addr("0.0.0.0", 0));
        Bound {
            headsets: addr(headsets),
            admin: addr(admin),
            passthrough: passthrough.and_then(|l| l.local_addr().ok()),
            monitor: monitor.first().and_then(|l| l.local_addr().ok()),
        }
    }
}

/// Logs the learning-package folders and how many models they hold.
fn log_packages(config: &Config, catalog: &Catalog) {
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
}

/// The relay's parts, each behind its own handle; data flows GAMA → routing → connections and
/// headsets → players → GAMA.
struct Parts {
    metrics: Arc<Metrics>,
    recorder: Option<Arc<Recorder>>,
    changes: Changes,
    world: Arc<World>,
    tools: Arc<Tools>,
    sessions: Sessions,
    audit: Audit,
    refusals: Refusals,
    gama: GamaLink,
    players: Players,
    operator: Operator,
}

impl Parts {
    /// Builds the parts, wires them together and starts those that run on their own (the GAMA
    /// link, the players, the operator, the debrief).
    fn wire(
        config: &Arc<Config>,
        catalog: Catalog,
        recording: Option<std::fs::File>,
        run: &Tasks,
    ) -> Parts {
        let metrics = Metrics::new();
        let recorder = recording.map(|file| {
            Recorder::start(
                file,
                &config.record,
                metrics.clone(),
                run.shutdown.clone(),
                &run.tracker,
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
            config,
            routes.clone(),
            gama.clone(),
            world.clone(),
            sessions.clone(),
            changes.clone(),
            run.clone(),
        );
        let operator = Operator::new(
            config.clone(),
            catalog,
            gama.clone(),
            players.clone(),
            sessions.clone(),
            changes.clone(),
            run.clone(),
        );
        let router = Router {
            routes,
            world: world.clone(),
            tools: tools.clone(),
            recorder: recorder.clone(),
            sessions: sessions.clone(),
            metrics: metrics.clone(),
        };
        gama.spawn(Arc::new(router), run.shutdown.clone(), &run.tracker);
        players.start();
        operator.start();
        Debrief {
            sessions: sessions.clone(),
            gama: gama.clone(),
            players: players.clone(),
            world: world.clone(),
            changes: changes.clone(),
        }
        .spawn(run.shutdown.clone(), &run.tracker);
        Parts {
            metrics,
            recorder,
            changes,
            world,
            tools,
            sessions,
            audit,
            refusals,
            gama,
            players,
            operator,
        }
    }

    /// What the admin side (and the monitor socket) reads and drives.
    fn into_app(
        self,
        config: Arc<Config>,
        headset_addr: SocketAddr,
        mirror: crate::headsets::screens::Mirror,
        run: &Tasks,
    ) -> App {
        App {
            config,
            metrics: self.metrics,
            gama: self.gama,
            players: self.players,
            operator: self.operator,
            world: self.world,
            audit: self.audit,
            refusals: self.refusals,
            sessions: self.sessions,
            changes: self.changes,
            headset_addr,
            addresses: Arc::default(),
            mirror,
            shutdown: run.shutdown.clone(),
            tracker: run.tracker.clone(),
        }
    }
}

/// Serves the headsets' WebSocket port.
fn serve_headsets(listener: TcpListener, config: &Config, parts: &Parts, run: &Tasks) {
    endpoint::serve(
        listener,
        endpoint::Input {
            config: Arc::new(config.headsets.clone()),
            players: parts.players.clone(),
            gama: parts.gama.clone(),
            world: parts.world.clone(),
            recorder: parts.recorder.clone(),
            refusals: parts.refusals.clone(),
            sessions: parts.sessions.clone(),
            metrics: parts.metrics.clone(),
        },
        run.shutdown.clone(),
        &run.tracker,
    );
}

/// Serves the gama-server endpoint for tools.
fn serve_tools(
    listener: TcpListener,
    config: &Config,
    parts: &Parts,
    tokens: &Tokens,
    guesses: &Guesses,
    run: &Tasks,
) {
    tools::serve(
        listener,
        config,
        tools::Endpoint {
            tools: parts.tools.clone(),
            gama: parts.gama.clone(),
            audit: parts.audit.clone(),
            settings: Arc::new(tools::Settings {
                passthrough: config.passthrough.clone(),
                gama: config.gama.clone(),
            }),
            token: tokens.tools.as_deref().map(Arc::from),
            guesses: guesses.clone(),
            shutdown: run.shutdown.clone(),
            tracker: run.tracker.clone(),
        },
    );
}

/// Logs where tools reach GAMA through the relay, with the token when one is needed.
fn announce_tools(addr: Option<SocketAddr>, token: Option<&str>) {
    let Some(addr) = addr else { return };
    match token {
        Some(t) => info!(
            "tools (gama-client…): ws://{addr}/?token={t} reaches GAMA through the relay \
             (gama-client: GamaSyncClient(\"<this machine>\", \"{}/?token={t}\", …))",
            addr.port()
        ),
        None => info!("tools (gama-client…): ws://{addr}/ reaches GAMA through the relay"),
    }
}

/// Starts the headset screens, watching the addresses of the connected headsets.
fn start_mirror(config: &Config, parts: &Parts, run: &Tasks) -> crate::headsets::screens::Mirror {
    let mirror = crate::headsets::screens::Mirror::new(
        config.mirror.clone(),
        parts.changes.clone(),
        run.shutdown.clone(),
        run.tracker.clone(),
    );
    let players = parts.players.clone();
    mirror.start(move || {
        let (players, _) = players.view();
        players
            .iter()
            .filter(|p| p.connected)
            .filter_map(|p| p.remote_address.parse::<std::net::SocketAddr>().ok())
            .map(|a| a.ip().to_canonical())
            .collect()
    });
    mirror
}

/// Serves the admin page and API until shutdown.
fn serve_admin(listener: TcpListener, routes: axum::Router, run: &Tasks) {
    let shutdown = run.shutdown.clone();
    run.tracker.spawn(async move {
        let service = routes.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            warn!(error = %e, "admin server stopped");
        }
    });
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
