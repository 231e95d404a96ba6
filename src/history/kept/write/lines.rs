//! What each event becomes in the session's files: its line in the frame being filled and, for
//! what the timeline shows, in the timeline file. World updates and positions beyond the rate are
//! held back here (only a player's newest is kept) and written when their turn comes.

use std::io::Write;

use super::Writer;
use crate::gama::world::Position;
use crate::history::kept::{ActKind, Event};
use crate::protocol::Frame;
use crate::protocol::json::write_str;
use crate::protocol::linker::{PayloadKind, payload_key, payload_of};

impl Writer {
    pub(super) fn event(&mut self, event: Event) -> std::io::Result<()> {
        let at = match &event {
            Event::Out { at, .. }
            | Event::Act { at, .. }
            | Event::Experiment { at, .. }
            | Event::Player { at, .. }
            | Event::Pace { at, .. }
            | Event::Audit { at, .. }
            | Event::End { at, .. } => *at,
        };
        let t = self.ms(at).max(self.clock);
        self.tick(t);
        match event {
            Event::Out {
                players,
                frame,
                kind,
                ..
            } => self.out(t, players, frame, kind),
            Event::Act {
                player,
                kind,
                name,
                args,
                ..
            } => self.act(t, &player, kind, name, args.as_deref()),
            Event::Experiment { state, .. } => {
                self.experiment = state.clone();
                let line = format!("{{\"t\":{t},\"exp\":{}}}\n", quote(&state));
                self.chunk.extend_from_slice(line.as_bytes());
                self.timeline.write_all(line.as_bytes())
            }
            Event::Player { id, state, .. } => {
                if !self.info.players.contains(&id) {
                    self.info.players.push(id.clone());
                }
                if state == "gone" {
                    // Removed from the game: later snapshots leave it out, as playback does.
                    self.states.remove(&id);
                    self.cache.remove(&id);
                    self.positions.remove(&id);
                    self.pending_position.retain(|p| p != &id);
                } else {
                    self.states.insert(id.clone(), state.clone());
                }
                let line = format!(
                    "{{\"t\":{t},\"player\":{{\"id\":{},\"state\":{}}}}}\n",
                    quote(&id),
                    quote(&state)
                );
                self.chunk.extend_from_slice(line.as_bytes());
                self.timeline.write_all(line.as_bytes())
            }
            Event::Pace { per_second, .. } => {
                let line = format!("{{\"t\":{t},\"pace\":{:.2}}}\n", per_second);
                self.timeline.write_all(line.as_bytes())
            }
            Event::Audit { json, .. } => {
                let mut line = format!("{{\"t\":{t},\"audit\":").into_bytes();
                line.extend_from_slice(&json);
                line.extend_from_slice(b"}\n");
                self.chunk.extend_from_slice(&line);
                self.timeline.write_all(&line)
            }
            Event::End { .. } => Ok(()),
        }
    }

    /// Writes what was held back for the rate, when its turn came (or all of it, at the end).
    pub(super) fn write_pending(&mut self, t: u64, all: bool) {
        let gap = self.world_gap_ms;
        if !self.pending_world.is_empty() {
            let due: Vec<String> = self
                .pending_world
                .keys()
                .filter(|p| all || self.last_world.get(*p).is_none_or(|l| t >= l + gap))
                .cloned()
                .collect();
            for p in due {
                // Written now (lines stay in time order), at most the rate's gap after it came.
                if let Some((_, frame)) = self.pending_world.remove(&p) {
                    if let Some(payload) = payload_of(frame.as_str()) {
                        write_out(&mut self.chunk, t, std::slice::from_ref(&p), payload, false);
                        if let Some(key) = payload_key(frame.as_str(), PayloadKind::WorldUpdate) {
                            let key = key.to_string();
                            self.cache.entry(p.clone()).or_default().set(key, &frame);
                        }
                    }
                    self.last_world.insert(p, t);
                }
                // Thousands of players may be due at once: the staged text stays small.
                self.stage_or_warn();
            }
        }
        if !self.pending_position.is_empty() {
            let pending = std::mem::take(&mut self.pending_position);
            for p in pending {
                let due = all || self.last_position.get(&p).is_none_or(|l| t >= l + gap);
                match self.positions.get(&p) {
                    Some((_, position)) if due => {
                        write_position(&mut self.chunk, t, &p, position, false);
                        self.last_position.insert(p, t);
                        self.stage_or_warn();
                    }
                    Some(_) => self.pending_position.push(p),
                    None => {}
                }
            }
        }
    }

