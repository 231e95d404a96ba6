//! The players, as one handle: the roster's state machine ([`crate::headsets::roster`]), the
//! effects it decides (frames, closes, routes, GAMA's `create_player` / `remove_player`, grace
//! timers) and the task that keeps the players in line with GAMA's experiment.
//!
//! Every change goes through [`Players::with_roster`]: the roster decides under its lock and the
//! effects are performed before the lock is released, so GAMA receives `create_player` and
//! `remove_player` in the order the decisions were made and the routes never disagree with the
//! roster. Asynchronous outcomes (GAMA's answer to `create_player`, a grace time running out)
//! come back the same way. The wall clock is read here, under the same lock, and given to the
//! roster with the event it stamps.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::{Config, Takeover};
use crate::gama::world::World;
use crate::gama::{ExperimentState, GamaError, GamaLink, LinkState};
use crate::headsets::conn::{Conn, ConnRef};
use crate::headsets::roster::{
    Counts, Effect, JoinOutcome, Keepalive, Limits, PlayerView, Policy, RegisterError, Roster,
};
use crate::headsets::routing::Routes;
use crate::history::kept::Sessions;
use crate::protocol::command::Command;
use crate::protocol::gaml;
use crate::server::tasks::Tasks;
use crate::support::changes::Changes;

/// Handle to the players; cheap to clone.
#[derive(Clone)]
pub struct Players {
    inner: Arc<Inner>,
}

struct Inner {
    roster: Mutex<Roster<ConnRef>>,
    routes: Arc<Routes>,
    gama: GamaLink,
    world: Arc<World>,
    sessions: Sessions,
    /// The live epoch of GAMA's experiment the world view and the kept session follow.
    epoch: Mutex<Option<u64>>,
    command_timeout: Duration,
    /// How long a late answer to `create_player` is still taken.
    join_patience: Duration,
    auto_launch: bool,
    auto_launch_due: Notify,
    takeover: Takeover,
    changes: Changes,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Players {
    /// No players yet; [`Players::start`] follows GAMA's experiment.
    pub fn new(
        config: &Config,
        routes: Arc<Routes>,
        gama: GamaLink,
        world: Arc<World>,
        sessions: Sessions,
        changes: Changes,
        tasks: Tasks,
    ) -> Self {
        let policy = Policy {
            grace: Duration::from_millis(config.headsets.disconnect_grace_ms),
            aggressive_disconnect: config.headsets.aggressive_disconnect,
            max_players: config.headsets.max_players,
        };
        Players {
            inner: Arc::new(Inner {
                roster: Mutex::new(Roster::new(policy)),
                routes,
                gama,
                world,
                sessions,
                epoch: Mutex::new(None),
                command_timeout: config.gama.command_timeout(),
                join_patience: Duration::from_millis(config.gama.late_answer_ms),
                auto_launch: config.session.auto_launch,
                auto_launch_due: Notify::new(),
                takeover: config.headsets.takeover,
                changes,
                shutdown: tasks.shutdown,
                tracker: tasks.tracker,
            }),
        }
    }

    /// Starts the task that brings the players in line with GAMA's experiment whenever it changes.
    pub fn start(&self) {
        let players = self.clone();
        let mut gama_changes = self.inner.gama.subscribe();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tracker.spawn(async move {
            loop {
                players.follow_experiment();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = gama_changes.changed() => if r.is_err() { return },
                }
            }
        });
    }

    /// Where GAMA's output for each player goes.
    pub fn routes(&self) -> &Arc<Routes> {
        &self.inner.routes
    }

    /// A headset registered as `id` on `conn`; `previous` is the id this socket spoke for before,
    /// if another. A player whose headset is live is taken over only as `headsets.takeover`
    /// allows.
    pub fn register(
        &self,
        conn: &Arc<Conn>,
        previous: Option<&str>,
        id: &str,
        keepalive: Keepalive,
    ) -> Result<(), RegisterError> {
        let me = ConnRef(conn.clone());
        let takeover = self.inner.takeover;
        self.with_roster(|s| {
            if let Some(live) = s.conn(id).filter(|c| **c != me) {
                if let Err(e) = may_take_over(takeover, &live.0, conn, id) {
                    return (Err(e), Vec::new());
                }
            }
            // Read under the lock, so the times follow the order of the decisions.
            let now = jiff::Zoned::now();
            let mut effects = Vec::new();
            if let Some(old) = previous.filter(|old| *old != id) {
                // The same socket now speaks for another player: the old one lost its connection.
                effects.extend(s.disconnect(old, &me, &now));
            }
            match s.connect(id, me.clone(), conn.remote, keepalive, &now) {
                Ok(more) => {
                    effects.extend(more);
                    (Ok(()), effects)
                }
                Err(e) => (Err(e), effects),
            }
        })
    }

