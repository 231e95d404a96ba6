//! The fake's settings: which of GAMA's two servers it imitates and how its simulation behaves.
//!
//! Kept apart from the server so that a test reads what it can set up in one place; the defaults
//! are those of real GAMA and of SIMPLE's usual setup.

use std::net::SocketAddr;
use std::time::Duration;

use super::GAMA_PING_INTERVAL;

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

/// Configuration of a [`FakeGama`](super::FakeGama). Start from [`FakeGamaOptions::desktop`],
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
