//! A client of the ADB server the teacher runs (Android platform-tools, `127.0.0.1:5037`): the
//! host protocol's requests the mirroring needs, each step under a deadline, so that an ADB server
//! that hangs can never hold a task forever.
//!
//! Requests are a 4-digit hex length and the text; the server answers `OKAY`, or `FAIL` with a
//! length-prefixed reason. `host:version`, `host:features`… answer once and close;
//! `host:track-devices-l` keeps sending the whole device list at every change; `host:transport:S`
//! hands the connection over to the device, where `shell:`, `sync:` and `localabstract:` follow
//! (`/work/notes`-era research: AOSP adb `SERVICES.TXT`, `SYNC.TXT`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a request to the ADB server failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdbError {
    /// Nothing answers at the address.
    #[error("no ADB server at {address} ({reason})")]
    Unreachable {
        /// The ADB server's address.
        address: String,
        /// The system's reason.
        reason: String,
    },
    /// A step took longer than its deadline.
    #[error("the ADB server did not answer within {0:?}")]
    Timeout(Duration),
    /// The server refused, with its reason (`device offline`, `closed`…).
    #[error("ADB: {0}")]
    Refused(String),
    /// The connection broke, or the server's answer made no sense.
    #[error("ADB connection failed: {0}")]
    Broken(String),
}

impl From<std::io::Error> for AdbError {
    fn from(e: std::io::Error) -> Self {
        AdbError::Broken(e.to_string())
    }
}

/// A device as the ADB server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Its serial (`192.168.1.50:5555` for a wireless one).
    pub serial: String,
    /// `device`, `unauthorized`, `offline`…
    pub state: String,
    /// Its model (`Quest_3`), when the server says.
    pub model: Option<String>,
}

/// The ADB server's address and how long each step may take.
#[derive(Debug, Clone)]
pub(crate) struct Adb {
    /// `host:port`.
    pub address: String,
    /// The deadline of each step.
    pub step: Duration,
}

impl Adb {
    async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, AdbError>>,
    ) -> Result<T, AdbError> {
        tokio::time::timeout(self.step, work)
            .await
            .map_err(|_| AdbError::Timeout(self.step))?
    }

    /// A new connection to the ADB server.
    pub(crate) async fn connect(&self) -> Result<TcpStream, AdbError> {
        let connect = TcpStream::connect(self.address.as_str());
        match tokio::time::timeout(self.step, connect).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(e)) => Err(AdbError::Unreachable {
                address: self.address.clone(),
                reason: e.to_string(),
            }),
            Err(_) => Err(AdbError::Timeout(self.step)),
        }
    }

    /// Sends one request on `stream` and reads its `OKAY`.
    pub(crate) async fn request(
        &self,
        stream: &mut TcpStream,
        service: &str,
    ) -> Result<(), AdbError> {
        self.within(async {
            stream
                .write_all(format!("{:04x}{service}", service.len()).as_bytes())
                .await?;
            let mut status = [0u8; 4];
            stream.read_exact(&mut status).await?;
            match &status {
                b"OKAY" => Ok(()),
                b"FAIL" => Err(AdbError::Refused(read_string(stream).await?)),
                other => Err(AdbError::Broken(format!(
                    "unexpected answer {:?}",
                    String::from_utf8_lossy(other)
                ))),
            }
        })
        .await
    }

    /// Starts following the device list (`host:track-devices-l`): read lists with
    /// [`read_devices`].
    pub(crate) async fn track_devices(&self) -> Result<TcpStream, AdbError> {
        let mut s = self.connect().await?;
        self.request(&mut s, "host:track-devices-l").await?;
        Ok(s)
    }

    /// A connection to a service on device `serial` (`shell:…`, `sync:`, `localabstract:…`).
    pub(crate) async fn open(&self, serial: &str, service: &str) -> Result<TcpStream, AdbError> {
        let mut s = self.connect().await?;
        self.request(&mut s, &format!("host:transport:{serial}"))
            .await?;
        self.request(&mut s, service).await?;
        Ok(s)
    }

    /// Asks the ADB server to connect to a headset over Wi-Fi (`adb connect host:port`); its
    /// answer: `connected to …`, `already connected to …` or `failed to connect to …`.
    pub(crate) async fn connect_wireless(&self, address: &str) -> Result<String, AdbError> {
        let mut s = self.connect().await?;
        self.request(&mut s, &format!("host:connect:{address}"))
            .await?;
        self.within(read_string(&mut s)).await
    }

    /// Runs a command on device `serial` and returns what it printed (at most `max` bytes).
    pub(crate) async fn shell_output(
        &self,
        serial: &str,
        command: &str,
        max: usize,
    ) -> Result<String, AdbError> {
        let mut s = self.open(serial, &format!("shell:{command}")).await?;
        let mut out = Vec::new();
        self.within(async {
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await?;
                if n == 0 || out.len() >= max {
                    return Ok(());
                }
                out.extend_from_slice(&chunk[..n.min(max - out.len())]);
            }
        })
        .await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Copies `bytes` to `path` on device `serial` (`sync:` SEND, regular file 0644).
    pub(crate) async fn push(
        &self,
        serial: &str,
        bytes: &[u8],
        path: &str,
    ) -> Result<(), AdbError> {
        let mut s = self.open(serial, "sync:").await?;
        self.within(async {
            let target = format!("{path},{}", 0o100_644);
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8192 + 64);
            sync_header(&mut out, b"SEND", target.len());
            out.extend_from_slice(target.as_bytes());
            for chunk in bytes.chunks(64 * 1024) {
                sync_header(&mut out, b"DATA", chunk.len());
                out.extend_from_slice(chunk);
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            sync_header(&mut out, b"DONE", usize::try_from(now).unwrap_or(0));
            s.write_all(&out).await?;
            let mut reply = [0u8; 8];
            s.read_exact(&mut reply).await?;
            if &reply[..4] != b"OKAY" {
                let len = u32::from_le_bytes([reply[4], reply[5], reply[6], reply[7]]) as usize;
                let mut why = vec![0u8; len.min(4096)];
                s.read_exact(&mut why).await?;
                return Err(AdbError::Refused(
                    String::from_utf8_lossy(&why).into_owned(),
                ));
            }
            let mut quit = Vec::new();
            sync_header(&mut quit, b"QUIT", 0);
            let _ = s.write_all(&quit).await;
            Ok(())
        })
        .await
    }
}

