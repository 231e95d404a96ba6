//! A kept session's view at any moment, for one player: what the world view shows when it plays
//! a session back (the admin page) and what a seek costs (the benchmark). A seek reads one frame of
//! the data file from its snapshot, never the file from its start.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::json;

use super::read::{DataLine, ReadError, Session};
use crate::protocol::Frame;
use crate::protocol::linker::{PayloadKind, frame_of, payload_key, replay_rank};

/// How much of each player's past positions the playback draws as a trail.
pub const TRAIL_MS: u64 = 10_000;

/// The view at one moment of a session, for one player.
#[derive(Default)]
pub struct View {
    /// That player's latest payload of each kind.
    frames: BTreeMap<String, Frame>,
    positions: BTreeMap<String, (i64, i64, i64, i64)>,
    trails: HashMap<String, VecDeque<(u64, i64, i64)>>,
}

impl View {
    /// Takes one line of the session into the view; returns the frame it sent `player`, if any.
    pub fn take(&mut self, line: &DataLine<'_>, player: &str) -> Option<Frame> {
        if let Some(out) = &line.out {
            if out.p.iter().any(|p| p == player) {
                let frame = frame_of(out.f.get());
                let kind = PayloadKind::of_frame(frame.as_bytes());
                if let Some(key) = payload_key(frame.as_str(), kind) {
                    self.frames.insert(key.to_string(), frame.clone());
                }
                return Some(frame);
            }
        }
        if let Some(gone) = line.player.as_ref().filter(|p| p.state == "gone") {
            // Removed from the game, as the live view forgets it (a dropped headset keeps its
            // place until it is back or removed).
            self.positions.remove(&gone.id);
            self.trails.remove(&gone.id);
        }
        if let Some(pos) = &line.pos {
            self.positions
                .insert(pos.p.clone(), (pos.x, pos.y, pos.z, pos.angle));
            let trail = self.trails.entry(pos.p.clone()).or_default();
            trail.push_back((line.t, pos.x, pos.y));
            while trail
                .front()
                .is_some_and(|(t, _, _)| *t + TRAIL_MS < line.t)
            {
                trail.pop_front();
            }
        }
        None
    }

    /// That player's latest frames, in a usable order: parameters, properties and the initial world first.
    pub fn ordered_frames(&self) -> Vec<Frame> {
        let mut frames: Vec<(&String, &Frame)> = self.frames.iter().collect();
        frames.sort_by_key(|(k, _)| replay_rank(k));
        frames.into_iter().map(|(_, f)| f.clone()).collect()
    }

    /// Every player's position and trail at session time `now` (the trail holds the positions of
    /// the last [`TRAIL_MS`] before it), as the page's `positions` message.
    pub fn positions_message(&self, now: u64) -> String {
        let players: serde_json::Map<String, serde_json::Value> = self
            .positions
            .iter()
            .map(|(id, (x, y, z, angle))| {
                let trail: Vec<[i64; 2]> = self
                    .trails
                    .get(id)
                    .map(|t| {
                        t.iter()
                            .filter(|(at, _, _)| at + TRAIL_MS >= now)
                            .map(|(_, x, y)| [*x, *y])
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    id.clone(),
                    json!({"x": x, "y": y, "z": z, "angle": angle, "trail": trail}),
                )
            })
            .collect();
        json!({"type": "positions", "players": players}).to_string()
    }

    /// Forgets the trails' positions older than [`TRAIL_MS`] before `now` (a trail fades as the
    /// playback goes on, even for a player standing still); whether any was.
    pub fn fade(&mut self, now: u64) -> bool {
        let mut faded = false;
        for trail in self.trails.values_mut() {
            while trail.front().is_some_and(|(t, _, _)| t + TRAIL_MS < now) {
                trail.pop_front();
                faded = true;
            }
        }
        faded
    }
}

/// Session time the playback reads ahead, at most.
pub const READ_AHEAD_MS: u64 = 5_000;

/// The view of `player` at `t`. Trails need the positions of the last [`TRAIL_MS`]: reading starts
/// from the frame holding `t - TRAIL_MS` (at its snapshot).
pub fn view_at(session: &Session, player: &str, t: u64) -> Result<View, ReadError> {
    let mut view = View::default();
    session.lines_from(
        t.saturating_sub(TRAIL_MS),
        |line| match serde_json::from_str::<DataLine<'_>>(line) {
            Ok(data) if data.t <= t => {
                view.take(&data, player);
                true
            }
            Ok(_) => false,
            Err(_) => true,
        },
    )?;
    Ok(view)
}

/// The lines after `t`, up to [`READ_AHEAD_MS`] later (snapshots left out: the view has them).
pub fn lines_after(session: &Session, t: u64) -> Result<Vec<String>, ReadError> {
    let mut lines = Vec::new();
    session.lines_from(t + 1, |line| {
        match serde_json::from_str::<DataLine<'_>>(line) {
            Ok(d) if d.t > t + READ_AHEAD_MS => false,
            Ok(d) => {
                if d.t > t && !d.snap {
                    lines.push(line.to_string());
                }
                true
            }
            Err(_) => true,
        }
    })?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(view: &mut View, line: &str) {
        let data: DataLine<'_> = serde_json::from_str(line).unwrap();
        view.take(&data, "p1");
    }

    #[test]
    fn a_player_removed_from_the_game_stops_standing_in_the_world() {
        let mut view = View::default();
        take(
            &mut view,
            r#"{"t":10,"pos":{"p":"p1","x":1,"y":2,"z":0,"angle":0}}"#,
        );
        take(
            &mut view,
            r#"{"t":10,"pos":{"p":"p2","x":3,"y":4,"z":0,"angle":0}}"#,
        );
        take(
            &mut view,
            r#"{"t":20,"player":{"id":"p2","state":"disconnected"}}"#,
        );
        let shown: serde_json::Value = serde_json::from_str(&view.positions_message(20)).unwrap();
        assert!(shown["players"].get("p2").is_some(), "{shown}");
        take(&mut view, r#"{"t":25,"player":{"id":"p2","state":"gone"}}"#);
        let shown: serde_json::Value = serde_json::from_str(&view.positions_message(25)).unwrap();
        assert!(shown["players"].get("p1").is_some());
        assert!(shown["players"].get("p2").is_none(), "{shown}");
        take(
            &mut view,
            r#"{"t":30,"pos":{"p":"p2","x":5,"y":6,"z":0,"angle":0}}"#,
        );
        take(&mut view, r#"{"t":40,"player":{"id":"p1","state":"gone"}}"#);
        let shown: serde_json::Value = serde_json::from_str(&view.positions_message(40)).unwrap();
        assert!(shown["players"].get("p1").is_none(), "{shown}");
        assert_eq!(shown["players"]["p2"]["trail"], json!([[5, 6]]));
    }
}
