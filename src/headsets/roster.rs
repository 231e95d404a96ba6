//! The roster: the players and who is in the game. Registration, takeover, grace time, gating by
//! the model's minimum and maximum, and re-admission whenever the experiment comes back to life.
//!
//! This is a pure state machine: it reads no clock and touches no socket. An event that stamps a
//! time (a connection, a disconnection) is given `now` by its caller. Each event returns the
//! [`Effect`]s to perform (frames to send, sockets to close, GAMA commands to issue, timers to
//! start) and [`crate::headsets::players`] performs them while still holding the lock on the
//! roster, so GAMA receives `create_player` and `remove_player` in the order the decisions were made. A player is
//! marked in game only once GAMA acknowledged `create_player` (the reference did it optimistically,
//! protocol.md §11.8), even when that acknowledgement comes after the command's deadline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Zoned;
use serde::Serialize;

use crate::protocol::Frame;
use crate::protocol::headset::JsonState;
use crate::support::clock;

/// What the relay must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect<C> {
    /// Send a frame on a connection.
    Send {
        /// Where.
        conn: C,
        /// What.
        frame: Frame,
    },
    /// Close a connection with a reason.
    Close {
        /// Which.
        conn: C,
        /// WebSocket close code.
        code: u16,
        /// Reason sent in the close frame and logged.
        reason: String,
    },
    /// Ask GAMA to create the player; report a missed deadline with [`Roster::join_late`] and the
    /// outcome with [`Roster::join_result`].
    Create {
        /// Player id.
        id: Arc<str>,
        /// Identifies this attempt.
        ticket: u64,
    },
    /// Ask GAMA to remove the player.
    Remove {
        /// Player id.
        id: Arc<str>,
    },
    /// Call [`Roster::grace_expired`] after `after` unless the player came back.
    StartGrace {
        /// Player id.
        id: Arc<str>,
        /// Identifies this disconnection.
        token: u64,
        /// Grace time.
        after: Duration,
    },
    /// Route GAMA's output for this player to `conn` (`None`: nowhere, it has no connection).
    Route {
        /// Player id.
        id: Arc<str>,
        /// Its connection now.
        conn: Option<C>,
    },
    /// As many players as the model allows are connected: launch it (auto-launch).
    AutoLaunch,
}

/// Where a player stands with the game.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Game {
    /// Not in the game.
    Out,
    /// `create_player` sent, waiting for GAMA's acknowledgement (`late`: past the command's
    /// deadline; GAMA may still have created it).
    Joining { ticket: u64, late: bool },
    /// In the game.
    In,
}

/// What became of a `create_player`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// GAMA created the player.
    Accepted,
    /// GAMA refused it.
    Refused,
    /// GAMA never answered (or the connection was lost first).
    NoAnswer,
}

/// The announced keep-alive of a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Effective period after clamping.
    pub ms: u64,
    /// Whether it was announced as a string (echoed the same way in `json_state`).
    pub as_text: bool,
}

#[derive(Debug)]
struct Player<C> {
    id: Arc<str>,
    conn: Option<C>,
    remote: SocketAddr,
    game: Game,
    arrival: u64,
    keepalive: Keepalive,
    date_connection: String,
    connected_since: String,
    disconnected_since: Option<String>,
    grace_until: Option<String>,
    /// Set on a disconnection, so a stale grace timer does nothing.
    grace_token: u64,
    /// How many times its connection dropped.
    drops: u64,
    /// Why GAMA did not take this player: not retried before a reconnection or a new experiment.
    join_failure: Option<JoinOutcome>,
}

impl<C: Clone> Player<C> {
    fn state_frame(&self) -> Frame {
        JsonState::new(
            &self.id,
            self.keepalive.ms,
            self.keepalive.as_text,
            self.game == Game::In,
            &self.date_connection,
        )
        .to_frame()
    }

    fn send_state(&self, effects: &mut Vec<Effect<C>>) {
        if let Some(conn) = &self.conn {
            effects.push(Effect::Send {
                conn: conn.clone(),
                frame: self.state_frame(),
            });
        }
    }
}

/// Roster policy from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a dropped player keeps its place.
    pub grace: Duration,
    /// Remove dropped players at once.
    pub aggressive_disconnect: bool,
    /// Most players known at once (connected or within their grace time).
    pub max_players: usize,
}

/// Players needed and allowed, from the selected model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// A launch needs this many connected players (unless forced).
    pub min: Option<u32>,
    /// Never more players in the game than this; 0 or absent means no limit.
    pub max: Option<u32>,
}

impl Limits {
    fn cap(&self) -> usize {
        match self.max {
            Some(0) | None => usize::MAX,
            Some(n) => n as usize,
        }
    }
}

