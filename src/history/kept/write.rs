//! The writer of one kept session, on a thread of its own: it turns the relay's events into the
//! session's files, keeping world updates at a bounded rate per player.
//!
//! Files, named by the session's id in the sessions folder:
//! * `<id>.zst`: JSON lines in zstd frames, one frame per [`CHUNK_MS`] of session time. Every frame
//!   starts with a snapshot (experiment state, players' states and positions, each player's latest
//!   payload of each kind), so reading from any frame gives the whole view.
//! * `<id>.timeline.jsonl`: what the timeline needs, small: states, actions counted per second,
//!   pace, operator changes.
//! * `<id>.json`: the summary and the index of frames ([`super::read::SessionInfo`]), rewritten
//!   after each frame, so a session cut short by a crash still opens up to its last frame.
//!
//! Lines carry `t`, milliseconds since the session started: `{"t":…,"out":{"p":[ids],"f":payload}}`,
//! `{"t":…,"exp":"RUNNING"}`, `{"t":…,"player":{"id":…,"state":…}}`,
//! `{"t":…,"act":{"p":…,"k":"ask","n":name}}`, `{"t":…,"pos":{"p":…,"x":…,"y":…,"z":…,"angle":…}}`,
//! `{"t":…,"pace":…}`, `{"t":…,"audit":{…}}`; snapshot lines have `"snap":true`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};

use super::read::{Chunk, SessionInfo};
use super::{ActKind, Event, Start};
use crate::config::SessionsConfig;
use crate::gama::world::Position;
use crate::protocol::Frame;
use crate::protocol::json::write_str;
use crate::protocol::linker::{PayloadKind, payload_key, payload_of, replay_rank};
use crate::support::clock::now_rfc3339;
use crate::support::queue::{Receiver, RecvTimeoutError};

/// Session time covered by one zstd frame.
pub const CHUNK_MS: u64 = 10_000;
/// zstd level: fast, and consecutive worlds compress well anyway.
const LEVEL: i32 = 3;
/// zstd window: 2^19 bytes.
const WINDOW_LOG: u32 = 19;
/// Lines are handed to the compressor in slices of about this size, so the writer holds the
/// compressor's window and the compressed bytes of a frame, never a whole frame's text (at 40
/// headsets with their own worlds, 10 s of text is about 40 MB).
const STAGE_BYTES: usize = 256 * 1024;

/// A player's latest frame of each payload kind: a handful, so a list (a map per player cost
/// hundreds of bytes each with thousands of players).
#[derive(Default)]
struct Kinds(Vec<(String, Frame)>);

impl Kinds {
    fn set(&mut self, key: impl AsRef<str> + Into<String>, frame: &Frame) {
        match self.0.iter_mut().find(|(k, _)| k == key.as_ref()) {
            Some((_, f)) => *f = frame.clone(),
            None => {
                // Most players have one or two kinds: no room for four up front.
                self.0.reserve_exact(1);
                self.0.push((key.into(), frame.clone()));
            }
        }
    }
}