    /// The connection of player `id` ended without the player leaving.
    pub fn disconnected(&self, conn: &Arc<Conn>, id: &str) {
        let me = ConnRef(conn.clone());
        self.with_roster(|s| ((), s.disconnect(id, &me, &jiff::Zoned::now())));
    }

    /// The player leaves for good (`disconnect_properly`, or removed by the operator); `reason`
    /// goes in its socket's close frame. `false` if there is no such player.
    pub fn leave(&self, id: &str, reason: &str) -> bool {
        self.with_roster(|s| match s.leave(id, reason) {
            Some(effects) => (true, effects),
            None => (false, Vec::new()),
        })
    }

    /// The selected model's minimum and maximum of players.
    pub fn set_limits(&self, limits: Limits) {
        self.with_roster(|s| ((), s.set_limits(limits)));
    }

    /// Players with a live connection (what a launch's minimum is checked against).
    pub fn connected_count(&self) -> usize {
        self.inner.roster.lock().connected_count()
    }

    /// The operator stopped the game: no auto-launch until the players change.
    pub fn disarm_auto_launch(&self) {
        self.inner.roster.lock().disarm_auto_launch();
    }

    /// An auto-launch could not reach GAMA: launch when GAMA is back.
    pub fn rearm_auto_launch(&self) {
        self.inner.roster.lock().rearm_auto_launch();
    }

    /// Resolves when as many players as the model allows are connected and `session.auto_launch`
    /// is on: time to launch.
    pub async fn auto_launch_due(&self) {
        self.inner.auto_launch_due.notified().await;
    }

    /// Every player, in arrival order, and the counts.
    pub fn view(&self) -> (Vec<PlayerView>, Counts) {
        self.inner.roster.lock().view()
    }

    /// Runs `f` on the roster and performs the effects it returns, under the same lock.
    fn with_roster<R>(
        &self,
        f: impl FnOnce(&mut Roster<ConnRef>) -> (R, Vec<Effect<ConnRef>>),
    ) -> R {
        let result = {
            let mut roster = self.inner.roster.lock();
            let (result, effects) = f(&mut roster);
            self.perform(&mut roster, effects);
            result
        };
        self.inner.changes.notify();
        result
    }

