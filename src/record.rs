//! Recording a session: every message GAMA sent and every message a headset sent, with its time,
//! to a file that [`crate::replay`] can serve again without GAMA, to show a session or reproduce a
//! bug.
//!
//! The format is JSON lines, written by a background task so the hot path only hands over a
//! reference-counted frame. The first line describes the file:
//! `{"format":"gama-vr-relay recording","version":1,"started":"<RFC 3339>"}`; then one line a
//! message: `{"t":<µs since start>,"gama":<frame>}` or
//! `{"t":…,"headset":<frame>,"conn":<connection number>,"player":"<id>"|null}`, the frame embedded
//! as the JSON it is (a frame that is not JSON is kept as a string under `gama_text` /
//! `headset_text`). Recording stops, with a log line, when the file reaches `record.max_bytes`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::protocol::Frame;
use crate::util::LogLimiter;

/// The `format` of the first line.
pub const FORMAT: &str = "gama-vr-relay recording";
/// The version of the format.
pub const VERSION: u32 = 1;

/// Entries waiting for the writer; past this the recording drops entries (and says how many)
/// rather than slowing the relay.
const QUEUE: usize = 65_536;

static DROPPED: LogLimiter = LogLimiter::new(Duration::from_secs(5));

enum Entry {
    Gama(Instant, Frame),
    Headset {
        at: Instant,
        conn: u64,
        player: Option<Arc<str>>,
        text: String,
    },
}

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot record to {path} (record.file): {cause}")]
pub struct RecordError {
    path: PathBuf,
    cause: std::io::Error,
}

/// Creates the recording file (and its folder), so a bad path stops the relay before it starts.
pub fn create(path: &Path) -> Result<std::fs::File, RecordError> {
    let fail = |cause| RecordError {
        path: path.to_path_buf(),
        cause,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::File::create(path).map_err(fail)
}

/// Hands messages to the recording's writer task.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Entry>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entry")
    }
}

impl Recorder {
    /// Starts the writer task on a file from [`create`]; it flushes regularly and finishes the
    /// file when `shutdown` is cancelled.
    pub fn start(
        file: std::fs::File,
        path: &Path,
        max_bytes: u64,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Arc<Recorder> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let started = Instant::now();
        let path = path.to_path_buf();
        info!(file = %path.display(), max_bytes, "recording the session");
        tracker.spawn(write(file, path, max_bytes, started, rx, shutdown));
        Arc::new(Recorder {
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// A frame from GAMA.
    pub fn gama(&self, frame: &Frame) {
        self.push(Entry::Gama(Instant::now(), frame.clone()));
    }

    /// A frame from a headset (`player` once it registered).
    pub fn headset(&self, conn: u64, player: Option<&Arc<str>>, text: &str) {
        self.push(Entry::Headset {
            at: Instant::now(),
            conn,
            player: player.cloned(),
            text: text.to_string(),
        });
    }

    fn push(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if DROPPED.check().is_some() {
                warn!(
                    dropped = n,
                    "the recording cannot keep up (or is full); messages left out of it"
                );
            }
        }
    }
}

async fn write(
    file: std::fs::File,
    path: PathBuf,
    max_bytes: u64,
    started: Instant,
    mut rx: mpsc::Receiver<Entry>,
    shutdown: CancellationToken,
) {
    // The file is written from a blocking thread: the runtime never waits on the disk.
    let (line_tx, line_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1024);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut written = 0u64;
        let mut full = false;
        let mut last_flush = Instant::now();
        loop {
            let line = match line_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => Some(line),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if let Some(line) = line {
                if full {
                    continue;
                }
                if written + line.len() as u64 > max_bytes {
                    warn!(file = %path.display(), max_bytes, "the recording reached record.max_bytes; it stops here");
                    full = true;
                    continue;
                }
                if let Err(e) = out.write_all(&line) {
                    warn!(file = %path.display(), error = %e, "writing the recording failed; it stops here");
                    full = true;
                    continue;
                }
                written += line.len() as u64;
            }
            if last_flush.elapsed() >= Duration::from_millis(200) {
                let _ = out.flush();
                last_flush = Instant::now();
            }
        }
        let _ = out.flush();
        info!(file = %path.display(), bytes = written, "recording finished");
    });
    let mut header = serde_json::json!({
        "format": FORMAT,
        "version": VERSION,
        "started": crate::util::now_rfc3339(),
    })
    .to_string()
    .into_bytes();
    header.push(b'\n');
    let _ = line_tx.send(header);
    loop {
        let entry = tokio::select! {
            () = shutdown.cancelled() => {
                // Keep what was already handed over.
                rx.close();
                match rx.recv().await { Some(e) => e, None => break }
            }
            e = rx.recv() => match e { Some(e) => e, None => break },
        };
        let line = encode(&entry, started);
        if line_tx.send(line).is_err() {
            break;
        }
    }
    drop(line_tx);
    let _ = writer.await;
}

/// One line of the file.
fn encode(entry: &Entry, started: Instant) -> Vec<u8> {
    let micros = |at: &Instant| at.saturating_duration_since(started).as_micros() as u64;
    let mut out = Vec::with_capacity(128);
    let embed = |out: &mut Vec<u8>, key: &str, text: &str| {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            out.extend_from_slice(format!("\"{key}\":").as_bytes());
            out.extend_from_slice(text.trim().as_bytes());
        } else {
            out.extend_from_slice(format!("\"{key}_text\":").as_bytes());
            crate::json::write_str(out, text);
        }
    };
    match entry {
        Entry::Gama(at, frame) => {
            out.extend_from_slice(format!("{{\"t\":{},", micros(at)).as_bytes());
            embed(&mut out, "gama", frame.as_str());
        }
        Entry::Headset {
            at,
            conn,
            player,
            text,
        } => {
            out.extend_from_slice(format!("{{\"t\":{},", micros(at)).as_bytes());
            embed(&mut out, "headset", text);
            out.extend_from_slice(format!(",\"conn\":{conn},\"player\":").as_bytes());
            match player {
                Some(p) => crate::json::write_str(&mut out, p),
                None => out.extend_from_slice(b"null"),
            }
        }
    }
    out.extend_from_slice(b"}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_embed_json_and_keep_other_text_as_strings() {
        let start = Instant::now();
        let line = encode(
            &Entry::Gama(
                start,
                Frame::from(r#"{"type":"SimulationStatus","content":"PAUSED"}"#),
            ),
            start,
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"t\":0,\"gama\":{\"type\":\"SimulationStatus\",\"content\":\"PAUSED\"}}\n"
        );
        let line = encode(
            &Entry::Headset {
                at: start + Duration::from_millis(2),
                conn: 7,
                player: Some(Arc::from("P\"1")),
                text: "{not json".into(),
            },
            start,
        );
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["t"], 2000);
        assert_eq!(v["headset_text"], "{not json");
        assert_eq!(v["conn"], 7);
        assert_eq!(v["player"], "P\"1");
    }
}
