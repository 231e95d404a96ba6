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
//! with `serde_json::Map`, and replies echo the received command verbatim through [`RawValue`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod gym;

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

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// Which of GAMA's two WebSocket servers the fake imitates (protocol.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// The server embedded in the GAMA desktop application (`GamaGuiWebSocketServer`, port 1000
    /// in SIMPLE): one frontmost experiment, `exp_id` ignored, status and output only to the most
    /// recently connected socket.
    Desktop,
    /// `gama-headless -socket N`: experiments per socket, `exp_id` mandatory.
    Headless,
}

/// How the `content` of a linker `SimulationOutput` is encoded (protocol.md §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentShape {
    /// A JSON string whose value is the linker JSON text: what real GAMA sends.
    String,
    /// The linker JSON embedded as an object (what some tools produce; a robust relay accepts it).
    Object,
}

/// Configuration of a [`FakeGama`]. Start from [`FakeGamaOptions::desktop`],
/// [`FakeGamaOptions::headless`] or `Default` and override fields.
#[derive(Debug, Clone)]
pub struct FakeGamaOptions {
    /// Server mode to imitate.
    pub mode: ServerMode,
    /// Headless mode only: emit `SimulationStatus` messages (the headless server class does not,
    /// but WP's CI observed them against GAMA 2025 headless, protocol.md §3.3). Default true.
    pub headless_status: bool,
    /// Encoding of linker output. Default [`ContentShape::String`], like real GAMA.
    pub content_shape: ContentShape,
    /// Period of one simulation cycle of a RUNNING experiment, in milliseconds. Default 100.
    pub cycle_ms: u64,
    /// Emulate the SIMPLE `unity_linker` (its asks and its per-cycle world output). Default true.
    pub linker: bool,
    /// The linker's `max_num_players`: `create_player` beyond it is silently ignored, as the real
    /// linker does. `None` = unlimited (default).
    pub max_players: Option<usize>,
    /// The linker's `min_num_players`: `{"enableMove":true}` is sent after `send_init_data` only
    /// when at least this many players exist. Default 0.
    pub min_players: usize,
    /// The experiment goes RUNNING right after it opens instead of PAUSED. Default false (SIMPLE
    /// experiments are `autorun: false`).
    pub autorun: bool,
    /// Listening address. Default `127.0.0.1:0` (an ephemeral port).
    pub bind: SocketAddr,
    /// Period of the WebSocket ping control frames sent to every client; `None` disables them.
    /// Default [`GAMA_PING_INTERVAL`] (10 s) like real GAMA.
    pub ping_interval: Option<Duration>,
    /// Desktop mode: time between the `load` reply (and its NOTREADY status) and the experiment
    /// becoming PAUSED/RUNNING, because the desktop application opens experiments asynchronously
    /// on its UI thread. Default 5 ms. Zero opens it synchronously right after the reply.
    pub open_delay: Duration,
    /// What the linker's worlds show. Default [`Scene::Minimal`].
    pub scene: Scene,
    /// How long one simulation cycle run by a `step` command takes, in milliseconds. A `step`
    /// with `sync: true` is answered once its cycles ran, and the commands its socket sent after
    /// it wait meanwhile (GAMA handles one socket's commands one after the other); other sockets
    /// are not held up. Default 0.
    pub step_ms: u64,
    /// The linker sends a player its initial data as soon as it is created, and each cycle's world
    /// to every player, as SIMPLE's earlier linker did, instead of waiting for the player to ask
    /// (`send_init_data`, `player_ready_to_receive_geometries`). For `gama-vr-relay demo`, where
    /// any headset that joins must see the town. Default false.
    pub push_worlds: bool,
}

/// What the emulated linker's worlds show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scene {
    /// One car whose position derives from the cycle, and one block (what the tests check).
    #[default]
    Minimal,
    /// A small town: cars driving round its blocks, for `gama-vr-relay demo`.
    Town,
}

impl Default for FakeGamaOptions {
    fn default() -> Self {
        FakeGamaOptions {
            mode: ServerMode::Desktop,
            headless_status: true,
            content_shape: ContentShape::String,
            cycle_ms: 100,
            linker: true,
            max_players: None,
            min_players: 0,
            autorun: false,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ping_interval: Some(GAMA_PING_INTERVAL),
            open_delay: Duration::from_millis(5),
            scene: Scene::Minimal,
            step_ms: 0,
            push_worlds: false,
        }
    }
}

impl FakeGamaOptions {
    /// Defaults for the desktop application's server (SIMPLE's usual setup).
    pub fn desktop() -> Self {
        FakeGamaOptions::default()
    }

    /// Defaults for `gama-headless -socket N`.
    pub fn headless() -> Self {
        FakeGamaOptions {
            mode: ServerMode::Headless,
            ..FakeGamaOptions::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (field order = emission order)
// ---------------------------------------------------------------------------------------------

/// `CommandResponse.serializeToJson`: `type, content, command` (protocol.md §3.1).
#[derive(Serialize)]
struct CommandReply<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    content: &'a RawValue,
    command: &'a RawValue,
}

/// A `MalformedRequest` for unreadable JSON: no `command` (protocol.md §3.1).
#[derive(Serialize)]
struct UnparsableReply<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    content: &'a str,
}

/// `GamaServerMessage.serializeToJson`: `type, content, exp_id`, never `command`.
#[derive(Serialize)]
struct Unsolicited<'a, C: Serialize> {
    #[serde(rename = "type")]
    ty: &'a str,
    content: C,
    exp_id: &'a str,
}

/// The first frame of every connection (`GamaWebSocketServer.onOpen`).
#[derive(Serialize)]
struct ConnectionSuccessful<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    content: &'a str,
}

/// Content of a console `write` output (`GamaServerConsoleListener.informConsole`).
#[derive(Serialize)]
struct ConsoleContent<'a> {
    message: &'a str,
    color: GamaColor,
}

/// A GAMA colour as serialized by gama-server.
#[derive(Serialize)]
struct GamaColor {
    gaml_type: &'static str,
    red: u8,
    green: u8,
    blue: u8,
    alpha: u8,
}

/// Content of a `describe` reply: `{experiments, species, name, path}`.
#[derive(Serialize)]
struct DescribeContent {
    experiments: Vec<DescribeExperiment>,
    species: Vec<DescribeSpecies>,
    name: String,
    path: String,
}

#[derive(Serialize)]
struct DescribeExperiment {
    name: String,
    parameters: Vec<Value>,
}

#[derive(Serialize)]
struct DescribeSpecies {
    name: &'static str,
}

/// The linker's batch: `{"contents":[..],"type":"output"}` (protocol.md §4.4).
#[derive(Serialize)]
struct LinkerBatch {
    contents: Vec<LinkerElement>,
    #[serde(rename = "type")]
    ty: &'static str,
}

/// One element of a linker batch: `{"id":[players],"contents":{payload}}`.
#[derive(Serialize)]
struct LinkerElement {
    id: Vec<String>,
    contents: Box<RawValue>,
}

/// `send_parameters` payload (protocol.md §6.3). `minPlayerUpdateDuration` is a Java double.
#[derive(Serialize)]
struct ParametersPayload {
    precision: i64,
    world: [i64; 2],
    #[serde(rename = "minPlayerUpdateDuration")]
    min_player_update_duration: f64,
}

/// `enable_player_movement` payload.
#[derive(Serialize)]
struct EnableMovePayload {
    #[serde(rename = "enableMove")]
    enable_move: bool,
}

/// `end_of_game` payload.
#[derive(Serialize)]
struct EndOfGamePayload<'a> {
    #[serde(rename = "endOfGame")]
    end_of_game: &'a str,
}

/// `send_unity_propetries` payload.
#[derive(Serialize)]
struct PropertiesPayload {
    properties: (PrefabProperty, GeometryProperty),
}

/// A property whose agents are drawn with a prefab: `id, tag`, aspect keys, interaction keys,
/// `toFollow` (protocol.md §6.3).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrefabProperty {
    id: &'static str,
    tag: &'static str,
    has_prefab: bool,
    prefab: &'static str,
    size: i64,
    rotation_coeff: i64,
    rotation_offset: i64,
    y_offset: i64,
    constraints: Option<[bool; 6]>,
    is_interactable: bool,
    is_grabable: bool,
    has_collider: bool,
    to_follow: bool,
}

/// A property whose agents are drawn as geometries, without colour (`-1` channels and the
/// double `alpha` `0.0`, protocol.md §6.3).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GeometryProperty {
    id: &'static str,
    tag: &'static str,
    has_prefab: bool,
    height: i64,
    #[serde(rename = "is3D")]
    is_3d: bool,
    red: i64,
    green: i64,
    blue: i64,
    alpha: f64,
    material: Option<&'static str>,
    constraints: Option<[bool; 6]>,
    is_interactable: bool,
    is_grabable: bool,
    has_collider: bool,
    to_follow: bool,
}

/// `send_geometries` payload (protocol.md §6.3), keys in emission order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorldPayload {
    points_loc: Vec<Coords>,
    is_init: bool,
    offset_y_geom: Vec<i64>,
    names: Vec<String>,
    keep_names: Vec<&'static str>,
    #[serde(rename = "propertyID")]
    property_id: Vec<&'static str>,
    points_geom: Vec<Coords>,
    attributes: Vec<EmptyObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<[i64; 3]>,
}

/// `{"c":[..]}` coordinate lists of `pointsLoc` / `pointsGeom`.
#[derive(Serialize)]
struct Coords {
    c: Vec<i64>,
}

/// `{}` (an agent without attributes).
#[derive(Serialize)]
struct EmptyObject {}

