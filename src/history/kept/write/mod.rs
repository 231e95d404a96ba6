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
//!
//! The thread's life is here (creating the files, taking events until the session ends, the clock);
//! [`lines`] turns each event into lines, holding world updates and positions back for the rate,
//! and [`frames`] compresses the lines into frames, opens each frame with its snapshot and keeps
//! the summary up to date.

mod frames;
mod lines;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};

use super::read::SessionInfo;
use super::{Event, Start};
use crate::config::SessionsConfig;
use crate::gama::world::Position;
use crate::protocol::Frame;
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
            encoder: frames::frame_encoder()?,
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
