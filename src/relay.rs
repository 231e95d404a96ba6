//! The relay's shared state and the glue between GAMA, the headsets and the operator.
//!
//! [`Relay`] is the one typed handle every task holds. It owns the GAMA link, the player session,
//! the routing table GAMA's output is delivered through, and the learning-package catalog. The
//! hot path (linker output → headsets) reads only the routing table; everything that changes who is
//! in the game goes through the session lock, and the effects the session returns are performed
//! before the lock is released so their order is the order of the decisions.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::gama::{
    ExperimentState, GamaError, GamaEvents, GamaLink, GamaStatus, LastError, LinkState, ServerMode,
};
use crate::gaml;
use crate::headset::{self, Conn, ConnRef, ConnView};
use crate::metrics::{DropReason, Metrics, SessionGauges};
use crate::packages::{Catalog, Model};
use crate::protocol::gama::{Command, Delivery};
use crate::protocol::headset::{self as wire, Inbound, error_frame, pong_frame};
use crate::session::{Counts, Effect, Keepalive, Limits, PlayerView, Policy, Session, validate_id};
use crate::util::LogLimiter;

static UNKNOWN_RECIPIENT: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static PLAYER_COMMAND_FAILED: LogLimiter = LogLimiter::new(Duration::from_secs(1));

/// Why an operator action was refused or failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpError {
    /// Not possible in the current state.
    #[error("{0}")]
    Conflict(String),
    /// No such model or player.
    #[error("{0}")]
    NotFound(String),
    /// GAMA is not connected.
    #[error("GAMA is not connected ({0})")]
    Unavailable(String),
    /// GAMA failed or did not answer.
    #[error(transparent)]
    Gama(#[from] GamaError),
}

