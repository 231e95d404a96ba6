//! Recording a session: every message GAMA sent and every message a headset sent, with its time,
//! to a file that [`crate::history::replay`] can serve again without GAMA, to show a session or reproduce a
//! bug.
//!
//! The format is JSON lines, encoded and written by a thread of its own: the hot path only hands
//! over a reference-counted frame, without ever waiting. When the disk cannot keep up and the queue
//! (`record.max_queued_messages`) is full, messages are left out of the recording, counted in
//! `/metrics` (`recording_messages_dropped`) and reported in the log once per burst; relaying goes
//! on.
//!
//! The first line describes the file:
//! `{"format":"gama-vr-relay recording","version":1,"started":"<RFC 3339>"}`; then one line a
//! message: `{"t":<µs since start>,"gama":<frame>}`,
//! `{"t":…,"headset":<frame>,"conn":<connection number>,"player":"<id>"|null}` or an operator's
//! change `{"t":…,"audit":{…}}`, the frame embedded as the JSON it is (a frame that is not JSON is
//! kept as a string under `gama_text` / `headset_text`). Recording stops, with a log line, when the
//! file reaches `record.max_bytes`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::RecordConfig;
use crate::protocol::Frame;
use crate::server::metrics::Metrics;
use crate::support::pace::LogLimiter;
use crate::support::queue::{self, Receiver, RecvTimeoutError, Sender, TrySendError};

/// The `format` of the first line.
pub const FORMAT: &str = "gama-vr-relay recording";
/// The version of the format.
pub const VERSION: u32 = 1;

/// How often the writer flushes the file, and looks whether the relay is stopping.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How long shutdown waits for the recording to be flushed.
const FINISH_WITHIN: Duration = Duration::from_secs(2);

static DROPPED: LogLimiter = LogLimiter::new(Duration::from_secs(5));

enum Entry {
    Gama(Instant, Frame),
    Audit(Instant, Vec<u8>),
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

/// Hands messages to the recording's writer thread.
pub struct Recorder {
    tx: Sender<Entry>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// Starts the writer thread on a file from [`create`]. When `shutdown` is cancelled the
    /// writer writes what it was handed, flushes and stops; a task on `tracker` waits for that, at
    /// most [`FINISH_WITHIN`].
    pub fn start(
        file: std::fs::File,
        config: &RecordConfig,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Arc<Recorder> {
        let (path, max_bytes) = (config.file.as_path(), config.max_bytes);
        let (tx, rx) = queue::bounded(config.max_queued_messages);
        let stopping = Arc::new(AtomicBool::new(false));
        let (finished_tx, finished_rx) = oneshot::channel();
        let writer = Writer {
            path: path.to_path_buf(),
            max_bytes,
            started: Instant::now(),
            stopping: stopping.clone(),
        };
        info!(file = %path.display(), max_bytes, "recording the session");
        let spawned = std::thread::Builder::new()
            .name("recording".into())
            .spawn(move || {
                writer.run(file, rx);
                let _ = finished_tx.send(());
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the recording's writer; nothing will be recorded");
        }
        let path = path.to_path_buf();
        tracker.spawn(async move {
            shutdown.cancelled().await;
            stopping.store(true, Ordering::Relaxed);
            if tokio::time::timeout(FINISH_WITHIN, finished_rx).await.is_err() {
                warn!(file = %path.display(), "the recording could not be finished in time (is the disk stuck?)");
            }
        });
        Arc::new(Recorder { tx, metrics })
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

    /// A change made by an operator, already serialised (one JSON object).
    pub fn audit(&self, json: Vec<u8>) {
        self.push(Entry::Audit(Instant::now(), json));
    }

    /// Never waits: a full queue drops the entry and counts it.
    fn push(&self, entry: Entry) {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.recording_dropped.inc();
                if let Some(suppressed) = DROPPED.check() {
                    warn!(
                        dropped = suppressed + 1,
                        total = self.metrics.recording_dropped.get(),
                        "the disk cannot keep up with the recording; messages are left out of it"
                    );
                }
            }
            // The writer stopped (the file is full or failed); it said why.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The writer thread's side.
struct Writer {
    path: PathBuf,
    max_bytes: u64,
    started: Instant,
    stopping: Arc<AtomicBool>,
}

impl Writer {
    fn run(self, file: std::fs::File, rx: Receiver<Entry>) {
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut written = 0u64;
        let mut header = serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "started": crate::support::clock::now_rfc3339(),
        })
        .to_string()
        .into_bytes();
        header.push(b'\n');
        let mut last_flush = Instant::now();
        let mut pending = Some(header);
        loop {
            let line = match pending.take() {
                Some(line) => line,
                None => match rx.recv_timeout(FLUSH_EVERY) {
                    Ok(entry) => encode(&entry, self.started),
                    Err(RecvTimeoutError::Timeout) => {
                        if self.stopping.load(Ordering::Relaxed) {
                            break;
                        }
                        let _ = out.flush();
                        last_flush = Instant::now();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            if written + line.len() as u64 > self.max_bytes {
                warn!(file = %self.path.display(), max_bytes = self.max_bytes, "the recording reached record.max_bytes; it stops here");
                break;
            }
            if let Err(e) = out.write_all(&line) {
                warn!(file = %self.path.display(), error = %e, "writing the recording failed; it stops here");
                break;
            }
            written += line.len() as u64;
            if last_flush.elapsed() >= FLUSH_EVERY {
                let _ = out.flush();
                last_flush = Instant::now();
            }
            if self.stopping.load(Ordering::Relaxed) {
                // Keep what was already handed over, then stop.
                while let Ok(entry) = rx.try_recv() {
                    let line = encode(&entry, self.started);
                    if written + line.len() as u64 > self.max_bytes || out.write_all(&line).is_err()
                    {
                        break;
                    }
                    written += line.len() as u64;
                }
                break;
            }
        }
        let _ = out.flush();
        info!(file = %self.path.display(), bytes = written, "recording finished");
    }
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
            crate::protocol::json::write_str(out, text);
        }
    };
    match entry {
        Entry::Audit(at, json) => {
            out.extend_from_slice(format!("{{\"t\":{},\"audit\":", micros(at)).as_bytes());
            out.extend_from_slice(json);
        }
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
                Some(p) => crate::protocol::json::write_str(&mut out, p),
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
