//! The part of the SIMPLE `unity_linker` (TC-Linker, protocol.md §6 and §7.1) the relay sees:
//! players created and removed, `send_init_data`, readiness, positions and `ping_GAMA`.
//!
//! A model's agent, not gama-server: its actions arrive through `ask` and `expression`, and its
//! answers are simulation outputs, so it is kept apart from the server's own commands.

use serde_json::Value;
use serde_json::value::RawValue;

use super::args::{Resp, arg_int, arg_text, ask_args, field_text};
use super::commands::Ctx;
use super::scene::{init_world, properties};
use super::state::ExpKey;
use super::wire::{
    EnableMovePayload, LinkerBatch, LinkerElement, ParametersPayload, Unsolicited, to_raw, to_text,
};
use super::{FakeGamaOptions, PRECISION};

/// Actions of the SIMPLE linker the fake implements (protocol.md §6.4).
const LINKER_ACTIONS: &[&str] = &[
    "send_init_data",
    "player_ready_to_receive_geometries",
    "player_position_updated",
    "move_player_external",
    "move_geoms_followed",
    "ping_GAMA",
];

impl Ctx<'_> {
    /// The linker's `create_player`: ignored when the player exists or when `max_num_players` is
    /// reached (TC-Linker silently returns, protocol.md §7.3).
    pub(super) fn create_player(&mut self, key: ExpKey, id: &str) {
        let max = self.inner.opts.max_players;
        let mut created = false;
        if let Some(exp) = self.st.exp_mut(key) {
            let full = max.is_some_and(|m| exp.players.len() >= m);
            if !full && !exp.players.iter().any(|p| p == id) {
                exp.players.push(id.to_owned());
                created = true;
            }
        }
        if created && self.inner.opts.push_worlds && self.inner.opts.linker {
            let opts = self.inner.opts.clone();
            self.send_init_data(&opts, key, id);
        }
    }

    pub(super) fn remove_player(&mut self, key: ExpKey, id: &str) {
        if let Some(exp) = self.st.exp_mut(key) {
            exp.players.retain(|p| p != id);
            exp.ready.retain(|p| p != id);
            exp.positions.remove(id);
        }
    }

    pub(super) fn ask(&mut self, cmd: &Value, ty: &str) -> Resp {
        let key = match self.lookup(cmd, ty) {
            Ok(k) => k,
            Err(r) => return r,
        };
        let Some(action) = field_text(cmd, "action").map(|a| a.trim().to_owned()) else {
            return Resp::malformed("For ask, mandatory parameter is: 'action'");
        };
        let agent = field_text(cmd, "agent").map(|a| a.trim().to_owned());
        let known = action == "create_player"
            || action == "remove_player"
            || (self.inner.opts.linker && LINKER_ACTIONS.contains(&action.as_str()));
        if !known {
            return Resp::unable(&format!(
                "Action {action} does not exist in agent {}",
                agent.as_deref().unwrap_or("null")
            ));
        }
        let args = match ask_args(cmd) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let id = arg_text(&args, "id");
        let opts = self.inner.opts.clone();
        match (action.as_str(), id) {
            ("create_player", Some(id)) => self.create_player(key, &id),
            ("remove_player", Some(id)) => self.remove_player(key, &id),
            ("send_init_data", Some(id)) => self.send_init_data(&opts, key, &id),
            ("player_ready_to_receive_geometries", Some(id)) => {
                if let Some(exp) = self.st.exp_mut(key)
                    && exp.players.contains(&id)
                    && !exp.ready.contains(&id)
                {
                    exp.ready.push(id);
                }
            }
            ("move_player_external", Some(id)) => {
                let pos = (
                    arg_int(&args, "x"),
                    arg_int(&args, "y"),
                    arg_int(&args, "z"),
                    arg_int(&args, "angle"),
                );
                if let Some(exp) = self.st.exp_mut(key)
                    && exp.players.contains(&id)
                {
                    exp.positions.insert(id, pos);
                }
            }
            ("ping_GAMA", _) => {
                let exp_id = self.st.exp(key).map(|e| e.id.clone()).unwrap_or_default();
                let frame = to_text(&Unsolicited {
                    ty: "SimulationOutput",
                    content: "pong",
                    exp_id: &exp_id,
                });
                self.st.queue_output(opts.mode, key, frame);
            }
            // player_position_updated, move_geoms_followed, or an action without a usable id:
            // accepted without visible effect.
            _ => {}
        }
        Resp::ok("")
    }

    /// TC-Linker `send_init_data` (protocol.md §6.4, §7.1 step 7).
    fn send_init_data(&mut self, opts: &FakeGamaOptions, key: ExpKey, player: &str) {
        let Some(exp) = self.st.exp_mut(key) else {
            return;
        };
        if !exp.players.iter().any(|p| p == player) {
            return;
        }
        exp.ready.retain(|p| p != player);
        let players = exp.players.clone();
        let element = |contents: Box<RawValue>| LinkerElement {
            id: vec![player.to_owned()],
            contents,
        };
        let init = LinkerBatch {
            contents: vec![
                element(to_raw(&ParametersPayload {
                    precision: PRECISION,
                    world: [100 * PRECISION, 80 * PRECISION],
                    min_player_update_duration: 0.01 * PRECISION as f64,
                })),
                element(to_raw(&EnableMovePayload { enable_move: false })),
                element(to_raw(&properties(opts.scene))),
                element(to_raw(&init_world(opts.scene))),
            ],
            ty: "output",
        };
        self.st.queue_linker(opts, key, &init);
        if players.len() >= opts.min_players {
            let enable = LinkerBatch {
                contents: players
                    .into_iter()
                    .map(|p| LinkerElement {
                        id: vec![p],
                        contents: to_raw(&EnableMovePayload { enable_move: true }),
                    })
                    .collect(),
                ty: "output",
            };
            self.st.queue_linker(opts, key, &enable);
        }
    }
}