/// Serializes a value to an owned raw JSON value. Serializing the plain structs and strings of
/// this module cannot fail; should it ever, `null` is used and the error logged.
fn to_raw<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|e| {
        tracing::error!("fake-gama: cannot serialize a value: {e}");
        RawValue::NULL.to_owned()
    })
}

/// Serializes a message to JSON text (see [`to_raw`] for the error policy).
fn to_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        tracing::error!("fake-gama: cannot serialize a message: {e}");
        "null".to_owned()
    })
}

/// The `SimulationStatus` frame of `state` for experiment `exp_id`.
fn status_frame(state: &str, exp_id: &str) -> String {
    to_text(&Unsolicited {
        ty: "SimulationStatus",
        content: state,
        exp_id,
    })
}

/// The `SimulationOutput` frame of a linker JSON text, shaped per `shape` (protocol.md §4.4).
fn linker_output_frame(shape: ContentShape, linker_json: &str, exp_id: &str) -> String {
    if shape == ContentShape::Object {
        match serde_json::from_str::<&RawValue>(linker_json) {
            Ok(raw) => {
                return to_text(&Unsolicited {
                    ty: "SimulationOutput",
                    content: raw,
                    exp_id,
                });
            }
            Err(e) => {
                tracing::warn!("fake-gama: linker output is not JSON ({e}), sent as a string")
            }
        }
    }
    to_text(&Unsolicited {
        ty: "SimulationOutput",
        content: linker_json,
        exp_id,
    })
}

/// Decimal socket id derived from a connection number: distinct per connection and shaped like
/// Java's `hashCode()` output (a positive 31-bit integer).
fn socket_id_for(conn: u64) -> String {
    // An odd multiplier is a bijection modulo 2^31.
    (conn.wrapping_mul(2_654_435_761) & 0x7fff_ffff).to_string()
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// State of an open experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpState {
    NotReady,
    Paused,
    Running,
}

impl ExpState {
    fn name(self) -> &'static str {
        match self {
            ExpState::NotReady => "NOTREADY",
            ExpState::Paused => "PAUSED",
            ExpState::Running => "RUNNING",
        }
    }
}

/// One experiment and the linker state inside it.
#[derive(Debug)]
struct Experiment {
    /// `"0"` in desktop mode (the GUI server's constant), the decimal id in headless mode.
    id: String,
    name: String,
    model: String,
    /// Headless: socket id of the owning socket (it receives the status and output).
    owner: Option<String>,
    state: ExpState,
    cycle: u64,
    players: Vec<String>,
    ready: Vec<String>,
    positions: HashMap<String, (i64, i64, i64, i64)>,
    /// Desktop: which opening this experiment belongs to (guards the delayed open step).
    generation: u64,
    /// The `GymAgent` of a gym model (see [`gym`]).
    gym: Option<gym::GymAgent>,
}

impl Experiment {
    fn new(
        id: String,
        name: String,
        model: String,
        owner: Option<String>,
        state: ExpState,
    ) -> Self {
        let gym = gym::is_gym_model(&model).then(gym::GymAgent::new);
        Experiment {
            id,
            name,
            model,
            owner,
            state,
            cycle: 0,
            players: Vec::new(),
            ready: Vec::new(),
            gym,
            positions: HashMap::new(),
            generation: 0,
        }
    }

    fn clear_run(&mut self) {
        if self.gym.is_some() {
            self.gym = Some(gym::GymAgent::new());
        }
        self.cycle = 0;
        self.players.clear();
        self.ready.clear();
        self.positions.clear();
    }
}

/// Which experiment a command addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpKey {
    Desktop,
    Headless(u64),
}

/// A frame queued for one connection's task.
#[derive(Debug)]
enum Out {
    /// Send now (after what is already queued).
    Text(String),
    /// A command reply held back until the instant (reply-delay injection).
    Delayed(Instant, String),
    /// Send a close frame, finish the closing handshake, end the connection.
    Close(u16, String),
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    socket_id: String,
}

/// Failure injection settings.
#[derive(Debug, Default)]
struct Failures {
    failing_expressions: Vec<(String, String)>,
    swallowed: Vec<String>,
    reply_delay: Option<Duration>,
    load_error: Option<String>,
}

/// What GAMA loses when it crashes or quits.
#[derive(Debug, Default)]
struct Sim {
    desktop: Option<Experiment>,
    headless: BTreeMap<u64, Experiment>,
    files: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    listener: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
    conn_tasks: HashMap<u64, JoinHandle<()>>,
    conns: BTreeMap<u64, Conn>,
    /// The most recently connected socket (desktop mode: the one receiving status and output,
    /// even after it closed, as `GamaGuiWebSocketServer` keeps the last opened socket).
    latest: Option<u64>,
    accepted: usize,
    commands: Vec<Value>,
    next_exp_id: u64,
    open_generation: u64,
    sim: Sim,
    failures: Failures,
    /// Frames produced while handling an event, flushed after the reply (see [`State::flush`]).
    outbox: Vec<(u64, String)>,
}

impl State {
    /// Queues a frame for a connection; delivered by [`State::flush`].
    fn queue(&mut self, conn: u64, frame: String) {
        self.outbox.push((conn, frame));
    }

    /// Hands every queued frame to its connection task, in order. Called while the state lock is
    /// still held so that frames from different events never interleave out of order.
    fn flush(&mut self) {
        for (conn, frame) in self.outbox.drain(..) {
            if let Some(c) = self.conns.get(&conn) {
                let _ = c.tx.send(Out::Text(frame));
            }
        }
    }

    fn send_now(&self, conn: u64, out: Out) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(out);
        }
    }

    /// The socket receiving status and output of an experiment (protocol.md §3.3).
    fn output_conn(&self, mode: ServerMode, owner: Option<&str>) -> Option<u64> {
        match mode {
            ServerMode::Desktop => self.latest,
            ServerMode::Headless => owner.and_then(|o| {
                self.conns
                    .iter()
                    .find(|(_, c)| c.socket_id == o)
                    .map(|(id, _)| *id)
            }),
        }
    }

    /// The socket that receives output when no particular experiment is involved.
    fn current_output_conn(&self, mode: ServerMode) -> Option<u64> {
        match self.current_key(mode) {
            Some(key) => {
                let owner = self.exp(key).and_then(|e| e.owner.clone());
                self.output_conn(mode, owner.as_deref())
            }
            None => self.latest,
        }
    }

    fn exp(&self, key: ExpKey) -> Option<&Experiment> {
        match key {
            ExpKey::Desktop => self.sim.desktop.as_ref(),
            ExpKey::Headless(id) => self.sim.headless.get(&id),
        }
    }

    fn exp_mut(&mut self, key: ExpKey) -> Option<&mut Experiment> {
        match key {
            ExpKey::Desktop => self.sim.desktop.as_mut(),
            ExpKey::Headless(id) => self.sim.headless.get_mut(&id),
        }
    }

    /// Desktop: the frontmost experiment; headless: the most recently loaded live one.
    fn current_key(&self, mode: ServerMode) -> Option<ExpKey> {
        match mode {
            ServerMode::Desktop => self.sim.desktop.as_ref().map(|_| ExpKey::Desktop),
            ServerMode::Headless => self
                .sim
                .headless
                .keys()
                .next_back()
                .map(|id| ExpKey::Headless(*id)),
        }
    }

    fn all_keys(&self) -> Vec<ExpKey> {
        let mut keys: Vec<ExpKey> = self.sim.desktop.iter().map(|_| ExpKey::Desktop).collect();
        keys.extend(self.sim.headless.keys().map(|id| ExpKey::Headless(*id)));
        keys
    }

    /// Queues a frame for the socket receiving `key`'s output.
    fn queue_output(&mut self, mode: ServerMode, key: ExpKey, frame: String) {
        let owner = self.exp(key).and_then(|e| e.owner.clone());
        if let Some(conn) = self.output_conn(mode, owner.as_deref()) {
            self.queue(conn, frame);
        }
    }

    /// Queues a linker output (wrapped per the content shape) for `key`'s output socket.
    fn queue_linker(&mut self, opts: &FakeGamaOptions, key: ExpKey, batch: &LinkerBatch) {
        let Some(exp_id) = self.exp(key).map(|e| e.id.clone()) else {
            return;
        };
        let frame = linker_output_frame(opts.content_shape, &to_text(batch), &exp_id);
        self.queue_output(opts.mode, key, frame);
    }

    /// Changes an experiment's state; a `SimulationStatus` is queued only on an actual change
    /// (desktop always, headless when `headless_status`).
    fn set_state(&mut self, opts: &FakeGamaOptions, key: ExpKey, new: ExpState) {
        let Some(exp) = self.exp_mut(key) else {
            return;
        };
        if exp.state == new {
            return;
        }
        exp.state = new;
        let id = exp.id.clone();
        if emits_status(opts) {
            self.queue_output(opts.mode, key, status_frame(new.name(), &id));
        }
    }

    /// Closes an experiment (status NONE).
    fn close_experiment(&mut self, opts: &FakeGamaOptions, key: ExpKey) {
        let Some(id) = self.exp(key).map(|e| e.id.clone()) else {
            return;
        };
        if emits_status(opts) {
            self.queue_output(opts.mode, key, status_frame("NONE", &id));
        }
        match key {
            ExpKey::Desktop => self.sim.desktop = None,
            ExpKey::Headless(n) => {
                self.sim.headless.remove(&n);
            }
        }
    }

    /// `reload`: NOTREADY, players cleared, cycle 0, then PAUSED (RUNNING with autorun).
    fn reload(&mut self, opts: &FakeGamaOptions, key: ExpKey) {
        self.set_state(opts, key, ExpState::NotReady);
        if let Some(exp) = self.exp_mut(key) {
            exp.clear_run();
        }
        self.set_state(opts, key, initial_state(opts));
    }

    /// Desktop: opens a new frontmost experiment (replacing any previous one) in NOTREADY; it
    /// becomes PAUSED/RUNNING through [`State::finish_open`]. Returns the opening's generation.
    fn begin_desktop_open(&mut self, name: &str, model: &str) -> u64 {
        self.open_generation += 1;
        let generation = self.open_generation;
        let previous = self.sim.desktop.as_ref().map(|e| e.state);
        let mut exp = Experiment::new(
            "0".to_owned(),
            name.to_owned(),
            model.to_owned(),
            None,
            ExpState::NotReady,
        );
        exp.generation = generation;
        self.sim.desktop = Some(exp);
        if previous != Some(ExpState::NotReady)
            && let Some(conn) = self.latest
        {
            self.queue(conn, status_frame("NOTREADY", "0"));
        }
        generation
    }

    /// Desktop: the experiment of opening `generation` finished opening.
    fn finish_open(&mut self, opts: &FakeGamaOptions, generation: u64) {
        let current = self
            .sim
            .desktop
            .as_ref()
            .is_some_and(|e| e.generation == generation && e.state == ExpState::NotReady);
        if current {
            self.set_state(opts, ExpKey::Desktop, initial_state(opts));
        }
    }

    /// Headless: disposes every experiment of a socket that closed (no status: nobody to tell).
    fn dispose_socket_experiments(&mut self, socket_id: &str) {
        self.sim
            .headless
            .retain(|_, e| e.owner.as_deref() != Some(socket_id));
    }

    /// One simulation cycle of a running experiment: cycle + 1 and a world update for the ready
    /// players (the linker's per-step `send_world`).
    fn run_cycle(&mut self, opts: &FakeGamaOptions, key: ExpKey) {
        let Some(exp) = self.exp_mut(key) else {
            return;
        };
        exp.cycle += 1;
        if let Some(agent) = &mut exp.gym {
            agent.step();
        }
        let ready = if opts.push_worlds {
            exp.players.clone()
        } else {
            exp.ready.clone()
        };
        if !opts.linker || ready.is_empty() {
            return;
        }
        let cycle = exp.cycle;
        let contents = ready
            .into_iter()
            .map(|p| LinkerElement {
                id: vec![p],
                contents: to_raw(&update_world(opts.scene, cycle)),
            })
            .collect();
        self.queue_linker(
            opts,
            key,
            &LinkerBatch {
                contents,
                ty: "output",
            },
        );
    }

    /// Resets what a GAMA process loses when it stops.
    fn reset_sim(&mut self) {
        self.sim = Sim::default();
        self.latest = None;
        self.outbox.clear();
    }
}

