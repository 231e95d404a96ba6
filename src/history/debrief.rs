//! What the kept session ([`crate::history::kept`]) learns from the rest of the relay, apart from the
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
use crate::gama::world::World;
use crate::headsets::players::Players;
use crate::headsets::roster::PlayerView;
use crate::history::kept::Sessions;
use crate::support::changes::Changes;

/// How often GAMA's pace is written down.
const PACE_EVERY: Duration = Duration::from_secs(1);

/// What the session was last told of each player: its state and how many times it had dropped.
type Seen = HashMap<String, (&'static str, u64)>;

/// The players' state changes since `seen` (which becomes `players`), in order. This task looks
/// when it is woken, and a busy machine may wake it after a headset dropped *and* came back: its
/// drop count says so, and the drop is told before the state it came back to. A player no longer
/// listed is `gone`.
fn changes_since(seen: &mut Seen, players: Vec<PlayerView>) -> Vec<(String, &'static str)> {
    let mut changes = Vec::new();
    let mut now = Seen::with_capacity(players.len());
    for p in players {
        match seen.get(&p.id) {
            Some(&(state, drops)) => {
                let missed_drop =
                    p.drops > drops && state != "disconnected" && p.state != "disconnected";
                if missed_drop {
                    changes.push((p.id.clone(), "disconnected"));
                }
                if missed_drop || state != p.state {
                    changes.push((p.id.clone(), p.state));
                }
            }
            None => changes.push((p.id.clone(), p.state)),
        }
        now.insert(p.id, (p.state, p.drops));
    }
    let mut gone: Vec<&String> = seen.keys().filter(|id| !now.contains_key(*id)).collect();
    gone.sort();
    changes.extend(gone.into_iter().map(|id| (id.clone(), "gone")));
    *seen = now;
    changes
}

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
            let mut states = Seen::new();
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
                    for (id, state) in changes_since(&mut states, players) {
                        self.sessions.player(&id, state);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn player(id: &str, state: &'static str, drops: u64) -> PlayerView {
        PlayerView {
            id: id.into(),
            remote_address: "127.0.0.1:5000".into(),
            connected: state != "disconnected",
            in_game: state == "in_game",
            joining: false,
            waiting: false,
            state,
            connected_since: String::new(),
            disconnected_since: None,
            grace_until: None,
            arrival: 0,
            heartbeat_ms: 5000,
            drops,
        }
    }

    #[test]
    fn a_drop_between_two_looks_is_told_and_each_change_once() {
        let mut seen = Seen::new();
        let first = changes_since(
            &mut seen,
            vec![player("A", "in_game", 0), player("B", "in_game", 0)],
        );
        assert_eq!(first, [("A".into(), "in_game"), ("B".into(), "in_game")]);
        // Nothing changed: nothing told.
        let same = changes_since(
            &mut seen,
            vec![player("A", "in_game", 0), player("B", "in_game", 0)],
        );
        assert!(same.is_empty(), "{same:?}");
        // B dropped and came back in before this look; A left.
        let later = changes_since(&mut seen, vec![player("B", "in_game", 1)]);
        assert_eq!(
            later,
            [
                ("B".into(), "disconnected"),
                ("B".into(), "in_game"),
                ("A".into(), "gone")
            ]
        );
        // A drop seen as it is, then the return: told once each.
        let dropped = changes_since(&mut seen, vec![player("B", "disconnected", 2)]);
        assert_eq!(dropped, [("B".into(), "disconnected")]);
        let back = changes_since(&mut seen, vec![player("B", "connected", 2)]);
        assert_eq!(back, [("B".into(), "connected")]);
    }
}
