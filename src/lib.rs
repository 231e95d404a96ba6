//! gama-vr-relay: a fast, self-contained relay between a GAMA simulation that uses the SIMPLE
//! plugin and the Unity VR headsets of a classroom, with a live admin page.
//!
//! Layout, one concern per module. Data flows one way: GAMA → routing → connections, and
//! headsets → players → GAMA.
//!
//! * `config`: settings, their layered sources (defaults < file < environment < command line) and
//!   validation;
//! * `protocol`: the wire formats of gama-server (the envelope, the commands, the linker's output)
//!   and of the Unity client; `json`: JavaScript-compatible re-serialisation; `gaml`: the GAML the
//!   relay writes, with player ids safely quoted;
//! * `gama`: the supervised connection to gama-server, commands under deadlines, what is known of
//!   GAMA's experiment;
//! * `routing`: where GAMA's output goes (player → connection), and what else GAMA's messages
//!   feed (world view, recording, tools);
//! * `outbox`: the bounded, coalescing queue of a reader that may fall behind; `conn`: a headset
//!   connection as the rest of the relay sees it;
//! * `session`: players, takeover, grace time, gating by the model's minimum and maximum, as a pure
//!   state machine; `players`: that state machine's handle and the effects it decides;
//! * `operator`: the learning-package catalog, the selected model, the operations on GAMA's
//!   experiment, one at a time; `packages`: learning-package discovery;
//! * `headset`: the WebSocket server headsets connect to and what they send; `passthrough`: the
//!   gama-server endpoint for Python tools; `monitor`: the webplatform's monitor socket for the
//!   programs that drive it (the Unity editor tool); `listen`: the accept loop they share;
//! * `world`: the admin page's world view and GAMA's pace; `admin`: the HTTP API, the live-update
//!   and world-view sockets, the embedded page; `audit`: who changed what, from where;
//!   `metrics`: Prometheus metrics;
//! * `record` and `replay`: a session to a file, and back to headsets without GAMA; `sessions`:
//!   every experiment run kept for debriefing, fed by `debrief`;
//! * `server`: binding, wiring the parts, running and shutting everything down.
//!
//! [`Server`] is what `main.rs` and the tests start.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Input from the network must never panic the relay: no unwrap/expect outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod access;
mod addresses;
mod admin;
mod audit;
mod changes;
mod clock;
pub mod config;
mod conn;
mod debrief;
pub mod demo;
mod excerpt;
mod gama;
mod gaml;
mod headset;
mod json;
mod listen;
mod logfile;
mod metrics;
mod mirror;
mod monitor;
mod operator;
mod outbox;
mod pace;
mod packages;
mod passthrough;
mod players;
mod protocol;
mod queue;
mod record;
mod refusals;
mod replay;
mod routing;
mod said;
mod server;
mod session;
mod sessions;
mod tasks;
mod world;

pub use admin::view::{GamaView, HeadsetsView, PlayerState, SelectedModel, StateView};
pub use config::Config;
pub use conn::ConnView;
pub use gama::{LastError, LinkState, ServerMode, ToolHold};
pub use logfile::RotatingFile;
pub use packages::{Catalog, Entry, Model};
pub use record::RecordError;
pub use replay::{Recording, ReplayError, ReplayGama, ReplayOptions};
pub use server::{Server, ServerError, ServerHandle};
pub use session::{Counts, PlayerView};
pub use sessions::export::{Export, ExportError, export_session, list_sessions};
pub use tasks::panic_message;
pub use world::ClockView;

/// What `relay-bench session-size` measures a kept session with. Not an API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::sessions::bench::{Measured, Traffic, measure};
}

/// The parsers the fuzz targets (`fuzz/`) drive. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::admin::parse_launch_body;
    pub use crate::gaml::{create_player, substitute_id};
    pub use crate::json::{normalize_js, write_js};
    pub use crate::protocol::gama::Envelope;
    pub use crate::protocol::headset::{Inbound, parse as parse_headset};
    pub use crate::protocol::linker::{
        Delivery, Output, PayloadKind, Read, read, read_content, reference,
    };
    pub use crate::session::validate_id;
}