fn emits_status(opts: &FakeGamaOptions) -> bool {
    opts.mode == ServerMode::Desktop || opts.headless_status
}

fn initial_state(opts: &FakeGamaOptions) -> ExpState {
    if opts.autorun {
        ExpState::Running
    } else {
        ExpState::Paused
    }
}

/// The per-cycle (non-init) world: one moving prefab agent whose position derives from the cycle
/// ([`Scene::Minimal`]), or the town's cars ([`Scene::Town`]).
fn update_world(scene: Scene, cycle: u64) -> WorldPayload {
    if scene == Scene::Town {
        let cars = town_cars(cycle);
        return WorldPayload {
            names: (0..cars.len()).map(|i| format!("car{i}")).collect(),
            property_id: vec!["car"; cars.len()],
            attributes: cars.iter().map(|_| EmptyObject {}).collect(),
            points_loc: cars,
            is_init: false,
            offset_y_geom: Vec::new(),
            keep_names: Vec::new(),
            points_geom: Vec::new(),
            position: None,
        };
    }
    let step = i64::try_from(cycle % 1000).unwrap_or(0);
    WorldPayload {
        points_loc: vec![Coords {
            c: vec![
                100_000 + step * 1_000,
                200_000 + step * 500,
                0,
                (step * 100_000) % 3_600_000,
            ],
        }],
        is_init: false,
        offset_y_geom: Vec::new(),
        names: vec!["agent0".to_owned()],
        keep_names: Vec::new(),
        property_id: vec!["car"],
        points_geom: Vec::new(),
        attributes: vec![EmptyObject {}],
        position: None,
    }
}

/// The init world sent by `send_init_data`: the prefab agent and a static block, or the town.
fn init_world(scene: Scene) -> WorldPayload {
    if scene == Scene::Town {
        let cars = town_cars(0);
        let blocks = town_blocks();
        let mut names: Vec<String> = (0..cars.len()).map(|i| format!("car{i}")).collect();
        names.extend((0..blocks.len()).map(|i| format!("block{i}")));
        let mut property_id = vec!["car"; cars.len()];
        property_id.extend(vec!["block"; blocks.len()]);
        return WorldPayload {
            attributes: names.iter().map(|_| EmptyObject {}).collect(),
            points_loc: cars,
            is_init: true,
            offset_y_geom: vec![0; blocks.len()],
            names,
            keep_names: Vec::new(),
            property_id,
            points_geom: blocks,
            position: Some([500_000, 100_000, 0]),
        };
    }
    WorldPayload {
        points_loc: vec![Coords {
            c: vec![100_000, 200_000, 0, 900_000],
        }],
        is_init: true,
        offset_y_geom: vec![0],
        names: vec!["agent0".to_owned(), "block0".to_owned()],
        keep_names: Vec::new(),
        property_id: vec!["car", "block"],
        points_geom: vec![Coords {
            c: vec![
                100_000, 100_000, 200_000, 100_000, 200_000, 200_000, 100_000, 100_000,
            ],
        }],
        attributes: vec![EmptyObject {}, EmptyObject {}],
        position: Some([500_000, 500_000, 0]),
    }
}

/// The town's cars at `cycle`: each drives round its own ring road at its own speed, heading
/// along the road.
fn town_cars(cycle: u64) -> Vec<Coords> {
    (0..10u64)
        .map(|i| {
            let radius = 120_000.0 + 22_000.0 * i as f64;
            let speed = 0.02 + 0.004 * (i % 4) as f64;
            let angle = cycle as f64 * speed * if i % 2 == 0 { 1.0 } else { -1.0 } + i as f64;
            let x = 500_000.0 + radius * angle.cos();
            let y = 400_000.0 + radius * 0.75 * angle.sin();
            let heading =
                (angle.to_degrees() + if i % 2 == 0 { 90.0 } else { -90.0 }).rem_euclid(360.0);
            Coords {
                c: vec![x as i64, y as i64, 0, (heading * PRECISION as f64) as i64],
            }
        })
        .collect()
}

/// The town's blocks: closed rectangles.
fn town_blocks() -> Vec<Coords> {
    [
        (440_000, 350_000, 60_000, 50_000),
        (200_000, 120_000, 80_000, 60_000),
        (750_000, 130_000, 90_000, 70_000),
        (180_000, 600_000, 70_000, 90_000),
        (760_000, 620_000, 100_000, 60_000),
        (480_000, 700_000, 60_000, 40_000),
    ]
    .into_iter()
    .map(|(x, y, w, h)| Coords {
        c: vec![x, y, x + w, y, x + w, y + h, x, y + h, x, y],
    })
    .collect()
}

