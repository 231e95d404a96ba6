//! `sync:`, version 1 (ADB `SYNC.TXT`, `file_sync_protocol.h`, `daemon/file_sync_service.cpp`;
//! mirror-spec §1.4): 8-byte headers, a 4-byte ASCII id then a little-endian u32 length or value.
//!
//! `STAT` answers mode, size and mtime (mode 0 = no such file; a few standard directories and the
//! parents of pushed files are directories). `SEND "<path>,<mode>"`, `DATA` chunks of at most
//! 64 KiB and `DONE <mtime>` store the file in memory ([`super::FakeAdb::file`]) and answer
//! `OKAY` + 4 zero bytes. `QUIT` ends. The v2 requests (`STA2`, `SND2`…), `RECV` and `LIST` are
//! answered `FAIL`: with the empty feature list no client sends them.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::device::DeviceConn;
use super::{PushedFile, wire};

/// `SYNC_DATA_MAX`: the largest `DATA` chunk.
const DATA_MAX: u32 = 64 * 1024;

/// Longest path adbd takes.
const PATH_MAX: u32 = 1024;

/// Directories every device has (mode `drwxrwx--x`).
const DIRECTORIES: [&str; 6] = [
    "/",
    "/data",
    "/data/local",
    "/data/local/tmp",
    "/sdcard",
    "/storage",
];

/// Serves a `sync:` session.
pub(super) async fn serve(conn: &DeviceConn, mut stream: TcpStream) -> anyhow::Result<()> {
    stream.write_all(b"OKAY").await?;
    loop {
        let Some((id, len)) = read_header(&mut stream).await? else {
            return Ok(());
        };
        match &id {
            b"STAT" => {
                let Some(path) = read_path(&mut stream, len).await? else {
                    return fail(&mut stream, "path too long").await;
                };
                let (mode, size, mtime) = stat(conn, &path);
                let mut reply = b"STAT".to_vec();
                for v in [mode, size, mtime] {
                    reply.extend_from_slice(&v.to_le_bytes());
                }
                stream.write_all(&reply).await?;
            }
            b"SEND" => {
                let Some(spec) = read_path(&mut stream, len).await? else {
                    return fail(&mut stream, "path too long").await;
                };
                if !receive(conn, &mut stream, &spec).await? {
                    return Ok(());
                }
            }
            b"QUIT" => return Ok(()),
            other => {
                let id = String::from_utf8_lossy(other).into_owned();
                return fail(&mut stream, &format!("unsupported sync request {id:?}")).await;
            }
        }
    }
}

/// Reads `SEND`'s data and stores the file. False when it answered `FAIL` (the session ends).
async fn receive(conn: &DeviceConn, stream: &mut TcpStream, spec: &str) -> anyhow::Result<bool> {
    // The path is split at the last comma; adbd reads the mode with strtoul(…, 0).
    let Some((path, mode)) = spec
        .rsplit_once(',')
        .and_then(|(path, mode)| Some((path.to_string(), wire::parse_c_number(mode)?)))
    else {
        fail(stream, &format!("bad SEND request {spec:?}")).await?;
        return Ok(false);
    };
    let mut data = Vec::new();
    loop {
        let Some((id, len)) = read_header(stream).await? else {
            return Ok(false);
        };
        match &id {
            b"DATA" if len <= DATA_MAX => {
                let start = data.len();
                data.resize(start + len as usize, 0);
                stream.read_exact(&mut data[start..]).await?;
            }
            b"DATA" => {
                fail(stream, "data too large").await?;
                return Ok(false);
            }
            b"DONE" => {
                if is_directory(conn, &path) {
                    fail(
                        stream,
                        &format!("couldn't create file {path}: Is a directory"),
                    )
                    .await?;
                    return Ok(false);
                }
                let file = PushedFile {
                    data,
                    mode,
                    mtime: len,
                };
                conn.inner
                    .lock()
                    .serial(&conn.serial)
                    .files
                    .insert(path, file);
                stream.write_all(b"OKAY\0\0\0\0").await?;
                return Ok(true);
            }
            _ => {
                fail(stream, "invalid data message").await?;
                return Ok(false);
            }
        }
    }
}

/// `(mode, size, mtime)` of `path` on the device; all 0 when there is nothing there.
fn stat(conn: &DeviceConn, path: &str) -> (u32, u32, u32) {
    if is_directory(conn, path) {
        return (0o040771, 4096, 0);
    }
    let mut st = conn.inner.lock();
    match st.serial(&conn.serial).files.get(path) {
        Some(f) => (
            0o100000 | (f.mode & 0o777),
            u32::try_from(f.data.len()).unwrap_or(u32::MAX),
            f.mtime,
        ),
        None => (0, 0, 0),
    }
}

fn is_directory(conn: &DeviceConn, path: &str) -> bool {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    if DIRECTORIES.contains(&path) {
        return true;
    }
    let prefix = format!("{path}/");
    let mut st = conn.inner.lock();
    st.serial(&conn.serial)
        .files
        .keys()
        .any(|f| f.starts_with(&prefix))
}

/// Reads an 8-byte header; `None` at EOF before it.
async fn read_header(stream: &mut TcpStream) -> anyhow::Result<Option<([u8; 4], u32)>> {
    let mut header = [0u8; 8];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let [a, b, c, d, l0, l1, l2, l3] = header;
    Ok(Some(([a, b, c, d], u32::from_le_bytes([l0, l1, l2, l3]))))
}

/// Reads a path of `len` bytes; `None` (nothing read) when it is too long.
async fn read_path(stream: &mut TcpStream, len: u32) -> anyhow::Result<Option<String>> {
    if len > PATH_MAX {
        return Ok(None);
    }
    let mut path = vec![0u8; len as usize];
    stream.read_exact(&mut path).await?;
    Ok(Some(String::from_utf8_lossy(&path).into_owned()))
}

/// A sync failure: `FAIL`, the message's length (LE u32), the message.
async fn fail(stream: &mut TcpStream, message: &str) -> anyhow::Result<()> {
    let mut reply = b"FAIL".to_vec();
    reply.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_le_bytes());
    reply.extend_from_slice(message.as_bytes());
    stream.write_all(&reply).await?;
    Ok(())
}