    /// A delivery: kept whole, except world updates beyond the rate for players that had one
    /// recently (for those players, only the newest is kept, written when its turn comes).
    fn out(
        &mut self,
        t: u64,
        players: Vec<String>,
        frame: Frame,
        kind: PayloadKind,
    ) -> std::io::Result<()> {
        let Some(payload) = payload_of(frame.as_str()) else {
            return Ok(());
        };
        let players: Vec<String> = if kind == PayloadKind::WorldUpdate {
            players
                .into_iter()
                .filter(|p| {
                    let due = self
                        .last_world
                        .get(p)
                        .is_none_or(|last| t >= last + self.world_gap_ms);
                    if due {
                        self.last_world.insert(p.clone(), t);
                        self.pending_world.remove(p);
                    } else {
                        self.pending_world.insert(p.clone(), (t, frame.clone()));
                    }
                    due
                })
                .collect()
        } else {
            players
        };
        if players.is_empty() {
            return Ok(());
        }
        if let Some(key) = payload_key(frame.as_str(), kind) {
            for p in &players {
                self.cache.entry(p.clone()).or_default().set(key, &frame);
            }
        }
        write_out(&mut self.chunk, t, &players, payload, false);
        Ok(())
    }

    fn act(
        &mut self,
        t: u64,
        player: &str,
        kind: ActKind,
        name: String,
        args: Option<&str>,
    ) -> std::io::Result<()> {
        let (k, name) = match kind {
            ActKind::Ask => ("ask", name),
            ActKind::Expression => ("expression", crate::support::excerpt::truncate(&name, 60)),
        };
        if name == "move_player_external" {
            if let Some(position) = args.and_then(Position::of_ask) {
                self.positions.insert(player.to_string(), (t, position));
                let last = self.last_position.get(player).copied();
                if last.is_none_or(|l| t >= l + self.world_gap_ms) {
                    self.last_position.insert(player.to_string(), t);
                    self.pending_position.retain(|p| p != player);
                    write_position(&mut self.chunk, t, player, &position, false);
                } else if !self.pending_position.iter().any(|p| p == player) {
                    self.pending_position.push(player.to_string());
                }
            }
        } else {
            let line = format!(
                "{{\"t\":{t},\"act\":{{\"p\":{},\"k\":\"{k}\",\"n\":{}}}}}\n",
                quote(player),
                quote(&name)
            );
            self.chunk.extend_from_slice(line.as_bytes());
        }
        *self.bin.entry((player.to_string(), k, name)).or_default() += 1;
        Ok(())
    }

    /// Writes the second's action counts to the timeline.
    pub(super) fn flush_bin(&mut self) {
        if self.bin.is_empty() {
            return;
        }
        let mut line = format!("{{\"t\":{},\"acts\":[", self.bin_second * 1000).into_bytes();
        for (i, ((player, kind, name), n)) in std::mem::take(&mut self.bin).into_iter().enumerate()
        {
            if i > 0 {
                line.push(b',');
            }
            line.push(b'[');
            write_str(&mut line, &player);
            line.extend_from_slice(format!(",\"{kind}\",").as_bytes());
            write_str(&mut line, &name);
            line.extend_from_slice(format!(",{n}]").as_bytes());
        }
        line.extend_from_slice(b"]}\n");
        let _ = self.timeline.write_all(&line);
    }
}

pub(super) fn quote(text: &str) -> String {
    crate::protocol::json::quote(text)
}

pub(super) fn write_out(out: &mut Vec<u8>, t: u64, players: &[String], payload: &str, snap: bool) {
    out.extend_from_slice(format!("{{\"t\":{t},").as_bytes());
    if snap {
        out.extend_from_slice(b"\"snap\":true,");
    }
    out.extend_from_slice(b"\"out\":{\"p\":[");
    for (i, p) in players.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, p);
    }
    out.extend_from_slice(b"],\"f\":");
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b"}}\n");
}

pub(super) fn write_position(out: &mut Vec<u8>, t: u64, player: &str, p: &Position, snap: bool) {
    out.extend_from_slice(format!("{{\"t\":{t},").as_bytes());
    if snap {
        out.extend_from_slice(b"\"snap\":true,");
    }
    out.extend_from_slice(b"\"pos\":{\"p\":");
    write_str(out, player);
    out.extend_from_slice(
        format!(
            ",\"x\":{},\"y\":{},\"z\":{},\"angle\":{}}}}}\n",
            p.x, p.y, p.z, p.angle
        )
        .as_bytes(),
    );
}