fn properties(scene: Scene) -> PropertiesPayload {
    PropertiesPayload {
        properties: (
            PrefabProperty {
                id: "car",
                tag: "car",
                has_prefab: true,
                prefab: "Prefabs/Visual Prefabs/City/Vehicles/Car",
                // The town is 100 m wide: its cars are cars.
                size: if scene == Scene::Town {
                    3 * PRECISION
                } else {
                    3 * PRECISION * 10
                },
                rotation_coeff: PRECISION,
                rotation_offset: -90 * PRECISION,
                y_offset: 0,
                constraints: None,
                is_interactable: false,
                is_grabable: false,
                has_collider: false,
                to_follow: false,
            },
            GeometryProperty {
                id: "block",
                tag: "block",
                has_prefab: false,
                height: 10 * PRECISION,
                is_3d: true,
                red: -1,
                green: -1,
                blue: -1,
                alpha: 0.0,
                material: None,
                constraints: None,
                is_interactable: false,
                is_grabable: false,
                has_collider: true,
                to_follow: false,
            },
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Command handling
// ---------------------------------------------------------------------------------------------

/// A command's outcome: message type and content.
struct Resp {
    ty: &'static str,
    content: Box<RawValue>,
}

impl Resp {
    fn ok<T: Serialize + ?Sized>(content: &T) -> Resp {
        Resp {
            ty: "CommandExecutedSuccessfully",
            content: to_raw(content),
        }
    }

    fn unable(message: &str) -> Resp {
        Resp {
            ty: "UnableToExecuteRequest",
            content: to_raw(message),
        }
    }

    fn malformed(message: &str) -> Resp {
        Resp {
            ty: "MalformedRequest",
            content: to_raw(message),
        }
    }

    fn server_error(message: &str) -> Resp {
        Resp {
            ty: "GamaServerError",
            content: to_raw(message),
        }
    }
}

/// A field as text the way GAMA reads it (`"" + map.get(key)`): strings as is, other scalars as
/// their JSON text; `None` when absent or null.
fn field_text(cmd: &Value, key: &str) -> Option<String> {
    match cmd.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `exp_id` / `socket_id` style fields: absent, null or empty → `None`.
fn non_empty_field(cmd: &Value, key: &str) -> Option<String> {
    field_text(cmd, key).filter(|s| !s.trim().is_empty())
}

/// `nb_step`: int or numeric string, default 1 (`Integer.parseInt("" + v)`).
fn nb_step(cmd: &Value) -> Result<i64, Resp> {
    match field_text(cmd, "nb_step") {
        None => Ok(1),
        Some(s) if s.trim().is_empty() => Ok(1),
        Some(s) => s.trim().parse::<i64>().map_err(|_| {
            Resp::server_error(&format!(
                "java.lang.NumberFormatException: For input string: \"{s}\""
            ))
        }),
    }
}

/// Checks a model path the way `load`/`describe` do (the fake cannot look at the GAMA host's
/// disk: any absolute `.gaml` path "exists").
fn check_model(path: &str) -> Result<(), Resp> {
    if !Path::new(path).is_absolute() {
        return Err(Resp::unable(&format!("'{path}' does not exist")));
    }
    if !path.to_ascii_lowercase().ends_with(".gaml") {
        return Err(Resp::unable(&format!("'{path}' is not a gaml file")));
    }
    Ok(())
}

/// `CommandExecutor.checkLoadParameters`: every parameter needs `name` and `value`.
fn check_parameters(cmd: &Value) -> Result<(), Resp> {
    match cmd.get("parameters") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(params)) => {
            for p in params {
                let ok = p.get("name").is_some() && p.get("value").is_some();
                if !ok {
                    return Err(Resp::malformed(&format!(
                        "Each parameter must have a 'name' and a 'value': {p}"
                    )));
                }
            }
            Ok(())
        }
        Some(other) => Err(Resp::malformed(&format!(
            "'parameters' must be a list: {other}"
        ))),
    }
}

/// Parses a GAML string literal at the start of `s` (`"…"` or `'…'`, escapes `\"`, `\'`, `\\`,
/// `\n`, `\t`, `\r`). Returns the value and the rest of the input.
fn parse_gaml_string(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, e) = chars.next()?;
                value.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c if c == quote => return Some((value, &s[i + c.len_utf8()..])),
            c => value.push(c),
        }
    }
    None
}

/// A parsed `do action(args);` statement.
struct DoStatement {
    action: String,
    /// The single string-literal argument, when the arguments are exactly one string literal.
    string_arg: Option<String>,
}

/// Parses `do <action>[(<args>)][;]`; `Err` is a GAML syntax error text.
fn parse_do(expr: &str) -> Result<Option<DoStatement>, String> {
    let Some(rest) = expr.strip_prefix("do") else {
        return Ok(None);
    };
    if !rest.starts_with(char::is_whitespace) {
        return Ok(None);
    }
    let rest = rest.trim_start();
    let name_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if name_len == 0 {
        return Err(format!("syntax error in '{expr}'"));
    }
    let action = rest[..name_len].to_owned();
    let mut rest = rest[name_len..].trim_start();
    let mut string_arg = None;
    if let Some(args) = rest.strip_prefix('(') {
        let args = args.trim_start();
        if let Some((value, after)) = parse_gaml_string(args) {
            let after = after.trim_start();
            if let Some(after) = after.strip_prefix(')') {
                string_arg = Some(value);
                rest = after.trim_start();
            } else {
                // More arguments, or garbage after the literal: find the closing parenthesis of a
                // well-formed call, else it is a syntax error (e.g. an unescaped quote in an id).
                let Some(close) = after.rfind(')') else {
                    return Err(format!("syntax error in '{expr}'"));
                };
                if !after.starts_with(',') {
                    return Err(format!("syntax error in '{expr}'"));
                }
                rest = after[close + 1..].trim_start();
            }
        } else {
            let Some(close) = args.rfind(')') else {
                return Err(format!("syntax error in '{expr}'"));
            };
            if args[..close].contains(['"', '\'']) {
                return Err(format!("syntax error in '{expr}'"));
            }
            rest = args[close + 1..].trim_start();
        }
    }
    let rest = rest.strip_prefix(';').unwrap_or(rest).trim();
    if !rest.is_empty() {
        return Err(format!("syntax error in '{expr}'"));
    }
    Ok(Some(DoStatement { action, string_arg }))
}

/// The arguments of an `ask`: a JSON string holding an object (what GAMA expects), or an object
/// (what gama-client sends).
fn ask_args(cmd: &Value) -> Result<serde_json::Map<String, Value>, Resp> {
    match cmd.get("args") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(Resp::server_error(&format!(
                "java.lang.ClassCastException: the 'args' of ask must be a JSON object, got {other}"
            ))),
            Err(e) => Err(Resp::server_error(&format!(
                "gama.core.util.file.json.ParseException: cannot parse the 'args' of ask: {e}"
            ))),
        },
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(other) => Err(Resp::server_error(&format!(
            "java.lang.ClassCastException: the 'args' of ask must be a JSON string, got {other}"
        ))),
        None => Err(Resp::server_error(
            "java.lang.NullPointerException: the 'args' of ask are missing",
        )),
    }
}