/// A player as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerView {
    /// Player id.
    pub id: String,
    /// Address of its current (or last) connection.
    pub remote_address: String,
    /// Connected now.
    pub connected: bool,
    /// In the game (GAMA acknowledged it).
    pub in_game: bool,
    /// Being added to the game.
    pub joining: bool,
    /// Connected, experiment live, but no slot free (or GAMA refused it).
    pub waiting: bool,
    /// `connected`, `in_game`, `joining`, `no_answer` (GAMA did not answer `create_player` in
    /// time), `waiting`, `refused` or `disconnected`.
    pub state: &'static str,
    /// When it registered (RFC 3339).
    pub connected_since: String,
    /// When its connection dropped, if it did (RFC 3339).
    pub disconnected_since: Option<String>,
    /// Until when a dropped player keeps its place (RFC 3339), if it dropped.
    pub grace_until: Option<String>,
    /// Position in arrival order.
    pub arrival: u64,
    /// Announced keep-alive period.
    pub heartbeat_ms: u64,
    /// How many times its connection dropped (for the kept session: a drop and a reconnection
    /// between two looks still count).
    #[serde(skip)]
    pub drops: u64,
}

/// Counts shown next to the player list.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Players with a live connection.
    pub connected: usize,
    /// Players in the game.
    pub in_game: usize,
    /// Players waiting for a slot.
    pub waiting: usize,
    /// Players kept during their grace time.
    pub disconnected: usize,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Empty id.
    #[error("the player id is empty")]
    Empty,
    /// Longer than allowed.
    #[error("the player id is longer than {0} bytes")]
    TooLong(usize),
    /// Contains control characters.
    #[error("the player id contains control characters")]
    ControlCharacters,
    /// The relay already knows as many players as it accepts.
    #[error("the relay already has {0} players (headsets.max_players)")]
    Full(usize),
    /// Another headset, live, speaks for this player from another address.
    #[error("{id} is in use by a live headset at {address}")]
    InUse {
        /// The player id claimed.
        id: String,
        /// Where the live headset is.
        address: std::net::IpAddr,
    },
}

/// Checks a player id a headset claims.
pub fn validate_id(id: &str, max_bytes: usize) -> Result<(), RegisterError> {
    if id.is_empty() {
        Err(RegisterError::Empty)
    } else if id.len() > max_bytes {
        Err(RegisterError::TooLong(max_bytes))
    } else if id.chars().any(char::is_control) {
        Err(RegisterError::ControlCharacters)
    } else {
        Ok(())
    }
}

/// The players of the relay and their place in the game.
#[derive(Debug)]
pub struct Roster<C> {
    players: HashMap<Arc<str>, Player<C>>,
    arrivals: u64,
    tickets: u64,
    /// The GAMA live epoch players were admitted under; `None` when no experiment is live.
    epoch: Option<u64>,
    limits: Limits,
    policy: Policy,
    auto_launch_armed: bool,
}

impl<C: Clone + PartialEq> Roster<C> {
    /// An empty roster: no player yet.
    pub fn new(policy: Policy) -> Self {
        Roster {
            players: HashMap::new(),
            arrivals: 0,
            tickets: 0,
            epoch: None,
            limits: Limits::default(),
            policy,
            auto_launch_armed: true,
        }
    }

    /// A headset sent `connection` at `now`. A known id takes over: its old socket is closed and
    /// its place in the game kept. A new id is refused when `max_players` players are already
    /// known.
    pub fn connect(
        &mut self,
        id: &str,
        conn: C,
        remote: SocketAddr,
        keepalive: Keepalive,
        now: &Zoned,
    ) -> Result<Vec<Effect<C>>, RegisterError> {
        if !self.players.contains_key(id) && self.players.len() >= self.policy.max_players {
            return Err(RegisterError::Full(self.policy.max_players));
        }
        let mut effects = Vec::new();
        if let Some(p) = self.players.get_mut(id) {
            if let Some(old) = p.conn.take() {
                if old != conn {
                    effects.push(Effect::Close {
                        conn: old,
                        code: 1000,
                        reason: format!("{id} connected again from {remote}"),
                    });
                }
            }
            p.conn = Some(conn.clone());
            effects.push(Effect::Route {
                id: p.id.clone(),
                conn: Some(conn),
            });
            p.remote = remote;
            p.keepalive = keepalive;
            p.date_connection = clock::hh_mm(now);
            p.disconnected_since = None;
            p.grace_until = None;
            p.grace_token += 1;
            p.join_failure = None;
            p.send_state(&mut effects);
        } else {
            self.arrivals += 1;
            let p = Player {
                id: Arc::from(id),
                conn: Some(conn.clone()),
                remote,
                game: Game::Out,
                arrival: self.arrivals,
                keepalive,
                date_connection: clock::hh_mm(now),
                connected_since: clock::rfc3339(now.timestamp()),
                disconnected_since: None,
                grace_until: None,
                grace_token: 0,
                drops: 0,
                join_failure: None,
            };
            effects.push(Effect::Route {
                id: p.id.clone(),
                conn: Some(conn),
            });
            p.send_state(&mut effects);
            self.players.insert(p.id.clone(), p);
        }
        self.admit(&mut effects);
        self.check_auto_launch(&mut effects);
        Ok(effects)
    }