    fn perform(&self, roster: &mut Roster<ConnRef>, effects: Vec<Effect<ConnRef>>) {
        let mut work: VecDeque<_> = effects.into();
        while let Some(effect) = work.pop_front() {
            match effect {
                Effect::Send { conn, frame } => {
                    let _ = conn.0.send(frame);
                }
                Effect::Close { conn, code, reason } => {
                    info!(peer = %conn.0.remote, %reason, "closing headset connection");
                    conn.0.close(code, reason);
                }
                Effect::Route { id, conn } => self.inner.routes.set(id, conn.map(|c| c.0)),
                Effect::Create { id, ticket } => {
                    if let Err(e) = self.create(id.clone(), ticket) {
                        warn!(player = %id, error = %e, "could not add the player to the game");
                        work.extend(roster.join_result(&id, ticket, JoinOutcome::Refused));
                    }
                }
                Effect::Remove { id } => self.remove(id),
                Effect::StartGrace { id, token, after } => {
                    let players = self.clone();
                    let shutdown = self.inner.shutdown.clone();
                    self.inner.tracker.spawn(async move {
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(after) => {
                                players.with_roster(|s| ((), s.grace_expired(&id, token)));
                            }
                        }
                    });
                }
                Effect::AutoLaunch => {
                    if self.inner.auto_launch {
                        self.inner.auto_launch_due.notify_one();
                    }
                }
            }
        }
    }

    /// Sends `create_player` and reports GAMA's answer to the session. An answer after the
    /// command's deadline still counts: the player shows "GAMA did not answer in time" meanwhile.
    fn create(&self, id: Arc<str>, ticket: u64) -> Result<(), GamaError> {
        let gama = &self.inner.gama;
        let exp_id = gama.exp_id()?;
        let reply = gama.call_patiently(
            &Command::expression(Some(&exp_id), &gaml::create_player(&id)),
            self.inner.command_timeout,
            self.inner.join_patience,
        )?;
        let players = self.clone();
        self.inner.tracker.spawn(async move {
            let result = reply
                .wait_late(|e| {
                    warn!(player = %id, error = %e, "GAMA has not added the player yet; still waiting for its answer");
                    players.with_roster(|s| ((), s.join_late(&id, ticket)));
                })
                .await;
            let outcome = match result {
                Ok(_) => {
                    info!(player = %id, "player is in the game");
                    JoinOutcome::Accepted
                }
                Err(e @ (GamaError::Timeout { .. } | GamaError::Disconnected(_))) => {
                    warn!(player = %id, error = %e, "GAMA did not answer create_player");
                    JoinOutcome::NoAnswer
                }
                Err(e) => {
                    warn!(player = %id, error = %e, "GAMA did not add the player to the game");
                    JoinOutcome::Refused
                }
            };
            players.with_roster(|s| ((), s.join_result(&id, ticket, outcome)));
        });
        Ok(())
    }

    fn remove(&self, id: Arc<str>) {
        self.inner.world.forget(&id);
        let gama = &self.inner.gama;
        let call = gama.exp_id().and_then(|exp_id| {
            gama.call(
                &Command::expression(Some(&exp_id), &gaml::remove_player(&id)),
                self.inner.command_timeout,
            )
        });
        info!(player = %id, "removing the player from the game");
        match call {
            Ok(reply) => {
                self.inner.tracker.spawn(async move {
                    if let Err(e) = reply.wait().await {
                        warn!(player = %id, error = %e, "GAMA did not remove the player");
                    }
                });
            }
            Err(e) => warn!(player = %id, error = %e, "could not remove the player from the game"),
        }
    }

    /// Brings the players in line with GAMA's experiment (live or not, and which life).
    fn follow_experiment(&self) {
        let status = self.inner.gama.status();
        let ended = {
            let mut epoch = self.inner.epoch.lock();
            let changed = *epoch != status.live_epoch;
            if changed && status.live_epoch.is_some() {
                // A new run: what the world view cached describes the old one, and the run is kept
                // for debriefing from now, before any player is added to it.
                self.inner.world.reset();
                self.inner.sessions.start(status.experiment_name.clone());
            }
            let ended = changed && epoch.is_some();
            *epoch = status.live_epoch;
            ended && status.live_epoch.is_none()
        };
        let ready_for_launch = status.link == LinkState::Connected
            && status.mode.is_some()
            && status.experiment == ExperimentState::None;
        self.with_roster(|s| {
            let mut effects = s.experiment(status.live_epoch);
            if ready_for_launch {
                effects.extend(s.auto_launch_due());
            }
            ((), effects)
        });
        if ended {
            self.inner.sessions.end();
        }
    }
}

/// Whether `new` may take over player `id` from its live connection `live`: from the same address
/// (a reconnecting app; its id is made of its own address), or once `live` has missed a keep-alive
/// (a headset that vanished without closing), or always under [`Takeover::Always`]. The app's id is
/// a claim, not a proof: another device on the network must not kick a live headset out.
fn may_take_over(policy: Takeover, live: &Conn, new: &Conn, id: &str) -> Result<(), RegisterError> {
    let same_address = live.remote.ip().to_canonical() == new.remote.ip().to_canonical();
    let silent = live
        .heartbeat()
        .is_none_or(|period| live.silent_for() >= period);
    if policy == Takeover::Always || same_address || silent || live.is_closing() {
        Ok(())
    } else {
        Err(RegisterError::InUse {
            id: id.to_string(),
            address: live.remote.ip().to_canonical(),
        })
    }
}
