//! A raw ADB host protocol client and a scrcpy stream reader, written from the spec
//! (`notes/mirror-spec.md` §1, §3) independently of the stand-in's code, to check its bytes.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use relay_testkit::FakeAdb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every read the tests make.
pub const STEP: Duration = Duration::from_secs(5);

/// `fut`, or an error after [`STEP`].
pub async fn within<T>(fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(STEP, fut)
        .await
        .context("no answer within 5 s")
}

pub async fn connect(adb: &FakeAdb) -> anyhow::Result<TcpStream> {
    Ok(TcpStream::connect(adb.addr()).await?)
}

/// Writes a request: 4 hex digits of length, then the text.
pub async fn send(s: &mut TcpStream, request: &str) -> anyhow::Result<()> {
    s.write_all(format!("{:04x}{request}", request.len()).as_bytes())
        .await?;
    Ok(())
}

pub async fn read_n(s: &mut TcpStream, n: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    within(s.read_exact(&mut buf)).await??;
    Ok(buf)
}

/// A hex-length-prefixed string.
pub async fn read_hex_string(s: &mut TcpStream) -> anyhow::Result<String> {
    let len = String::from_utf8(read_n(s, 4).await?)?;
    let len = usize::from_str_radix(&len, 16)?;
    Ok(String::from_utf8(read_n(s, len).await?)?)
}

/// `Ok` for OKAY, `Err(message)` for FAIL.
pub async fn status(s: &mut TcpStream) -> anyhow::Result<Result<(), String>> {
    match &read_n(s, 4).await?[..] {
        b"OKAY" => Ok(Ok(())),
        b"FAIL" => Ok(Err(read_hex_string(s).await?)),
        other => bail!("neither OKAY nor FAIL: {other:?}"),
    }
}

/// Everything until EOF.
pub async fn read_to_end(s: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut all = Vec::new();
    within(s.read_to_end(&mut all)).await??;
    Ok(all)
}

/// A one-shot host service: its answer (or FAIL message); checks the server closes after it.
pub async fn host(adb: &FakeAdb, request: &str) -> anyhow::Result<Result<String, String>> {
    let mut s = connect(adb).await?;
    send(&mut s, request).await?;
    let answer = match status(&mut s).await? {
        Ok(()) => Ok(read_hex_string(&mut s).await?),
        Err(message) => Err(message),
    };
    ensure!(
        read_to_end(&mut s).await?.is_empty(),
        "bytes after the answer"
    );
    Ok(answer)
}

/// A connection switched to `serial` with `host:transport:`.
pub async fn transport(adb: &FakeAdb, serial: &str) -> anyhow::Result<TcpStream> {
    let mut s = connect(adb).await?;
    send(&mut s, &format!("host:transport:{serial}")).await?;
    status(&mut s)
        .await?
        .map_err(|m| anyhow::anyhow!("transport: {m}"))?;
    Ok(s)
}

/// A device service on `serial`: the socket after its OKAY.
pub async fn service(adb: &FakeAdb, serial: &str, request: &str) -> anyhow::Result<TcpStream> {
    let mut s = transport(adb, serial).await?;
    send(&mut s, request).await?;
    status(&mut s)
        .await?
        .map_err(|m| anyhow::anyhow!("{request}: {m}"))?;
    Ok(s)
}

/// The output of a v1 shell command.
pub async fn shell(adb: &FakeAdb, serial: &str, command: &str) -> anyhow::Result<String> {
    let mut s = service(adb, serial, &format!("shell:{command}")).await?;
    Ok(String::from_utf8(read_to_end(&mut s).await?)?)
}

/// A sync request header: id, then a little-endian u32.
pub fn sync_header(id: &[u8; 4], value: u32) -> Vec<u8> {
    let mut h = id.to_vec();
    h.extend_from_slice(&value.to_le_bytes());
    h
}