    /// A connection ended at `now` without the player leaving (socket closed, keep-alive missed).
    pub fn disconnect(&mut self, id: &str, conn: &C, now: &Zoned) -> Vec<Effect<C>> {
        let mut effects = Vec::new();
        let Some(p) = self.players.get_mut(id) else {
            return effects;
        };
        if p.conn.as_ref() != Some(conn) {
            // An old socket replaced by a newer one: nothing changes.
            return effects;
        }
        p.conn = None;
        effects.push(Effect::Route {
            id: p.id.clone(),
            conn: None,
        });
        p.disconnected_since = Some(clock::rfc3339(now.timestamp()));
        p.grace_until = Some(clock::rfc3339_after(now.timestamp(), self.policy.grace));
        p.grace_token += 1;
        p.drops += 1;
        if self.policy.aggressive_disconnect || self.policy.grace.is_zero() {
            self.remove(id, &mut effects);
        } else {
            effects.push(Effect::StartGrace {
                id: p.id.clone(),
                token: p.grace_token,
                after: self.policy.grace,
            });
        }
        self.arm_if_below_max();
        effects
    }

    /// The grace time of a dropped player is over.
    pub fn grace_expired(&mut self, id: &str, token: u64) -> Vec<Effect<C>> {
        let mut effects = Vec::new();
        if self
            .players
            .get(id)
            .is_some_and(|p| p.conn.is_none() && p.grace_token == token)
        {
            self.remove(id, &mut effects);
        }
        effects
    }

    /// The player leaves for good (`disconnect_properly`, or the operator removed it). `reason`
    /// goes in the close frame of its socket, if it has one.
    pub fn leave(&mut self, id: &str, reason: &str) -> Option<Vec<Effect<C>>> {
        let mut effects = Vec::new();
        let conn = self.players.get(id)?.conn.clone();
        self.remove(id, &mut effects);
        if let Some(conn) = conn {
            effects.push(Effect::Close {
                conn,
                code: 1000,
                reason: reason.to_string(),
            });
        }
        self.arm_if_below_max();
        Some(effects)
    }

    fn remove(&mut self, id: &str, effects: &mut Vec<Effect<C>>) {
        if let Some(p) = self.players.remove(id) {
            if p.conn.is_some() {
                effects.push(Effect::Route {
                    id: p.id.clone(),
                    conn: None,
                });
            }
            if p.game != Game::Out && self.epoch.is_some() {
                effects.push(Effect::Remove { id: p.id });
            }
        }
        self.admit(effects);
    }

    /// GAMA has not answered a `create_player` within the command's deadline: the player keeps its
    /// slot (GAMA may have created it) and shows that GAMA is late.
    pub fn join_late(&mut self, id: &str, ticket: u64) -> Vec<Effect<C>> {
        if let Some(p) = self.players.get_mut(id) {
            if let Game::Joining { ticket: t, .. } = p.game {
                if t == ticket {
                    p.game = Game::Joining { ticket, late: true };
                }
            }
        }
        Vec::new()
    }

    /// The outcome of a `create_player`.
    pub fn join_result(&mut self, id: &str, ticket: u64, outcome: JoinOutcome) -> Vec<Effect<C>> {
        let mut effects = Vec::new();
        let Some(p) = self.players.get_mut(id) else {
            return effects;
        };
        if !matches!(p.game, Game::Joining { ticket: t, .. } if t == ticket) {
            // The experiment changed or the player left meanwhile.
            return effects;
        }
        if outcome == JoinOutcome::Accepted {
            p.game = Game::In;
            p.send_state(&mut effects);
        } else {
            p.game = Game::Out;
            p.join_failure = Some(outcome);
            self.admit(&mut effects);
        }
        effects
    }

    /// What GAMA's experiment is doing: `Some(epoch)` while live. A new epoch (reload, end of
    /// game, GAMA restarted) puts everyone out of the game and admits them again.
    pub fn experiment(&mut self, epoch: Option<u64>) -> Vec<Effect<C>> {
        let mut effects = Vec::new();
        if self.epoch == epoch {
            return effects;
        }
        self.epoch = epoch;
        for p in self.players.values_mut() {
            let was_in = p.game == Game::In;
            p.game = Game::Out;
            p.join_failure = None;
            if was_in {
                p.send_state(&mut effects);
            }
        }
        self.admit(&mut effects);
        effects
    }

