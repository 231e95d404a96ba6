//! `--screens N`: headset screens streamed while a scenario runs, to show that mirroring does not
//! slow relaying. The project's stand-in ADB server and N stand-in headsets (each streaming a
//! 1024×576, 30 fps H.264 picture made by Debian's ffmpeg, padded to scrcpy's default 4 Mbit/s
//! with H.264 filler data, in scrcpy's framing) feed the relay
//! under test, and one viewer per headset reads its stream from the relay's admin port for the
//! whole run, as the projector page does. The relay's numbers are then compared with a run
//! without `--screens`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use relay_testkit::{FakeAdb, FakeDevice};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Bits per second each headset streams (`mirror.bit_rate`'s default).
const BIT_RATE: u64 = 4_000_000;

/// The stand-in ADB server and headsets, for the whole run.
pub struct Screens {
    adb: FakeAdb,
    serials: Vec<String>,
    /// The scrcpy server file the relay pushes (any bytes: the stand-in only checks it was pushed).
    server_file: PathBuf,
}

impl Screens {
    /// `n` stand-in headsets streaming ffmpeg's picture.
    pub async fn start(n: usize) -> anyhow::Result<Screens> {
        let mut picture = relay_testkit::h264::sample(1024, 576, 30, 60)
            .await
            .context("--screens needs Debian's ffmpeg to make the headsets' picture")?;
        // ffmpeg's test picture compresses far better than a headset's view: each frame is padded
        // (H.264 filler data, which decoders skip) to what mirror.bit_rate's default gives.
        let frame_bytes = (BIT_RATE / 8 / u64::from(picture.fps)) as usize;
        for unit in &mut picture.units {
            if unit.data.len() + 5 < frame_bytes {
                unit.data.extend_from_slice(&[0, 0, 0, 1, 0x0c]);
                unit.data.resize(frame_bytes, 0xff);
            }
        }
        let adb = FakeAdb::start().await?;
        let serials: Vec<String> = (1..=n).map(|i| format!("192.0.2.{i}:5555")).collect();
        for serial in &serials {
            adb.add_device(FakeDevice::quest3(serial).with_picture(picture.clone()));
        }
        let server_file =
            std::env::temp_dir().join(format!("relay-bench-scrcpy-server-{}", std::process::id()));
        std::fs::write(&server_file, b"relay-bench stand-in scrcpy server")
            .with_context(|| format!("cannot write {}", server_file.display()))?;
        Ok(Screens {
            adb,
            serials,
            server_file,
        })
    }

    /// The relay's settings that point it at the stand-ins.
    pub fn relay_args(&self) -> Vec<String> {
        [
            format!("mirror.adb_server={}", self.adb.addr()),
            format!("mirror.scrcpy_server={}", self.server_file.display()),
            "mirror.scrcpy_version=3.3.4".to_string(),
        ]
        .into_iter()
        .flat_map(|s| ["--set".to_string(), s])
        .collect()
    }

    /// One viewer per headset on the relay at `admin`, each waiting for its first key frame.
    pub async fn watch(&self, admin: SocketAddr) -> anyhow::Result<Viewers> {
        let frames: Arc<Vec<AtomicU64>> =
            Arc::new(self.serials.iter().map(|_| AtomicU64::new(0)).collect());
        let bytes = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for (i, serial) in self.serials.iter().enumerate() {
            let url = format!("ws://{admin}/api/screens/{serial}/stream");
            let (frames, bytes) = (frames.clone(), bytes.clone());
            tasks.push(tokio::spawn(async move {
                let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if let Message::Binary(b) = message {
                        bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        if b.first() == Some(&1) {
                            frames[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        let viewers = Viewers {
            tasks,
            frames,
            bytes,
            since: Instant::now(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while viewers.frames().contains(&0) {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "--screens: not every headset's screen reached the relay's viewers within 20 s ({:?} frames)",
                    viewers.frames()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(viewers)
    }
}

impl std::fmt::Debug for Screens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screens")
            .field("adb", &self.adb.addr())
            .field("serials", &self.serials)
            .finish()
    }
}

impl Drop for Screens {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.server_file);
    }
}

/// The viewers of a run; they stop when dropped.
pub struct Viewers {
    tasks: Vec<JoinHandle<()>>,
    frames: Arc<Vec<AtomicU64>>,
    bytes: Arc<AtomicU64>,
    since: Instant,
}

impl Viewers {
    fn frames(&self) -> Vec<u64> {
        self.frames
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .collect()
    }

    /// What they received, for the run's notes.
    pub fn summary(&self) -> String {
        let frames = self.frames();
        let seconds = self.since.elapsed().as_secs_f64().max(0.001);
        let least = frames.iter().copied().min().unwrap_or(0);
        format!(
            "{} headset screens streamed meanwhile: {:.0} frames/s each at least, {:.1} MB/s in all",
            frames.len(),
            least as f64 / seconds,
            self.bytes.load(Ordering::Relaxed) as f64 / seconds / 1e6
        )
    }
}

impl Drop for Viewers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
