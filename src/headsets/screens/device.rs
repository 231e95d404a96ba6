//! One headset's screen while someone watches it: scrcpy's server pushed and started on the
//! headset, its video socket read, each packet handed to the watchers ([`Fanout`]); started again
//! after a failure (1 s, doubling to 30 s), and stopped once nobody has watched for
//! `mirror.idle_stop_ms`, when the headset leaves, or when the relay stops.
//!
//! Everything here is this headset's alone: its own task, its own sockets, each ADB step under a
//! deadline. A headset that vanishes, an ADB server that hangs or a malformed stream end this
//! task's attempt, logged once, and nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::adb::{Adb, AdbError};
use super::fanout::Fanout;
use super::framing::{Demuxer, Event, Framing, FramingError};
use super::scrcpy::{self, DEVICE_PATH};
use super::{Mirror, MirrorError};
use crate::control::said::Code;
use crate::support::pace::Backoff;

/// How long the scrcpy server may take to open its socket after it was started.
const SERVER_START: Duration = Duration::from_secs(10);
/// How long a failed stream waits for the ADB server to say the headset left, before it is
/// reported as a failure.
const LEFT_GRACE: Duration = Duration::from_millis(500);
/// Between two tries of the scrcpy server's socket while it starts.
const SOCKET_RETRY: Duration = Duration::from_millis(100);