/// Handle to the relay; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    recorder: Option<Arc<crate::record::Recorder>>,
    world: crate::world::World,
    /// The live epoch the world view shows.
    world_epoch: Mutex<Option<u64>>,
    tools: Arc<crate::passthrough::Clients>,
    gama: GamaLink,
    session: Mutex<Session<ConnRef>>,
    routes: DashMap<Arc<str>, Arc<Conn>>,
    catalog: RwLock<Arc<Catalog>>,
    selected: Mutex<Option<usize>>,
    catalog_version: std::sync::atomic::AtomicU64,
    headset_addr: Mutex<Option<std::net::SocketAddr>>,
    operation: Mutex<Option<&'static str>>,
    ops: tokio::sync::Mutex<()>,
    changes: watch::Sender<u64>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Relay {
    /// A relay with this configuration and catalog; nothing runs before [`Relay::start`].
    pub fn new(
        config: Arc<Config>,
        catalog: Catalog,
        recorder: Option<Arc<crate::record::Recorder>>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Relay {
        let policy = Policy {
            grace: Duration::from_millis(config.headsets.disconnect_grace_ms),
            aggressive_disconnect: config.headsets.aggressive_disconnect,
            max_players: config.headsets.max_players,
        };
        let (changes, _) = watch::channel(0);
        let metrics = Metrics::new();
        let relay = Relay {
            inner: Arc::new(Inner {
                gama: GamaLink::new(config.gama.clone(), metrics.clone()),
                metrics,
                recorder,
                world: crate::world::World::default(),
                world_epoch: Mutex::new(None),
                tools: Arc::default(),
                config,
                session: Mutex::new(Session::new(policy)),
                routes: DashMap::new(),
                catalog: RwLock::new(Arc::new(Catalog::default())),
                selected: Mutex::new(None),
                catalog_version: std::sync::atomic::AtomicU64::new(0),
                headset_addr: Mutex::new(None),
                operation: Mutex::new(None),
                ops: tokio::sync::Mutex::new(()),
                changes,
                shutdown,
                tracker,
            }),
        };
        relay.install_catalog(catalog);
        relay
    }

    /// Starts the GAMA link and the task that follows GAMA's experiment.
    pub fn start(&self) {
        let events: Arc<dyn GamaEvents> = Arc::new(Events(self.clone()));
        self.inner
            .gama
            .spawn(events, self.inner.shutdown.clone(), &self.inner.tracker);
        let relay = self.clone();
        let mut gama_changes = self.inner.gama.subscribe();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tracker.spawn(async move {
            loop {
                relay.follow_experiment();
                relay.changed();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = gama_changes.changed() => if r.is_err() { return },
                }
            }
        });
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The tools connected through the gama-server endpoint.
    pub fn tools(&self) -> Arc<crate::passthrough::Clients> {
        self.inner.tools.clone()
    }

    /// The world view's state (caches, spectators, positions, clock).
    pub fn world(&self) -> &crate::world::World {
        &self.inner.world
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Prometheus text exposition of every metric, session gauges read now.
    pub fn render_metrics(&self) -> String {
        let gama = self.inner.gama.status();
        let (_, counts) = self.inner.session.lock().view();
        let queue_bytes = self.inner.routes.iter().map(|c| c.view().queue_bytes).sum();
        let link = serde_json::to_value(gama.link)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.inner.metrics.render(&SessionGauges {
            connected: counts.connected,
            in_game: counts.in_game,
            waiting: counts.waiting,
            disconnected: counts.disconnected,
            connections: self.inner.routes.len(),
            queue_bytes,
            link: &link,
            experiment: gama.experiment.name(),
        })
    }

    /// The GAMA link.
    pub fn gama(&self) -> &GamaLink {
        &self.inner.gama
    }

    /// Records where headsets connect, for display.
    pub fn set_headset_addr(&self, addr: std::net::SocketAddr) {
        *self.inner.headset_addr.lock() = Some(addr);
    }

    /// Cancelled when the relay shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Notified on every change the admin page should show.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    // -----------------------------------------------------------------------------------------
    // Session effects
    // -----------------------------------------------------------------------------------------

    /// Runs `f` on the session and performs the effects it returns, under the same lock.
    fn with_session<R>(
        &self,
        f: impl FnOnce(&mut Session<ConnRef>) -> (R, Vec<Effect<ConnRef>>),
    ) -> R {
        let result = {
            let mut session = self.inner.session.lock();
            let (result, effects) = f(&mut session);
            self.perform(&mut session, effects);
            result
        };
        self.changed();
        result
    }

    fn perform(&self, session: &mut Session<ConnRef>, effects: Vec<Effect<ConnRef>>) {
        let mut work: std::collections::VecDeque<_> = effects.into();
        while let Some(effect) = work.pop_front() {
            match effect {
                Effect::Send { conn, frame } => {
                    let _ = conn.0.send(frame);
                }
                Effect::Close { conn, code, reason } => {
                    info!(peer = %conn.0.remote, %reason, "closing headset connection");
                    conn.0.close(code, reason);
                }
                Effect::Route { id, conn } => match conn {
                    Some(c) => {
                        self.inner.routes.insert(id, c.0);
                    }
                    None => {
                        self.inner.routes.remove(&id);
                    }
                },
                Effect::Create { id, ticket } => {
                    let call = self.inner.gama.exp_id().and_then(|exp_id| {
                        self.inner.gama.call(
                            &Command::expression(Some(&exp_id), &gaml::create_player(&id)),
                            self.inner.config.gama.command_timeout(),
                        )
                    });
                    match call {
                        Ok(reply) => {
                            let relay = self.clone();
                            self.inner.tracker.spawn(async move {
                                let result = reply.wait().await;
                                relay.join_result(&id, ticket, result);
                            });
                        }
                        Err(e) => {
                            warn!(player = %id, error = %e, "could not add the player to the game");
                            work.extend(session.join_result(&id, ticket, false));
                        }
                    }
                }
                Effect::Remove { id } => {
                    self.inner.world.forget(&id);
                    let call = self.inner.gama.exp_id().and_then(|exp_id| {
                        self.inner.gama.call(
                            &Command::expression(Some(&exp_id), &gaml::remove_player(&id)),
                            self.inner.config.gama.command_timeout(),
                        )
                    });
                    info!(player = %id, "removing the player from the game");
                    match call {
                        Ok(reply) => {
                            self.inner.tracker.spawn(async move {
                                if let Err(e) = reply.wait().await {
                                    warn!(player = %id, error = %e, "GAMA did not remove the player");
                                }
                            });
                        }
                        Err(e) => {
                            warn!(player = %id, error = %e, "could not remove the player from the game")
                        }
                    }
                }
                Effect::StartGrace { id, token, after } => {
                    let relay = self.clone();
                    let shutdown = self.inner.shutdown.clone();
                    self.inner.tracker.spawn(async move {
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(after) => {
                                relay.with_session(|s| ((), s.grace_expired(&id, token)));
                            }
                        }
                    });
                }
                Effect::AutoLaunch => {
                    if self.inner.config.session.auto_launch {
                        let relay = self.clone();
                        self.inner.tracker.spawn(async move {
                            info!("as many players as the model allows are connected: launching");
                            match relay.launch(false).await {
                                Ok(()) => {}
                                // GAMA is not there yet: launch when it is.
                                Err(
                                    e @ (OpError::Unavailable(_)
                                    | OpError::Gama(
                                        GamaError::NotConnected | GamaError::Disconnected(_),
                                    )),
                                ) => {
                                    info!(error = %e, "auto-launch waits for GAMA");
                                    relay.inner.session.lock().rearm_auto_launch();
                                }
                                Err(e) => warn!(error = %e, "auto-launch failed"),
                            }
                        });
                    }
                }
            }
        }
    }

    fn join_result(&self, id: &str, ticket: u64, result: Result<String, GamaError>) {
        let accepted = match result {
            Ok(_) => {
                info!(player = %id, "player is in the game");
                true
            }
            Err(e) => {
                warn!(player = %id, error = %e, "GAMA did not add the player to the game");
                false
            }
        };
        self.with_session(|s| ((), s.join_result(id, ticket, accepted)));
    }

    /// Brings the players in line with GAMA's experiment (live or not, and which life).
    fn follow_experiment(&self) {
        let status = self.inner.gama.status();
        {
            let mut shown = self.inner.world_epoch.lock();
            if status.live_epoch.is_some() && *shown != status.live_epoch {
                // A new simulation: what the world view cached describes the old one.
                self.inner.world.reset();
                *shown = status.live_epoch;
            }
        }
        let ready_for_launch = status.link == LinkState::Connected
            && status.mode.is_some()
            && status.experiment == ExperimentState::None;
        self.with_session(|s| {
            let mut effects = s.experiment(status.live_epoch);
            if ready_for_launch {
                effects.extend(s.auto_launch_due());
            }
            ((), effects)
        });
    }

    // -----------------------------------------------------------------------------------------
    // Headsets
    // -----------------------------------------------------------------------------------------

    /// Handles one text frame from a headset. `player` is the id this connection registered.
    pub fn headset_text(&self, conn: &Arc<Conn>, player: &mut Option<Arc<str>>, text: &str) {
        if let Some(recorder) = &self.inner.recorder {
            recorder.headset(conn.serial, player.as_ref(), text);
        }
        let message = match wire::parse(text) {
            Ok(m) => m,
            Err(e) => {
                headset::complain(
                    conn,
                    &format!("{e}: {}", crate::protocol::gama::truncate(text, 80)),
                );
                return;
            }
        };
        match message {
            Inbound::Connection { id, heartbeat } => self.register(conn, player, id, heartbeat),
            Inbound::Pong => conn.pong_received(),
            Inbound::Ping { id } => {
                let _ = conn.send(pong_frame(id));
            }
            Inbound::DisconnectProperly => {
                if let Some(id) = player.take() {
                    info!(player = %id, "player disconnected properly");
                    self.with_session(|s| {
                        (
                            (),
                            s.leave(&id, "disconnected properly").unwrap_or_default(),
                        )
                    });
                } else {
                    conn.close(1000, "disconnected properly");
                }
            }
            Inbound::Expression { expr } => {
                let Some(id) = self.registered(conn, player) else {
                    return;
                };
                if let Some(exp_id) = self.live_exp_id(conn) {
                    let cmd = Command::expression(Some(&exp_id), &gaml::substitute_id(&expr, &id));
                    self.forward(conn, cmd, id);
                }
            }
            Inbound::Ask {
                action,
                args,
                agent,
            } => {
                let Some(id) = self.registered(conn, player) else {
                    return;
                };
                if action.get() == "\"move_player_external\"" && self.inner.world.watched() {
                    self.inner.world.moved(&id, &args);
                }
                if let Some(exp_id) = self.live_exp_id(conn) {
                    self.forward(conn, Command::ask(&exp_id, action, &args, agent), id);
                }
            }
            Inbound::Unknown(kind) => {
                headset::complain(conn, &format!("unknown message type \"{kind}\""));
            }
        }
    }

    fn registered(&self, conn: &Conn, player: &Option<Arc<str>>) -> Option<Arc<str>> {
        if player.is_none() {
            headset::complain(conn, "send a `connection` message with your id first");
        }
        player.clone()
    }

    /// The experiment id if headsets' commands can go to GAMA now; otherwise tells the headset.
    fn live_exp_id(&self, conn: &Conn) -> Option<String> {
        match self.inner.gama.live_exp_id() {
            Ok(id) => Some(id),
            Err(why) => {
                self.inner.metrics.command_dropped(DropReason::not_live);
                if conn.complaints.check().is_some() {
                    debug!("dropping a headset command: {why}");
                    let _ = conn.send(error_frame(&format!("not forwarded to GAMA: {why}")));
                }
                None
            }
        }
    }

    fn forward(&self, conn: &Conn, cmd: Command, player: Arc<str>) {
        if let Err(e) = self.inner.gama.send_for_player(cmd, player) {
            self.inner.metrics.command_dropped(DropReason::gama_busy);
            headset::complain(conn, &format!("not forwarded to GAMA: {e}"));
        }
    }

    fn register(
        &self,
        conn: &Arc<Conn>,
        player: &mut Option<Arc<str>>,
        id: String,
        heartbeat: wire::Heartbeat,
    ) {
        let config = &self.inner.config.headsets;
        if let Err(e) = validate_id(&id, config.max_player_id_bytes) {
            headset::complain(conn, &format!("connection refused: {e}"));
            return;
        }
        let ms = match heartbeat.requested_ms {
            Some(ms) => {
                let clamped = config.clamp_heartbeat(ms);
                if clamped != ms {
                    warn!(player = %id, requested = ms, used = clamped, "heartbeat outside [headsets.min_heartbeat_ms, headsets.max_heartbeat_ms]; clamped");
                }
                clamped
            }
            None => {
                if let Some(raw) = &heartbeat.raw {
                    warn!(player = %id, heartbeat = %raw, "unusable heartbeat; using headsets.default_heartbeat_ms");
                }
                config.default_heartbeat_ms
            }
        };
        let keepalive = Keepalive {
            ms,
            as_text: heartbeat.as_text,
        };
        let me = ConnRef(conn.clone());
        let previous = player.clone();
        let registered = self.with_session(|s| {
            let mut effects = Vec::new();
            if let Some(old) = previous.filter(|old| **old != *id) {
                // The same socket now speaks for another player: the old one lost its connection.
                effects.extend(s.disconnect(&old, &me));
            }
            match s.connect(&id, me.clone(), conn.remote, keepalive) {
                Ok(more) => {
                    effects.extend(more);
                    (Ok(()), effects)
                }
                Err(e) => (Err(e), effects),
            }
        });
        match registered {
            Ok(()) => {
                conn.set_heartbeat(Duration::from_millis(ms));
                tracing::Span::current().record("player", id.as_str());
                *player = Some(Arc::from(id.as_str()));
                info!(player = %id, heartbeat_ms = ms, "player registered");
            }
            Err(e) => {
                warn!(player = %id, "registration refused: {e}");
                let _ = conn.send(error_frame(&format!("connection refused: {e}")));
                conn.close(1013, e.to_string());
                *player = None;
            }
        }
    }

    /// A headset connection ended without `disconnect_properly`.
    pub fn headset_gone(&self, conn: &Arc<Conn>, id: &str) {
        let me = ConnRef(conn.clone());
        if let Some((code, reason)) = conn.close_request().filter(|(_, r)| !r.is_empty()) {
            info!(player = %id, code, %reason, "player connection closed");
        } else {
            info!(player = %id, "player connection closed");
        }
        self.with_session(|s| ((), s.disconnect(id, &me)));
    }

    // -----------------------------------------------------------------------------------------
    // GAMA output
    // -----------------------------------------------------------------------------------------

    /// Delivers one element of linker output to each listed player that is connected.
    fn deliver(&self, delivery: Delivery) {
        for id in &delivery.players {
            match self.inner.routes.get(id.as_str()) {
                Some(conn) => {
                    let _ = conn.send_output(delivery.frame.clone(), delivery.kind);
                }
                None => {
                    self.inner.metrics.outputs_for_absent_players.inc();
                    if let Some(suppressed) = UNKNOWN_RECIPIENT.check() {
                        debug!(player = %id, suppressed, "GAMA output for a player that is not connected, dropped");
                    }
                }
            }
        }
        // The world view after the headsets: it must never delay them.
        self.inner
            .world
            .observe(&delivery.players, &delivery.frame, delivery.kind);
    }

    // -----------------------------------------------------------------------------------------
    // Models and operations
    // -----------------------------------------------------------------------------------------

    fn install_catalog(&self, catalog: Catalog) {
        let first = (!catalog.models.is_empty()).then_some(0);
        *self.inner.catalog.write() = Arc::new(catalog);
        self.bump_catalog_version();
        let mut selected = self.inner.selected.lock();
        let keep = selected.filter(|i| self.catalog().models.len() > *i);
        *selected = keep.or(first);
        let limits = self.limits_of(*selected);
        drop(selected);
        self.with_session(|s| ((), s.set_limits(limits)));
    }

    fn bump_catalog_version(&self) {
        self.inner
            .catalog_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn limits_of(&self, index: Option<usize>) -> Limits {
        index
            .and_then(|i| self.catalog().models.get(i).cloned())
            .map(|m| Limits {
                min: m.min_players,
                max: m.max_players,
            })
            .unwrap_or_default()
    }

    /// Scans the learning-package folders again.
    pub fn rescan(&self) {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let catalog = Catalog::discover(&self.inner.config.learning_package_paths(), &cwd);
        info!(models = catalog.models.len(), "learning packages rescanned");
        self.install_catalog(catalog);
    }

    /// The catalog of models.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.read().clone()
    }

    /// The selected model.
    pub fn selected_model(&self) -> Option<Model> {
        let index = (*self.inner.selected.lock())?;
        self.catalog().models.get(index).cloned()
    }

    /// Selects the model a launch will load.
    pub fn select_model(&self, index: usize) -> Result<Model, OpError> {
        let model = self
            .catalog()
            .models
            .get(index)
            .cloned()
            .ok_or_else(|| OpError::NotFound(format!("there is no model {index}")))?;
        *self.inner.selected.lock() = Some(index);
        self.bump_catalog_version();
        info!(model = %model.name, index, "model selected");
        let limits = Limits {
            min: model.min_players,
            max: model.max_players,
        };
        self.with_session(|s| ((), s.set_limits(limits)));
        Ok(model)
    }

    fn begin(&self, name: &'static str) -> Result<tokio::sync::MutexGuard<'_, ()>, OpError> {
        let guard = self.inner.ops.try_lock().map_err(|_| {
            let current = self.inner.operation.lock().unwrap_or("another operation");
            OpError::Conflict(format!("busy: {current} is in progress"))
        })?;
        *self.inner.operation.lock() = Some(name);
        self.changed();
        Ok(guard)
    }

    fn end(&self) {
        *self.inner.operation.lock() = None;
        self.changed();
    }

    fn require_connected(&self) -> Result<GamaStatus, OpError> {
        let status = self.inner.gama.status();
        if status.link != LinkState::Connected {
            return Err(OpError::Unavailable(
                status
                    .link_reason
                    .clone()
                    .unwrap_or_else(|| format!("trying {}", self.inner.gama.address())),
            ));
        }
        Ok(status)
    }

    /// Runs an operator action, one at a time, showing it as the operation in progress.
    async fn operation<T>(
        &self,
        name: &'static str,
        work: impl Future<Output = Result<T, OpError>>,
    ) -> Result<T, OpError> {
        let _guard = self.begin(name)?;
        let result = work.await;
        self.end();
        result
    }

    /// Loads the selected model's experiment. Refused below the model's minimum of players unless
    /// `force`.
    pub async fn launch(&self, force: bool) -> Result<(), OpError> {
        self.operation("launching", self.launch_inner(force)).await
    }

    async fn launch_inner(&self, force: bool) -> Result<(), OpError> {
        let status = self.require_connected()?;
        if status.experiment.is_live() || status.experiment == ExperimentState::NotReady {
            return Err(OpError::Conflict(format!(
                "an experiment is already open in GAMA ({}); stop it first",
                status.experiment.name()
            )));
        }
        let model = self.selected_model().ok_or_else(|| {
            OpError::Conflict(
                "no model to launch: no learning package was found (see session.learning_package_path)"
                    .into(),
            )
        })?;
        let connected = self.inner.session.lock().connected_count();
        if let Some(min) = model.min_players {
            if !force && connected < min as usize {
                return Err(OpError::Conflict(format!(
                    "{} needs at least {min} players and {connected} connected; launch anyway to start without them",
                    model.name
                )));
            }
        }
        info!(model = %model.name, experiment = %model.experiment_name, path = %model.model_file_path.display(), "launching");
        self.inner
            .gama
            .launch(
                &model.model_file_path.to_string_lossy(),
                &model.experiment_name,
                model.parameters.as_deref(),
            )
            .await?;
        info!(model = %model.name, "experiment ready");
        Ok(())
    }

    /// Pauses the running experiment.
    pub async fn pause(&self) -> Result<(), OpError> {
        self.operation(
            "pausing",
            self.switch(ExperimentState::Running, "pause", self.inner.gama.pause()),
        )
        .await
    }

    /// Resumes the paused experiment.
    pub async fn resume(&self) -> Result<(), OpError> {
        self.operation(
            "resuming",
            self.switch(ExperimentState::Paused, "resume", self.inner.gama.play()),
        )
        .await
    }

    /// Sends `command` if GAMA's experiment is in state `from`.
    async fn switch(
        &self,
        from: ExperimentState,
        verb: &str,
        command: impl Future<Output = Result<(), GamaError>>,
    ) -> Result<(), OpError> {
        let status = self.require_connected()?;
        if status.experiment != from {
            return Err(OpError::Conflict(format!(
                "nothing to {verb}: GAMA's experiment is {}",
                status.experiment.name()
            )));
        }
        Ok(command.await?)
    }

    /// Stops the experiment (pause, then stop). Waits for an operation in progress (a launch) to
    /// finish first, within the load deadline.
    pub async fn stop(&self) -> Result<(), OpError> {
        let wait = self.inner.config.gama.load_timeout() + self.inner.config.gama.command_timeout();
        let _guard = tokio::time::timeout(wait, self.inner.ops.lock())
            .await
            .map_err(|_| OpError::Conflict("busy: another operation did not finish".into()))?;
        *self.inner.operation.lock() = Some("stopping");
        self.changed();
        self.inner.session.lock().disarm_auto_launch();
        let result = match self.require_connected() {
            Ok(_) => self.inner.gama.stop().await.map_err(OpError::from),
            Err(e) => Err(e),
        };
        self.end();
        result
    }

    /// Evaluates GAML in the live experiment (the admin page's console).
    pub async fn evaluate(&self, expr: &str) -> Result<String, OpError> {
        let status = self.require_connected()?;
        if !status.experiment.is_live() {
            return Err(OpError::Conflict(format!(
                "no experiment to evaluate in: GAMA's experiment is {}",
                status.experiment.name()
            )));
        }
        info!(%expr, "operator evaluates GAML");
        Ok(self.inner.gama.expression(expr).await?)
    }

    /// Removes a player from the game and closes its connection.
    pub fn remove_player(&self, id: &str) -> Result<(), OpError> {
        info!(player = %id, "operator removes the player");
        self.with_session(|s| match s.leave(id, "removed by the operator") {
            Some(effects) => (Ok(()), effects),
            None => (
                Err(OpError::NotFound(format!("there is no player {id:?}"))),
                Vec::new(),
            ),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Views
    // -----------------------------------------------------------------------------------------

    /// Everything the admin page shows.
    pub fn snapshot(&self) -> StateView {
        let gama = self.inner.gama.status();
        let (players, counts) = self.inner.session.lock().view();
        let players = players
            .into_iter()
            .map(|p| {
                let conn = self.inner.routes.get(p.id.as_str()).map(|c| c.view());
                PlayerState {
                    player: p,
                    traffic: conn,
                }
            })
            .collect();
        let headset_addr = *self.inner.headset_addr.lock();
        let model = self.selected_model().map(|m| SelectedModel {
            index: m.index,
            name: m.name,
            experiment_name: m.experiment_name,
            min_players: m.min_players,
            max_players: m.max_players,
        });
        StateView {
            gama: GamaView {
                address: self.inner.gama.address(),
                connection: gama.link,
                connection_since: gama.link_since,
                reason: gama.link_reason,
                mode: gama.mode,
                experiment_state: gama.experiment.name().to_string(),
                experiment_id: gama.exp_id,
                experiment_name: gama.experiment_name,
                operation: *self.inner.operation.lock(),
                last_error: gama.last_error,
                commands_in_flight: self.inner.gama.in_flight(),
            },
            model,
            clock: self.inner.world.clock(),
            headsets: HeadsetsView {
                listen: headset_addr.map(|a| a.to_string()),
                port: headset_addr.map_or(self.inner.config.headsets.port, |a| a.port()),
            },
            catalog_version: self
                .inner
                .catalog_version
                .load(std::sync::atomic::Ordering::Relaxed),
            counts,
            players,
        }
    }
}

/// `GET /api/state`.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// GAMA's side.
    pub gama: GamaView,
    /// The model a launch loads.
    pub model: Option<SelectedModel>,
    /// GAMA's pace: linker outputs per second and time since the last one.
    pub clock: crate::world::ClockView,
    /// Where headsets connect.
    pub headsets: HeadsetsView,
    /// Changes whenever the catalog or the selection changes: time to fetch `/api/models` again.
    pub catalog_version: u64,
    /// Player counts.
    pub counts: Counts,
    /// Every player, in arrival order.
    pub players: Vec<PlayerState>,
}

/// GAMA as the admin page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct GamaView {
    /// `host:port`.
    pub address: String,
    /// `connecting`, `connected`, `retrying` or `unreachable`.
    pub connection: LinkState,
    /// Since when (RFC 3339).
    pub connection_since: String,
    /// Why not connected, in plain words.
    pub reason: Option<String>,
    /// `desktop` or `headless`, once known.
    pub mode: Option<ServerMode>,
    /// `NONE`, `NOTREADY`, `PAUSED`, `RUNNING`, `FINISHED`.
    pub experiment_state: String,
    /// Experiment id used in commands.
    pub experiment_id: Option<String>,
    /// Experiment name.
    pub experiment_name: Option<String>,
    /// Operation in progress (`launching`, `stopping`…).
    pub operation: Option<&'static str>,
    /// Last error GAMA reported.
    pub last_error: Option<LastError>,
    /// Commands awaiting GAMA's reply.
    pub commands_in_flight: usize,
}

/// The headset server.
#[derive(Debug, Clone, Serialize)]
pub struct HeadsetsView {
    /// The address it listens on.
    pub listen: Option<String>,
    /// Its port (what Unity apps are configured with).
    pub port: u16,
}

/// The selected model, briefly.
#[derive(Debug, Clone, Serialize)]
pub struct SelectedModel {
    /// Index in the catalog.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Experiment.
    pub experiment_name: String,
    /// Minimum players.
    pub min_players: Option<u32>,
    /// Maximum players.
    pub max_players: Option<u32>,
}

/// A player with its connection's liveness and traffic.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerState {
    /// Identity and place in the game.
    #[serde(flatten)]
    pub player: PlayerView,
    /// Liveness and traffic of its current connection.
    pub traffic: Option<ConnView>,
}

/// The link's view of the relay.
struct Events(Relay);

impl GamaEvents for Events {
    fn deliver(&self, delivery: Delivery) {
        self.0.deliver(delivery);
    }

    fn linker_output(&self, _elements: usize) {
        self.0.inner.world.output_arrived();
    }

    fn gama_frame(&self, frame: &crate::protocol::Frame) {
        if let Some(recorder) = &self.0.inner.recorder {
            recorder.gama(frame);
        }
    }

    fn unsolicited(&self, frame: &crate::protocol::Frame) {
        if !self.0.inner.tools.is_empty() {
            self.0.inner.tools.broadcast(frame);
        }
    }

    fn player_command_failed(&self, player: &str, error: &GamaError) {
        if let Some(suppressed) = PLAYER_COMMAND_FAILED.check() {
            warn!(%player, suppressed, "{error}");
        }
        if let Some(conn) = self.0.inner.routes.get(player) {
            if conn.complaints.check().is_some() {
                let _ = conn.send(error_frame(&error.to_string()));
            }
        }
    }
}
