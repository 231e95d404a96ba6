//! What the admin page needs to draw the simulation as the headsets see it, and GAMA's pace.
//!
//! * A per-player cache of the last payload of each kind (parameters, properties, initial world,
//!   walls, the newest world update…), so a world view opened mid-session starts complete instead
//!   of waiting for the next `send_init_data`.
//! * Spectators ([`spectator`]): admin-page sockets following one player. They get that player's
//!   payloads through their own bounded, coalescing queue, so a slow tablet never slows the relay,
//!   and the players' own positions (`move_player_external`) at most ten times a second.
//! * The simulation clock: linker outputs per second and time since the last one.
//!
//! Decoding happens in the browser; the relay only keeps references to frames it built anyway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod spectator;

use dashmap::DashMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::protocol::Frame;
use crate::protocol::linker::{PayloadKind, payload_key, replay_rank};

pub use spectator::Spectator;

/// Most cached payload kinds per player (custom `send_message` maps bring their own first keys).
const MAX_KINDS: usize = 32;

/// A player's position as Unity reports it (`move_player_external`), in GAMA's integer units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// x × precision.
    pub x: i64,
    /// y × precision.
    pub y: i64,
    /// z × precision.
    pub z: i64,
    /// Heading × precision, in degrees.
    pub angle: i64,
}

impl Position {
    /// The position in a `move_player_external` ask's arguments: the JSON string literal Unity
    /// sends, holding an object of decimal-integer strings (numbers are accepted too). `None`
    /// without `x` and `y`.
    pub fn of_ask(args_literal: &str) -> Option<Position> {
        #[derive(Deserialize)]
        struct Args {
            x: Option<Num>,
            y: Option<Num>,
            z: Option<Num>,
            angle: Option<Num>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            Text(String),
            Int(i64),
            Float(f64),
        }
        let value = |n: Option<Num>| match n {
            Some(Num::Text(t)) => t.trim().parse::<f64>().ok().map(|f| f as i64),
            Some(Num::Int(i)) => Some(i),
            Some(Num::Float(f)) => Some(f as i64),
            None => None,
        };
        let text = serde_json::from_str::<String>(args_literal).ok()?;
        let args = serde_json::from_str::<Args>(&text).ok()?;
        Some(Position {
            x: value(args.x)?,
            y: value(args.y)?,
            z: value(args.z).unwrap_or(0),
            angle: value(args.angle).unwrap_or(0),
        })
    }
}

/// GAMA's pace, for the admin page.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ClockView {
    /// Linker outputs per second over the last two seconds.
    pub outputs_per_second: f64,
    /// Milliseconds since the last linker output (`None` before the first).
    pub last_output_ms_ago: Option<u64>,
    /// Linker outputs since start.
    pub outputs: u64,
}

#[derive(Debug)]
struct Clock {
    start: Instant,
    /// Outputs per 250 ms bucket: the last [`WINDOW`] complete ones and the current one.
    buckets: [(u64, u32); WINDOW + 1],
    last: Option<Instant>,
    total: u64,
}

const BUCKET_MS: u64 = 250;
/// Complete buckets the rate is measured over (2 s).
const WINDOW: usize = 8;

impl Clock {
    fn tick(&mut self, now: Instant) {
        let slot = now.duration_since(self.start).as_millis() as u64 / BUCKET_MS;
        let bucket = &mut self.buckets[(slot % (WINDOW as u64 + 1)) as usize];
        if bucket.0 != slot {
            *bucket = (slot, 0);
        }
        bucket.1 += 1;
        self.last = Some(now);
        self.total += 1;
    }

    fn view(&self, now: Instant) -> ClockView {
        let slot = now.duration_since(self.start).as_millis() as u64 / BUCKET_MS;
        // The last WINDOW complete buckets, the current (partial) one excluded so a fresh bucket
        // does not halve the rate.
        let recent: u32 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s < slot && slot - *s <= WINDOW as u64)
            .map(|(_, n)| *n)
            .sum();
        ClockView {
            outputs_per_second: f64::from(recent) / (WINDOW as f64 * BUCKET_MS as f64 / 1000.0),
            last_output_ms_ago: self.last.map(|t| now.duration_since(t).as_millis() as u64),
            outputs: self.total,
        }
    }
}

