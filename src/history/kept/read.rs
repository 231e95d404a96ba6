//! Kept sessions, read back: the list, one session's timeline and per-player summary, the view
//! at any moment (for the world view's playback), the events as JSON lines, and removing old
//! sessions past the bounds.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::{info, warn};

use crate::config::SessionsConfig;

/// The `format` of a session's summary.
pub const FORMAT: &str = "gama-vr-relay session";
/// Its version.
pub const VERSION: u32 = 1;

/// Why a kept session cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No session with that id.
    #[error("there is no kept session {0:?}")]
    NotFound(String),
    /// Its files cannot be read.
    #[error("cannot read the kept session {id}: {why}")]
    Broken {
        /// The session.
        id: String,
        /// Why.
        why: String,
    },
}

/// One zstd frame of a session's data file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chunk {
    /// Session time of its first line (ms).
    pub t: u64,
    /// Where it starts in the data file.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// A kept session's summary (`<id>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `gama-vr-relay session`.
    pub format: String,
    /// Version of the files.
    pub version: u32,
    /// Its id (the files' name).
    pub id: String,
    /// The model, as the catalog named it.
    pub model: Option<String>,
    /// GAMA's experiment.
    pub experiment: Option<String>,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ended (RFC 3339), unless in progress or cut short.
    pub ended: Option<String>,
    /// How long (ms), so far.
    pub duration_ms: u64,
    /// The players seen, in order of appearance.
    pub players: Vec<String>,
    /// Size on disk.
    pub bytes: u64,
    /// The rate world updates were kept at, per player.
    pub world_updates_per_second: f64,
    /// Still being written (or cut short by a crash, when no relay writes it).
    pub in_progress: bool,
    /// The index of the data file.
    pub chunks: Vec<Chunk>,
}

/// A session id names files: letters, digits, `-` and `_` only.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// Every kept session, newest first.
pub fn list(folder: &Path) -> Vec<SessionInfo> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut sessions: Vec<SessionInfo> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".json") && !name.ends_with(".timeline.json")
        })
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<SessionInfo>(&bytes).ok())
        .filter(|s| s.format == FORMAT && valid_id(&s.id))
        .collect();
    sessions.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    sessions
}

/// The files of a session.
fn files(folder: &Path, id: &str) -> [PathBuf; 3] {
    [
        folder.join(format!("{id}.json")),
        folder.join(format!("{id}.zst")),
        folder.join(format!("{id}.timeline.jsonl")),
    ]
}