pub(super) struct Writer {
    info: SessionInfo,
    folder: PathBuf,
    started: Instant,
    data: BufWriter<File>,
    timeline: BufWriter<File>,
    /// The frame being filled: lines not yet handed to `encoder`.
    chunk: Vec<u8>,
    /// The frame being filled, compressed as it goes.
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
    /// Bytes of the frame already handed to `encoder`.
    encoded: usize,
    /// Compressed bytes of the frame already written to `data`.
    compressed: u64,
    chunk_started: u64,
    /// Least time between two kept world updates (and positions) of one player.
    world_gap_ms: u64,
    last_world: HashMap<String, u64>,
    /// The newest world update of a player that came too soon after the last one kept: written
    /// when its turn comes, so the last view before a pause or the end is never lost.
    pending_world: HashMap<String, (u64, Frame)>,
    /// Each player's latest frame of each payload kind (for snapshots): the frame the headsets
    /// got, shared with them and between players, not a copy.
    cache: HashMap<String, Kinds>,
    positions: HashMap<String, (u64, Position)>,
    /// When each player's position was last written.
    last_position: HashMap<String, u64>,
    /// Players whose newest position is not written yet.
    pending_position: Vec<String>,
    states: BTreeMap<String, String>,
    experiment: String,
    /// Actions of the current second: (player, kind, name) → count.
    bin: BTreeMap<(String, &'static str, String), u64>,
    bin_second: u64,
    /// The latest session time written: lines never go back in time (an event stamped before
    /// the writer's own clock last ticked, or before another thread's event, is written at it).
    clock: u64,
}

impl Writer {
    /// Creates the files of session `id` in `folder`; `started` is the session's time zero.
    pub(super) fn create(
        folder: &Path,
        id: &str,
        start: &Start,
        config: &SessionsConfig,
        started: Instant,
    ) -> std::io::Result<Writer> {
        let id = id.to_string();
        let data = BufWriter::new(File::create(folder.join(format!("{id}.zst")))?);
        let timeline = BufWriter::new(File::create(folder.join(format!("{id}.timeline.jsonl")))?);
        let rate = config.world_updates_per_second.max(0.01);
        let info = SessionInfo {
            format: super::read::FORMAT.to_string(),
            version: super::read::VERSION,
            id,
            model: start.model.clone(),
            experiment: start.experiment.clone(),
            started: now_rfc3339(),
            ended: None,
            duration_ms: 0,
            players: Vec::new(),
            bytes: 0,
            world_updates_per_second: config.world_updates_per_second,
            in_progress: true,
            chunks: Vec::new(),
        };
        let mut writer = Writer {
            info,
            folder: folder.to_path_buf(),
            started,
            data,
            timeline,
            chunk: Vec::new(),
            encoder: frame_encoder()?,
            encoded: 0,
            compressed: 0,
            chunk_started: 0,
            world_gap_ms: (1000.0 / rate) as u64,
            last_world: HashMap::new(),
            pending_world: HashMap::new(),
            cache: HashMap::new(),
            positions: HashMap::new(),
            last_position: HashMap::new(),
            pending_position: Vec::new(),
            states: BTreeMap::new(),
            experiment: String::new(),
            bin: BTreeMap::new(),
            bin_second: 0,
            clock: 0,
        };
        writer.save_info();
        Ok(writer)
    }

