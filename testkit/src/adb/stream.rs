//! The emulated scrcpy server's sockets and video stream (mirror-spec §3; scrcpy
//! `DesktopConnection.open`, `Streamer.java`).
//!
//! With `tunnel_forward=true` the server accepts its sockets in the order video, audio, control
//! (each enabled one), writing the dummy byte `0x00` on the video socket as soon as it is
//! accepted. Once all are there it stops listening and writes on the video socket, big-endian:
//! the 64-byte device name; the codec id (h264), with width and height in 3.x; then packets.
//! 3.x packets: `[u64 pts_flags: bit63 config, bit62 key][u32 size][data]`. 4.x: 12-byte headers,
//! a session packet `[u32 0x80000000][u32 w][u32 h]` before each capture session's config, media
//! packets `[u64 pts_flags: bit62 config, bit61 key][u32 size][data]`. The config packet carries
//! the SPS and PPS, then the access units follow, looped, one per frame interval, PTS in µs.
//!
//! The audio socket (`audio=true`) gets codec id 0 ("disabled by the device") and nothing else.
//! The control socket's input is read and dropped, except that each `RESET_VIDEO` byte (`0x11`)
//! restarts the capture: (4.x: a session packet,) the config and the first key frame again. Its
//! EOF ends the server, as in scrcpy. A failed write on the video socket ends the server too.

use std::io;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, watch};

use super::device::DeviceConn;
use super::host::OpenGuard;
use super::{Garbage, Sample};

/// Codec id of H.264 (`"h264"`).
pub(super) const CODEC_H264: u32 = 0x6832_3634;

/// The control message that restarts the encoder (`TYPE_RESET_VIDEO`).
const RESET_VIDEO: u8 = 0x11;

/// A socket handed over by `localabstract:`, counted as open while it lives.
pub(super) type Accepted = (TcpStream, OpenGuard);

/// The stream layout of a scrcpy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// Servers 3.x and earlier.
    V3,
    /// Servers 4.x: session packets, flags moved down one bit.
    V4,
}

impl Framing {
    /// The framing of server version `version` (major version 4 or more → V4).
    pub(super) fn of_version(version: &str) -> Framing {
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major >= 4 { Framing::V4 } else { Framing::V3 }
    }

    fn config_flag(self) -> u64 {
        match self {
            Framing::V3 => 1 << 63,
            Framing::V4 => 1 << 62,
        }
    }

    fn key_flag(self) -> u64 {
        match self {
            Framing::V3 => 1 << 62,
            Framing::V4 => 1 << 61,
        }
    }
}

/// What one start of the server does, from its options.
#[derive(Debug, Clone)]
pub(super) struct ServerConfig {
    pub(super) framing: Framing,
    pub(super) audio: bool,
    pub(super) control: bool,
    pub(super) dummy_byte: bool,
    pub(super) device_meta: bool,
    pub(super) codec_meta: bool,
    pub(super) frame_meta: bool,
    pub(super) name: String,
    pub(super) picture: Sample,
    /// The width and height the stream announces (the crop's, when one was asked for).
    pub(super) size: (u32, u32),
}

/// Runs the server from its first accept until its video or control socket ends.
pub(super) async fn run(
    conn: &DeviceConn,
    config: &ServerConfig,
    mut sockets: mpsc::Receiver<Accepted>,
    id: u64,
) -> anyhow::Result<()> {
    let video = sockets.recv().await.context("no video socket")?;
    let mut out = Out::new(conn, video);
    if config.dummy_byte {
        out.write(&[0]).await?;
    }
    let _audio = if config.audio {
        let (mut audio, open) = sockets.recv().await.context("no audio socket")?;
        if config.codec_meta {
            audio.write_all(&0u32.to_be_bytes()).await?;
        }
        Some((audio, open))
    } else {
        None
    };
    let control = if config.control {
        Some(sockets.recv().await.context("no control socket")?)
    } else {
        None
    };
    stop_listening(conn, id);
    drop(sockets);
    let resets = Notify::new();
    tokio::select! {
        result = write_stream(&mut out, config, &resets) => Ok(result?),
        () = read_control(conn, control, &resets) => Ok(()),
    }
}

/// Closes the server's listening socket: later `localabstract:` connections fail.
fn stop_listening(conn: &DeviceConn, id: u64) {
    let mut st = conn.inner.lock();
    if let Some(slot) = st.slot_mut(&conn.serial)
        && let Some(entry) = slot.servers.iter_mut().find(|s| s.id == id)
    {
        entry.accept = None;
    }
}

/// Reads the control socket until EOF, counting and signalling `RESET_VIDEO`s. Never resolves
/// without a control socket.
async fn read_control(conn: &DeviceConn, control: Option<Accepted>, resets: &Notify) {
    let Some((mut socket, _open)) = control else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; 512];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let count = buf[..n].iter().filter(|b| **b == RESET_VIDEO).count();
        if count > 0 {
            conn.inner.lock().serial(&conn.serial).resets += count;
            resets.notify_one();
        }
    }
}

