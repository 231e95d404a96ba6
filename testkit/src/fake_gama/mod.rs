//! A fake gama-server, for tests that cannot run GAMA itself.
//!
//! [`FakeGama`] is a WebSocket *server* (the relay connects to it as a client, like the reference
//! middleware does to GAMA) that reproduces the observable behaviour of gama-server as described in
//! `shared/protocol.md` §3, in both of its server modes:
//!
//! * [`ServerMode::Desktop`]: the server embedded in the GAMA desktop application
//!   (`GamaGuiWebSocketServer`, SIMPLE's port 1000). One server-wide "frontmost" experiment,
//!   `exp_id` ignored, `load` answers the experiment *name*, `SimulationStatus` with `exp_id:"0"`
//!   sent on every state change to the most recently connected socket only, which is also the only
//!   socket that receives simulation output (§3.3).
//! * [`ServerMode::Headless`]: `gama-headless -socket N` (`GamaHeadlessWebSocketServer`).
//!   Experiments keyed by (socket, `exp_id`), `exp_id` mandatory, `load` answers a new experiment
//!   id, output goes to the socket that loaded the experiment, a socket's experiments are disposed
//!   when it closes (§3.3).
//!
//! On top of the server it emulates the part of the SIMPLE `unity_linker` (TC-Linker, §6 and
//! §7.1) that the relay sees: `create_player` / `remove_player`, `send_init_data`, readiness,
//! positions, `ping_GAMA`, and one world update per simulation cycle while the experiment runs.
//!
//! Failure injection (swallowed commands, delayed replies, failing expressions or loads, crashes,
//! clean shutdowns, network glitches, restarts on the same port) lets relay tests exercise their
//! deadlines and reconnection logic with real sockets.
//!
//! Key order matters on this link (protocol.md §2.1): every message whose key order is observable
//! is written with `#[derive(Serialize)]` structs (fields serialize in declaration order), never
//! with `serde_json::Map`, and replies echo the received command verbatim through [`RawValue`](serde_json::value::RawValue).
//!
//! The parts:
//!
//! * [`FakeGamaOptions`] and the modes (`options`); [`FakeGama`], the handle a test holds
//!   (`handle`), what it scripts on GAMA's side (`script`) and the faults it injects (`faults`);
//! * the server: the state shared by every handle and one frame's handling (`server`), the
//!   accept loop, ticker and connection tasks (`connection`);
//! * the simulation: experiments and their outputs (`state`), gama-server's commands
//!   (`commands`), the emulated linker (`linker`) and its worlds (`scene`), a `GymAgent` (`gym`);
//! * the protocol: reading a command (`args`), the shapes written on the wire (`wire`).

use std::time::Duration;

mod args;
mod commands;
mod connection;
mod faults;
mod gym;
mod handle;
mod linker;
mod options;
mod scene;
mod script;
mod server;
mod state;
mod wire;

pub use handle::FakeGama;
pub use options::{ContentShape, FakeGamaOptions, Scene, ServerMode};

/// Interval of the WebSocket ping control frames real gama-server sends
/// (`IGamaServer.DEFAULT_PING_INTERVAL`, protocol.md §3.1).
pub const GAMA_PING_INTERVAL: Duration = Duration::from_secs(10);

/// The agent reference the Unity client puts in every `ask` (protocol.md §5.2, §6.4).
pub const LINKER_AGENT: &str = "simulation[0].unity_linker[0]";

/// Model path used by [`FakeGama::open_experiment`], which has no `load` command to take it from.
const GUI_MODEL_PATH: &str = "/fake/models/gui.gaml";

/// Bound on the WebSocket handshake of an accepted TCP connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing side waits for the peer's close frame before dropping the TCP connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`FakeGama::restart`] retries binding the old port.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// Most cycles one `step` command runs (a huge `nb_step` must not freeze the fake).
const MAX_STEPS_PER_COMMAND: i64 = 10_000;

/// The linker's `precision` attribute (default 10000, protocol.md §6.1).
const PRECISION: i64 = 10_000;

/// Error text of every command that targets a missing experiment (GAMA `retrieveExperimentPlan`).
const NO_EXPERIMENT: &str = "Unable to find the experiment or simulation";