/// Why one attempt at a headset's stream ended.
#[derive(Debug, thiserror::Error)]
pub(super) enum StreamError {
    /// The mirroring cannot run (no server file, unknown version…).
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// The ADB server refused or failed.
    #[error(transparent)]
    Adb(#[from] AdbError),
    /// The stream was malformed.
    #[error("{0}")]
    Framing(#[from] FramingError),
    /// The headset's stream stopped.
    #[error("the headset's stream ended{0}")]
    Ended(String),
    /// The cropped picture came out taller than wide: the headset reports its display turned.
    #[error("the headset's picture is {0}×{1}, taller than wide")]
    Turned(u32, u32),
}

impl StreamError {
    /// The page's name for it: the mirroring's own problem, or `failed` (the reason says which).
    fn code(&self) -> Code {
        match self {
            StreamError::Mirror(e) => e.code(),
            _ => Code::Failed,
        }
    }
}

/// Streams headset `serial` to `fanout` until stopped or nobody watches.
pub(super) async fn run(
    mirror: Mirror,
    serial: String,
    fanout: Arc<Fanout>,
    stop: CancellationToken,
) {
    let idle_stop = Duration::from_millis(mirror.config().idle_stop_ms);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut last_error = String::new();
    // A headset whose cropped picture comes out taller than wide reports its display turned: it is
    // started again once with the crop's width and height swapped, and remembered so.
    let mut turn_checked = false;
    loop {
        fanout.status("waiting", Code::Starting, "starting the headset's screen");
        let turned = mirror.turned(&serial);
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            r = stream_once(&mirror, &serial, &fanout, idle_stop, turned, !turn_checked) => r,
        };
        if let Err(StreamError::Turned(width, height)) = attempt {
            info!(%serial, "headset screen: the picture is {width}×{height}, taller than wide; starting it again with the crop turned");
            mirror.set_turned(&serial, !turned);
            turn_checked = true;
            continue;
        }
        match attempt {
            Ok(()) => {
                debug!(%serial, "nobody watches the headset's screen; stopped");
                fanout.status("ended", Code::Idle, "nobody watches");
                return;
            }
            Err(e) => {
                // A headset unplugged or asleep cuts the stream a moment before the ADB server's
                // list says it left: then that is what the viewers are told, not a failure.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(LEFT_GRACE) => {}
                }
                let reason = e.to_string();
                // Once per kind of failure, not at every retry.
                if reason != last_error {
                    warn!(%serial, "headset screen: {reason}; trying again");
                    last_error = reason.clone();
                }
                fanout.status("ended", e.code(), &reason);
            }
        }
        if fanout.viewers() == 0 {
            return;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// One attempt: start the server, read its stream until it ends or nobody has watched for
/// `idle_stop` (`Ok`).
async fn stream_once(
    mirror: &Mirror,
    serial: &str,
    fanout: &Fanout,
    idle_stop: Duration,
    turned: bool,
    check_turn: bool,
) -> Result<(), StreamError> {
    let adb = mirror.adb();
    let (path, version) = mirror.server(serial).await?;
    let framing =
        Framing::of_version(&version).ok_or_else(|| MirrorError::Version(version.clone()))?;
    let file = scrcpy::read_server(&path)
        .map_err(|e| MirrorError::ServerFile(path.clone(), e.to_string()))?;
    adb.push(serial, &file, DEVICE_PATH).await?;
    let scid = fastrand::u32(..) & 0x7fff_ffff;
    let model = mirror.model_of(serial);
    let view = model.as_deref().and_then(|m| mirror.config().model(m));
    let cropped = view.is_some_and(|v| v.crop_numbers().is_some());
    let command = scrcpy::start_command(&version, scid, mirror.config(), view, turned);
    let shell = adb.open(serial, &format!("shell:{command}")).await?;
    let log = tokio::spawn(server_log(shell, serial.to_string()));
    let video = connect_video(&adb, serial, scid).await;
    let result = match video {
        Ok(video) => read_stream(video, framing, fanout, idle_stop, check_turn && cropped).await,
        Err(e) => Err(e),
    };
    // Closing the video socket stops the server; its log ends with it.
    let said = tokio::time::timeout(Duration::from_secs(2), log).await;
    match (result, said) {
        (Err(StreamError::Ended(_)), Ok(Ok(Some(last)))) => {
            Err(StreamError::Ended(format!(": {last}")))
        }
        (result, _) => result,
    }
}

/// The server's socket on the headset, once it listens (it answers `closed` until then), past
/// its first byte.
async fn connect_video(adb: &Adb, serial: &str, scid: u32) -> Result<TcpStream, StreamError> {
    let name = format!("localabstract:scrcpy_{:08x}", scid & 0x7fff_ffff);
    let started = Instant::now();
    let mut video = loop {
        match adb.open(serial, &name).await {
            Ok(s) => break s,
            Err(AdbError::Refused(why)) if started.elapsed() < SERVER_START => {
                debug!(%serial, %why, "scrcpy's server is not listening yet");
                tokio::time::sleep(SOCKET_RETRY).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    // tunnel_forward: the server's first byte says the connection reached it.
    let mut dummy = [0u8; 1];
    tokio::time::timeout(adb.step, video.read_exact(&mut dummy))
        .await
        .map_err(|_| AdbError::Timeout(adb.step))?
        .map_err(|e| StreamError::Ended(format!(" before it started ({e})")))?;
    Ok(video)
}

/// Reads packets into `fanout` until the stream ends (an error) or nobody has watched for
/// `idle_stop` (`Ok`); with `check_turn`, a picture taller than wide ends it too.
async fn read_stream(
    mut video: TcpStream,
    framing: Framing,
    fanout: &Fanout,
    idle_stop: Duration,
    check_turn: bool,
) -> Result<(), StreamError> {
    let mut demux = Demuxer::new(framing);
    let mut check = tokio::time::interval(Duration::from_secs(1).min(idle_stop));
    let mut unwatched_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = check.tick() => {
                if fanout.viewers() > 0 {
                    unwatched_since = None;
                } else if unwatched_since.get_or_insert_with(Instant::now).elapsed() >= idle_stop {
                    return Ok(());
                }
            }
            read = video.read_buf(demux.buffer()) => {
                match read {
                    Ok(0) => return Err(StreamError::Ended(String::new())),
                    Ok(_) => {}
                    Err(e) => return Err(StreamError::Ended(format!(" ({e})"))),
                }
                while let Some(event) = demux.next()? {
                    match event {
                        Event::Name(name) => fanout.name(name),
                        Event::Packet(packet) => fanout.packet(&packet),
                        Event::Size { width, height } if check_turn && width < height => {
                            return Err(StreamError::Turned(width, height));
                        }
                        Event::Codec | Event::Size { .. } => {}
                    }
                }
            }
        }
    }
}

/// What scrcpy's server prints, to the debug log; returns its last error line, if any.
async fn server_log(mut shell: TcpStream, serial: String) -> Option<String> {
    let mut text = Vec::new();
    let mut chunk = [0u8; 2048];
    while let Ok(n) = shell.read(&mut chunk).await {
        if n == 0 || text.len() > 64 * 1024 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    let mut last_error = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        debug!(%serial, "scrcpy server: {line}");
        if line.contains("ERROR") {
            last_error = Some(line.trim().to_string());
        }
    }
    if let Some(e) = &last_error {
        info!(%serial, "scrcpy server: {e}");
    }
    last_error
}
