//! Everything about gama-server: one supervised WebSocket connection, commands matched to their
//! replies under deadlines, and what the relay knows of GAMA's experiment.
//!
//! [`GamaLink`] is the handle the rest of the relay uses. Its supervisor task (in [`connection`])
//! keeps reconnecting; on every new connection it probes which server mode answers and what state
//! the experiment is in (protocol.md §3.3), so a relay restarted next to a running GAMA picks up
//! where GAMA is. Experiment state follows `SimulationStatus` messages and command replies, since
//! gama-headless may send no status at all.

mod connection;
mod pending;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::GamaConfig;
use crate::metrics::Metrics;
use crate::protocol::gama::{Command, CommandKind};
use crate::util;

pub use pending::{ClientReply, Entry, Pending, Waiter};

/// Which of GAMA's two servers the relay talks to (protocol.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerMode {
    /// The desktop application's server (`GamaGuiWebSocketServer`): one experiment, `exp_id` ignored,
    /// `load` answers the experiment name, status messages on every change.
    Desktop,
    /// gama-headless: experiments per socket, `exp_id` mandatory, `load` answers the id.
    Headless,
}

/// The experiment states GAMA reports (`IExperimentStateListener.State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExperimentState {
    /// No experiment.
    None,
    /// Being built or reloaded.
    NotReady,
    /// Ready, not stepping.
    Paused,
    /// Stepping.
    Running,
    /// Reached its end.
    Finished,
    /// A state name this relay does not know.
    Other(String),
}

impl ExperimentState {
    /// From a `SimulationStatus` content.
    pub fn from_name(name: &str) -> Self {
        match name.trim() {
            "NONE" => Self::None,
            "NOTREADY" => Self::NotReady,
            "PAUSED" => Self::Paused,
            "RUNNING" => Self::Running,
            "FINISHED" => Self::Finished,
            other => Self::Other(other.to_string()),
        }
    }

    /// GAMA's name for it.
    pub fn name(&self) -> &str {
        match self {
            Self::None => "NONE",
            Self::NotReady => "NOTREADY",
            Self::Paused => "PAUSED",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Other(s) => s,
        }
    }

    /// Whether players can be created in it.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Paused | Self::Running)
    }
}

/// The state of the connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// First attempt since start.
    Connecting,
    /// Connected.
    Connected,
    /// The connection was lost; reconnecting.
    Retrying,
    /// Attempts are failing; still retrying in the background.
    Unreachable,
}

/// An error GAMA reported, in plain words.
#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    /// When (RFC 3339).
    pub at: String,
    /// What.
    pub message: String,
}

/// What the relay knows of GAMA.
#[derive(Debug, Clone)]
pub struct GamaStatus {
    /// Connection state.
    pub link: LinkState,
    /// Since when (RFC 3339).
    pub link_since: String,
    /// Why the relay is not connected, in plain words.
    pub link_reason: Option<String>,
    /// Connections made since start.
    pub connections: u64,
    /// The server mode, once known.
    pub mode: Option<ServerMode>,
    /// The experiment's state.
    pub experiment: ExperimentState,
    /// Id to put in commands.
    pub exp_id: Option<String>,
    /// The experiment's name, when known.
    pub experiment_name: Option<String>,
    /// `Some` while the experiment is live; a new value each time it becomes live again, so a
    /// reload or reconnection is never mistaken for the same game.
    pub live_epoch: Option<u64>,
    /// The last error GAMA reported.
    pub last_error: Option<LastError>,
    epochs: u64,
}

impl GamaStatus {
    fn new() -> Self {
        GamaStatus {
            link: LinkState::Connecting,
            link_since: util::now_rfc3339(),
            link_reason: None,
            connections: 0,
            mode: None,
            experiment: ExperimentState::None,
            exp_id: None,
            experiment_name: None,
            live_epoch: None,
            last_error: None,
            epochs: 0,
        }
    }

    /// Moves the experiment to `state`, opening a new live epoch when it becomes live.
    fn set_experiment(&mut self, state: ExperimentState) {
        if state.is_live() {
            if self.live_epoch.is_none() {
                self.epochs += 1;
                self.live_epoch = Some(self.epochs);
            }
        } else {
            self.live_epoch = None;
        }
        if state == ExperimentState::None {
            self.exp_id = None;
            self.experiment_name = None;
        }
        self.experiment = state;
    }

    fn set_link(&mut self, link: LinkState, reason: Option<String>) {
        if self.link != link {
            self.link_since = util::now_rfc3339();
        }
        self.link = link;
        self.link_reason = reason;
    }

