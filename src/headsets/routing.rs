//! GAMA → headsets: where each element of the linker's output goes.
//!
//! [`Routes`] maps a player id to its current connection; the players' state machine
//! ([`crate::headsets::players`]) is its only writer, GAMA's reader task its hot reader. [`Router`] is what
//! the GAMA link hands its messages to: linker output to the listed players' queues (then to the
//! world view, which must never delay them), every frame to the recording, the messages of a
//! tool's experiment in desktop GAMA to that tool, and GAMA's refusal of a headset's command to
//! that headset.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tracing::{debug, warn};

use crate::gama::tools::Tools;
use crate::gama::world::World;
use crate::gama::{GamaError, GamaEvents};
use crate::headsets::conn::Conn;
use crate::history::kept::Sessions;
use crate::history::record::Recorder;
use crate::protocol::Frame;
use crate::protocol::headset::error_frame;
use crate::protocol::linker::Delivery;
use crate::server::metrics::Metrics;
use crate::support::pace::LogLimiter;

static UNKNOWN_RECIPIENT: LogLimiter = LogLimiter::new(Duration::from_secs(10));
static PLAYER_COMMAND_FAILED: LogLimiter = LogLimiter::new(Duration::from_secs(1));

/// Player id → its current connection.
#[derive(Debug, Default)]
pub struct Routes(DashMap<Arc<str>, Arc<Conn>>);

impl Routes {
    /// GAMA's output for `id` goes to `conn` from now on (`None`: nowhere).
    pub fn set(&self, id: Arc<str>, conn: Option<Arc<Conn>>) {
        match conn {
            Some(c) => {
                self.0.insert(id, c);
            }
            None => {
                self.0.remove(&id);
            }
        }
    }

    /// The connection of a player, if it has one.
    pub fn get(&self, id: &str) -> Option<Arc<Conn>> {
        self.0.get(id).map(|c| c.value().clone())
    }

    /// Open connections of players.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every connection.
    pub fn conns(&self) -> Vec<Arc<Conn>> {
        self.0.iter().map(|c| c.value().clone()).collect()
    }
}

/// The GAMA link's view of the relay.
pub struct Router {
    /// Where players are.
    pub routes: Arc<Routes>,
    /// The admin page's world view and clock.
    pub world: Arc<World>,
    /// Tools connected through the relay.
    pub tools: Arc<Tools>,
    /// The recording, if any.
    pub recorder: Option<Arc<Recorder>>,
    /// The session kept for debriefing.
    pub sessions: Sessions,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl GamaEvents for Router {
    fn deliver(&self, delivery: Delivery) {
        for id in &delivery.players {
            match self.routes.0.get(id.as_str()) {
                Some(conn) => {
                    let _ = conn.send_output(delivery.frame.clone(), delivery.kind);
                }
                None => {
                    self.metrics.outputs_for_absent_players.inc();
                    if let Some(suppressed) = UNKNOWN_RECIPIENT.check() {
                        debug!(player = %id, suppressed, "GAMA output for a player that is not connected, dropped");
                    }
                }
            }
        }
        // The world view and the kept session after the headsets: they must never delay them.
        self.world
            .observe(&delivery.players, &delivery.frame, delivery.kind);
        self.sessions.delivery(delivery);
    }

    fn linker_output(&self, _elements: usize) {
        self.world.output_arrived();
    }

    fn gama_frame(&self, frame: &Frame) {
        if let Some(recorder) = &self.recorder {
            recorder.gama(frame);
        }
    }

    fn tool_frame(&self, tool: u64, frame: &Frame) {
        self.tools.send_to(tool, frame);
    }

    fn player_command_failed(&self, player: &str, error: &GamaError) {
        if let Some(suppressed) = PLAYER_COMMAND_FAILED.check() {
            warn!(%player, suppressed, "{error}");
        }
        if let Some(conn) = self.routes.0.get(player) {
            if conn.complaints.check().is_some() {
                let _ = conn.send(error_frame(&error.to_string()));
            }
        }
    }
}
