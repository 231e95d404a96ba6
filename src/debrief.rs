//! What the kept session ([`crate::sessions`]) learns from the rest of the relay, apart from the
//! hot path's deliveries, the headsets' actions and the run's start and end (which the players
//! decide, with GAMA's live epochs): the players' states as the session state machine sees them,
//! GAMA's experiment states, and GAMA's pace once a second.
//!
//! It follows the relay's change notifications, so it costs nothing while nothing changes, and
//! compares with what it last told the session, so each change is written once.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::gama::GamaLink;
use crate::players::Players;
use crate::sessions::Sessions;
use crate::util::Changes;
use crate::world::World;

/// How often GAMA's pace is written down.
const PACE_EVERY: Duration = Duration::from_secs(1);

/// The parts followed.
pub struct Debrief {
    /// Where the session is kept.
    pub sessions: Sessions,
    /// GAMA's experiment.
    pub gama: GamaLink,
    /// The players.
    pub players: Players,
    /// GAMA's pace.
    pub world: std::sync::Arc<World>,
    /// Changes worth a look.
    pub changes: Changes,
}

impl Debrief {
    /// Follows the relay until `shutdown`, then ends the session being kept.
    pub fn spawn(self, shutdown: CancellationToken, tracker: &TaskTracker) {
        tracker.spawn(async move {
            let mut changes = self.changes.subscribe();
            let mut pace = tokio::time::interval(PACE_EVERY);
            let mut session = None;
            let mut experiment = String::new();
            let mut states: HashMap<String, &'static str> = HashMap::new();
            loop {
                let status = self.gama.status();
                let current = self.sessions.current();
                if current != session {
                    // A new session (the players started it with GAMA's new run): tell it all.
                    session = current;
                    experiment.clear();
                    states.clear();
                }
                if self.sessions.active() {
                    if status.experiment.name() != experiment {
                        experiment = status.experiment.name().to_string();
                        self.sessions.experiment(&experiment);
                    }
                    let (players, _) = self.players.view();
                    let mut seen = HashMap::with_capacity(players.len());
                    for p in players {
                        if states.get(&p.id) != Some(&p.state) {
                            self.sessions.player(&p.id, p.state);
                        }
                        seen.insert(p.id, p.state);
                    }
                    for id in states.keys().filter(|id| !seen.contains_key(*id)) {
                        self.sessions.player(id, "gone");
                    }
                    states = seen;
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = changes.changed() => if r.is_err() { break },
                    _ = pace.tick() => {
                        if self.sessions.active() {
                            self.sessions.pace(self.world.clock().outputs_per_second);
                        }
                    }
                }
            }
            self.sessions.end();
        });
    }
}
