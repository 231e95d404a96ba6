//! gama-vr-relay: a fast, self-contained relay between a GAMA simulation that uses the SIMPLE
//! plugin and the Unity VR headsets of a classroom, with a live admin page.
//!
//! A map of the parts, one folder per role. Data flows one way: GAMA → routing → headsets, and
//! headsets → players → GAMA; the admin page and the monitor socket act through the operator.
//!
//! * [`config`]: the settings, their layered sources (defaults < file < environment < command
//!   line) and their validation.
//! * `protocol`: the wire formats, without IO: gama-server's envelope and commands, the SIMPLE
//!   linker's output, what Unity headsets send and accept, JSON re-serialised as JavaScript did, and
//!   the GAML the relay writes.
//! * `gama`: the GAMA side. The supervised connection to gama-server, commands under deadlines,
//!   what is known of GAMA's experiment; the world and pace the admin page draws (`gama::world`);
//!   the gama-server endpoint for Python tools (`gama::tools`).
//! * `headsets`: the headset side. The WebSocket server headsets register on
//!   (`headsets::endpoint`), the players' state machine (`headsets::roster`, pure, given the time)
//!   and its handle (`headsets::players`), where GAMA's output goes (`headsets::routing`,
//!   `headsets::conn`, `headsets::outbox`), and what each headset shows (`headsets::screens`).
//! * `control`: what operators act with: the learning packages, the operator (the selected model
//!   and the operations on GAMA's experiment, one at a time), the audit, the codes of what the
//!   relay tells people (`control::said`), and the webplatform's monitor socket.
//! * `admin`: the HTTP API, the live-update and world-view sockets and the embedded page, one file
//!   per thing the handlers act on.
//! * `history`: a session recorded to a file and replayed without GAMA, and every run kept for
//!   debriefing (`history::kept`).
//! * `server`: binding the ports, wiring the parts, running and shutting down; the accept loop,
//!   supervised tasks, the access token, metrics, the log file and `demo`.
//! * `support`: small pieces every part uses (times, excerpts, pacing, a bounded queue, the
//!   "something changed" counter).
//!
//! [`Server`] is what `main.rs` and the tests start.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Input from the network must never panic the relay: no unwrap/expect outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod admin;
pub mod config;
mod control;
mod gama;
mod headsets;
mod history;
mod protocol;
mod server;
mod support;

pub use admin::view::{GamaView, HeadsetsView, PlayerState, SelectedModel, StateView};
pub use config::Config;
pub use control::packages::{Catalog, Entry, Model};
pub use gama::world::ClockView;
pub use gama::{LastError, LinkState, ServerMode, ToolHold};
pub use headsets::conn::ConnView;
pub use headsets::roster::{Counts, PlayerView};
pub use history::kept::export::{Export, ExportError, export_session, list_sessions};
pub use history::record::RecordError;
pub use history::replay::{Recording, ReplayError, ReplayGama, ReplayOptions};
pub use server::demo;
pub use server::logfile::RotatingFile;
pub use server::tasks::panic_message;
pub use server::{Server, ServerError, ServerHandle};

/// What `relay-bench session-size` measures a kept session with. Not an API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::history::kept::bench::{Measured, Traffic, measure};
}

/// The parsers the fuzz targets (`fuzz/`) drive. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::admin::parse_launch_body;
    pub use crate::headsets::roster::validate_id;
    pub use crate::protocol::gama::Envelope;
    pub use crate::protocol::gaml::{create_player, substitute_id};
    pub use crate::protocol::headset::{Inbound, parse as parse_headset};
    pub use crate::protocol::json::{normalize_js, write_js};
    pub use crate::protocol::linker::{
        Delivery, Output, PayloadKind, Read, read, read_content, reference,
    };
}
