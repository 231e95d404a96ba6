//! What the operator does from the admin page: the learning-package catalog, the selected model,
//! and the operations on GAMA's experiment (launch, pause, resume, stop), one at a time.
//!
//! Catalog, selection and the operation in progress are one state behind one lock. The operation's
//! "in progress" label is held by a guard that clears it however the operation ends. (The admin API
//! runs each action in a task of the server's, so that a client going away mid-launch does not cut
//! it short: see `crate::admin`.)

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::control::packages::{Catalog, Model};
use crate::control::said::{Code, Said};
use crate::gama::{ExperimentState, GamaError, GamaLink, GamaStatus, LinkState};
use crate::headsets::players::Players;
use crate::headsets::roster::Limits;
use crate::history::kept::Sessions;
use crate::server::tasks::Tasks;
use crate::support::changes::Changes;

/// Why an operator action was refused or failed. Each has a stable [`OpError::code`] the admin page
/// translates, and the plain English words of its `Display` for logs and scripts.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpError {
    /// Another operation holds the operator's turn.
    #[error("busy: {0} is in progress")]
    Busy(&'static str),
    /// A stop waited for the operation in progress, which did not finish.
    #[error("busy: another operation did not finish")]
    StillBusy,
    /// A launch while an experiment is open.
    #[error("an experiment is already open in GAMA ({0}); stop it first")]
    AlreadyOpen(String),
    /// A launch without any model.
    #[error(
        "no model to launch: no learning package was found (see session.learning_package_path)"
    )]
    NoModel,
    /// A launch below the model's minimum of players, not forced.
    #[error(
        "{model} needs at least {min} players and {connected} connected; launch anyway to start without them"
    )]
    BelowMinimum {
        /// The model.
        model: String,
        /// Its minimum.
        min: u32,
        /// Players connected now.
        connected: usize,
    },
    /// Pause or resume in the wrong state.
    #[error("nothing to {verb}: GAMA's experiment is {state}")]
    NothingTo {
        /// `pause` or `resume`.
        verb: &'static str,
        /// GAMA's experiment state.
        state: String,
    },
    /// The console without a live experiment.
    #[error("no experiment to evaluate in: GAMA's experiment is {0}")]
    NotLive(String),
    /// No such model.
    #[error("there is no model {0}")]
    NoSuchModel(usize),
    /// No such player.
    #[error("there is no player {0:?}")]
    NoSuchPlayer(String),
    /// GAMA is not connected.
    #[error("GAMA is not connected ({0})")]
    Unavailable(Said),
    /// GAMA failed or did not answer.
    #[error(transparent)]
    Gama(#[from] GamaError),
    /// The operation's task failed (a bug: it is in the log).
    #[error("the operation failed: {0}")]
    Internal(String),
}

impl OpError {
    /// A stable name for the admin page (which words it shows, in its language).
    pub fn code(&self) -> Code {
        match self {
            OpError::Busy(_) | OpError::StillBusy => Code::Busy,
            OpError::AlreadyOpen(_) => Code::ExperimentOpen,
            OpError::NoModel => Code::NoModel,
            OpError::BelowMinimum { .. } => Code::BelowMinimum,
            OpError::NothingTo { verb: "pause", .. } => Code::NothingToPause,
            OpError::NothingTo { .. } => Code::NothingToResume,
            OpError::NotLive(_) => Code::NoLiveExperiment,
            OpError::NoSuchModel(_) => Code::UnknownModel,
            OpError::NoSuchPlayer(_) => Code::UnknownPlayer,
            OpError::Unavailable(_) | OpError::Gama(GamaError::NotConnected) => {
                Code::GamaNotConnected
            }
            OpError::Gama(GamaError::NoExperiment) => Code::NoLiveExperiment,
            OpError::Gama(GamaError::Timeout { .. }) => Code::GamaTimeout,
            OpError::Gama(GamaError::Disconnected(_)) => Code::GamaLost,
            OpError::Gama(GamaError::Rejected { .. }) => Code::GamaRefused,
            OpError::Gama(GamaError::Busy(_)) => Code::GamaBusy,
            OpError::Internal(_) => Code::Internal,
        }
    }

    /// The values the page puts in its sentence for [`OpError::code`].
    pub fn params(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            OpError::Busy(op) => json!({ "operation": op }),
            OpError::AlreadyOpen(state) | OpError::NotLive(state) => json!({ "state": state }),
            OpError::NothingTo { state, .. } => json!({ "state": state }),
            OpError::BelowMinimum {
                model,
                min,
                connected,
            } => json!({ "model": model, "min": min, "connected": connected }),
            OpError::NoSuchModel(index) => json!({ "index": index }),
            OpError::NoSuchPlayer(id) => json!({ "player": id }),
            OpError::Unavailable(reason) => json!({
                "reason": reason.text,
                "reason_code": reason.code,
                "reason_params": reason.params,
            }),
            OpError::Gama(GamaError::Timeout { command, timeout }) => {
                json!({ "command": command.name(), "seconds": timeout.as_secs_f64() })
            }
            OpError::Gama(GamaError::Rejected {
                command, message, ..
            }) => json!({ "command": command.name(), "message": message }),
            OpError::Gama(GamaError::Disconnected(command)) => json!({ "command": command.name() }),
            OpError::Gama(GamaError::Busy(n)) => json!({ "count": n }),
            OpError::Internal(why) => json!({ "reason": why }),
            _ => json!({}),
        }
    }
}