/// Pushes `data` to `path` with `sync:` v1 (as the relay would), in 64 KiB chunks.
pub async fn push(adb: &FakeAdb, serial: &str, path: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut s = service(adb, serial, "sync:").await?;
    let spec = format!("{path},33188");
    let mut out = sync_header(b"SEND", spec.len() as u32);
    out.extend_from_slice(spec.as_bytes());
    for chunk in data.chunks(65536) {
        out.extend(sync_header(b"DATA", chunk.len() as u32));
        out.extend_from_slice(chunk);
    }
    out.extend(sync_header(b"DONE", 1_700_000_000));
    s.write_all(&out).await?;
    ensure!(
        read_n(&mut s, 8).await? == b"OKAY\0\0\0\0",
        "push not acknowledged"
    );
    s.write_all(&sync_header(b"QUIT", 0)).await?;
    Ok(())
}

/// scrcpy's start command for `version` with `options`.
pub fn scrcpy_command(version: &str, options: &str) -> String {
    format!(
        "CLASSPATH=/data/local/tmp/scrcpy-server.jar app_process / \
         com.genymobile.scrcpy.Server {version} {options}"
    )
}

/// The options the relay passes, with `scid` and `control`.
pub fn relay_options(scid: &str, control: bool) -> String {
    format!(
        "scid={scid} log_level=info tunnel_forward=true audio=false control={control} \
         video_codec=h264 max_size=1024 video_bit_rate=4000000 max_fps=30"
    )
}

/// Pushes a jar and starts the server: the shell stream, its first line read.
pub async fn start_server(
    adb: &FakeAdb,
    serial: &str,
    version: &str,
    options: &str,
) -> anyhow::Result<(TcpStream, String)> {
    push(
        adb,
        serial,
        "/data/local/tmp/scrcpy-server.jar",
        b"PK fake jar",
    )
    .await?;
    let mut shell = service(
        adb,
        serial,
        &format!("shell:{}", scrcpy_command(version, options)),
    )
    .await?;
    let mut line = Vec::new();
    while line.last() != Some(&b'\n') {
        line.extend(read_n(&mut shell, 1).await?);
    }
    Ok((shell, String::from_utf8(line)?))
}

/// Connects `localabstract:<name>`, retrying on `FAIL closed` every 100 ms for up to 5 s.
pub async fn open_abstract(adb: &FakeAdb, serial: &str, name: &str) -> anyhow::Result<TcpStream> {
    for _ in 0..50 {
        let mut s = transport(adb, serial).await?;
        send(&mut s, &format!("localabstract:{name}")).await?;
        match status(&mut s).await? {
            Ok(()) => return Ok(s),
            Err(m) if m == "closed" => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(m) => bail!("localabstract:{name}: {m}"),
        }
    }
    bail!("localabstract:{name} never listened")
}

/// One 12-byte header and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub pts_flags: u64,
    pub size: u32,
    pub data: Vec<u8>,
}

/// Reads a header; for a media header (byte 0 bit 7 clear, or any 3.x header when `session_bit`
/// is false) its payload too.
pub async fn read_packet(s: &mut TcpStream, session_bit: bool) -> anyhow::Result<Packet> {
    let h = read_n(s, 12).await?;
    let pts_flags = u64::from_be_bytes(h[..8].try_into()?);
    let size = u32::from_be_bytes(h[8..].try_into()?);
    if session_bit && h[0] & 0x80 != 0 {
        return Ok(Packet {
            pts_flags,
            size,
            data: Vec::new(),
        });
    }
    ensure!(size > 0 && size < 16 << 20, "bad packet size {size}");
    let data = read_n(s, size as usize).await?;
    Ok(Packet {
        pts_flags,
        size,
        data,
    })
}

/// The stream's head: the dummy byte, the device name, the codec id.
pub async fn read_head(video: &mut TcpStream) -> anyhow::Result<(u8, String, u32)> {
    let dummy = read_n(video, 1).await?[0];
    let name = read_n(video, 64).await?;
    let end = name.iter().position(|b| *b == 0).unwrap_or(64);
    let name = String::from_utf8(name[..end].to_vec())?;
    let codec = u32::from_be_bytes(
        read_n(video, 4)
            .await?
            .try_into()
            .map_err(|_| anyhow::anyhow!("short codec id"))?,
    );
    Ok((dummy, name, codec))
}

/// Reads a u32, big-endian.
pub async fn read_u32(s: &mut TcpStream) -> anyhow::Result<u32> {
    let b = read_n(s, 4).await?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
