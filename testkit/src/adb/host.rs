//! Host services: what the ADB server answers itself (mirror-spec §1.2, `adb.cpp`
//! `handle_host_request`, `transport.cpp` `acquire_one_transport`).
//!
//! One request per connection. One-shot services (`host:version`, `host:devices*`, `*:features`,
//! `*:get-state`, `host:kill`, failures) reply and close: the real client waits for EOF after
//! reading them. `host:track-devices*` keeps the connection and sends the whole list at once and
//! on every change. A transport switch (`host:transport:…`, `host:tport:…`) hands the connection
//! to the device (`device`), which reads the next request.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::device::{self, DeviceConn};
use super::{Inner, State, wire};

/// `ADB_SERVER_VERSION` 41 as the host protocol writes it. Any other answer makes the real client
/// kill the server and start its own.
const SERVER_VERSION: &str = "0029";

/// Accepts connections until the [`super::FakeAdb`] is dropped.
pub(super) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(Arc::clone(&inner), stream));
            }
            Err(e) => {
                tracing::debug!("fake-adb: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Counts a connection as open while it lives.
pub(super) struct OpenGuard(Arc<Inner>);

impl OpenGuard {
    /// Counts one more open connection.
    pub(super) fn new(inner: &Arc<Inner>) -> OpenGuard {
        inner.open_connections.fetch_add(1, Ordering::SeqCst);
        OpenGuard(Arc::clone(inner))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one connection until it ends or the server shuts down.
async fn serve(inner: Arc<Inner>, stream: TcpStream) {
    let _open = OpenGuard::new(&inner);
    let mut shutdown = inner.shutdown.subscribe();
    tokio::select! {
        _ = shutdown.wait_for(|down| *down) => {}
        result = handle(Arc::clone(&inner), stream) => {
            if let Err(e) = result {
                tracing::debug!("fake-adb: connection ended: {e:#}");
            }
        }
    }
}

/// What to do with a host request, decided under the lock.
enum Plan {
    /// Write these bytes, then close.
    Reply(Vec<u8>),
    /// Keep sending the device list.
    Track { long: bool },
    /// `OKAY` (with the 8-byte transport id for `tport`), then serve the device.
    Switch { conn: DeviceConn, send_id: bool },
    /// `host:connect:<address>`: connect to a headset on Wi-Fi, then say how it went.
    Connect(String),
}

async fn handle(inner: Arc<Inner>, mut stream: TcpStream) -> anyhow::Result<()> {
    if inner.hung.load(Ordering::SeqCst) {
        return swallow(stream).await;
    }
    let Some(request) = wire::read_request(&mut stream).await? else {
        return Ok(());
    };
    inner.log_request(&request);
    match plan(&inner, &request) {
        Plan::Reply(bytes) => {
            stream.write_all(&bytes).await?;
            stream.shutdown().await?;
            Ok(())
        }
        Plan::Track { long } => track(&inner, stream, long).await,
        Plan::Connect(address) => {
            let answer = inner.connect(&address);
            stream.write_all(&wire::okay_string(&answer)).await?;
            stream.shutdown().await?;
            Ok(())
        }
        Plan::Switch { conn, send_id } => {
            let mut okay = b"OKAY".to_vec();
            if send_id {
                okay.extend_from_slice(&conn.transport_id.to_le_bytes());
            }
            stream.write_all(&okay).await?;
            device::serve(conn, stream).await
        }
    }
}

/// Reads and drops everything until the peer closes: a server that never answers.
async fn swallow(mut stream: TcpStream) -> anyhow::Result<()> {
    let mut buf = [0u8; 1024];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// How a request picks its device.
enum Selector<'a> {
    Serial(&'a str),
    Any,
    Id(u64),
}

fn plan(inner: &Arc<Inner>, request: &str) -> Plan {
    let st = inner.lock();
    let reply = |r: Result<String, String>| match r {
        Ok(text) => Plan::Reply(wire::okay_string(&text)),
        Err(message) => Plan::Reply(wire::fail(&message)),
    };
    let switch = |sel: Selector, send_id: bool| match acquire(&st, sel) {
        Ok((serial, transport_id, link)) => Plan::Switch {
            conn: DeviceConn {
                inner: Arc::clone(inner),
                serial,
                transport_id,
                link,
            },
            send_id,
        },
        Err(message) => Plan::Reply(wire::fail(&message)),
    };
    match request {
        "host:version" => reply(Ok(SERVER_VERSION.to_string())),
        "host:devices" => reply(Ok(device_list(&st, false))),
        "host:devices-l" => reply(Ok(device_list(&st, true))),
        "host:track-devices" => Plan::Track { long: false },
        "host:track-devices-l" => Plan::Track { long: true },
        "host:host-features" => reply(Ok(String::new())),
        "host:kill" => Plan::Reply(b"OKAY".to_vec()),
        "host:features" => reply(acquire(&st, Selector::Any).map(|_| String::new())),
        "host:get-state" => reply(state_of(&st, Selector::Any)),
        "host:transport-any" => switch(Selector::Any, false),
        "host:tport:any" => switch(Selector::Any, true),
        _ => {
            if let Some(address) = request.strip_prefix("host:connect:") {
                Plan::Connect(address.to_string())
            } else if let Some(serial) = request.strip_prefix("host:transport:") {
                switch(Selector::Serial(serial), false)
            } else if let Some(serial) = request.strip_prefix("host:tport:serial:") {
                switch(Selector::Serial(serial), true)
            } else if let Some(id) = request.strip_prefix("host:transport-id:") {
                switch(Selector::Id(id.parse().unwrap_or(0)), false)
            } else if let Some(id) = request.strip_prefix("host:tport:id:") {
                switch(Selector::Id(id.parse().unwrap_or(0)), true)
            } else if let Some(rest) = request.strip_prefix("host-serial:") {
                // The serial may hold colons (`ip:port`); the command is after the last one.
                match rest.rsplit_once(':') {
                    Some((serial, "features")) => {
                        reply(acquire(&st, Selector::Serial(serial)).map(|_| String::new()))
                    }
                    Some((serial, "get-state")) => reply(state_of(&st, Selector::Serial(serial))),
                    _ => reply(Err("unknown host service".to_string())),
                }
            } else {
                reply(Err("unknown host service".to_string()))
            }
        }
    }
}

/// The one device `sel` names, ready for a transport: its serial, transport id and link; or real
/// adb's error text.
fn acquire(
    st: &State,
    sel: Selector,
) -> Result<(String, u64, tokio::sync::watch::Receiver<()>), String> {
    let slot = find(st, sel)?;
    match slot.device.state.as_str() {
        "device" => Ok((
            slot.device.serial.clone(),
            slot.transport_id,
            slot.link.subscribe(),
        )),
        "unauthorized" => Err(concat!(
            "device unauthorized.\n",
            "This adb server's $ADB_VENDOR_KEYS is not set\n",
            "Try 'adb kill-server' if that seems wrong.\n",
            "Otherwise check for a confirmation dialog on your device."
        )
        .to_string()),
        "authorizing" => Err("device still authorizing".to_string()),
        _ => Err("device offline".to_string()),
    }
}

/// The device `sel` names, whatever its state.
fn find<'a>(st: &'a State, sel: Selector) -> Result<&'a super::Slot, String> {
    match sel {
        Selector::Serial(serial) => st
            .slot(serial)
            .ok_or_else(|| format!("device '{serial}' not found")),
        Selector::Id(id) => st
            .devices
            .iter()
            .find(|s| s.transport_id == id)
            .ok_or_else(|| format!("no device with transport id '{id}'")),
        Selector::Any => match st.devices.as_slice() {
            [] => Err("no devices/emulators found".to_string()),
            [one] => Ok(one),
            _ => Err("more than one device/emulator".to_string()),
        },
    }
}

/// `get-state`: the state of the device `sel` names.
fn state_of(st: &State, sel: Selector) -> Result<String, String> {
    find(st, sel).map(|slot| slot.device.state.clone())
}

fn device_list(st: &State, long: bool) -> String {
    st.devices
        .iter()
        .map(|s| wire::device_line(&s.device, s.transport_id, long))
        .collect()
}

/// `host:track-devices(-l)`: `OKAY`, the list, then the list again whenever it changes, until the
/// client closes.
async fn track(inner: &Arc<Inner>, stream: TcpStream, long: bool) -> anyhow::Result<()> {
    let (mut rd, mut wr) = stream.into_split();
    let mut changed = inner.devices_changed.subscribe();
    wr.write_all(b"OKAY").await?;
    let mut last: Option<String> = None;
    let mut buf = [0u8; 256];
    loop {
        let list = device_list(&inner.lock(), long);
        if last.as_deref() != Some(list.as_str()) {
            wr.write_all(&wire::hex_string(&list)).await?;
            last = Some(list);
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { return Ok(()) },
            n = rd.read(&mut buf) => if !matches!(n, Ok(n) if n > 0) { return Ok(()) },
        }
    }
}