    fn record_error(&mut self, message: String) {
        self.last_error = Some(LastError {
            at: util::now_rfc3339(),
            message,
        });
    }

    /// The `exp_id` commands must carry.
    fn command_exp_id(&self) -> Result<String, GamaError> {
        match (&self.exp_id, self.mode) {
            (Some(id), _) => Ok(id.clone()),
            // The desktop server ignores it and names its only experiment "0".
            (None, Some(ServerMode::Desktop) | None) => Ok("0".to_string()),
            (None, Some(ServerMode::Headless)) => Err(GamaError::NoExperiment),
        }
    }
}

/// Why a GAMA command did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GamaError {
    /// No connection to GAMA right now.
    #[error("GAMA is not connected")]
    NotConnected,
    /// No experiment to send the command to.
    #[error("no experiment is open in GAMA")]
    NoExperiment,
    /// GAMA did not answer in time.
    #[error("GAMA did not answer `{command}` within {}", fmt_duration(*.timeout))]
    Timeout {
        /// The command.
        command: CommandKind,
        /// The deadline it had.
        timeout: Duration,
    },
    /// The connection dropped before the answer came.
    #[error("the connection to GAMA was lost before it answered `{0}`")]
    Disconnected(CommandKind),
    /// GAMA answered with an error.
    #[error("GAMA could not execute `{command}`: {message}")]
    Rejected {
        /// The command.
        command: CommandKind,
        /// GAMA's message type (`UnableToExecuteRequest`, …).
        kind: String,
        /// GAMA's explanation.
        message: String,
    },
    /// Too many commands are already waiting.
    #[error("{0} commands are already waiting for GAMA; try again in a moment")]
    Busy(usize),
}

fn fmt_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// What the link hands to the rest of the relay.
pub trait GamaEvents: Send + Sync + 'static {
    /// One element of linker output to deliver, as soon as it is parsed (the hot path: called on
    /// the connection's reader task).
    fn deliver(&self, delivery: crate::protocol::gama::Delivery);
    /// A linker output was entirely delivered (`elements` elements).
    fn linker_output(&self, elements: usize);
    /// GAMA refused a headset's ask or expression.
    fn player_command_failed(&self, player: &str, error: &GamaError);
    /// Every frame from GAMA, as received, before it is handled (recording).
    fn gama_frame(&self, _frame: &crate::protocol::Frame) {}
    /// A frame that answers none of the relay's own commands (status, output, errors, and replies
    /// to tools' commands), for the tools connected through the relay.
    fn unsolicited(&self, _frame: &crate::protocol::Frame) {}
}

/// A command sent to GAMA whose reply has not been awaited yet.
#[must_use = "a reply is only received by awaiting it"]
pub struct PendingReply {
    link: GamaLink,
    seq: u64,
    kind: CommandKind,
    timeout: Duration,
    rx: oneshot::Receiver<Result<String, GamaError>>,
}

impl PendingReply {
    /// Waits for the reply, at most the command's deadline.
    pub async fn wait(self) -> Result<String, GamaError> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => {
                self.link
                    .inner
                    .metrics
                    .command_failed(self.kind, "Disconnected");
                Err(GamaError::Disconnected(self.kind))
            }
            Err(_) => {
                if let Some(live) = self.link.inner.live.lock().as_ref() {
                    live.pending.take(self.seq);
                }
                self.link.inner.metrics.command_failed(self.kind, "Timeout");
                Err(GamaError::Timeout {
                    command: self.kind,
                    timeout: self.timeout,
                })
            }
        }
    }
}

/// The live connection, while there is one.
struct Live {
    tx: mpsc::Sender<Message>,
    pending: Arc<Pending>,
}

struct Inner {
    config: GamaConfig,
    metrics: Arc<Metrics>,
    status: Mutex<GamaStatus>,
    changes: watch::Sender<u64>,
    live: Mutex<Option<Live>>,
    seq: AtomicU64,
}

/// Handle to the GAMA connection; cheap to clone.
#[derive(Clone)]
pub struct GamaLink {
    inner: Arc<Inner>,
}

impl GamaLink {
    /// A link that will connect to `config`'s address once [`GamaLink::spawn`] runs it.
    pub fn new(config: GamaConfig, metrics: Arc<Metrics>) -> Self {
        let (changes, _) = watch::channel(0);
        GamaLink {
            inner: Arc::new(Inner {
                config,
                metrics,
                status: Mutex::new(GamaStatus::new()),
                changes,
                live: Mutex::new(None),
                seq: AtomicU64::new(1),
            }),
        }
    }