    /// Writes events until the session ends (an `End` and its linger time, or every sender
    /// gone).
    pub(super) fn run(mut self, rx: Receiver<Event>) {
        let mut ended = None;
        let mut until: Option<Instant> = None;
        loop {
            let wait = match until {
                Some(until) => until.saturating_duration_since(Instant::now()),
                None => std::time::Duration::from_millis(500),
            };
            let event = match rx.recv_timeout(wait) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => {
                    if until.is_some() {
                        break;
                    }
                    let now = self.ms(Instant::now());
                    self.tick(now);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if let Event::End { at, until: linger } = event {
                ended.get_or_insert(at);
                until = Some(linger);
                continue;
            }
            if let Err(e) = self.event(event).and_then(|()| self.compress_staged()) {
                warn!(session = %self.info.id, error = %e, "writing the kept session failed; it stops here");
                break;
            }
        }
        let end = self.ms(ended.unwrap_or_else(Instant::now));
        // What came during the linger time is written; the session's length ends at its end.
        let now = self.ms(Instant::now());
        self.write_pending(now.max(end), true);
        self.flush_bin();
        if let Err(e) = self.finish_chunk(end) {
            warn!(session = %self.info.id, error = %e, "writing the kept session failed");
        }
        let _ = self.timeline.flush();
        self.info.in_progress = false;
        self.info.ended = Some(now_rfc3339());
        self.info.duration_ms = end;
        self.save_info();
        info!(session = %self.info.id, bytes = self.info.bytes, seconds = end / 1000, "session kept");
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    /// Time passes: the held-back newest worlds and positions whose turn came, the second's action
    /// counts, and the frame when due.
    fn tick(&mut self, t: u64) {
        let t = t.max(self.clock);
        self.clock = t;
        self.write_pending(t, false);
        if t / 1000 > self.bin_second {
            self.flush_bin();
            self.bin_second = t / 1000;
        }
        if t >= self.chunk_started + CHUNK_MS {
            if let Err(e) = self.finish_chunk(t) {
                warn!(session = %self.info.id, error = %e, "writing the kept session failed");
            }
        }
    }

    /// Hands the staged lines to the compressor once there are enough of them. Called after each
    /// event and after each held-back update a tick writes (with thousands of players, one tick
    /// may write thousands of them).
    fn compress_staged(&mut self) -> std::io::Result<()> {
        if self.chunk.len() >= STAGE_BYTES {
            self.feed()?;
        }
        Ok(())
    }

    /// Hands every staged line to the compressor, a slice at a time, each slice's compressed
    /// bytes written to the file before the next: the writer never holds a frame, compressed or
    /// not, even when a big world was staged at once.
    fn feed(&mut self) -> std::io::Result<()> {
        for slice in self.chunk.chunks(STAGE_BYTES) {
            self.encoder.write_all(slice)?;
            self.encoded += slice.len();
            let compressed = self.encoder.get_mut();
            self.data.write_all(compressed)?;
            self.compressed += compressed.len() as u64;
            compressed.clear();
        }
        self.chunk.clear();
        // A big initial world made it grow: it does not stay that big.
        self.chunk.shrink_to(2 * STAGE_BYTES);
        Ok(())
    }

    /// [`Self::compress_staged`] where no error can be returned: the failure is logged, and the
    /// lines stay staged for the next try.
    fn stage_or_warn(&mut self) {
        if let Err(e) = self.compress_staged() {
            warn!(session = %self.info.id, error = %e, "writing the kept session failed");
        }
    }

    fn event(&mut self, event: Event) -> std::io::Result<()> {
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
    fn write_pending(&mut self, t: u64, all: bool) {
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
    fn flush_bin(&mut self) {
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

    /// Compresses the frame being filled, appends it to the data file, indexes it, and starts the
    /// next one with a snapshot.
    fn finish_chunk(&mut self, t: u64) -> std::io::Result<()> {
        if self.encoded > 0 || !self.chunk.is_empty() {
            self.feed()?;
            let encoder = std::mem::replace(&mut self.encoder, frame_encoder()?);
            self.encoded = 0;
            let rest = encoder.finish()?;
            self.data.write_all(&rest)?;
            self.data.flush()?;
            let len = std::mem::take(&mut self.compressed) + rest.len() as u64;
            let offset = self.info.chunks.last().map_or(0, |c| c.offset + c.len);
            self.info.chunks.push(Chunk {
                t: self.chunk_started,
                offset,
                len,
            });
            self.info.bytes += len;
        }
        let _ = self.timeline.flush();
        self.info.duration_ms = t;
        self.save_info();
        self.chunk.clear();
        self.chunk_started = t;
        self.snapshot(t);
        Ok(())
    }

    /// The whole view at `t`, at the start of a frame.
    fn snapshot(&mut self, t: u64) {
        let mut out = std::mem::take(&mut self.chunk);
        if !self.experiment.is_empty() {
            out.extend_from_slice(
                format!(
                    "{{\"t\":{t},\"snap\":true,\"exp\":{}}}\n",
                    quote(&self.experiment)
                )
                .as_bytes(),
            );
        }
        for (id, state) in &self.states {
            out.extend_from_slice(
                format!(
                    "{{\"t\":{t},\"snap\":true,\"player\":{{\"id\":{},\"state\":{}}}}}\n",
                    quote(id),
                    quote(state)
                )
                .as_bytes(),
            );
        }
        for (player, (_, position)) in &self.positions {
            write_position(&mut out, t, player, position, true);
        }
        self.chunk = out;
        // Each payload once with every player it is the latest of (a world sent to every player
        // alike is one line, not one per player), parameters, properties and the initial world
        // before what builds on them.
        let mut lines: Vec<(String, Frame, Vec<String>)> = Vec::new();
        let mut index: HashMap<(&str, *const u8, usize), usize> = HashMap::new();
        for (player, kinds) in &self.cache {
            for (key, frame) in &kinds.0 {
                match index.entry((key.as_str(), frame.as_str().as_ptr(), frame.len())) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        lines[*e.get()].2.push(player.clone());
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(lines.len());
                        lines.push((key.clone(), frame.clone(), vec![player.clone()]));
                    }
                }
            }
        }
        drop(index);
        lines.sort_by(|(a, ..), (b, ..)| (replay_rank(a), a).cmp(&(replay_rank(b), b)));
        for (_, frame, players) in lines {
            if let Some(payload) = payload_of(frame.as_str()) {
                write_out(&mut self.chunk, t, &players, payload, true);
                self.stage_or_warn();
            }
        }
    }

    fn save_info(&mut self) {
        self.info.bytes = self.info.chunks.iter().map(|c| c.len).sum::<u64>()
            + std::fs::metadata(self.folder.join(format!("{}.timeline.jsonl", self.info.id)))
                .map_or(0, |m| m.len());
        let path = self.folder.join(format!("{}.json", self.info.id));
        let tmp = self.folder.join(format!("{}.json.tmp", self.info.id));
        let saved = serde_json::to_vec_pretty(&self.info)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = saved {
            warn!(file = %path.display(), error = %e, "cannot write the session's summary");
        }
    }
}

/// A new session's id: its start time and its model, unique in `folder`.
pub(super) fn new_id(folder: &Path, start: &Start) -> String {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
    let slug: String = start
        .model
        .as_deref()
        .or(start.experiment.as_deref())
        .unwrap_or("session")
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let mut id = format!("{stamp}-{slug}");
    let mut n = 1;
    while folder.join(format!("{id}.json")).exists() {
        n += 1;
        id = format!("{stamp}-{slug}-{n}");
    }
    id
}

fn quote(text: &str) -> String {
    crate::protocol::json::quote(text)
}

fn write_out(out: &mut Vec<u8>, t: u64, players: &[String], payload: &str, snap: bool) {
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

fn write_position(out: &mut Vec<u8>, t: u64, player: &str, p: &Position, snap: bool) {
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

/// A compressor for the next zstd frame.
fn frame_encoder() -> std::io::Result<zstd::stream::write::Encoder<'static, Vec<u8>>> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?;
    // A 512 KiB window, not level 3's 2 MiB: the compressor holds its window, and consecutive
    // kept worlds of a player (the repetition that matters) are well within it.
    encoder.window_log(WINDOW_LOG)?;
    Ok(encoder)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::history::kept::read;

    #[test]
    fn lines_never_go_back_in_time() {
        let (folder, id, started, writer) = new_writer();
        let at = |ms| started + Duration::from_millis(ms);
        let (tx, rx) = crate::support::queue::bounded(16);
        // Two threads' events, queued in the other order than they happened.
        for (ms, player) in [(2000, "A"), (1000, "B")] {
            let event = Event::Player {
                at: at(ms),
                id: player.into(),
                state: "in_game".into(),
            };
            assert!(tx.try_send(event).is_ok());
        }
        let end = Event::End {
            at: at(3000),
            until: Instant::now(),
        };
        assert!(tx.try_send(end).is_ok());
        writer.run(rx);

        let session = read::open(folder.path(), &id).unwrap();
        let mut times = Vec::new();
        session
            .events(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                times.push(value["t"].as_u64().unwrap());
            })
            .unwrap();
        assert_eq!(times, [2000, 2000]);
    }

    #[test]
    fn frames_larger_than_a_slice_are_compressed_as_they_fill_and_read_back_whole() {
        let (folder, id, started, writer) = new_writer();
        let at = |ms| started + Duration::from_millis(ms);
        const PLAYERS: u64 = 3000;
        let (tx, rx) = crate::support::queue::bounded(PLAYERS as usize + 1);
        // 3 000 player lines of about 190 bytes over 15 s: two frames, each several slices.
        for i in 0..PLAYERS {
            let event = Event::Player {
                at: at(i * 5),
                id: format!("{i:0>120}"),
                state: "in_game".into(),
            };
            assert!(tx.try_send(event).is_ok());
        }
        let end = Event::End {
            at: at(PLAYERS * 5),
            until: Instant::now(),
        };
        assert!(tx.try_send(end).is_ok());
        writer.run(rx);

        let session = read::open(folder.path(), &id).unwrap();
        assert_eq!(session.info.chunks.len(), 2, "{:?}", session.info.chunks);
        let (mut lines, mut snapshot, mut text, mut last) = (Vec::new(), 0, 0, 0);
        session
            .lines_from(0, |line| {
                text += line.len() + 1;
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let t = value["t"].as_u64().unwrap();
                assert!(t >= last, "{t} after {last}");
                last = t;
                if value["snap"] == true {
                    snapshot += 1;
                } else {
                    lines.push(value["player"]["id"].as_str().unwrap().to_string());
                }
                true
            })
            .unwrap();
        let expected: Vec<String> = (0..PLAYERS).map(|i| format!("{i:0>120}")).collect();
        assert_eq!(lines, expected);
        // Told to stop, reading stops there, in the middle of a frame too.
        let mut calls = 0;
        session
            .lines_from(0, |_| {
                calls += 1;
                calls < 10
            })
            .unwrap();
        assert_eq!(calls, 10);
        // The second frame starts with every player's state so far.
        assert_eq!(snapshot, 2000);
        assert!(text > 2 * STAGE_BYTES, "{text} bytes");
        let compressed: u64 = session.info.chunks.iter().map(|c| c.len).sum();
        assert!(
            (compressed as usize) < text / 4,
            "{compressed} of {text} bytes"
        );
    }

    #[test]
    fn a_snapshot_writes_a_payload_players_share_once() {
        let (folder, id, started, writer) = new_writer();
        let at = |ms| started + Duration::from_millis(ms);
        let (tx, rx) = crate::support::queue::bounded(16);
        let world = crate::protocol::linker::frame_of(r#"{"contents":{"pointsLoc":[1,2]}}"#);
        let other = crate::protocol::linker::frame_of(r#"{"contents":{"pointsLoc":[3]}}"#);
        let out = |ms, players: &[&str], frame: &Frame| Event::Out {
            at: at(ms),
            players: players.iter().map(|p| p.to_string()).collect(),
            frame: frame.clone(),
            kind: PayloadKind::OneShot,
        };
        assert!(tx.try_send(out(1000, &["A", "B", "C"], &world)).is_ok());
        assert!(tx.try_send(out(2000, &["C"], &other)).is_ok());
        // The next frame starts with the view so far.
        let later = Event::Player {
            at: at(CHUNK_MS + 500),
            id: "D".into(),
            state: "in_game".into(),
        };
        assert!(tx.try_send(later).is_ok());
        let end = Event::End {
            at: at(CHUNK_MS + 1000),
            until: Instant::now(),
        };
        assert!(tx.try_send(end).is_ok());
        writer.run(rx);

        let session = read::open(folder.path(), &id).unwrap();
        assert_eq!(session.info.chunks.len(), 2, "{:?}", session.info.chunks);
        let mut snapshot = Vec::new();
        session
            .lines_from(CHUNK_MS, |line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                if value["snap"] == true {
                    let mut players: Vec<String> = value["out"]["p"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap().to_string())
                        .collect();
                    players.sort();
                    snapshot.push((players, value["out"]["f"]["contents"]["pointsLoc"].clone()));
                }
                true
            })
            .unwrap();
        snapshot.sort_by_key(|(players, _)| players.clone());
        assert_eq!(
            snapshot,
            [
                (
                    vec!["A".to_string(), "B".to_string()],
                    serde_json::json!([1, 2])
                ),
                (vec!["C".to_string()], serde_json::json!([3])),
            ]
        );
    }

    fn new_writer() -> (tempfile::TempDir, String, Instant, Writer) {
        let folder = tempfile::tempdir().unwrap();
        let config = SessionsConfig {
            enabled: true,
            folder_path: folder.path().to_path_buf(),
            max_total_bytes: u64::MAX,
            max_count: 10,
            world_updates_per_second: 5.0,
            max_queued_messages: 16,
        };
        let start = Start::default();
        let id = new_id(folder.path(), &start);
        let started = Instant::now();
        let writer = Writer::create(folder.path(), &id, &start, &config, started).unwrap();
        (folder, id, started, writer)
    }
}