/// An argument value as GAMA casts it to a string.
fn arg_text(args: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match args.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An argument value as GAMA casts it to an int (unparsable → 0).
fn arg_int(args: &serde_json::Map<String, Value>, key: &str) -> i64 {
    match args.get(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

/// Actions of the SIMPLE linker the fake implements (protocol.md §6.4).
const LINKER_ACTIONS: &[&str] = &[
    "send_init_data",
    "player_ready_to_receive_geometries",
    "player_position_updated",
    "move_player_external",
    "move_geoms_followed",
    "ping_GAMA",
];

/// Command handling: one event under the state lock.
struct Ctx<'a> {
    inner: &'a Arc<Inner>,
    st: &'a mut State,
    conn: u64,
}

impl Ctx<'_> {
    fn opts(&self) -> &FakeGamaOptions {
        &self.inner.opts
    }

    fn socket_id(&self) -> String {
        self.st
            .conns
            .get(&self.conn)
            .map(|c| c.socket_id.clone())
            .unwrap_or_else(|| socket_id_for(self.conn))
    }

    /// `retrieveExperimentPlan`: the frontmost experiment (desktop) or the (socket, exp_id) one.
    fn lookup(&self, cmd: &Value, ty: &str) -> Result<ExpKey, Resp> {
        match self.opts().mode {
            // An experiment still opening has no agent yet: GAMA cannot find it.
            ServerMode::Desktop => match &self.st.sim.desktop {
                Some(e) if e.state != ExpState::NotReady => Ok(ExpKey::Desktop),
                _ => Err(Resp::unable(NO_EXPERIMENT)),
            },
            ServerMode::Headless => {
                let Some(exp_id) = non_empty_field(cmd, "exp_id") else {
                    return Err(Resp::malformed(&format!(
                        "For {ty}, mandatory parameter is: exp_id"
                    )));
                };
                let socket = non_empty_field(cmd, "socket_id").unwrap_or_else(|| self.socket_id());
                let found = exp_id.trim().parse::<u64>().ok().filter(|n| {
                    self.st
                        .sim
                        .headless
                        .get(n)
                        .is_some_and(|e| e.owner.as_deref() == Some(socket.as_str()))
                });
                found
                    .map(ExpKey::Headless)
                    .ok_or_else(|| Resp::unable(NO_EXPERIMENT))
            }
        }
    }

    fn dispatch(&mut self, ty: &str, cmd: &Value) -> Resp {
        match ty {
            "load" => self.load(cmd),
            "play" => self.play_pause(cmd, ty, ExpState::Running),
            "pause" => self.play_pause(cmd, ty, ExpState::Paused),
            "step" => self.step(cmd, ty),
            "stepBack" | "back" => self.step_back(cmd, ty),
            "stop" => self.stop(cmd, ty),
            "reload" => self.reload(cmd, ty),
            "expression" | "evaluate" => self.expression(cmd, ty),
            "ask" => self.ask(cmd, ty),
            "validate" => match field_text(cmd, "expr") {
                Some(expr) => Resp::ok(expr.trim()),
                None => Resp::malformed("For validate, mandatory parameter is: expr"),
            },
            "describe" => self.describe(cmd),
            "upload" => match (field_text(cmd, "file"), field_text(cmd, "content")) {
                (Some(file), Some(content)) => {
                    self.st.sim.files.insert(file, content);
                    Resp::ok("")
                }
                _ => {
                    Resp::malformed("For 'upload', mandatory parameters are: 'file' and 'content'")
                }
            },
            "download" => match field_text(cmd, "file") {
                Some(file) => match self.st.sim.files.get(&file) {
                    Some(content) => Resp::ok(content.as_str()),
                    None => Resp::unable("Unable to download file"),
                },
                None => Resp::malformed("For 'download', mandatory parameter is: 'file'"),
            },
            other => Resp::server_error(&format!("Invalid command type: {other}")),
        }
    }

    fn load(&mut self, cmd: &Value) -> Resp {
        let opts = self.inner.opts.clone();
        if opts.mode == ServerMode::Desktop
            && self
                .st
                .sim
                .desktop
                .as_ref()
                .is_some_and(|e| e.state == ExpState::NotReady)
        {
            return Resp::unable("Unable to start new experiment, another one is loading");
        }
        let (Some(model), Some(experiment)) =
            (field_text(cmd, "model"), field_text(cmd, "experiment"))
        else {
            return Resp::malformed(
                "For 'load', mandatory parameters are: 'model' and 'experiment'",
            );
        };
        let (model, experiment) = (model.trim().to_owned(), experiment.trim().to_owned());
        if let Err(resp) = check_model(&model) {
            return resp;
        }
        if let Some(message) = self.st.failures.load_error.clone() {
            return Resp::unable(&message);
        }
        if let Err(resp) = check_parameters(cmd) {
            return resp;
        }
        match opts.mode {
            ServerMode::Desktop => {
                // The GUI server answers with the experiment name at once and opens the
                // experiment asynchronously on the UI thread (DefaultServerCommands.LOAD).
                let generation = self.st.begin_desktop_open(&experiment, &model);
                if opts.open_delay.is_zero() {
                    self.st.finish_open(&opts, generation);
                } else {
                    let inner = Arc::clone(self.inner);
                    tokio::spawn(async move {
                        tokio::time::sleep(inner.opts.open_delay).await;
                        inner.with_state(|st| st.finish_open(&inner.opts, generation));
                    });
                }
                Resp::ok(experiment.as_str())
            }
            ServerMode::Headless => {
                self.st.next_exp_id += 1;
                let n = self.st.next_exp_id;
                let owner = non_empty_field(cmd, "socket_id").unwrap_or_else(|| self.socket_id());
                let state = initial_state(&opts);
                let exp = Experiment::new(n.to_string(), experiment, model, Some(owner), state);
                self.st.sim.headless.insert(n, exp);
                if opts.headless_status {
                    let id = n.to_string();
                    let key = ExpKey::Headless(n);
                    self.st
                        .queue_output(opts.mode, key, status_frame("NOTREADY", &id));
                    self.st
                        .queue_output(opts.mode, key, status_frame(state.name(), &id));
                }
                Resp::ok(n.to_string().as_str())
            }
        }
    }

    fn play_pause(&mut self, cmd: &Value, ty: &str, target: ExpState) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let opts = self.inner.opts.clone();
        self.st.set_state(&opts, key, target);
        Resp::ok("")
    }

    fn step(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let n = match nb_step(cmd) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let opts = self.inner.opts.clone();
        if n > MAX_STEPS_PER_COMMAND {
            tracing::warn!("fake-gama: nb_step {n} capped to {MAX_STEPS_PER_COMMAND}");
        }
        for _ in 0..n.clamp(0, MAX_STEPS_PER_COMMAND) {
            self.st.run_cycle(&opts, key);
        }
        Resp::ok("")
    }

    fn step_back(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let n = match nb_step(cmd) {
            Ok(n) => n,
            Err(r) => return r,
        };
        if let Some(exp) = self.st.exp_mut(key) {
            exp.cycle = exp
                .cycle
                .saturating_sub(u64::try_from(n.max(0)).unwrap_or(0));
        }
        Resp::ok("")
    }

    fn stop(&mut self, cmd: &Value, ty: &str) -> Resp {
        let opts = self.inner.opts.clone();
        match opts.mode {
            // GAMA.closeAllExperiments: succeeds even without an experiment.
            ServerMode::Desktop => {
                if self.st.sim.desktop.is_some() {
                    self.st.close_experiment(&opts, ExpKey::Desktop);
                }
            }
            ServerMode::Headless => match self.lookup(cmd, ty) {
                Ok(key) => self.st.close_experiment(&opts, key),
                Err(r) => return r,
            },
        }
        Resp::ok("")
    }

    fn reload(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        if let Err(r) = check_parameters(cmd) {
            return r;
        }
        let opts = self.inner.opts.clone();
        self.st.reload(&opts, key);
        Resp::ok("")
    }

    fn expression(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let Some(expr) = field_text(cmd, "expr") else {
            return Resp::malformed(&format!("For {ty}, mandatory parameter is: expr"));
        };
        if let Some((_, message)) = self
            .st
            .failures
            .failing_expressions
            .iter()
            .find(|(needle, _)| expr.contains(needle.as_str()))
        {
            return Resp::unable(message);
        }
        let entered = expr.trim();
        if let Some(outcome) = self
            .st
            .exp_mut(key)
            .and_then(|e| e.gym.as_mut())
            .and_then(|agent| agent.evaluate(entered))
        {
            return match outcome {
                Ok(gym::Outcome::Value(content)) => Resp {
                    ty: "CommandExecutedSuccessfully",
                    content,
                },
                Ok(gym::Outcome::Done) => Resp::ok("null"),
                Err(message) => Resp::unable(&message),
            };
        }
        if entered == "cycle" {
            let cycle = self.st.exp(key).map(|e| e.cycle).unwrap_or(0);
            return Resp::ok(cycle.to_string().as_str());
        }
        if entered == "length(unity_player)" {
            let players = self.st.exp(key).map_or(0, |e| e.players.len());
            return Resp::ok(players.to_string().as_str());
        }
        match parse_do(entered) {
            Ok(Some(stmt)) => {
                match (stmt.action.as_str(), stmt.string_arg) {
                    ("create_player", Some(id)) => self.create_player(key, &id),
                    ("remove_player", Some(id)) => self.remove_player(key, &id),
                    ("create_player" | "remove_player", None) => {
                        return Resp::unable(&format!(
                            "> Error: {} expects one string argument: {entered}",
                            stmt.action
                        ));
                    }
                    _ => {}
                }
                // A statement is compiled into a temporary action without value: "null".
                Resp::ok("null")
            }
            Ok(None) => Resp::unable(&format!("> Error: unknown expression {entered}")),
            Err(syntax) => Resp::unable(&format!("> Error: {syntax}")),
        }
    }

    /// The linker's `create_player`: ignored when the player exists or when `max_num_players` is
    /// reached (TC-Linker silently returns, protocol.md §7.3).
    fn create_player(&mut self, key: ExpKey, id: &str) {
        let max = self.inner.opts.max_players;
        let mut created = false;
        if let Some(exp) = self.st.exp_mut(key) {
            let full = max.is_some_and(|m| exp.players.len() >= m);
            if !full && !exp.players.iter().any(|p| p == id) {
                exp.players.push(id.to_owned());
                created = true;
            }
        }
        if created && self.inner.opts.push_worlds && self.inner.opts.linker {
            let opts = self.inner.opts.clone();
            self.send_init_data(&opts, key, id);
        }
    }

    fn remove_player(&mut self, key: ExpKey, id: &str) {
        if let Some(exp) = self.st.exp_mut(key) {
            exp.players.retain(|p| p != id);
            exp.ready.retain(|p| p != id);
            exp.positions.remove(id);
        }
    }

    fn ask(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let Some(action) = field_text(cmd, "action").map(|a| a.trim().to_owned()) else {
            return Resp::malformed("For ask, mandatory parameter is: 'action'");
        };
        let agent = field_text(cmd, "agent").map(|a| a.trim().to_owned());
        let known = action == "create_player"
            || action == "remove_player"
            || (self.inner.opts.linker && LINKER_ACTIONS.contains(&action.as_str()));
        if !known {
            return Resp::unable(&format!(
                "Action {action} does not exist in agent {}",
                agent.as_deref().unwrap_or("null")
            ));
        }
        let args = match ask_args(cmd) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let id = arg_text(&args, "id");
        let opts = self.inner.opts.clone();
        match (action.as_str(), id) {
            ("create_player", Some(id)) => self.create_player(key, &id),
            ("remove_player", Some(id)) => self.remove_player(key, &id),
            ("send_init_data", Some(id)) => self.send_init_data(&opts, key, &id),
            ("player_ready_to_receive_geometries", Some(id)) => {
                if let Some(exp) = self.st.exp_mut(key)
                    && exp.players.contains(&id)
                    && !exp.ready.contains(&id)
                {
                    exp.ready.push(id);
                }
            }
            ("move_player_external", Some(id)) => {
                let pos = (
                    arg_int(&args, "x"),
                    arg_int(&args, "y"),
                    arg_int(&args, "z"),
                    arg_int(&args, "angle"),
                );
                if let Some(exp) = self.st.exp_mut(key)
                    && exp.players.contains(&id)
                {
                    exp.positions.insert(id, pos);
                }
            }
            ("ping_GAMA", _) => {
                let exp_id = self.st.exp(key).map(|e| e.id.clone()).unwrap_or_default();
                let frame = to_text(&Unsolicited {
                    ty: "SimulationOutput",
                    content: "pong",
                    exp_id: &exp_id,
                });
                self.st.queue_output(opts.mode, key, frame);
            }
            // player_position_updated, move_geoms_followed, or an action without a usable id:
            // accepted without visible effect.
            _ => {}
        }
        Resp::ok("")
    }

    /// TC-Linker `send_init_data` (protocol.md §6.4, §7.1 step 7).
    fn send_init_data(&mut self, opts: &FakeGamaOptions, key: ExpKey, player: &str) {
        let Some(exp) = self.st.exp_mut(key) else {
            return;
        };
        if !exp.players.iter().any(|p| p == player) {
            return;
        }
        exp.ready.retain(|p| p != player);
        let players = exp.players.clone();
        let element = |contents: Box<RawValue>| LinkerElement {
            id: vec![player.to_owned()],
            contents,
        };
        let init = LinkerBatch {
            contents: vec![
                element(to_raw(&ParametersPayload {
                    precision: PRECISION,
                    world: [100 * PRECISION, 80 * PRECISION],
                    min_player_update_duration: 0.01 * PRECISION as f64,
                })),
                element(to_raw(&EnableMovePayload { enable_move: false })),
                element(to_raw(&properties(opts.scene))),
                element(to_raw(&init_world(opts.scene))),
            ],
            ty: "output",
        };
        self.st.queue_linker(opts, key, &init);
        if players.len() >= opts.min_players {
            let enable = LinkerBatch {
                contents: players
                    .into_iter()
                    .map(|p| LinkerElement {
                        id: vec![p],
                        contents: to_raw(&EnableMovePayload { enable_move: true }),
                    })
                    .collect(),
                ty: "output",
            };
            self.st.queue_linker(opts, key, &enable);
        }
    }

    fn describe(&mut self, cmd: &Value) -> Resp {
        let Some(model) = field_text(cmd, "model").map(|m| m.trim().to_owned()) else {
            return Resp::malformed("For 'describe', mandatory parameter is: 'model'");
        };
        if let Err(r) = check_model(&model) {
            return r;
        }
        let name = Path::new(&model)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Resp::ok(&DescribeContent {
            experiments: vec![DescribeExperiment {
                name: "vr_xp".to_owned(),
                parameters: Vec::new(),
            }],
            species: vec![
                DescribeSpecies {
                    name: "unity_linker",
                },
                DescribeSpecies {
                    name: "unity_player",
                },
            ],
            name,
            path: model,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

struct Inner {
    opts: FakeGamaOptions,
    addr: SocketAddr,
    state: Mutex<State>,
    /// Bumped after every observable change; waiters re-check their condition.
    changed: watch::Sender<u64>,
    next_conn: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the plain data inconsistent enough to
        // matter for a test double: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Runs `f` under the lock, flushes the frames it produced, then notifies waiters.
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = {
            let mut st = self.lock();
            let r = f(&mut st);
            st.flush();
            r
        };
        self.bump();
        r
    }

    /// Handles one text frame from connection `conn`: the reply is queued on that connection
    /// before anything the command caused (statuses, outputs).
    fn handle_text(self: &Arc<Self>, conn: u64, text: &str) {
        {
            let mut st = self.lock();
            self.handle_locked(&mut st, conn, text);
            st.flush();
        }
        self.bump();
    }

    fn handle_locked(self: &Arc<Self>, st: &mut State, conn: u64, text: &str) {
        let raw = match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => raw,
            Err(e) => {
                let frame = to_text(&UnparsableReply {
                    ty: "MalformedRequest",
                    content: &e.to_string(),
                });
                self.reply(st, conn, frame);
                return;
            }
        };
        let cmd: Value = match serde_json::from_str(raw.get()) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                let frame = to_text(&UnparsableReply {
                    ty: "MalformedRequest",
                    content: "the request is not a JSON object",
                });
                self.reply(st, conn, frame);
                return;
            }
        };
        st.commands.push(cmd.clone());
        if st
            .failures
            .swallowed
            .iter()
            .any(|n| text.contains(n.as_str()))
        {
            tracing::debug!("fake-gama: swallowing {text}");
            return;
        }
        let ty = match cmd.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "null".to_owned(),
        };
        if ty == "exit" {
            // No reply: the socket is closed (real GAMA exits its JVM).
            st.flush();
            st.send_now(conn, Out::Close(1000, String::new()));
            return;
        }
        // Effects of the command are queued in the outbox; the reply goes first.
        let pending = std::mem::take(&mut st.outbox);
        let resp = Ctx {
            inner: self,
            st: &mut *st,
            conn,
        }
        .dispatch(&ty, &cmd);
        let effects = std::mem::replace(&mut st.outbox, pending);
        let frame = to_text(&CommandReply {
            ty: resp.ty,
            content: &resp.content,
            command: raw,
        });
        self.reply(st, conn, frame);
        st.outbox.extend(effects);
    }

    /// Queues a reply on its connection, honouring the reply-delay injection.
    fn reply(&self, st: &mut State, conn: u64, frame: String) {
        st.flush();
        match st.failures.reply_delay {
            Some(d) if !d.is_zero() => st.send_now(conn, Out::Delayed(Instant::now() + d, frame)),
            _ => st.send_now(conn, Out::Text(frame)),
        }
    }
}