/// The meta, then capture sessions of looped access units, until a write fails.
async fn write_stream(out: &mut Out<'_>, config: &ServerConfig, resets: &Notify) -> io::Result<()> {
    let picture = &config.picture;
    if config.device_meta {
        out.write(&device_name(&config.name)).await?;
    }
    if config.codec_meta {
        let mut meta = CODEC_H264.to_be_bytes().to_vec();
        if config.framing == Framing::V3 {
            meta.extend_from_slice(&config.size.0.to_be_bytes());
            meta.extend_from_slice(&config.size.1.to_be_bytes());
        }
        out.write(&meta).await?;
    }
    let fps = u64::from(picture.fps.max(1));
    let mut ticker = tokio::time::interval(picture.frame_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut frames: u64 = 0;
    loop {
        if config.frame_meta && config.framing == Framing::V4 {
            let mut session = 0x8000_0000u32.to_be_bytes().to_vec();
            session.extend_from_slice(&config.size.0.to_be_bytes());
            session.extend_from_slice(&config.size.1.to_be_bytes());
            out.header(&session, &[]).await?;
        }
        out.media(config, config.framing.config_flag(), &picture.config)
            .await?;
        if picture.units.is_empty() {
            std::future::pending::<()>().await;
        }
        for unit in picture.units.iter().cycle() {
            tokio::select! {
                _ = ticker.tick() => {}
                () = resets.notified() => break,
            }
            let pts = frames * 1_000_000 / fps;
            frames += 1;
            let key = if unit.key {
                config.framing.key_flag()
            } else {
                0
            };
            out.media(config, pts | key, &unit.data).await?;
        }
    }
}

/// The 64-byte device name field: UTF-8, at most 63 bytes (whole characters), NUL-padded.
fn device_name(name: &str) -> [u8; 64] {
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut field = [0u8; 64];
    field[..end].copy_from_slice(&name.as_bytes()[..end]);
    field
}

/// The video socket, with the device's stall, garbage and byte count applied.
struct Out<'a> {
    conn: &'a DeviceConn,
    socket: TcpStream,
    _open: OpenGuard,
    stalled: watch::Receiver<bool>,
}

impl<'a> Out<'a> {
    fn new(conn: &'a DeviceConn, (socket, open): Accepted) -> Out<'a> {
        let stalled = conn.inner.lock().serial(&conn.serial).stalled.subscribe();
        Out {
            conn,
            socket,
            _open: open,
            stalled,
        }
    }

    /// Writes `bytes` once the device is not stalled, and counts them.
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        // The sender lives as long as the server's state: an error cannot happen while we run.
        let _ = self.stalled.wait_for(|stalled| !*stalled).await;
        self.socket.write_all(bytes).await?;
        let mut st = self.conn.inner.lock();
        st.serial(&self.conn.serial).bytes_written += bytes.len() as u64;
        Ok(())
    }

    /// A media packet (with frame meta) or the bare payload (without).
    async fn media(
        &mut self,
        config: &ServerConfig,
        pts_flags: u64,
        payload: &[u8],
    ) -> io::Result<()> {
        if !config.frame_meta {
            return self.write(payload).await;
        }
        let size = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let mut header = pts_flags.to_be_bytes().to_vec();
        header.extend_from_slice(&size.to_be_bytes());
        self.header(&header, payload).await
    }

    /// A 12-byte header and its payload in one write; the header is replaced by garbage when
    /// [`super::FakeAdb::malformed_with`] asked for it.
    async fn header(&mut self, header: &[u8], payload: &[u8]) -> io::Result<()> {
        let garbage = self
            .conn
            .inner
            .lock()
            .serial(&self.conn.serial)
            .garbage
            .take();
        let mut packet = match garbage {
            None => header.to_vec(),
            Some(Garbage::ZeroSize) => [0u8; 12].to_vec(),
            Some(Garbage::HugeSize) => {
                let mut h = [0u8; 12];
                h[8..].copy_from_slice(&u32::MAX.to_be_bytes());
                h.to_vec()
            }
        };
        packet.extend_from_slice(payload);
        self.write(&packet).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_framing_from_the_major_version() {
        assert_eq!(Framing::of_version("3.3.4"), Framing::V3);
        assert_eq!(Framing::of_version("2.7"), Framing::V3);
        assert_eq!(Framing::of_version("4.1"), Framing::V4);
        assert_eq!(Framing::of_version("4.0"), Framing::V4);
        assert_eq!(Framing::of_version("10"), Framing::V4);
    }

    #[test]
    fn pads_and_cuts_the_device_name() {
        let field = device_name("Quest 3");
        assert_eq!(&field[..8], b"Quest 3\0");
        assert!(field[7..].iter().all(|b| *b == 0));
        let long = "é".repeat(40);
        let field = device_name(&long);
        assert_eq!(field[62..], [0, 0]);
        assert!(std::str::from_utf8(&field[..62]).is_ok());
    }
}