    /// Starts the supervisor: connect, probe, read, reconnect, until `shutdown`.
    pub fn spawn(
        &self,
        events: Arc<dyn GamaEvents>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) {
        let link = self.clone();
        let tracker2 = tracker.clone();
        tracker.spawn(async move {
            util::supervised("gama link", shutdown.clone(), || {
                // A panic may have left a connection registered: forget it before starting over.
                *link.inner.live.lock() = None;
                connection::supervise(
                    link.clone(),
                    events.clone(),
                    shutdown.clone(),
                    tracker2.clone(),
                )
            })
            .await;
        });
    }

    /// `host:port` of gama-server.
    pub fn address(&self) -> String {
        self.inner.config.address()
    }

    /// A copy of what is known of GAMA.
    pub fn status(&self) -> GamaStatus {
        self.inner.status.lock().clone()
    }

    /// Notified (with a counter) on every change of [`GamaLink::status`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Number of commands awaiting a reply.
    pub fn in_flight(&self) -> usize {
        self.inner
            .live
            .lock()
            .as_ref()
            .map_or(0, |l| l.pending.len())
    }

    fn update<R>(&self, f: impl FnOnce(&mut GamaStatus) -> R) -> R {
        let r = f(&mut self.inner.status.lock());
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    /// Queues a command and registers who waits for its reply.
    fn submit(
        &self,
        cmd: &Command,
        timeout: Duration,
        experiment: Option<String>,
        waiter: Waiter,
    ) -> Result<u64, GamaError> {
        self.submit_with(cmd, timeout, experiment, waiter, true)
    }

    fn submit_with(
        &self,
        cmd: &Command,
        timeout: Duration,
        experiment: Option<String>,
        waiter: Waiter,
        record_failure: bool,
    ) -> Result<u64, GamaError> {
        let live = self.inner.live.lock();
        let Some(live) = live.as_ref() else {
            return Err(GamaError::NotConnected);
        };
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        live.pending.insert(
            seq,
            Entry {
                kind: cmd.kind,
                experiment,
                sent: now,
                deadline: now + timeout,
                timeout,
                waiter,
                record_failure,
            },
        )?;
        match live.tx.try_send(Message::text(cmd.finish(seq))) {
            Ok(()) => Ok(seq),
            Err(e) => {
                live.pending.take(seq);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => {
                        GamaError::Busy(self.inner.config.max_in_flight)
                    }
                    mpsc::error::TrySendError::Closed(_) => GamaError::NotConnected,
                })
            }
        }
    }

    /// Sends a command and waits for its reply, at most `timeout`. `Ok` carries the reply's content
    /// (a string's value, or other JSON as text).
    pub async fn request(&self, cmd: Command, timeout: Duration) -> Result<String, GamaError> {
        self.call(&cmd, timeout)?.wait().await
    }

    /// Queues a command now (so commands reach GAMA in the order of the calls) and returns the
    /// reply to await.
    pub fn call(&self, cmd: &Command, timeout: Duration) -> Result<PendingReply, GamaError> {
        self.call_with(cmd, timeout, None)
    }

    /// Sends a command whose failure is an expected answer (a probe), not GAMA's last error.
    async fn ask_quietly(&self, cmd: Command, timeout: Duration) -> Result<String, GamaError> {
        let (tx, rx) = oneshot::channel();
        let seq = self.submit_with(&cmd, timeout, None, Waiter::Reply(tx), false)?;
        PendingReply {
            link: self.clone(),
            seq,
            kind: cmd.kind,
            timeout,
            rx,
        }
        .wait()
        .await
    }

    fn call_with(
        &self,
        cmd: &Command,
        timeout: Duration,
        experiment: Option<String>,
    ) -> Result<PendingReply, GamaError> {
        let (tx, rx) = oneshot::channel();
        let seq = self.submit(cmd, timeout, experiment, Waiter::Reply(tx))?;
        Ok(PendingReply {
            link: self.clone(),
            seq,
            kind: cmd.kind,
            timeout,
            rx,
        })
    }

    /// Sends a headset's command without waiting; a failure reaches
    /// [`GamaEvents::player_command_failed`].
    pub fn send_for_player(&self, cmd: Command, player: Arc<str>) -> Result<(), GamaError> {
        self.submit(
            &cmd,
            self.inner.config.command_timeout(),
            None,
            Waiter::Detached { player },
        )
        .map(|_| ())
    }

    /// Forwards a tool's command (the JSON text it sent) on the relay's connection; GAMA's reply,
    /// echoing the tool's own fields, goes to `reply`. `Err` when it cannot be sent; the caller
    /// answers the tool.
    pub fn forward_client(&self, text: &str, reply: ClientReply) -> Result<(), GamaError> {
        let cmd = Command::client(text).ok_or(GamaError::Rejected {
            command: CommandKind::Client,
            kind: "MalformedRequest".into(),
            message: "a command must be a JSON object".into(),
        })?;
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(rename = "type", borrow, default)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        let is_load = serde_json::from_str::<Head<'_>>(text)
            .ok()
            .and_then(|h| h.kind)
            .is_some_and(|k| k == "load");
        let timeout = if is_load {
            self.inner.config.load_timeout()
        } else {
            self.inner.config.command_timeout()
        };
        self.submit(
            &cmd,
            timeout,
            None,
            Waiter::Client {
                reply,
                command: crate::protocol::Frame::from(text.trim().to_string()),
            },
        )
        .map(drop)
    }

    /// The `exp_id` for a headset's command if the experiment is live; otherwise why not, in
    /// plain words. Cheaper than [`GamaLink::status`] on the ask path.
    pub fn live_exp_id(&self) -> Result<String, String> {
        let status = self.inner.status.lock();
        if status.link != LinkState::Connected {
            return Err("GAMA is not connected".to_string());
        }
        if !status.experiment.is_live() {
            return Err(format!(
                "no experiment is running (GAMA state {})",
                status.experiment.name()
            ));
        }
        status.command_exp_id().map_err(|e| e.to_string())
    }

    /// The `exp_id` to put in experiment commands now.
    pub fn exp_id(&self) -> Result<String, GamaError> {
        self.inner.status.lock().command_exp_id()
    }

    /// Evaluates an expression (or runs a statement) in the experiment.
    pub async fn expression(&self, expr: &str) -> Result<String, GamaError> {
        let exp_id = self.exp_id()?;
        self.request(
            Command::expression(Some(&exp_id), expr),
            self.inner.config.command_timeout(),
        )
        .await
    }

    /// Loads an experiment and waits until it is live (PAUSED or RUNNING), all within the load
    /// deadline. The experiment id is learned as each server mode gives it (protocol.md §3.3, §4.1).
    pub async fn launch(
        &self,
        model: &str,
        experiment: &str,
        parameters: Option<&RawValue>,
    ) -> Result<(), GamaError> {
        let timeout = self.inner.config.load_timeout();
        let started = Instant::now();
        let mut changes = self.subscribe();
        self.call_with(
            &Command::load(model, experiment, parameters),
            timeout,
            Some(experiment.to_string()),
        )?
        .wait()
        .await?;
        let wait = async {
            loop {
                {
                    let status = self.inner.status.lock();
                    if status.experiment.is_live() {
                        return Ok(());
                    }
                    if status.link != LinkState::Connected {
                        return Err(GamaError::Disconnected(CommandKind::Load));
                    }
                }
                if changes.changed().await.is_err() {
                    return Err(GamaError::Disconnected(CommandKind::Load));
                }
            }
        };
        match tokio::time::timeout(timeout.saturating_sub(started.elapsed()), wait).await {
            Ok(result) => result,
            Err(_) => Err(GamaError::Timeout {
                command: CommandKind::Load,
                timeout,
            }),
        }
    }

    /// `play`.
    pub async fn play(&self) -> Result<(), GamaError> {
        let exp_id = self.exp_id()?;
        self.request(Command::play(&exp_id), self.inner.config.command_timeout())
            .await
            .map(drop)
    }

    /// `pause`.
    pub async fn pause(&self) -> Result<(), GamaError> {
        let exp_id = self.exp_id()?;
        self.request(Command::pause(&exp_id), self.inner.config.command_timeout())
            .await
            .map(drop)
    }

    /// Stops the experiment: pause first if it runs, then stop, each under its deadline. Whatever
    /// GAMA answers, the relay ends in a state from which a new launch is possible; the first error
    /// is returned so the operator hears about it.
    pub async fn stop(&self) -> Result<(), GamaError> {
        let mut first_error = None;
        let running = self.status().experiment == ExperimentState::Running;
        if running {
            if let Err(e) = self.pause().await {
                tracing::warn!(error = %e, "pausing before stop failed; sending stop anyway");
                first_error = Some(e);
            }
        }
        let exp_id = self.exp_id().unwrap_or_else(|_| "0".to_string());
        if let Err(e) = self
            .request(Command::stop(&exp_id), self.inner.config.command_timeout())
            .await
        {
            tracing::warn!(error = %e, "stop failed; the relay considers the experiment closed");
            first_error.get_or_insert(e);
        }
        self.update(|s| s.set_experiment(ExperimentState::None));
        first_error.map_or(Ok(()), Err)
    }
}
