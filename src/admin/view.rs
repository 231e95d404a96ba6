//! What the admin page shows, as one document: `GET /api/state` and every push of
//! `/api/events`. Built from each part's own view at the moment it is asked for.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;

use super::App;
use crate::gama::world::ClockView;
use crate::gama::{LastError, LinkState, ServerMode, ToolHold};
use crate::headsets::addresses::HeadsetAddress;
use crate::headsets::conn::ConnView;
use crate::headsets::refusals::Waiting;
use crate::headsets::roster::{Counts, PlayerView};
use crate::headsets::screens::ScreensView;

/// `GET /api/state`.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// Milliseconds on the relay's monotonic clock when this document was made, from an arbitrary
    /// origin (only differences mean something): the page measures per-player rates between two
    /// documents with it, whenever it gets round to reading them.
    pub relay_ms: u64,
    /// GAMA's side.
    pub gama: GamaView,
    /// The model a launch loads.
    pub model: Option<SelectedModel>,
    /// GAMA's pace: linker outputs per second and time since the last one.
    pub clock: ClockView,
    /// Where headsets connect.
    pub headsets: HeadsetsView,
    /// Changes whenever the catalog or the selection changes: time to fetch `/api/models` again.
    pub catalog_version: u64,
    /// Player counts.
    pub counts: Counts,
    /// Every player, in arrival order.
    pub players: Vec<PlayerState>,
    /// Headset screens.
    pub screens: ScreensView,
}

/// GAMA as the admin page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct GamaView {
    /// `host:port`.
    pub address: String,
    /// `connecting`, `connected`, `retrying` or `unreachable`.
    pub connection: LinkState,
    /// Since when (RFC 3339).
    pub connection_since: String,
    /// Why not connected, in plain words.
    pub reason: Option<String>,
    /// The same as a code, for the page's language (`crate::control::said`).
    pub reason_code: Option<&'static str>,
    /// The values in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_params: Option<serde_json::Map<String, serde_json::Value>>,
    /// `desktop` or `headless`, once known.
    pub mode: Option<ServerMode>,
    /// `NONE`, `NOTREADY`, `PAUSED`, `RUNNING`, `FINISHED`.
    pub experiment_state: String,
    /// Experiment id used in commands.
    pub experiment_id: Option<String>,
    /// Experiment name.
    pub experiment_name: Option<String>,
    /// Operation in progress (`launching`, `stopping`…).
    pub operation: Option<&'static str>,
    /// Last error GAMA reported.
    pub last_error: Option<LastError>,
    /// Commands awaiting GAMA's reply.
    pub commands_in_flight: usize,
    /// Desktop GAMA: the experiment a tool loaded in place of the session's (who, which model).
    pub tool_experiment: Option<ToolHold>,
}

/// The headset server.
#[derive(Debug, Clone, Serialize)]
pub struct HeadsetsView {
    /// The address it listens on.
    pub listen: Option<String>,
    /// Its port (what Unity apps are configured with).
    pub port: u16,
    /// This machine's addresses a headset can connect to (what to type into the app), the likely
    /// classroom one first; empty when the port listens on loopback only.
    pub addresses: Vec<HeadsetAddress>,
    /// Connections waiting for an id a live headset has.
    pub waiting_for_id: Vec<Waiting>,
}

/// The selected model, briefly.
#[derive(Debug, Clone, Serialize)]
pub struct SelectedModel {
    /// Index in the catalog.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Experiment.
    pub experiment_name: String,
    /// Minimum players.
    pub min_players: Option<u32>,
    /// Maximum players.
    pub max_players: Option<u32>,
}

/// A player with its connection's liveness and traffic.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerState {
    /// Identity and place in the game.
    #[serde(flatten)]
    pub player: PlayerView,
    /// Liveness and traffic of its current connection.
    pub traffic: Option<ConnView>,
}

/// Everything the admin page shows, now.
pub(crate) fn snapshot(app: &App) -> StateView {
    let gama = app.gama.status();
    let (players, counts) = app.players.view();
    let routes = app.players.routes();
    let players = players
        .into_iter()
        .map(|p| {
            let traffic = routes.get(&p.id).map(|c| c.view());
            PlayerState { player: p, traffic }
        })
        .collect::<Vec<_>>();
    let model = app.operator.selected_model().map(|m| SelectedModel {
        index: m.index,
        name: m.name,
        experiment_name: m.experiment_name,
        min_players: m.min_players,
        max_players: m.max_players,
    });
    StateView {
        relay_ms: relay_ms(),
        gama: GamaView {
            address: app.gama.address(),
            connection: gama.link,
            connection_since: gama.link_since,
            reason_code: gama.link_reason.as_ref().map(|r| r.code.as_str()),
            reason_params: gama.link_reason.as_ref().map(|r| r.params.clone()),
            reason: gama.link_reason.map(|r| r.text),
            mode: gama.mode,
            experiment_state: gama.experiment.name().to_string(),
            experiment_id: gama.exp_id,
            experiment_name: gama.experiment_name,
            operation: app.operator.operation(),
            last_error: gama.last_error,
            commands_in_flight: app.gama.in_flight(),
            tool_experiment: gama.tool_hold,
        },
        model,
        clock: app.world.clock(),
        headsets: HeadsetsView {
            listen: Some(app.headset_addr.to_string()),
            port: app.headset_addr.port(),
            addresses: app.addresses.for_listener(app.headset_addr),
            waiting_for_id: app.refusals.waiting(),
        },
        catalog_version: app.operator.catalog_version(),
        counts,
        screens: screens_of(app, &players),
        players,
    }
}

/// Headset screens, each matched to the player connected from its address.
pub(crate) fn screens(app: &App) -> ScreensView {
    let (players, _) = app.players.view();
    app.mirror.view(&addresses_of(players.iter()))
}

fn screens_of(app: &App, players: &[PlayerState]) -> ScreensView {
    app.mirror
        .view(&addresses_of(players.iter().map(|p| &p.player)))
}

/// The connected players' ids and network addresses.
fn addresses_of<'a>(players: impl Iterator<Item = &'a PlayerView>) -> Vec<(String, IpAddr)> {
    players
        .filter(|p| p.connected)
        .filter_map(|p| {
            let address = p.remote_address.parse::<std::net::SocketAddr>().ok()?;
            Some((p.id.clone(), address.ip().to_canonical()))
        })
        .collect()
}

/// The relay's monotonic clock in milliseconds, from the first time it is read.
fn relay_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    u64::try_from(ORIGIN.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}