/// The world view's state, shared by the hot path and the admin page.
#[derive(Debug)]
pub struct World {
    caches: DashMap<String, Vec<(String, Frame)>>,
    spectators: DashMap<u64, Arc<Spectator>>,
    positions: DashMap<String, Position>,
    positions_version: AtomicU64,
    clock: Mutex<Clock>,
}

impl Default for World {
    fn default() -> Self {
        World {
            caches: DashMap::new(),
            spectators: DashMap::new(),
            positions: DashMap::new(),
            positions_version: AtomicU64::new(0),
            clock: Mutex::new(Clock {
                start: Instant::now(),
                buckets: [(u64::MAX, 0); WINDOW + 1],
                last: None,
                total: 0,
            }),
        }
    }
}

impl World {
    /// A linker output arrived (once per `SimulationOutput`).
    pub fn output_arrived(&self) {
        self.clock.lock().tick(Instant::now());
    }

    /// GAMA's pace now.
    pub fn clock(&self) -> ClockView {
        self.clock.lock().view(Instant::now())
    }

    /// A payload for `players`: cached for each, and copied to the spectators following them.
    /// Called once per delivery (not per player) so its key is worked out once.
    pub fn observe<P: AsRef<str>>(&self, players: &[P], frame: &Frame, kind: PayloadKind) {
        if let Some(key) = payload_key(frame.as_str(), kind) {
            for player in players {
                let player = player.as_ref();
                // The common case, a known player, allocates nothing.
                let mut cache = match self.caches.get_mut(player) {
                    Some(cache) => cache,
                    None => self.caches.entry(player.to_string()).or_default(),
                };
                if let Some(slot) = cache.iter_mut().find(|(k, _)| k == key) {
                    slot.1 = frame.clone();
                } else {
                    if cache.len() >= MAX_KINDS {
                        cache.remove(0);
                    }
                    cache.push((key.to_string(), frame.clone()));
                }
            }
        }
        if !self.spectators.is_empty() {
            for s in self.spectators.iter() {
                if players.iter().any(|p| p.as_ref() == s.player) {
                    s.send(frame.clone(), kind);
                }
            }
        }
    }

    /// Whether someone watches: positions are only parsed then.
    pub fn watched(&self) -> bool {
        !self.spectators.is_empty()
    }