/// Removes a kept session.
pub fn delete(folder: &Path, id: &str) -> Result<(), ReadError> {
    if !valid_id(id) || !files(folder, id)[0].exists() {
        return Err(ReadError::NotFound(id.to_string()));
    }
    for file in files(folder, id) {
        if let Err(e) = std::fs::remove_file(&file) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(ReadError::Broken {
                    id: id.to_string(),
                    why: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Removes the oldest sessions while more than `sessions.max_count` are kept or they take more
/// than `sessions.max_total_bytes`; never `keep` (the session in progress).
pub fn prune(folder: &Path, config: &SessionsConfig, keep: Option<&str>) {
    let mut sessions = list(folder);
    let mut total: u64 = sessions.iter().map(|s| s.bytes).sum();
    let mut count = sessions.len();
    // Oldest first.
    sessions.reverse();
    for s in sessions {
        if count <= config.max_count && total <= config.max_total_bytes {
            break;
        }
        if Some(s.id.as_str()) == keep {
            continue;
        }
        match delete(folder, &s.id) {
            Ok(()) => {
                info!(session = %s.id, bytes = s.bytes, "removed an old kept session (sessions.max_count, sessions.max_total_bytes)");
                total = total.saturating_sub(s.bytes);
                count -= 1;
            }
            Err(e) => warn!(error = %e, "cannot remove an old kept session"),
        }
    }
}

/// A kept session, open for reading.
#[derive(Debug)]
pub struct Session {
    /// Its summary.
    pub info: SessionInfo,
    folder: PathBuf,
}

/// Opens a kept session.
pub fn open(folder: &Path, id: &str) -> Result<Session, ReadError> {
    if !valid_id(id) {
        return Err(ReadError::NotFound(id.to_string()));
    }
    let [summary, ..] = files(folder, id);
    let bytes = std::fs::read(&summary).map_err(|_| ReadError::NotFound(id.to_string()))?;
    let info: SessionInfo = serde_json::from_slice(&bytes).map_err(|e| ReadError::Broken {
        id: id.to_string(),
        why: e.to_string(),
    })?;
    Ok(Session {
        info,
        folder: folder.to_path_buf(),
    })
}

/// One player's lane: from `from` to `to` (ms) in `state`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Span {
    /// Start (ms).
    pub from: u64,
    /// End (ms).
    pub to: u64,
    /// `connected`, `in_game`, `waiting`, `disconnected`…
    pub state: String,
}

/// Actions of one second: `[player, kind, name, count]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Acts(pub String, pub String, pub String, pub u64);

/// What the timeline shows.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// The session.
    pub info: SessionInfo,
    /// How long (ms).
    pub duration_ms: u64,
    /// One lane per player, in order of appearance.
    pub lanes: Vec<(String, Vec<Span>)>,
    /// The experiment's states.
    pub experiment: Vec<Span>,
    /// Actions per second: `(t, [player, kind, name, count])`.
    pub acts: Vec<(u64, Vec<Acts>)>,
    /// Actions per player, by `kind:name`.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// GAMA's pace: `(t, outputs per second)`.
    pub pace: Vec<(u64, f64)>,
    /// Operator changes: `(t, entry)`.
    pub audit: Vec<(u64, Box<RawValue>)>,
    /// Per player: time in game, actions by kind, disconnections.
    pub summary: Vec<PlayerSummary>,
}

/// One player over the session.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerSummary {
    /// Player id.
    pub player: String,
    /// Time in game (ms).
    pub in_game_ms: u64,
    /// `ask`s sent.
    pub asks: u64,
    /// `expression`s sent.
    pub expressions: u64,
    /// Times its connection dropped.
    pub disconnections: u64,
}

#[derive(Deserialize)]
struct TimelineLine {
    t: u64,
    #[serde(default)]
    exp: Option<String>,
    #[serde(default)]
    player: Option<PlayerLine>,
    #[serde(default)]
    acts: Option<Vec<Acts>>,
    #[serde(default)]
    pace: Option<f64>,
    #[serde(default)]
    audit: Option<Box<RawValue>>,
}

/// A player's state in a session's files.
#[derive(Debug, Deserialize)]
pub struct PlayerLine {
    /// The player.
    pub id: String,
    /// Its state (`gone` once it left the relay).
    pub state: String,
}

impl Session {
    /// The timeline, from the small timeline file only.
    pub fn timeline(&self) -> Result<Timeline, ReadError> {
        let text =
            std::fs::read_to_string(&files(&self.folder, &self.info.id)[2]).map_err(|e| {
                ReadError::Broken {
                    id: self.info.id.clone(),
                    why: e.to_string(),
                }
            })?;
        let mut parts = TimelineParts {
            end: self.info.duration_ms,
            ..TimelineParts::default()
        };
        for line in text.lines() {
            // A session cut short may end with a partial line.
            let Ok(line) = serde_json::from_str::<TimelineLine>(line) else {
                continue;
            };
            parts.add(line);
        }
        parts.close_spans();
        let summary = summaries(&parts.lanes, &parts.counts);
        let TimelineParts {
            lanes,
            experiment,
            acts,
            counts,
            pace,
            audit,
            end,
        } = parts;
        Ok(Timeline {
            info: self.info.clone(),
            duration_ms: end,
            lanes,
            experiment,
            acts,
            counts,
            pace,
            audit,
            summary,
        })
    }

    /// Gives the lines of the data file's frame `index` to `each` until it returns `false`
    /// (`Ok(false)` then). The frame is decompressed as it is read: it holds 10 s of the session,
    /// tens of MB of text in a big classroom, and a seek usually stops half way through it.
    fn frame_lines(
        &self,
        index: usize,
        each: &mut impl FnMut(&str) -> bool,
    ) -> Result<bool, ReadError> {
        let broken = |why: String| ReadError::Broken {
            id: self.info.id.clone(),
            why,
        };
        let Some(chunk) = self.info.chunks.get(index) else {
            return Ok(true);
        };
        let mut file = std::fs::File::open(&files(&self.folder, &self.info.id)[1])
            .map_err(|e| broken(e.to_string()))?;
        file.seek(SeekFrom::Start(chunk.offset))
            .map_err(|e| broken(e.to_string()))?;
        let decoder = zstd::stream::read::Decoder::new(file.take(chunk.len))
            .map_err(|e| broken(e.to_string()))?;
        let mut lines = BufReader::with_capacity(1 << 16, decoder);
        let mut line = String::new();
        loop {
            line.clear();
            if lines
                .read_line(&mut line)
                .map_err(|e| broken(e.to_string()))?
                == 0
            {
                return Ok(true);
            }
            let text = line.strip_suffix('\n').unwrap_or(&line);
            if !each(text.strip_suffix('\r').unwrap_or(text)) {
                return Ok(false);
            }
        }
    }

    /// The frame that holds session time `t`.
    fn chunk_at(&self, t: u64) -> usize {
        self.info.chunks.iter().rposition(|c| c.t <= t).unwrap_or(0)
    }

    /// Every line of the session from the frame holding `from` on, in order (snapshot lines
    /// included), to `each` until it returns `false`.
    pub fn lines_from(
        &self,
        from: u64,
        mut each: impl FnMut(&str) -> bool,
    ) -> Result<(), ReadError> {
        for index in self.chunk_at(from)..self.info.chunks.len() {
            if !self.frame_lines(index, &mut each)? {
                break;
            }
        }
        Ok(())
    }

    /// Every line after the snapshots, as JSON lines (for `gama-vr-relay sessions export`).
    pub fn events(&self, mut each: impl FnMut(&str)) -> Result<(), ReadError> {
        self.lines_from(0, |line| {
            if !line.contains("\"snap\":true") {
                each(line);
            }
            true
        })
    }
}

/// Starts a span in `state` at `t`, ending the previous one (a repeated state continues it).
fn open_span(spans: &mut Vec<Span>, t: u64, state: &str) {
    if let Some(last) = spans.last_mut() {
        if last.state == state {
            return;
        }
        last.to = t;
    }
    spans.push(Span {
        from: t,
        to: t,
        state: state.to_string(),
    });
}

/// The timeline file's lines added up, in order: what [`Timeline`] shows but the summary.
#[derive(Default)]
struct TimelineParts {
    lanes: Vec<(String, Vec<Span>)>,
    experiment: Vec<Span>,
    acts: Vec<(u64, Vec<Acts>)>,
    counts: BTreeMap<String, BTreeMap<String, u64>>,
    pace: Vec<(u64, f64)>,
    audit: Vec<(u64, Box<RawValue>)>,
    /// The session's length: its summary's, or its latest line's if later.
    end: u64,
}

impl TimelineParts {
    /// One line of the timeline file.
    fn add(&mut self, line: TimelineLine) {
        self.end = self.end.max(line.t);
        if let Some(state) = line.exp {
            open_span(&mut self.experiment, line.t, &state);
        }
        if let Some(p) = line.player {
            let i = match self.lanes.iter().position(|(id, _)| *id == p.id) {
                Some(i) => i,
                None => {
                    self.lanes.push((p.id.clone(), Vec::new()));
                    self.lanes.len() - 1
                }
            };
            open_span(&mut self.lanes[i].1, line.t, &p.state);
        }
        if let Some(list) = line.acts {
            for a in &list {
                *self
                    .counts
                    .entry(a.0.clone())
                    .or_default()
                    .entry(format!("{}:{}", a.1, a.2))
                    .or_default() += a.3;
            }
            self.acts.push((line.t, list));
        }
        if let Some(p) = line.pace {
            self.pace.push((line.t, p));
        }
        if let Some(entry) = line.audit {
            self.audit.push((line.t, entry));
        }
    }

    /// Ends the last span of every lane, and the experiment's, at the session's end.
    fn close_spans(&mut self) {
        for (_, spans) in &mut self.lanes {
            if let Some(last) = spans.last_mut() {
                last.to = self.end;
            }
        }
        if let Some(last) = self.experiment.last_mut() {
            last.to = self.end;
        }
    }
}

/// Each player's summary, from its lane and its actions' `counts`.
fn summaries(
    lanes: &[(String, Vec<Span>)],
    counts: &BTreeMap<String, BTreeMap<String, u64>>,
) -> Vec<PlayerSummary> {
    lanes
        .iter()
        .map(|(id, spans)| {
            let player_counts = counts.get(id);
            let sum = |kind: &str| {
                player_counts.map_or(0, |c| {
                    c.iter()
                        .filter(|(k, _)| k.starts_with(kind))
                        .map(|(_, n)| n)
                        .sum()
                })
            };
            PlayerSummary {
                player: id.clone(),
                in_game_ms: spans
                    .iter()
                    .filter(|s| s.state == "in_game")
                    .map(|s| s.to - s.from)
                    .sum(),
                asks: sum("ask:"),
                expressions: sum("expression:"),
                disconnections: spans.iter().filter(|s| s.state == "disconnected").count() as u64,
            }
        })
        .collect()
}

/// The per-player summary as CSV (`player,in_game_seconds,asks,expressions,disconnections`).
pub fn summary_csv(timeline: &Timeline) -> String {
    let mut out = String::from("player,in_game_seconds,asks,expressions,disconnections\n");
    for p in &timeline.summary {
        let player = if p.player.contains([',', '"', '\n']) {
            format!("\"{}\"", p.player.replace('"', "\"\""))
        } else {
            p.player.clone()
        };
        out.push_str(&format!(
            "{player},{:.1},{},{},{}\n",
            p.in_game_ms as f64 / 1000.0,
            p.asks,
            p.expressions,
            p.disconnections
        ));
    }
    out
}

/// What one line of a session's data says, for the playback.
#[derive(Debug, Deserialize)]
pub struct DataLine<'a> {
    /// Session time (ms).
    pub t: u64,
    /// A snapshot line (the view at the start of a frame).
    #[serde(default)]
    pub snap: bool,
    /// A delivery.
    #[serde(borrow, default)]
    pub out: Option<OutLine<'a>>,
    /// A player's position.
    #[serde(default)]
    pub pos: Option<PosLine>,
    /// A player's state.
    #[serde(default)]
    pub player: Option<PlayerLine>,
}