/// Removes a connection from the registry when its task ends, however it ends (including abort).
struct ConnGuard {
    inner: Arc<Inner>,
    conn: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        {
            let mut st = self.inner.lock();
            st.conn_tasks.remove(&self.conn);
            if let Some(c) = st.conns.remove(&self.conn)
                && self.inner.opts.mode == ServerMode::Headless
            {
                // GamaHeadlessWebSocketServer.onClose: the socket's experiments are paused and
                // disposed.
                st.dispose_socket_experiments(&c.socket_id);
            }
        }
        self.inner.bump();
    }
}

/// Aborts every task of the server when the last [`FakeGama`] handle is dropped.
struct ShutdownGuard {
    inner: Arc<Inner>,
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(h) = st.listener.take() {
            h.abort();
        }
        if let Some(h) = st.ticker.take() {
            h.abort();
        }
        for (_, h) in st.conn_tasks.drain() {
            h.abort();
        }
    }
}

/// A fake gama-server. Cheap to clone (all clones drive the same server); dropping the last clone
/// stops the server and all its tasks.
#[derive(Clone)]
pub struct FakeGama {
    inner: Arc<Inner>,
    _guard: Arc<ShutdownGuard>,
}

impl std::fmt::Debug for FakeGama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGama")
            .field("addr", &self.inner.addr)
            .field("mode", &self.inner.opts.mode)
            .finish_non_exhaustive()
    }
}

/// Binds a listener with `SO_REUSEADDR`, so that [`FakeGama::restart`] can take the same port
/// back while old connections sit in TIME_WAIT.
fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