    /// A player's `move_player_external` arguments (the JSON string Unity sent).
    pub fn moved(&self, player: &str, args_literal: &str) {
        if let Some(position) = Position::of_ask(args_literal) {
            self.positions.insert(player.to_string(), position);
            self.positions_version.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every known position, with a version that changes when one does.
    pub fn positions(&self) -> (u64, BTreeMap<String, Position>) {
        let version = self.positions_version.load(Ordering::Relaxed);
        let map = self
            .positions
            .iter()
            .map(|p| (p.key().clone(), *p.value()))
            .collect();
        (version, map)
    }

    /// Starts following `spectator.player`: the cached payloads first, then live ones.
    pub fn watch(&self, spectator: Arc<Spectator>) {
        if let Some(cache) = self.caches.get(&spectator.player) {
            let mut frames: Vec<&(String, Frame)> = cache.iter().collect();
            frames.sort_by_key(|(k, _)| replay_rank(k));
            for (key, frame) in frames {
                let kind = if key == "pointsLoc" {
                    PayloadKind::WorldUpdate
                } else {
                    PayloadKind::OneShot
                };
                spectator.send(frame.clone(), kind);
            }
        }
        self.spectators.insert(spectator.id, spectator);
    }

    /// Stops following.
    pub fn unwatch(&self, spectator: &Spectator) {
        self.spectators.remove(&spectator.id);
    }

    /// A new simulation (reload, new launch, GAMA restarted): what was cached describes the old one.
    pub fn reset(&self) {
        self.caches.clear();
        self.positions.clear();
        self.positions_version.fetch_add(1, Ordering::Relaxed);
        for s in self.spectators.iter() {
            s.send(
                Frame::from_static("{\"type\":\"reset\"}"),
                PayloadKind::OneShot,
            );
        }
    }

    /// A player left for good.
    pub fn forget(&self, player: &str) {
        self.caches.remove(player);
        if self.positions.remove(player).is_some() {
            self.positions_version.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How often positions are sent to a spectator, at most.
pub const POSITIONS_EVERY: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headsets::outbox::QueueLimits;

    fn frame(payload: &str) -> Frame {
        Frame::from(format!(
            "{{\"contents\":{payload},\"type\":\"json_output\"}}"
        ))
    }

    #[test]
    fn a_late_spectator_gets_the_cached_view_in_a_usable_order() {
        let w = World::default();
        w.observe(
            &["P"],
            &frame(r#"{"pointsLoc":[],"isInit":false,"n":1}"#),
            PayloadKind::WorldUpdate,
        );
        w.observe(
            &["P"],
            &frame(r#"{"pointsLoc":[],"isInit":true}"#),
            PayloadKind::OneShot,
        );
        w.observe(&["P"], &frame(r#"{"properties":[]}"#), PayloadKind::OneShot);
        w.observe(
            &["P"],
            &frame(r#"{"precision":10000}"#),
            PayloadKind::OneShot,
        );
        w.observe(
            &["P"],
            &frame(r#"{"pointsLoc":[],"isInit":false,"n":2}"#),
            PayloadKind::WorldUpdate,
        );
        w.observe(&["Q"], &frame(r#"{"precision":1}"#), PayloadKind::OneShot);
        let conn = Spectator::new(
            "P".into(),
            QueueLimits {
                max_bytes: 1 << 20,
                coalesce_after: Duration::ZERO,
            },
        );
        w.watch(conn.clone());
        let mut out = Vec::new();
        conn.drain(&mut out);
        let keys: Vec<&str> = out
            .iter()
            .filter_map(|f| payload_key(f.as_str(), PayloadKind::of_frame(f.as_bytes())))
            .collect();
        assert_eq!(
            keys,
            ["precision", "properties", "pointsLoc:init", "pointsLoc"]
        );
        assert!(out[3].as_str().contains("\"n\":2"), "the newest world");
        // Live payloads follow; others' do not.
        w.observe(&["Q"], &frame(r#"{"x":1}"#), PayloadKind::OneShot);
        w.observe(&["P"], &frame(r#"{"y":1}"#), PayloadKind::OneShot);
        out.clear();
        conn.drain(&mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].as_str().contains("\"y\""));
    }

    #[test]
    fn positions_from_unity_asks() {
        let w = World::default();
        w.moved(
            "P",
            r#""{\"id\":\"P\",\"x\":\"251234\",\"y\":\"48810\",\"z\":\"17000\",\"angle\":\"-900000\"}""#,
        );
        w.moved("Q", r#""not json""#);
        let (v, map) = w.positions();
        assert_eq!(v, 1);
        assert_eq!(
            map["P"],
            Position {
                x: 251234,
                y: 48810,
                z: 17000,
                angle: -900000
            }
        );
        assert!(!map.contains_key("Q"));
    }

    #[test]
    fn the_clock_counts_outputs_per_second() {
        let start = Instant::now();
        let mut c = Clock {
            start,
            buckets: [(u64::MAX, 0); WINDOW + 1],
            last: None,
            total: 0,
        };
        for i in 0..60 {
            c.tick(start + Duration::from_millis(i * 33));
        }
        let v = c.view(start + Duration::from_millis(2100));
        assert!((v.outputs_per_second - 30.0).abs() < 2.0, "{v:?}");
        assert_eq!(v.outputs, 60);
        assert_eq!(v.last_output_ms_ago, Some(2100 - 59 * 33));
        // Ticking on at 20 a second, the current bucket included: still the full rate.
        for i in 0..200 {
            c.tick(start + Duration::from_millis(3000 + i * 50));
        }
        let v = c.view(start + Duration::from_millis(3000 + 199 * 50));
        assert!((v.outputs_per_second - 20.0).abs() < 0.6, "{v:?}");
    }
}