/// A delivery in a session's data.
#[derive(Debug, Deserialize)]
pub struct OutLine<'a> {
    /// The players it went to.
    pub p: Vec<String>,
    /// The payload.
    #[serde(borrow)]
    pub f: &'a RawValue,
}

/// A position in a session's data.
#[derive(Debug, Clone, Deserialize)]
pub struct PosLine {
    /// The player.
    pub p: String,
    /// x × precision.
    pub x: i64,
    /// y × precision.
    pub y: i64,
    /// z × precision.
    pub z: i64,
    /// Heading × precision.
    pub angle: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(folder: &Path, id: &str, started: &str, bytes: u64, in_progress: bool) {
        let info = SessionInfo {
            format: FORMAT.into(),
            version: VERSION,
            id: id.into(),
            model: None,
            experiment: None,
            started: started.into(),
            ended: None,
            duration_ms: 0,
            players: Vec::new(),
            bytes,
            world_updates_per_second: 5.0,
            in_progress,
            chunks: Vec::new(),
        };
        std::fs::write(
            folder.join(format!("{id}.json")),
            serde_json::to_vec(&info).unwrap(),
        )
        .unwrap();
        std::fs::write(folder.join(format!("{id}.zst")), b"").unwrap();
        std::fs::write(folder.join(format!("{id}.timeline.jsonl")), b"").unwrap();
    }