impl FakeGama {
    /// Starts a fake gama-server listening on `opts.bind`. Must be called inside a tokio runtime:
    /// the server's tasks run on it (use a multi-thread runtime when the test blocks a thread,
    /// e.g. on a child process).
    pub async fn start(opts: FakeGamaOptions) -> anyhow::Result<FakeGama> {
        let listener = bind_listener(opts.bind)
            .with_context(|| format!("fake-gama: cannot listen on {}", opts.bind))?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            opts,
            addr,
            state: Mutex::new(State::default()),
            changed,
            next_conn: AtomicU64::new(1),
        });
        {
            let mut st = inner.lock();
            st.listener = Some(tokio::spawn(accept_loop(Arc::clone(&inner), listener)));
            st.ticker = Some(tokio::spawn(ticker(Arc::clone(&inner))));
        }
        tracing::info!(
            "fake-gama listening on ws://{addr} ({:?} mode)",
            inner.opts.mode
        );
        Ok(FakeGama {
            _guard: Arc::new(ShutdownGuard {
                inner: Arc::clone(&inner),
            }),
            inner,
        })
    }

    /// The listening address (stable across [`FakeGama::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.inner.addr.port()
    }

    /// `ws://` URL of the server, for a relay configuration.
    pub fn url(&self) -> String {
        format!("ws://{}", self.inner.addr)
    }

    /// The options the server runs with.
    pub fn options(&self) -> &FakeGamaOptions {
        &self.inner.opts
    }

    /// Simulates GAMA crashing: stop listening and drop every TCP connection at once, no close
    /// frame. Experiment state is lost.
    pub async fn kill(&self) {
        self.stop_listening().await;
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            st.conns.clear();
            st.reset_sim();
            st.conn_tasks.drain().map(|(_, h)| h).collect()
        };
        for h in &tasks {
            h.abort();
        }
        for h in tasks {
            let _ = h.await;
        }
        self.inner.bump();
    }

    /// Simulates GAMA being quit normally: close frame 1000 to every client, stop listening.
    /// State lost.
    pub async fn shutdown_clean(&self) {
        self.stop_listening().await;
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            for c in st.conns.values() {
                let _ = c.tx.send(Out::Close(1000, String::new()));
            }
            st.conn_tasks.drain().map(|(_, h)| h).collect()
        };
        let deadline = Instant::now() + CLOSE_TIMEOUT * 2;
        for mut h in tasks {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                h.abort();
                let _ = h.await;
            }
        }
        {
            let mut st = self.inner.lock();
            st.conns.clear();
            st.reset_sim();
        }
        self.inner.bump();
    }

    /// Stops the accept loop and waits until the listening socket is closed.
    async fn stop_listening(&self) {
        let listener = self.inner.lock().listener.take();
        if let Some(h) = listener {
            h.abort();
            let _ = h.await;
        }
    }

    /// Simulates GAMA starting again on the SAME port with a fresh state (no experiment). A
    /// running server is killed first. Retries the bind briefly while the port is busy.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let running = self.inner.lock().listener.is_some();
        if running {
            self.kill().await;
        }
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match bind_listener(self.inner.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(
                        "fake-gama: rebinding {} failed ({e}), retrying",
                        self.inner.addr
                    );
                    // The port is held by the kernel (no event to await): poll briefly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("fake-gama: cannot listen again on {}", self.inner.addr)
                    });
                }
            }
        };
        {
            let mut st = self.inner.lock();
            st.reset_sim();
            st.listener = Some(tokio::spawn(accept_loop(Arc::clone(&self.inner), listener)));
        }
        self.inner.bump();
        tracing::info!("fake-gama restarted on ws://{}", self.inner.addr);
        Ok(())
    }

    /// Drops the current connections abruptly (no close frame) but keeps listening and keeps the
    /// experiment: a network glitch. Desktop: the experiment survives; headless: that socket's
    /// experiments are disposed, as real GAMA does on close.
    pub async fn drop_connections(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = self.inner.lock();
            let conns = std::mem::take(&mut st.conns);
            if self.inner.opts.mode == ServerMode::Headless {
                for c in conns.values() {
                    st.dispose_socket_experiments(&c.socket_id);
                }
            }
            st.conn_tasks.drain().map(|(_, h)| h).collect()
        };
        for h in &tasks {
            h.abort();
        }
        for h in tasks {
            let _ = h.await;
        }
        self.inner.bump();
    }

    /// Every command received so far (parsed JSON objects), all sockets, in arrival order.
    pub fn commands(&self) -> Vec<Value> {
        self.inner.lock().commands.clone()
    }

    /// The received commands whose `type` is `ty`.
    pub fn commands_of_type(&self, ty: &str) -> Vec<Value> {
        self.inner
            .lock()
            .commands
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str) == Some(ty))
            .cloned()
            .collect()
    }

    /// The first command (already received or arriving within `timeout`) matching `pred`.
    pub async fn wait_command(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let found = self
            .wait_until(timeout, || {
                self.inner.lock().commands.iter().find(|c| pred(c)).cloned()
            })
            .await;
        match found {
            Some(c) => Ok(c),
            None => bail!(
                "fake-gama: no matching command within {timeout:?}; received: {}",
                Value::Array(self.commands())
            ),
        }
    }

    /// Total WebSocket handshakes since start (across restarts).
    pub fn accepted_connections(&self) -> usize {
        self.inner.lock().accepted
    }

    /// Currently open WebSocket connections.
    pub fn open_connections(&self) -> usize {
        self.inner.lock().conns.len()
    }

    /// Waits until exactly `n` connections are open.
    pub async fn wait_open_connections(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait_for(timeout, &format!("{n} open connection(s)"), |g| {
            g.open_connections() == n
        })
        .await
        .with_context(|| format!("open connections: {}", self.open_connections()))
    }

    /// Waits until `cond` holds (re-checked after every change of the fake's state).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        cond: impl Fn(&FakeGama) -> bool,
    ) -> anyhow::Result<()> {
        match self.wait_until(timeout, || cond(self).then_some(())).await {
            Some(()) => Ok(()),
            None => bail!("fake-gama: timed out after {timeout:?} waiting for {what}"),
        }
    }

    /// Waits until [`FakeGama::experiment_state`] is `state`.
    pub async fn wait_experiment_state(
        &self,
        state: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        self.wait_for(timeout, &format!("experiment state {state}"), |g| {
            g.experiment_state() == state
        })
        .await
        .with_context(|| format!("experiment state: {}", self.experiment_state()))
    }

    /// Waits until [`FakeGama::players`] equals `players` (in order).
    pub async fn wait_players(&self, players: &[&str], timeout: Duration) -> anyhow::Result<()> {
        self.wait_for(timeout, &format!("players {players:?}"), |g| {
            g.players() == players
        })
        .await
        .with_context(|| format!("players: {:?}", self.players()))
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.inner.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe() {
                return Some(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return probe(),
            }
        }
    }

    /// `"NONE" | "NOTREADY" | "PAUSED" | "RUNNING"`: desktop, the frontmost experiment;
    /// headless, the most recently loaded live experiment.
    pub fn experiment_state(&self) -> String {
        let st = self.inner.lock();
        st.current_key(self.inner.opts.mode)
            .and_then(|k| st.exp(k))
            .map(|e| e.state.name())
            .unwrap_or("NONE")
            .to_owned()
    }

    /// Id of the current experiment (`"0"` in desktop mode), if any.
    pub fn experiment_id(&self) -> Option<String> {
        self.with_current(|e| e.id.clone())
    }

    /// Name of the current experiment, if any.
    pub fn experiment_name(&self) -> Option<String> {
        self.with_current(|e| e.name.clone())
    }

    /// Model path of the current experiment, if any.
    pub fn experiment_model(&self) -> Option<String> {
        self.with_current(|e| e.model.clone())
    }

    /// Number of live experiments (always 0 or 1 in desktop mode).
    pub fn experiment_count(&self) -> usize {
        let st = self.inner.lock();
        st.sim.headless.len() + usize::from(st.sim.desktop.is_some())
    }

    fn with_current<T>(&self, f: impl FnOnce(&Experiment) -> T) -> Option<T> {
        let st = self.inner.lock();
        st.current_key(self.inner.opts.mode)
            .and_then(|k| st.exp(k))
            .map(f)
    }

    /// The `unity_player` agents of the current experiment, in creation order.
    pub fn players(&self) -> Vec<String> {
        self.with_current(|e| e.players.clone()).unwrap_or_default()
    }

    /// Players that asked `player_ready_to_receive_geometries` (and were not re-initialised).
    pub fn ready_players(&self) -> Vec<String> {
        self.with_current(|e| e.ready.clone()).unwrap_or_default()
    }

    /// Last `move_player_external` position `(x, y, z, angle)` of a player.
    pub fn player_position(&self, id: &str) -> Option<(i64, i64, i64, i64)> {
        self.with_current(|e| e.positions.get(id).copied())
            .flatten()
    }

    /// The current experiment's cycle (0 without experiment).
    pub fn cycle(&self) -> u64 {
        self.with_current(|e| e.cycle).unwrap_or(0)
    }

    /// What a person does in GAMA's window: open an experiment without any client command.
    /// Desktop: status NOTREADY, then PAUSED (RUNNING with autorun). Headless has no window: the
    /// experiment is created without owner (it sends nothing).
    pub fn open_experiment(&self, experiment: &str) {
        let opts = self.inner.opts.clone();
        match opts.mode {
            ServerMode::Desktop => {
                let generation = self
                    .inner
                    .with_state(|st| st.begin_desktop_open(experiment, GUI_MODEL_PATH));
                self.inner
                    .with_state(|st| st.finish_open(&opts, generation));
            }
            ServerMode::Headless => self.inner.with_state(|st| {
                st.next_exp_id += 1;
                let n = st.next_exp_id;
                st.sim.headless.insert(
                    n,
                    Experiment::new(
                        n.to_string(),
                        experiment.to_owned(),
                        GUI_MODEL_PATH.to_owned(),
                        None,
                        initial_state(&opts),
                    ),
                );
            }),
        }
    }

    fn gui(&self, f: impl FnOnce(&mut State, &FakeGamaOptions, ExpKey)) {
        let opts = self.inner.opts.clone();
        self.inner.with_state(|st| {
            if let Some(key) = st.current_key(opts.mode) {
                f(st, &opts, key);
            }
        });
    }

    /// The Play button of GAMA's window.
    pub fn gui_play(&self) {
        self.gui(|st, opts, key| st.set_state(opts, key, ExpState::Running));
    }

    /// The Pause button of GAMA's window.
    pub fn gui_pause(&self) {
        self.gui(|st, opts, key| st.set_state(opts, key, ExpState::Paused));
    }

    /// Closing the experiment in GAMA's window (status NONE).
    pub fn gui_close(&self) {
        self.gui(|st, opts, key| st.close_experiment(opts, key));
    }

    /// The Reload button: NOTREADY, players cleared, cycle 0, then PAUSED.
    pub fn gui_reload(&self) {
        self.gui(|st, opts, key| st.reload(opts, key));
    }

    /// The linker's `end_of_game`: `{"endOfGame":message}` to every player, then pause and
    /// reload (statuses PAUSED if it was running, NOTREADY, PAUSED); players cleared.
    pub fn end_of_game(&self, message: &str) {
        self.gui(|st, opts, key| {
            let players = st.exp(key).map(|e| e.players.clone()).unwrap_or_default();
            if !players.is_empty() {
                let batch = LinkerBatch {
                    contents: players
                        .into_iter()
                        .map(|p| LinkerElement {
                            id: vec![p],
                            contents: to_raw(&EndOfGamePayload {
                                end_of_game: message,
                            }),
                        })
                        .collect(),
                    ty: "output",
                };
                st.queue_linker(opts, key, &batch);
            }
            st.set_state(opts, key, ExpState::Paused);
            st.set_state(opts, key, ExpState::NotReady);
            if let Some(exp) = st.exp_mut(key) {
                exp.clear_run();
            }
            st.set_state(opts, key, ExpState::Paused);
        });
    }

    /// Sends a linker JSON text (e.g. `{"contents":[{"id":["p1"],"contents":{..}}],"type":"output"}`)
    /// as a `SimulationOutput` shaped per the content shape, to the socket receiving output.
    pub fn send_linker_output(&self, linker_json: &str) {
        let opts = &self.inner.opts;
        self.inner.with_state(|st| {
            let exp_id = st
                .current_key(opts.mode)
                .and_then(|k| st.exp(k))
                .map(|e| e.id.clone())
                .unwrap_or_else(|| "0".to_owned());
            let frame = linker_output_frame(opts.content_shape, linker_json, &exp_id);
            if let Some(conn) = st.current_output_conn(opts.mode) {
                st.queue(conn, frame);
            }
        });
    }

    /// Sends a linker JSON text as a `SimulationOutput` of experiment `exp_id` (headless: to the
    /// socket that loaded it; desktop: the one experiment, to the newest socket).
    pub fn send_linker_output_of(&self, exp_id: &str, linker_json: &str) {
        let opts = &self.inner.opts;
        self.inner.with_state(|st| {
            let key = match opts.mode {
                ServerMode::Desktop => ExpKey::Desktop,
                ServerMode::Headless => match exp_id.parse() {
                    Ok(n) => ExpKey::Headless(n),
                    Err(_) => return,
                },
            };
            if st.exp(key).is_some() {
                let frame = linker_output_frame(opts.content_shape, linker_json, exp_id);
                st.queue_output(opts.mode, key, frame);
            }
        });
    }

    /// Sends a console `write` output: `{"type":"SimulationOutput","content":{"message":..,
    /// "color":{..}},"exp_id":..}`.
    pub fn send_console(&self, message: &str) {
        let opts = &self.inner.opts;
        self.inner.with_state(|st| {
            let exp_id = st
                .current_key(opts.mode)
                .and_then(|k| st.exp(k))
                .map(|e| e.id.clone())
                .unwrap_or_else(|| "0".to_owned());
            let frame = to_text(&Unsolicited {
                ty: "SimulationOutput",
                content: ConsoleContent {
                    message,
                    color: GamaColor {
                        gaml_type: "rgb",
                        red: 0,
                        green: 0,
                        blue: 0,
                        alpha: 255,
                    },
                },
                exp_id: &exp_id,
            });
            if let Some(conn) = st.current_output_conn(opts.mode) {
                st.queue(conn, frame);
            }
        });
    }

    /// Sends any text frame to the socket receiving output.
    pub fn send_raw(&self, frame: &str) {
        let mode = self.inner.opts.mode;
        self.inner.with_state(|st| {
            if let Some(conn) = st.current_output_conn(mode) {
                st.queue(conn, frame.to_owned());
            }
        });
    }

    /// `expression` commands whose `expr` contains `needle` get `UnableToExecuteRequest` with
    /// `message` as content.
    pub fn fail_expressions_containing(&self, needle: &str, message: &str) {
        self.inner
            .lock()
            .failures
            .failing_expressions
            .push((needle.to_owned(), message.to_owned()));
    }

    /// Commands whose raw text contains `needle` are recorded but neither executed nor answered
    /// (a hung GAMA, for deadline tests).
    pub fn swallow_commands_containing(&self, needle: &str) {
        self.inner.lock().failures.swallowed.push(needle.to_owned());
    }

    /// Every command reply is delayed by `d` (statuses and outputs are not).
    pub fn delay_replies(&self, d: Duration) {
        self.inner.lock().failures.reply_delay = Some(d);
    }

    /// Subsequent `load` commands fail with `UnableToExecuteRequest(message)`; `None` restores
    /// normal loads.
    pub fn set_load_error(&self, message: Option<&str>) {
        self.inner.lock().failures.load_error = message.map(str::to_owned);
    }

    /// Removes every failure injection.
    pub fn clear_failures(&self) {
        self.inner.lock().failures = Failures::default();
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
                // Spawn and register under the lock, so the task's guard (which needs the lock)
                // always finds its entry.
                let mut st = inner.lock();
                let task = tokio::spawn(connection(Arc::clone(&inner), conn, stream, peer));
                st.conn_tasks.insert(conn, task);
            }
            Err(e) => {
                tracing::warn!("fake-gama: accept failed: {e}");
                // Typically EMFILE: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Advances every running experiment by one cycle every `cycle_ms`.
async fn ticker(inner: Arc<Inner>) {
    let period = Duration::from_millis(inner.opts.cycle_ms.max(1));
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let opts = &inner.opts;
        let mut any = false;
        {
            let mut st = inner.lock();
            for key in st.all_keys() {
                if st.exp(key).is_some_and(|e| e.state == ExpState::Running) {
                    st.run_cycle(opts, key);
                    any = true;
                }
            }
            st.flush();
        }
        if any {
            inner.bump();
        }
    }
}

