//! gama-vr-relay: a fast, self-contained relay between a GAMA simulation that uses the SIMPLE
//! plugin and the Unity VR headsets of a classroom, with a live admin page.
//!
//! Layout, one concern per module:
//!
//! * [`config`]: settings, their layered sources (defaults < file < environment < command line) and
//!   validation;
//! * [`protocol`]: the wire formats of gama-server and of the Unity client;
//! * [`json`]: JavaScript-compatible JSON re-serialisation of GAMA's payloads, in one pass;
//! * [`gaml`]: the GAML the relay writes, with player ids safely quoted;
//! * [`gama`]: the supervised connection to gama-server, commands under deadlines, experiment state;
//! * [`session`]: players, takeover, grace time, gating by the model's minimum and maximum;
//! * [`headset`]: the WebSocket server headsets connect to, with bounded per-headset queues;
//! * [`relay`]: the shared handle tying them together, and the hot path GAMA → headsets;
//! * [`packages`]: learning-package discovery;
//! * [`admin`]: the HTTP API of the admin page;
//! * [`server`]: binding, running and shutting everything down.
//!
//! [`Server`] is what `main.rs` and the tests start.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Input from the network must never panic the relay: no unwrap/expect outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod config;
pub mod gama;
pub mod gaml;
pub mod headset;
pub mod json;
pub mod logfile;
pub mod metrics;
pub mod packages;
pub mod passthrough;
pub mod protocol;
pub mod record;
pub mod relay;
pub mod replay;
pub mod server;
pub mod session;
pub mod util;
pub mod world;

pub use config::Config;
pub use relay::Relay;
pub use server::{Server, ServerError, ServerHandle};