fn sync_header(out: &mut Vec<u8>, id: &[u8; 4], value: usize) {
    out.extend_from_slice(id);
    out.extend_from_slice(&u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes());
}

/// A length-prefixed string (4 hex digits, then the text).
async fn read_string(stream: &mut TcpStream) -> Result<String, AdbError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = usize::from_str_radix(&String::from_utf8_lossy(&len), 16)
        .map_err(|_| AdbError::Broken(format!("length {:?}", String::from_utf8_lossy(&len))))?;
    let mut text = vec![0u8; len];
    stream.read_exact(&mut text).await?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The next device list of a [`Adb::track_devices`] connection (no deadline: lists come when
/// devices change).
pub(crate) async fn read_devices(stream: &mut TcpStream) -> Result<Vec<Listed>, AdbError> {
    Ok(parse_devices(&read_string(stream).await?))
}

/// A device list in its long form: `<serial> <state> [usb:…] product:… model:… device:…
/// transport_id:…`, one per line. The state may hold spaces (`no permissions (…)`).
pub(crate) fn parse_devices(text: &str) -> Vec<Listed> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let serial = words.next()?.to_string();
            let rest: Vec<&str> = words.collect();
            let model = rest
                .iter()
                .find_map(|w| w.strip_prefix("model:"))
                .map(str::to_string);
            let state = rest
                .iter()
                .filter(|w| !w.contains(':'))
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            Some(Listed {
                serial,
                state: if state.is_empty() {
                    "unknown".into()
                } else {
                    state
                },
                model,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_in_the_long_form() {
        let text = "192.168.1.50:5555      device product:eureka model:Quest_3 device:eureka transport_id:3\n\
                    1WMHH000000000         unauthorized usb:1-1 transport_id:4\n\
                    ABC                    no permissions (user in plugdev group) usb:2-1 transport_id:5\n";
        let devices = parse_devices(text);
        assert_eq!(devices.len(), 3);
        assert_eq!(devices[0].serial, "192.168.1.50:5555");
        assert_eq!(devices[0].state, "device");
        assert_eq!(devices[0].model.as_deref(), Some("Quest_3"));
        assert_eq!(devices[1].state, "unauthorized");
        assert_eq!(devices[1].model, None);
        assert!(
            devices[2].state.starts_with("no permissions"),
            "{:?}",
            devices[2]
        );
        assert!(parse_devices("").is_empty());
    }
}