async fn connection(inner: Arc<Inner>, conn: u64, stream: TcpStream, peer: SocketAddr) {
    let _guard = ConnGuard {
        inner: Arc::clone(&inner),
        conn,
    };
    let _ = stream.set_nodelay(true);
    let mut ws = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async(stream),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!("fake-gama: handshake with {peer} failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("fake-gama: handshake with {peer} timed out");
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let socket_id = socket_id_for(conn);
    {
        let mut st = inner.lock();
        st.accepted += 1;
        st.conns.insert(
            conn,
            Conn {
                tx,
                socket_id: socket_id.clone(),
            },
        );
        // GamaGuiWebSocketServer.onOpen: the newest socket takes over status and output.
        st.latest = Some(conn);
    }
    inner.bump();
    tracing::debug!("fake-gama: connection {conn} from {peer} (socket {socket_id})");
    let hello = to_text(&ConnectionSuccessful {
        ty: "ConnectionSuccessful",
        content: &socket_id,
    });
    if ws.send(Message::text(hello)).await.is_err() {
        return;
    }
    serve(&inner, conn, ws, rx).await;
    tracing::debug!("fake-gama: connection {conn} from {peer} ended");
}

async fn serve(
    inner: &Arc<Inner>,
    conn: u64,
    mut ws: WebSocketStream<TcpStream>,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    // The socket's commands are handled one after the other, as GAMA does, while what GAMA sends
    // to the socket goes on being written.
    let (commands, mut queued) = mpsc::unbounded_channel::<String>();
    let handler = async {
        while let Some(text) = queued.recv().await {
            if let Some(busy) = sync_step_duration(&inner.opts, &text) {
                tokio::time::sleep(busy).await;
            }
            inner.handle_text(conn, &text);
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = handler => {}
        () = write_and_read(inner, conn, &mut ws, &mut rx, commands) => {}
    }
}

/// How long a synchronous `step` command keeps its socket busy ([`FakeGamaOptions::step_ms`]).
fn sync_step_duration(opts: &FakeGamaOptions, text: &str) -> Option<Duration> {
    if opts.step_ms == 0 {
        return None;
    }
    let cmd: Value = serde_json::from_str(text).ok()?;
    let sync = field_text(&cmd, "sync").is_some_and(|s| s.trim() == "true");
    if cmd.get("type").and_then(Value::as_str) != Some("step") || !sync {
        return None;
    }
    let steps = nb_step(&cmd).ok()?.clamp(0, MAX_STEPS_PER_COMMAND);
    Some(Duration::from_millis(opts.step_ms) * u32::try_from(steps).unwrap_or(0))
}

/// Writes what is queued for the connection and reads its frames, handing commands to `commands`.
async fn write_and_read(
    inner: &Arc<Inner>,
    conn: u64,
    ws: &mut WebSocketStream<TcpStream>,
    rx: &mut mpsc::UnboundedReceiver<Out>,
    commands: mpsc::UnboundedSender<String>,
) {
    let mut delayed: VecDeque<(Instant, String)> = VecDeque::new();
    let ping_period = inner.opts.ping_interval.filter(|d| !d.is_zero());
    let mut ping = tokio::time::interval_at(
        Instant::now() + ping_period.unwrap_or(Duration::from_secs(3600)),
        ping_period.unwrap_or(Duration::from_secs(3600)),
    );
    loop {
        let next_delayed = delayed.front().map(|(at, _)| *at);
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    tracing::trace!("fake-gama: <- {conn}: {}", text.as_str());
                    let _ = commands.send(text.as_str().to_owned());
                }
                Some(Ok(Message::Binary(b))) => {
                    tracing::info!("fake-gama: ignoring a binary frame of {} bytes from connection {conn}", b.len());
                }
                Some(Ok(_)) => {} // ping/pong handled by tungstenite; close → stream ends next
                Some(Err(e)) => {
                    tracing::debug!("fake-gama: connection {conn} read error: {e}");
                    return;
                }
                None => return,
            },
            out = rx.recv() => match out {
                Some(Out::Text(frame)) => {
                    if ws.send(Message::text(frame)).await.is_err() {
                        return;
                    }
                }
                Some(Out::Delayed(at, frame)) => {
                    let at = delayed.back().map_or(at, |(last, _)| at.max(*last));
                    delayed.push_back((at, frame));
                }
                Some(Out::Close(code, reason)) => {
                    close_gracefully(ws, code, &reason).await;
                    return;
                }
                None => return,
            },
            _ = sleep_until_opt(next_delayed) => {
                if let Some((_, frame)) = delayed.pop_front()
                    && ws.send(Message::text(frame)).await.is_err()
                {
                    return;
                }
            }
            _ = ping.tick(), if ping_period.is_some() => {
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits (bounded, even if the peer stopped reading) for the peer's
/// answer before dropping the socket.
async fn close_gracefully(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_keep_their_fraction() {
        let text = to_text(&ParametersPayload {
            precision: PRECISION,
            world: [1_000_000, 800_000],
            min_player_update_duration: 0.01 * PRECISION as f64,
        });
        assert_eq!(
            text,
            r#"{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100.0}"#
        );
        assert!(to_text(&properties(Scene::Minimal)).contains(r#""alpha":0.0,"#));
    }

    #[test]
    fn do_statements_parse_like_gaml() {
        let s = parse_do(r#"do create_player("Player_101");"#)
            .expect("valid")
            .expect("a do");
        assert_eq!(s.action, "create_player");
        assert_eq!(s.string_arg.as_deref(), Some("Player_101"));
        let s = parse_do(r#"do create_player("a\"b\\c")"#)
            .expect("valid")
            .expect("a do");
        assert_eq!(s.string_arg.as_deref(), Some("a\"b\\c"));
        let s = parse_do("do hello;").expect("valid").expect("a do");
        assert_eq!((s.action.as_str(), s.string_arg), ("hello", None));
        let s = parse_do(r#"do f("x", 3);"#).expect("valid").expect("a do");
        assert_eq!((s.action.as_str(), s.string_arg), ("f", None));
        assert!(parse_do(r#"do create_player("a"b");"#).is_err());
        assert!(parse_do("cycle").expect("valid").is_none());
        assert!(parse_do("done").expect("valid").is_none());
    }

    #[test]
    fn socket_ids_are_distinct_decimal() {
        let ids: std::collections::HashSet<String> = (1..1000).map(socket_id_for).collect();
        assert_eq!(ids.len(), 999);
        assert!(ids.iter().all(|s| s.parse::<u32>().is_ok()));
    }
}
