//! What the relay knows of GAMA: the link, the server mode, the experiment's state and the id
//! commands must carry (protocol.md §3.3). Updated by the connection's reader from status messages
//! and command replies, read by everyone else as a copy.

use serde::Serialize;

use super::GamaError;
use crate::control::said::Said;

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

/// A tool's experiment in GAMA's desktop server, which holds one experiment at a time: a tool's
/// `load` through the relay replaced the session's. Players are not created in it, and its
/// messages go to that tool alone, until the relay loads its own again or the experiment closes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolHold {
    /// The tool's connection (its number on the endpoint).
    #[serde(skip)]
    pub tool: u64,
    /// Where the tool connected from.
    pub address: String,
    /// The model it loaded.
    pub model: String,
    /// The experiment it loaded.
    pub experiment: String,
    /// Since when (RFC 3339).
    pub since: String,
    /// Whether the tool is still connected (desktop GAMA keeps the experiment when it leaves).
    pub connected: bool,
    /// Whether the tool's experiment has been live: until then, the end of an experiment is the
    /// session's, which GAMA closes to open the tool's.
    #[serde(skip)]
    pub opened: bool,
}

/// What the relay knows of GAMA.
#[derive(Debug, Clone)]
pub struct GamaStatus {
    /// Connection state.
    pub link: LinkState,
    /// Since when (RFC 3339).
    pub link_since: String,
    /// Why the relay is not connected.
    pub link_reason: Option<Said>,
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
    /// Desktop: a tool's experiment replaced the session's.
    pub tool_hold: Option<ToolHold>,
    pub(super) epochs: u64,
}

impl GamaStatus {
    pub(super) fn new() -> Self {
        GamaStatus {
            link: LinkState::Connecting,
            link_since: crate::support::clock::now_rfc3339(),
            link_reason: None,
            connections: 0,
            mode: None,
            experiment: ExperimentState::None,
            exp_id: None,
            experiment_name: None,
            live_epoch: None,
            last_error: None,
            tool_hold: None,
            epochs: 0,
        }
    }

    /// Moves the experiment to `state`, opening a new live epoch when it becomes live (never in a
    /// tool's experiment: the session's players have no place in it).
    pub(super) fn set_experiment(&mut self, state: ExperimentState) {
        if let Some(hold) = self.tool_hold.as_mut().filter(|_| state.is_live()) {
            hold.opened = true;
        }
        if state.is_live() && self.tool_hold.is_none() {
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
            if self.tool_hold.as_ref().is_none_or(|h| h.opened) {
                self.tool_hold = None;
            }
        }
        self.experiment = state;
    }

    pub(super) fn set_link(&mut self, link: LinkState, reason: Option<Said>) {
        if self.link != link {
            self.link_since = crate::support::clock::now_rfc3339();
        }
        self.link = link;
        self.link_reason = reason;
    }

    pub(super) fn record_error(&mut self, message: String) {
        self.last_error = Some(LastError {
            at: crate::support::clock::now_rfc3339(),
            message,
        });
    }

    /// The `exp_id` commands must carry.
    pub(super) fn command_exp_id(&self) -> Result<String, GamaError> {
        match (&self.exp_id, self.mode) {
            (Some(id), _) => Ok(id.clone()),
            // The desktop server ignores it and names its only experiment "0".
            (None, Some(ServerMode::Desktop) | None) => Ok("0".to_string()),
            (None, Some(ServerMode::Headless)) => Err(GamaError::NoExperiment),
        }
    }
}