impl From<&OpError> for Said {
    fn from(e: &OpError) -> Said {
        let params = match e.params() {
            serde_json::Value::Object(params) => params,
            _ => serde_json::Map::new(),
        };
        Said {
            text: e.to_string(),
            code: e.code(),
            params,
        }
    }
}

/// Handle to the operator's side; cheap to clone.
#[derive(Clone)]
pub struct Operator {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    gama: GamaLink,
    players: Players,
    sessions: Sessions,
    state: Mutex<State>,
    /// Held by the operation in progress.
    turn: Arc<tokio::sync::Mutex<()>>,
    changes: Changes,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Debug, Default)]
struct State {
    catalog: Arc<Catalog>,
    selected: Option<usize>,
    /// Changes whenever the catalog or the selection does.
    version: u64,
    /// The operation in progress (`launching`, `stopping`…).
    operation: Option<&'static str>,
}

/// Holds the operator's turn and shows the operation's label until dropped.
struct Turn {
    _lock: OwnedMutexGuard<()>,
    operator: Operator,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.operator.inner.state.lock().operation = None;
        self.operator.inner.changes.notify();
    }
}

impl Operator {
    /// The operator's side with this catalog; its first model is selected.
    pub fn new(
        config: Arc<Config>,
        catalog: Catalog,
        gama: GamaLink,
        players: Players,
        sessions: Sessions,
        changes: Changes,
        tasks: Tasks,
    ) -> Self {
        let operator = Operator {
            inner: Arc::new(Inner {
                config,
                gama,
                players,
                sessions,
                state: Mutex::new(State::default()),
                turn: Arc::default(),
                changes,
                shutdown: tasks.shutdown,
                tracker: tasks.tracker,
            }),
        };
        operator.install(catalog);
        operator
    }

