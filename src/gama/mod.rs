//! The GAMA side: one supervised WebSocket connection to gama-server, commands matched to their
//! replies under deadlines, and what the relay knows of GAMA's experiment; beside it, what the
//! admin page draws of GAMA's world and pace ([`world`]) and the gama-server endpoint that gives
//! Python tools a GAMA of their own ([`tools`]).
//!
//! [`GamaLink`] is the handle the rest of the relay uses. Its supervisor task (in [`connection`])
//! keeps reconnecting; on every new connection it probes which server mode answers and what state
//! the experiment is in (protocol.md §3.3), so a relay restarted next to a running GAMA picks up
//! where GAMA is. Experiment state follows `SimulationStatus` messages and command replies, since
//! gama-headless may send no status at all.

mod connection;
mod pending;
mod status;
pub(crate) mod tools;
pub(crate) mod world;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::GamaConfig;
use crate::protocol::command::{Command, CommandKind};
use crate::server::metrics::Metrics;

pub use pending::{ClientReply, Entry, FOREVER, Pending, Waiter};
pub use status::{ExperimentState, GamaStatus, LastError, LinkState, ServerMode, ToolHold};

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
    fn deliver(&self, delivery: crate::protocol::linker::Delivery);
    /// A linker output was entirely delivered (`elements` elements).
    fn linker_output(&self, elements: usize);
    /// GAMA refused a headset's ask or expression.
    fn player_command_failed(&self, player: &str, error: &GamaError);
    /// Every frame from GAMA, as received, before it is handled (recording).
    fn gama_frame(&self, _frame: &crate::protocol::Frame) {}
    /// A message of the experiment tool `tool` loaded in GAMA's desktop server (status, output,
    /// errors): that tool's alone.
    fn tool_frame(&self, _tool: u64, _frame: &crate::protocol::Frame) {}
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
    pub async fn wait(mut self) -> Result<String, GamaError> {
        match tokio::time::timeout(self.timeout, &mut self.rx).await {
            Ok(received) => self.received(received),
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

    /// Waits for the reply of a command sent with [`GamaLink::call_patiently`]. When its deadline
    /// passes first, `late` hears the timeout at once, and the answer is still awaited: the
    /// result is GAMA's late answer, or a timeout once the patience is over too.
    pub async fn wait_late(mut self, late: impl FnOnce(&GamaError)) -> Result<String, GamaError> {
        if let Ok(received) = tokio::time::timeout(self.timeout, &mut self.rx).await {
            return self.received(received);
        }
        late(&GamaError::Timeout {
            command: self.kind,
            timeout: self.timeout,
        });
        let received = (&mut self.rx).await;
        self.received(received)
    }

    fn received(
        &self,
        received: Result<Result<String, GamaError>, oneshot::error::RecvError>,
    ) -> Result<String, GamaError> {
        received.unwrap_or_else(|_| {
            self.link
                .inner
                .metrics
                .command_failed(self.kind, "Disconnected");
            Err(GamaError::Disconnected(self.kind))
        })
    }
}

/// How a command is registered.
struct Submit {
    /// For `load`: the experiment asked for.
    experiment: Option<String>,
    waiter: Waiter,
    record_failure: bool,
}

impl Submit {
    fn waiter(waiter: Waiter) -> Self {
        Submit {
            experiment: None,
            waiter,
            record_failure: true,
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
    /// The tool whose experiment GAMA's desktop server holds ([`GamaStatus::tool_hold`]), 0 for
    /// none: read by the connection's reader for every frame.
    holder: AtomicU64,
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
                holder: AtomicU64::new(0),
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
            crate::server::tasks::supervised("gama link", shutdown.clone(), || {
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
        let r = {
            let mut status = self.inner.status.lock();
            let r = f(&mut status);
            let holder = status.tool_hold.as_ref().map_or(0, |h| h.tool);
            self.inner.holder.store(holder, Ordering::Relaxed);
            r
        };
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    /// The tool whose experiment the desktop server holds, 0 for none.
    fn holder(&self) -> u64 {
        self.inner.holder.load(Ordering::Relaxed)
    }

    /// A tool's `load` succeeded on the desktop server: its experiment replaced the session's. The
    /// session's players leave the game, and GAMA's messages go to that tool alone from now on.
    pub fn hold_for_tool(&self, hold: ToolHold) {
        self.update(|s| {
            s.experiment_name = Some(hold.experiment.clone());
            s.tool_hold = Some(hold);
            // GAMA answered before opening it (protocol.md §3.3).
            s.set_experiment(ExperimentState::NotReady);
        });
    }

    /// Waits until the experiment is live (PAUSED or RUNNING), at most `bound`.
    pub async fn until_live(&self, bound: Duration) -> Result<(), GamaError> {
        let mut changes = self.subscribe();
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
        tokio::time::timeout(bound, wait)
            .await
            .unwrap_or(Err(GamaError::Timeout {
                command: CommandKind::Load,
                timeout: bound,
            }))
    }

    /// Tool `tool` left: its commands still waiting are forgotten, and if GAMA holds its
    /// experiment, that is said (desktop GAMA keeps it). Returns the hold, if it had one.
    pub fn tool_left(&self, tool: u64) -> Option<ToolHold> {
        if let Some(live) = self.inner.live.lock().as_ref() {
            live.pending.forget_tool(tool);
        }
        if self.holder() != tool {
            return None;
        }
        self.update(|s| {
            let hold = s.tool_hold.as_mut().filter(|h| h.tool == tool)?;
            hold.connected = false;
            Some(hold.clone())
        })
    }

    /// Queues a command and registers who waits for its reply, until `deadline` from now.
    fn submit(&self, cmd: &Command, deadline: Duration, entry: Submit) -> Result<u64, GamaError> {
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
                experiment: entry.experiment,
                sent: now,
                deadline: now + deadline,
                timeout: deadline,
                waiter: entry.waiter,
                record_failure: entry.record_failure,
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
        self.pending_reply(cmd, timeout, timeout, None, true)
    }

    /// [`GamaLink::call`] for a command whose late answer still matters (`create_player`: GAMA
    /// busy with a heavy step may answer after `timeout`): the reply is awaited with
    /// [`PendingReply::wait_late`] and a late answer is taken until `patience` has passed.
    pub fn call_patiently(
        &self,
        cmd: &Command,
        timeout: Duration,
        patience: Duration,
    ) -> Result<PendingReply, GamaError> {
        self.pending_reply(cmd, timeout, patience.max(timeout), None, true)
    }

    /// Sends a command whose failure is an expected answer (a probe), not GAMA's last error.
    async fn ask_quietly(&self, cmd: Command, timeout: Duration) -> Result<String, GamaError> {
        self.pending_reply(&cmd, timeout, timeout, None, false)?
            .wait()
            .await
    }

    fn pending_reply(
        &self,
        cmd: &Command,
        timeout: Duration,
        patience: Duration,
        experiment: Option<String>,
        record_failure: bool,
    ) -> Result<PendingReply, GamaError> {
        let (tx, rx) = oneshot::channel();
        let submit = Submit {
            experiment,
            waiter: Waiter::Reply(tx),
            record_failure,
        };
        let seq = self.submit(cmd, patience, submit)?;
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
            Submit::waiter(Waiter::Detached { player }),
        )
        .map(drop)
    }

    /// Forwards a tool's command (the JSON text it sent) on the relay's connection; GAMA's reply,
    /// echoing the tool's own fields, goes to `reply`. The tool waits for it at most `timeout`
    /// (`None`: as long as GAMA takes). `Err` when it cannot be sent; the caller answers the tool.
    pub fn forward_client(
        &self,
        tool: u64,
        text: &str,
        reply: ClientReply,
        timeout: Option<Duration>,
    ) -> Result<(), GamaError> {
        let cmd = Command::client(text).ok_or(GamaError::Rejected {
            command: CommandKind::Client,
            kind: "MalformedRequest".into(),
            message: "a command must be a JSON object".into(),
        })?;
        self.submit(
            &cmd,
            timeout.unwrap_or(pending::FOREVER),
            Submit::waiter(Waiter::Client {
                tool,
                reply,
                command: crate::protocol::Frame::from(text.trim().to_string()),
            }),
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
        self.pending_reply(
            &Command::load(model, experiment, parameters),
            timeout,
            timeout,
            Some(experiment.to_string()),
            true,
        )?
        .wait()
        .await?;
        self.until_live(timeout.saturating_sub(started.elapsed()))
            .await
            .map_err(|e| match e {
                GamaError::Timeout { command, .. } => GamaError::Timeout { command, timeout },
                other => other,
            })
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