    #[test]
    fn the_oldest_go_first_never_the_one_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path();
        // The oldest is the one being written (a long session): it stays.
        session(folder, "a", "2026-11-20T10:00:00Z", 400, true);
        session(folder, "b", "2026-11-21T10:00:00Z", 400, false);
        session(folder, "c", "2026-11-22T10:00:00Z", 400, false);
        session(folder, "d", "2026-11-23T10:00:00Z", 400, false);
        std::fs::write(folder.join("notes.txt"), b"kept").unwrap();
        let mut config = crate::Config::default().sessions;
        config.max_total_bytes = 1000;
        config.max_count = 10;
        prune(folder, &config, Some("a"));
        let ids: Vec<String> = list(folder).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["d", "a"], "b and c removed, by age, until 800 bytes");
        assert!(!folder.join("b.zst").exists() && !folder.join("c.timeline.jsonl").exists());
        assert!(folder.join("notes.txt").exists(), "nothing else is touched");
        config.max_count = 1;
        prune(folder, &config, Some("a"));
        assert_eq!(list(folder).len(), 1);
    }

    #[test]
    fn ids_never_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["../x", "a/b", "", "a.b", "..", "x\\y"] {
            assert!(
                matches!(open(dir.path(), id), Err(ReadError::NotFound(_))),
                "{id}"
            );
            assert!(delete(dir.path(), id).is_err(), "{id}");
        }
    }
}