    /// Starts the task that launches by itself when the players ask for it (`session.auto_launch`).
    pub fn start(&self) {
        let operator = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = operator.inner.players.auto_launch_due() => {}
                }
                info!("as many players as the model allows are connected: launching");
                match operator.launch(false).await {
                    Ok(()) => {}
                    // GAMA is not there yet: launch when it is.
                    Err(
                        e @ (OpError::Unavailable(_)
                        | OpError::Gama(GamaError::NotConnected | GamaError::Disconnected(_))),
                    ) => {
                        info!(error = %e, "auto-launch waits for GAMA");
                        operator.inner.players.rearm_auto_launch();
                    }
                    Err(e) => warn!(error = %e, "auto-launch failed"),
                }
            }
        });
    }

    fn install(&self, catalog: Catalog) {
        let model = {
            let mut state = self.inner.state.lock();
            let first = (!catalog.models.is_empty()).then_some(0);
            let keep = state.selected.filter(|i| catalog.models.len() > *i);
            state.selected = keep.or(first);
            state.catalog = Arc::new(catalog);
            state.version += 1;
            state
                .selected
                .and_then(|i| state.catalog.models.get(i))
                .cloned()
        };
        self.selected(model.as_ref());
    }

    /// What follows from the selection: the players' limits, the model kept sessions are about.
    fn selected(&self, model: Option<&Model>) {
        self.inner.players.set_limits(limits_of(model));
        self.inner.sessions.set_model(model.map(|m| m.name.clone()));
    }

    /// Reads the learning-package folders again.
    pub fn rescan(&self) {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let catalog = Catalog::discover(&self.inner.config.learning_package_paths(), &cwd);
        info!(models = catalog.models.len(), "learning packages rescanned");
        self.install(catalog);
    }

    /// The catalog of models.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.state.lock().catalog.clone()
    }

    /// Changes whenever the catalog or the selection does.
    pub fn catalog_version(&self) -> u64 {
        self.inner.state.lock().version
    }

    /// The operation in progress, if any.
    pub fn operation(&self) -> Option<&'static str> {
        self.inner.state.lock().operation
    }

    /// The selected model.
    pub fn selected_model(&self) -> Option<Model> {
        let state = self.inner.state.lock();
        state.catalog.models.get(state.selected?).cloned()
    }

    /// Selects the model a launch will load.
    pub fn select_model(&self, index: usize) -> Result<Model, OpError> {
        let model = {
            let mut state = self.inner.state.lock();
            let model = state
                .catalog
                .models
                .get(index)
                .cloned()
                .ok_or(OpError::NoSuchModel(index))?;
            state.selected = Some(index);
            state.version += 1;
            model
        };
        info!(model = %model.name, index, "model selected");
        self.selected(Some(&model));
        Ok(model)
    }

    /// Takes the operator's turn now, or says which operation holds it.
    fn try_turn(&self, name: &'static str) -> Result<Turn, OpError> {
        let lock = self
            .inner
            .turn
            .clone()
            .try_lock_owned()
            .map_err(|_| OpError::Busy(self.operation().unwrap_or("another operation")))?;
        Ok(self.turn(lock, name))
    }

    fn turn(&self, lock: OwnedMutexGuard<()>, name: &'static str) -> Turn {
        self.inner.state.lock().operation = Some(name);
        self.inner.changes.notify();
        Turn {
            _lock: lock,
            operator: self.clone(),
        }
    }

    fn require_connected(&self) -> Result<GamaStatus, OpError> {
        let status = self.inner.gama.status();
        if status.link != LinkState::Connected {
            return Err(OpError::Unavailable(
                status.link_reason.clone().unwrap_or_else(|| {
                    let address = self.inner.gama.address();
                    Said::new(
                        Code::Trying,
                        [("address", serde_json::json!(address))],
                        format!("trying {address}"),
                    )
                }),
            ));
        }
        Ok(status)
    }

    /// Loads the selected model's experiment. Refused below the model's minimum of players unless
    /// `force`.
    pub async fn launch(&self, force: bool) -> Result<(), OpError> {
        let _turn = self.try_turn("launching")?;
        self.launch_now(force).await
    }

    async fn launch_now(&self, force: bool) -> Result<(), OpError> {
        let status = self.require_connected()?;
        // A tool's experiment in desktop GAMA is replaced by the session's.
        let open = status.experiment.is_live() || status.experiment == ExperimentState::NotReady;
        if open && status.tool_hold.is_none() {
            return Err(OpError::AlreadyOpen(status.experiment.name().to_string()));
        }
        let model = self.selected_model().ok_or(OpError::NoModel)?;
        let connected = self.inner.players.connected_count();
        if let Some(min) = model.min_players {
            if !force && connected < min as usize {
                return Err(OpError::BelowMinimum {
                    model: model.name,
                    min,
                    connected,
                });
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
        self.switch("pausing", ExperimentState::Running, "pause")
            .await
    }

    /// Resumes the paused experiment.
    pub async fn resume(&self) -> Result<(), OpError> {
        self.switch("resuming", ExperimentState::Paused, "resume")
            .await
    }

    /// Pauses or resumes if GAMA's experiment is in state `from`.
    async fn switch(
        &self,
        name: &'static str,
        from: ExperimentState,
        verb: &'static str,
    ) -> Result<(), OpError> {
        let _turn = self.try_turn(name)?;
        let status = self.require_connected()?;
        if status.experiment != from {
            return Err(OpError::NothingTo {
                verb,
                state: status.experiment.name().to_string(),
            });
        }
        let gama = &self.inner.gama;
        if from == ExperimentState::Running {
            gama.pause().await?;
        } else {
            gama.play().await?;
        }
        Ok(())
    }

    /// Stops the experiment (pause, then stop). Waits for an operation in progress (a launch) to
    /// finish first, within the load deadline.
    pub async fn stop(&self) -> Result<(), OpError> {
        let config = &self.inner.config.gama;
        let wait = config.load_timeout() + config.command_timeout();
        let lock = tokio::time::timeout(wait, self.inner.turn.clone().lock_owned())
            .await
            .map_err(|_| OpError::StillBusy)?;
        let _turn = self.turn(lock, "stopping");
        self.inner.players.disarm_auto_launch();
        self.require_connected()?;
        Ok(self.inner.gama.stop().await?)
    }

    /// Evaluates GAML in the live experiment (the admin page's console).
    pub async fn evaluate(&self, expr: &str) -> Result<String, OpError> {
        let status = self.require_connected()?;
        if !status.experiment.is_live() {
            return Err(OpError::NotLive(status.experiment.name().to_string()));
        }
        info!(%expr, "operator evaluates GAML");
        Ok(self.inner.gama.expression(expr).await?)
    }

    /// Removes a player from the game and closes its connection.
    pub fn remove_player(&self, id: &str) -> Result<(), OpError> {
        info!(player = %id, "operator removes the player");
        if self.inner.players.leave(id, "removed by the operator") {
            Ok(())
        } else {
            Err(OpError::NoSuchPlayer(id.to_string()))
        }
    }
}

fn limits_of(model: Option<&Model>) -> Limits {
    model
        .map(|m| Limits {
            min: m.min_players,
            max: m.max_players,
        })
        .unwrap_or_default()
}
