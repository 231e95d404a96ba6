//! What a headset sends, handled: registration (id checks, the announced keep-alive clamped to the
//! configured bounds), keep-alive answers, `disconnect_properly`, and the `ask` and `expression`
//! messages forwarded to GAMA (with `exp_id`, and `$id` replaced by the player's quoted id). Bad
//! input gets an error reply, at most once a second per headset, and never reaches GAMA.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tracing::{debug, info, warn};

use crate::config::HeadsetConfig;
use crate::control::said::{Code, Said};
use crate::gama::GamaLink;
use crate::gama::world::World;
use crate::headsets::conn::Conn;
use crate::headsets::players::Players;
use crate::headsets::refusals::{Refusals, WaitTicket, Waiting};
use crate::headsets::roster::{Keepalive, RegisterError, validate_id};
use crate::history::kept::{ActKind, Sessions};
use crate::history::record::Recorder;
use crate::protocol::command::Command;
use crate::protocol::gaml;
use crate::protocol::headset::{self as wire, Inbound, JsonState, error_frame, pong_frame};
use crate::server::metrics::{DropReason, Metrics};
use crate::support::excerpt::truncate;
use crate::support::pace::LogLimiter;

static REFUSED: LogLimiter = LogLimiter::new(Duration::from_secs(1));