    /// The selected model changed.
    pub fn set_limits(&mut self, limits: Limits) -> Vec<Effect<C>> {
        let mut effects = Vec::new();
        self.limits = limits;
        self.auto_launch_armed = true;
        self.admit(&mut effects);
        self.check_auto_launch(&mut effects);
        effects
    }

    /// Called when the operator stops the game: no auto-launch until the players change.
    pub fn disarm_auto_launch(&mut self) {
        self.auto_launch_armed = false;
    }

    /// An auto-launch could not reach GAMA: try again when GAMA is back.
    pub fn rearm_auto_launch(&mut self) {
        self.auto_launch_armed = true;
    }

    /// GAMA is ready for a launch: launch if as many players as allowed wait for it.
    pub fn auto_launch_due(&mut self) -> Vec<Effect<C>> {
        let mut effects = Vec::new();
        self.check_auto_launch(&mut effects);
        effects
    }

    /// Fills free slots with connected players, in arrival order.
    fn admit(&mut self, effects: &mut Vec<Effect<C>>) {
        if self.epoch.is_none() {
            return;
        }
        let taken = self
            .players
            .values()
            .filter(|p| p.game != Game::Out)
            .count();
        let free = self.limits.cap().saturating_sub(taken);
        if free == 0 {
            return;
        }
        let mut candidates: Vec<&mut Player<C>> = self
            .players
            .values_mut()
            .filter(|p| p.game == Game::Out && p.conn.is_some() && p.join_failure.is_none())
            .collect();
        candidates.sort_by_key(|p| p.arrival);
        for p in candidates.into_iter().take(free) {
            self.tickets += 1;
            p.game = Game::Joining {
                ticket: self.tickets,
                late: false,
            };
            effects.push(Effect::Create {
                id: p.id.clone(),
                ticket: self.tickets,
            });
        }
    }

    fn connected(&self) -> usize {
        self.players.values().filter(|p| p.conn.is_some()).count()
    }

    fn arm_if_below_max(&mut self) {
        if let Some(max) = self.limits.max.filter(|m| *m > 0) {
            if self.connected() < max as usize {
                self.auto_launch_armed = true;
            }
        }
    }

    fn check_auto_launch(&mut self, effects: &mut Vec<Effect<C>>) {
        let Some(max) = self.limits.max.filter(|m| *m > 0) else {
            return;
        };
        if self.auto_launch_armed && self.epoch.is_none() && self.connected() >= max as usize {
            self.auto_launch_armed = false;
            effects.push(Effect::AutoLaunch);
        }
    }

    /// The connection of a player, if it has one.
    pub fn conn(&self, id: &str) -> Option<&C> {
        self.players.get(id)?.conn.as_ref()
    }

    /// Number of connected players (what a launch's minimum is checked against).
    pub fn connected_count(&self) -> usize {
        self.connected()
    }

    /// Players for display, in arrival order.
    pub fn view(&self) -> (Vec<PlayerView>, Counts) {
        let live = self.epoch.is_some();
        let mut counts = Counts::default();
        let mut list: Vec<PlayerView> = self
            .players
            .values()
            .map(|p| {
                let connected = p.conn.is_some();
                let in_game = p.game == Game::In;
                let joining = matches!(p.game, Game::Joining { .. });
                let waiting = connected && live && p.game == Game::Out;
                let state = if !connected {
                    "disconnected"
                } else if in_game {
                    "in_game"
                } else if matches!(p.game, Game::Joining { late: true, .. }) {
                    "no_answer"
                } else if joining {
                    "joining"
                } else if waiting && p.join_failure == Some(JoinOutcome::NoAnswer) {
                    "no_answer"
                } else if waiting && p.join_failure.is_some() {
                    "refused"
                } else if waiting {
                    "waiting"
                } else {
                    "connected"
                };
                counts.connected += usize::from(connected);
                counts.in_game += usize::from(in_game);
                counts.waiting += usize::from(waiting);
                counts.disconnected += usize::from(!connected);
                PlayerView {
                    id: p.id.to_string(),
                    remote_address: p.remote.to_string(),
                    connected,
                    in_game,
                    joining,
                    waiting,
                    state,
                    connected_since: p.connected_since.clone(),
                    disconnected_since: p.disconnected_since.clone(),
                    grace_until: p.grace_until.clone(),
                    arrival: p.arrival,
                    heartbeat_ms: p.keepalive.ms,
                    drops: p.drops,
                }
            })
            .collect();
        list.sort_by_key(|p| p.arrival);
        (list, counts)
    }
}

#[cfg(test)]
mod tests;