/// Everything a headset's messages reach; cheap to clone.
#[derive(Clone)]
pub struct Input {
    /// The headset settings.
    pub config: Arc<HeadsetConfig>,
    /// The session's players.
    pub players: Players,
    /// Where asks and expressions go.
    pub gama: GamaLink,
    /// Players' positions for the admin page's world view.
    pub world: Arc<World>,
    /// The recording, if any.
    pub recorder: Option<Arc<Recorder>>,
    /// Who was turned away, for the admin page.
    pub refusals: Refusals,
    /// The session kept for debriefing.
    pub sessions: Sessions,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl Input {
    /// Handles one text frame. `player` is the id this connection registered, if it did;
    /// `waiting`, the id it waits for, if another live headset has it.
    pub fn text(
        &self,
        conn: &Arc<Conn>,
        player: &mut Option<Arc<str>>,
        waiting: &mut Option<WaitingFor>,
        text: &str,
    ) {
        if let Some(recorder) = &self.recorder {
            recorder.headset(conn.serial, player.as_ref(), text);
        }
        let message = match wire::parse(text) {
            Ok(m) => m,
            Err(e) => return complain(conn, &format!("{e}: {}", truncate(text, 80))),
        };
        match message {
            Inbound::Connection { id, heartbeat } => {
                *waiting = None;
                self.register(conn, player, waiting, id, heartbeat)
            }
            Inbound::Pong => conn.pong_received(),
            Inbound::Ping { id } => {
                let _ = conn.send(pong_frame(id));
            }
            Inbound::DisconnectProperly => match player.take() {
                Some(id) => {
                    info!(player = %id, "player disconnected properly");
                    self.players.leave(&id, "disconnected properly");
                }
                None => {
                    *waiting = None;
                    conn.close(1000, "disconnected properly")
                }
            },
            Inbound::Expression { expr } => {
                let Some(id) = registered(conn, player) else {
                    return;
                };
                self.sessions.act(&id, ActKind::Expression, &expr, None);
                if let Some(exp_id) = self.live_exp_id(conn) {
                    let cmd = Command::expression(Some(&exp_id), &gaml::substitute_id(&expr, &id));
                    self.forward(conn, cmd, id);
                }
            }
            Inbound::Ask {
                action,
                args,
                agent,
            } => {
                let Some(id) = registered(conn, player) else {
                    return;
                };
                if action.get() == "\"move_player_external\"" && self.world.watched() {
                    self.world.moved(&id, &args);
                }
                if self.sessions.active() {
                    let name: String = serde_json::from_str(action.get()).unwrap_or_default();
                    self.sessions.act(&id, ActKind::Ask, &name, Some(&args));
                }
                if let Some(exp_id) = self.live_exp_id(conn) {
                    self.forward(conn, Command::ask(&exp_id, action, &args, agent), id);
                }
            }
            Inbound::Unknown(kind) => complain(conn, &format!("unknown message type \"{kind}\"")),
        }
    }

    /// The connection of `id` ended without `disconnect_properly`.
    pub fn gone(&self, conn: &Arc<Conn>, id: &str) {
        if let Some((code, reason)) = conn.close_request().filter(|(_, r)| !r.is_empty()) {
            info!(player = %id, code, %reason, "player connection closed");
        } else {
            info!(player = %id, "player connection closed");
        }
        self.players.disconnected(conn, id);
    }

    /// The experiment id if headsets' commands can go to GAMA now; otherwise tells the headset.
    fn live_exp_id(&self, conn: &Conn) -> Option<String> {
        match self.gama.live_exp_id() {
            Ok(id) => Some(id),
            Err(why) => {
                self.metrics.command_dropped(DropReason::not_live);
                if conn.complaints.check().is_some() {
                    debug!("dropping a headset command: {why}");
                    let _ = conn.send(error_frame(&format!("not forwarded to GAMA: {why}")));
                }
                None
            }
        }
    }

    fn forward(&self, conn: &Conn, cmd: Command, player: Arc<str>) {
        if let Err(e) = self.gama.send_for_player(cmd, player) {
            self.metrics.command_dropped(DropReason::gama_busy);
            complain(conn, &format!("not forwarded to GAMA: {e}"));
        }
    }

    /// A `connection` message: the id checked, the keep-alive settled, then the player registered,
    /// or told to wait for an id a live headset has, or refused.
    fn register(
        &self,
        conn: &Arc<Conn>,
        player: &mut Option<Arc<str>>,
        waiting: &mut Option<WaitingFor>,
        id: String,
        heartbeat: wire::Heartbeat,
    ) {
        if let Err(e) = validate_id(&id, self.config.max_player_id_bytes) {
            return complain(conn, &format!("connection refused: {e}"));
        }
        let keepalive = Keepalive {
            ms: self.heartbeat_ms(&id, &heartbeat),
            as_text: heartbeat.as_text,
        };
        conn.set_heartbeat(Duration::from_millis(keepalive.ms));
        match self
            .players
            .register(conn, player.as_deref(), &id, keepalive)
        {
            Ok(()) => self.registered(player, &id, keepalive.ms),
            Err(RegisterError::InUse { id, address }) => {
                self.id_in_use(conn, player, waiting, id, address, keepalive)
            }
            Err(e) => {
                if let Some(suppressed) = REFUSED.check() {
                    warn!(player = %id, suppressed, "registration refused: {e}");
                }
                let _ = conn.send(error_frame(&format!("connection refused: {e}")));
                conn.close(1013, e.to_string());
                *player = None;
            }
        }
    }

    /// The keep-alive period of a headset: the one it announced, clamped to the configured bounds,
    /// or the default when it announced none it could use.
    fn heartbeat_ms(&self, id: &str, heartbeat: &wire::Heartbeat) -> u64 {
        let config = &self.config;
        match heartbeat.requested_ms {
            Some(ms) => {
                let clamped = config.clamp_heartbeat(ms);
                if clamped != ms {
                    warn!(player = %id, requested = ms, used = clamped, "heartbeat outside [headsets.min_heartbeat_ms, headsets.max_heartbeat_ms]; clamped");
                }
                clamped
            }
            None => {
                if let Some(raw) = &heartbeat.raw {
                    warn!(player = %id, heartbeat = %raw, "unusable heartbeat; using headsets.default_heartbeat_ms");
                }
                config.default_heartbeat_ms
            }
        }
    }

    /// The id a headset claims is in use by a live headset at `address`: the headset waits for it
    /// (when not too many already do) or is turned away; either way the page's list of refusals
    /// and the log say so.
    fn id_in_use(
        &self,
        conn: &Arc<Conn>,
        player: &mut Option<Arc<str>>,
        waiting: &mut Option<WaitingFor>,
        id: String,
        address: IpAddr,
        keepalive: Keepalive,
    ) {
        self.metrics.takeovers_refused.inc();
        let source = conn.remote.ip().to_canonical();
        let ticket = self.refusals.wait(
            conn.serial,
            Waiting {
                player: id.clone(),
                source: source.to_string(),
                holder: address.to_string(),
                since: crate::support::clock::now_rfc3339(),
            },
        );
        let text = self.in_use_text(&id, address, ticket.is_some());
        self.refusals.record(
            source,
            Some(&id),
            in_use_said(&id, address, ticket.is_some(), &text),
        );
        if let Some(suppressed) = REFUSED.check() {
            warn!(player = %id, suppressed, "registration refused: {text}");
        }
        *player = None;
        match ticket {
            Some(ticket) => *waiting = Some(wait_for_id(conn, id, keepalive, ticket, &text)),
            None => {
                let _ = conn.send(error_frame(&format!("connection refused: {text}")));
                conn.close(1008, text);
            }
        }
    }

    /// Why a headset cannot have the id it claims, whether it `waits` for it or not.
    fn in_use_text(&self, id: &str, address: IpAddr, waits: bool) -> String {
        if waits {
            format!("{id} is in use by a live headset at {address}; waiting until it leaves")
        } else {
            format!(
                "{id} is in use by a live headset at {address} (and {} other headsets already wait: headsets.max_waiting_for_id)",
                self.config.max_waiting_for_id
            )
        }
    }

    /// A connection waiting for its id tries again: admitted, as any newcomer, once the live
    /// headset that has the id left or missed a keep-alive.
    pub fn retry(
        &self,
        conn: &Arc<Conn>,
        player: &mut Option<Arc<str>>,
        waiting: &mut Option<WaitingFor>,
    ) {
        let Some(w) = waiting.take() else {
            return;
        };
        match self.players.register(conn, None, &w.id, w.keepalive) {
            Ok(()) => {
                info!(player = %w.id, "the headset that had this id left; the waiting one takes it");
                self.registered(player, &w.id, w.keepalive.ms);
            }
            Err(RegisterError::InUse { .. }) => *waiting = Some(w),
            Err(e) => {
                warn!(player = %w.id, "registration refused: {e}");
                let _ = conn.send(error_frame(&format!("connection refused: {e}")));
                conn.close(1013, e.to_string());
            }
        }
    }

    fn registered(&self, player: &mut Option<Arc<str>>, id: &str, ms: u64) {
        tracing::Span::current().record("player", id);
        *player = Some(Arc::from(id));
        info!(player = %id, heartbeat_ms = ms, "player registered");
    }
}

/// A connection waiting for the id it claimed, in use by another live headset.
pub struct WaitingFor {
    id: String,
    keepalive: Keepalive,
    /// Its place on the page's list; dropped with it.
    _ticket: WaitTicket,
}

/// What the page's list of refusals says of a headset whose id is in use: `text`, coded by whether
/// it `waits` for the id.
fn in_use_said(id: &str, address: IpAddr, waits: bool, text: &str) -> Said {
    Said::new(
        if waits {
            Code::IdInUseWaiting
        } else {
            Code::IdInUse
        },
        [("player", json!(id)), ("address", json!(address))],
        text.to_string(),
    )
}

/// A headset set to wait for the id it claims, told why: an error, then its state, out of the
/// game. The Unity app stays connected and is admitted as soon as the live headset leaves.
fn wait_for_id(
    conn: &Conn,
    id: String,
    keepalive: Keepalive,
    ticket: WaitTicket,
    text: &str,
) -> WaitingFor {
    let _ = conn.send(error_frame(text));
    let date = crate::support::clock::local_hh_mm();
    let _ =
        conn.send(JsonState::new(&id, keepalive.ms, keepalive.as_text, false, &date).to_frame());
    WaitingFor {
        id,
        keepalive,
        _ticket: ticket,
    }
}

fn registered(conn: &Conn, player: &Option<Arc<str>>) -> Option<Arc<str>> {
    if player.is_none() {
        complain(conn, "send a `connection` message with your id first");
    }
    player.clone()
}

/// Tells a headset (and the log) what was wrong with its input, at most once a second.
pub(super) fn complain(conn: &Conn, message: &str) {
    if let Some(suppressed) = conn.complaints.check() {
        warn!(suppressed, "bad input from headset: {message}");
        let _ = conn.send(error_frame(message));
    }
}
