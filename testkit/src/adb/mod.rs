//! A stand-in ADB server with stand-in headsets, for the relay's screen mirroring tests.
//!
//! The relay mirrors headset screens through the Google ADB server on 127.0.0.1:5037: it tracks
//! the devices, pushes scrcpy's server onto each headset, starts it with `adb shell`, and reads the
//! video from `localabstract:scrcpy_<scid>` (`/work/notes/mirror-spec.md` §1-§3). No headset, and
//! no real ADB server with its USB and TCP devices, can take part in a test, so [`FakeAdb`] speaks
//! that protocol itself on an ephemeral port, with [`FakeDevice`]s a test adds, removes and
//! changes while the relay runs:
//!
//! * host services (`host`): version `0029` (so that a real `adb` client never kills and restarts
//!   the server), device lists and tracking, an empty feature list (every client then keeps to the
//!   v1 shell and v1 sync), transport switches with real adb's error texts;
//! * device services (`device`, `sync`): a v1 shell that knows a few commands, `sync:` push and
//!   stat kept in memory per device, `localabstract:` sockets;
//! * an emulated scrcpy server (`scrcpy`, `stream`), started by scrcpy's `app_process` command
//!   line: it checks the pushed jar and the version as the real one does, then streams the
//!   device's [`Sample`] in 3.x or 4.x framing;
//! * failure injection (a device that vanishes or changes state, a stalled or corrupt stream, a
//!   server that accepts and never answers) and counters to assert on.
//!
//! `tests/fake_adb.rs` checks it against Debian's real `adb` client (29.0.6).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::h264::Sample;

mod device;
mod host;
mod scrcpy;
mod stream;
mod sync;
mod wire;

/// scrcpy's jar path on the device, where the relay pushes it and `CLASSPATH` points.
pub const SCRCPY_JAR: &str = "/data/local/tmp/scrcpy-server.jar";

/// Where Debian's `adb` package installs the client.
const ADB_PROGRAM: &str = "/usr/bin/adb";

/// Debian's real `adb` client, or what is missing (for [`crate::prereq::require`]). Point it at
/// a [`FakeAdb`] with `ANDROID_ADB_SERVER_PORT` set on the child process only, so that nothing
/// reaches a real ADB server on 5037.
pub fn adb_program_or_missing() -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(ADB_PROGRAM);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{ADB_PROGRAM} is missing (Debian package adb)"))
    }
}

/// One stand-in headset.
#[derive(Debug, Clone)]
pub struct FakeDevice {
    /// ADB serial, e.g. `192.168.1.50:5555` for a headset on Wi-Fi.
    pub serial: String,
    /// ADB connection state: `device` (ready), `unauthorized`, `offline`, `authorizing`…
    pub state: String,
    /// `model:` in `host:devices-l` (sanitized there to `[A-Za-z0-9_]`), e.g. `Quest_3`.
    pub model: String,
    /// `product:` in `host:devices-l`, e.g. `eureka`.
    pub product: String,
    /// `device:` in `host:devices-l`, e.g. `eureka`.
    pub device: String,
    /// `Build.MODEL`: the device name scrcpy sends in its 64-byte meta, e.g. `Quest 3`.
    pub name: String,
    /// `Build.MANUFACTURER`, in the server's `Device:` log line, e.g. `Meta`.
    pub manufacturer: String,
    /// Android release, in the server's `Device:` log line and `getprop`, e.g. `14`.
    pub android: String,
    /// The version the installed scrcpy server reports (`3.3.4` → 3.x framing, `4.1` → 4.x):
    /// `app_process` fails unless the client passes exactly this.
    pub scrcpy_version: String,
    /// What the emulated server streams, looped.
    pub picture: Sample,
    /// Time `app_process` takes before the server checks its arguments and listens (a real one
    /// takes 0.5-1 s). Meanwhile `localabstract:scrcpy_…` answers `FAIL0006closed`. Default 50 ms.
    pub start_delay: Duration,
    /// Its Wi-Fi address, as `ip -f inet addr show wlan0` prints it (none: no Wi-Fi).
    pub wlan_address: Option<std::net::Ipv4Addr>,
    /// A headset that reports its display turned: scrcpy's `crop=W:H:…` comes out W×H (taller
    /// than wide for a Quest's one-eye crop) instead of a Quest's usual H×W.
    pub display_turned: bool,
}

impl FakeDevice {
    /// A ready Meta Quest 3 (`device` state, scrcpy 3.3.4, [`Sample::dummy`] picture).
    pub fn quest3(serial: &str) -> FakeDevice {
        FakeDevice {
            serial: serial.to_string(),
            state: "device".to_string(),
            model: "Quest_3".to_string(),
            product: "eureka".to_string(),
            device: "eureka".to_string(),
            name: "Quest 3".to_string(),
            manufacturer: "Meta".to_string(),
            android: "14".to_string(),
            scrcpy_version: "3.3.4".to_string(),
            picture: Sample::dummy(),
            start_delay: Duration::from_millis(50),
            wlan_address: None,
            display_turned: false,
        }
    }

    /// This device in ADB state `state`.
    pub fn with_state(mut self, state: &str) -> FakeDevice {
        self.state = state.to_string();
        self
    }

    /// This device with scrcpy server version `version` installed (`3.3.4`, `4.1`…).
    pub fn with_scrcpy_version(mut self, version: &str) -> FakeDevice {
        self.scrcpy_version = version.to_string();
        self
    }

    /// This device streaming `picture`.
    pub fn with_picture(mut self, picture: Sample) -> FakeDevice {
        self.picture = picture;
        self
    }

    /// This device on Wi-Fi at `address` (what `ip -f inet addr show wlan0` says).
    pub fn with_wlan_address(mut self, address: std::net::Ipv4Addr) -> FakeDevice {
        self.wlan_address = Some(address);
        self
    }

    /// This device reporting its display turned (see [`FakeDevice::display_turned`]).
    pub fn with_display_turned(mut self) -> FakeDevice {
        self.display_turned = true;
        self
    }

    /// This device with `start_delay` before its scrcpy server listens.
    pub fn with_start_delay(mut self, start_delay: Duration) -> FakeDevice {
        self.start_delay = start_delay;
        self
    }
}

/// A file pushed to a device with `sync:` `SEND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedFile {
    /// Its bytes.
    pub data: Vec<u8>,
    /// The mode the client sent (`st_mode`, e.g. 33188 = 0o100644).
    pub mode: u32,
    /// The mtime the client sent with `DONE` (epoch seconds).
    pub mtime: u32,
}

/// One start of the emulated scrcpy server (its `app_process` command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrcpyStart {
    /// The client version argument (must equal [`FakeDevice::scrcpy_version`]).
    pub version: String,
    /// `CLASSPATH`, the jar the server ran from.
    pub classpath: String,
    /// Every `key=value` argument.
    pub options: BTreeMap<String, String>,
    /// The whole shell command.
    pub command: String,
}

impl ScrcpyStart {
    /// The value of option `key`, if it was given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// The garbage [`FakeAdb::malformed_with`] writes in place of a packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Garbage {
    /// PTS and flags 0, size 0 (scrcpy never sends an empty packet).
    #[default]
    ZeroSize,
    /// PTS and flags 0, size 0xFFFFFFFF (4 GiB: a reader that trusts it waits forever or
    /// allocates it).
    HugeSize,
}

/// What the tests can observe of one serial (kept when the device is removed and added again).
#[derive(Debug)]
struct PerSerial {
    files: BTreeMap<String, PushedFile>,
    servers_started: usize,
    last_start: Option<ScrcpyStart>,
    bytes_written: u64,
    resets: usize,
    /// While true, the device's streams write nothing.
    stalled: watch::Sender<bool>,
    garbage: Option<Garbage>,
}

impl Default for PerSerial {
    fn default() -> Self {
        PerSerial {
            files: BTreeMap::new(),
            servers_started: 0,
            last_start: None,
            bytes_written: 0,
            resets: 0,
            stalled: watch::channel(false).0,
            garbage: None,
        }
    }
}

/// A device in the list.
struct Slot {
    device: FakeDevice,
    transport_id: u64,
    /// Dropped (replaced) when the device's connections are to be cut: they watch it close.
    link: watch::Sender<()>,
    /// Its running emulated scrcpy servers.
    servers: Vec<scrcpy::ServerEntry>,
}

#[derive(Default)]
struct State {
    devices: Vec<Slot>,
    /// Headsets on Wi-Fi the server is not connected to yet, by `ip:port` (`host:connect`).
    reachable: HashMap<String, FakeDevice>,
    serials: HashMap<String, PerSerial>,
    requests: Vec<String>,
}

/// Shared by the [`FakeAdb`] handle and every task it runs.
struct Inner {
    addr: SocketAddr,
    state: Mutex<State>,
    /// Bumped on every change of what `host:track-devices-l` would list.
    devices_changed: watch::Sender<u64>,
    /// True once the [`FakeAdb`] is dropped: every task ends.
    shutdown: watch::Sender<bool>,
    hung: AtomicBool,
    next_id: AtomicU64,
    open_connections: AtomicUsize,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave this plain data inconsistent enough to
        // matter for a test double: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn log_request(&self, request: &str) {
        self.lock().requests.push(request.to_string());
    }

    fn list_changed(&self) {
        self.devices_changed.send_modify(|v| *v += 1);
    }

    /// `host:connect:<address>` (port 5555 when none), answered in real adb's words.
    fn connect(&self, address: &str) -> String {
        let address = if address.contains(':') {
            address.to_string()
        } else {
            format!("{address}:5555")
        };
        let mut st = self.lock();
        if st.slot(&address).is_some() {
            return format!("already connected to {address}");
        }
        let Some(device) = st.reachable.remove(&address) else {
            return format!("failed to connect to '{address}': Connection refused");
        };
        st.serial(&device.serial);
        st.devices.push(Slot {
            device,
            transport_id: self.next_id(),
            link: watch::channel(()).0,
            servers: Vec::new(),
        });
        drop(st);
        self.list_changed();
        format!("connected to {address}")
    }
}

impl State {
    fn slot(&self, serial: &str) -> Option<&Slot> {
        self.devices.iter().find(|s| s.device.serial == serial)
    }

    fn slot_mut(&mut self, serial: &str) -> Option<&mut Slot> {
        self.devices.iter_mut().find(|s| s.device.serial == serial)
    }

    fn serial(&mut self, serial: &str) -> &mut PerSerial {
        self.serials.entry(serial.to_string()).or_default()
    }
}

impl Slot {
    /// Cuts every connection to the device (they see their link close) and forgets its servers.
    fn cut(&mut self) {
        self.link = watch::channel(()).0;
        self.servers.clear();
    }
}

/// Stops everything when the last [`FakeAdb`] handle is dropped.
struct ShutdownGuard {
    inner: Arc<Inner>,
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
        let task = self
            .inner
            .accept_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
        }
    }
}

/// The stand-in ADB server (see the module doc). Cloning gives another handle to the same
/// server; it stops, cutting every connection, when the last handle is dropped.
#[derive(Clone)]
pub struct FakeAdb {
    inner: Arc<Inner>,
    _guard: Arc<ShutdownGuard>,
}

impl std::fmt::Debug for FakeAdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAdb")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl FakeAdb {
    /// Starts a server with no device on 127.0.0.1, on a port of the system's choosing.
    pub async fn start() -> anyhow::Result<FakeAdb> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("fake-adb: cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            addr,
            state: Mutex::new(State::default()),
            devices_changed: watch::channel(0).0,
            shutdown: watch::channel(false).0,
            hung: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            open_connections: AtomicUsize::new(0),
            accept_task: Mutex::new(None),
        });
        let task = tokio::spawn(host::accept_loop(Arc::clone(&inner), listener));
        *inner.accept_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        tracing::debug!("fake-adb listening on {addr}");
        Ok(FakeAdb {
            _guard: Arc::new(ShutdownGuard {
                inner: Arc::clone(&inner),
            }),
            inner,
        })
    }

    /// The listening address (for the relay's `mirror.adb_server`).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The listening port (for `ANDROID_ADB_SERVER_PORT` or `adb -P`).
    pub fn port(&self) -> u16 {
        self.inner.addr.port()
    }

    /// Adds `device` at the end of the list with a new transport id; one already there with the
    /// same serial is removed first (its connections cut).
    pub fn add_device(&self, device: FakeDevice) {
        let mut st = self.inner.lock();
        st.devices.retain(|s| s.device.serial != device.serial);
        st.serial(&device.serial);
        st.devices.push(Slot {
            device,
            transport_id: self.inner.next_id(),
            link: watch::channel(()).0,
            servers: Vec::new(),
        });
        drop(st);
        self.inner.list_changed();
    }

    /// A headset on Wi-Fi, its wireless ADB on at `device.serial` (`ip:port`), that the server
    /// lists once asked to connect to it (`host:connect:ip:port`, as `adb connect`).
    pub fn add_reachable(&self, device: FakeDevice) {
        let mut st = self.inner.lock();
        st.reachable.insert(device.serial.clone(), device);
    }

    /// Removes the device: it leaves the lists, and every connection to it (shell, sync, video,
    /// control) is closed at once, mid-packet if need be. False if there was none.
    pub fn remove_device(&self, serial: &str) -> bool {
        let mut st = self.inner.lock();
        let before = st.devices.len();
        st.devices.retain(|s| s.device.serial != serial);
        let removed = st.devices.len() != before;
        drop(st);
        if removed {
            self.inner.list_changed();
        }
        removed
    }

    /// Sets the device's ADB state (`device`, `unauthorized`, `offline`…). Leaving `device` cuts
    /// its connections, as a real transport going away does. False if there is no such device.
    pub fn set_state(&self, serial: &str, state: &str) -> bool {
        self.update_device(serial, |d| d.state = state.to_string())
    }

    /// Sets the scrcpy server version installed on the device (used by the next start).
    pub fn set_scrcpy_version(&self, serial: &str, version: &str) -> bool {
        self.update_device(serial, |d| d.scrcpy_version = version.to_string())
    }

    /// Changes the device with `change` (its serial stays). Its connections are cut if it leaves
    /// the `device` state; running servers keep their picture. False if there is no such device.
    pub fn update_device(&self, serial: &str, change: impl FnOnce(&mut FakeDevice)) -> bool {
        let mut st = self.inner.lock();
        let Some(slot) = st.slot_mut(serial) else {
            return false;
        };
        let was_ready = slot.device.state == "device";
        change(&mut slot.device);
        slot.device.serial = serial.to_string();
        if was_ready && slot.device.state != "device" {
            slot.cut();
        }
        drop(st);
        self.inner.list_changed();
        true
    }

    /// The devices, in list order.
    pub fn devices(&self) -> Vec<FakeDevice> {
        let st = self.inner.lock();
        st.devices.iter().map(|s| s.device.clone()).collect()
    }

    /// The device's transport id (what `host:tport:*` answers).
    pub fn transport_id(&self, serial: &str) -> Option<u64> {
        self.inner.lock().slot(serial).map(|s| s.transport_id)
    }

    /// The device's streams stop writing (their sockets stay open) until [`FakeAdb::resume`].
    /// Also applies to streams started later.
    pub fn stall(&self, serial: &str) {
        self.inner.lock().serial(serial).stalled.send_replace(true);
    }

    /// Ends [`FakeAdb::stall`]: the streams go on where they stopped.
    pub fn resume(&self, serial: &str) {
        self.inner.lock().serial(serial).stalled.send_replace(false);
    }

    /// The next packet header the device's streams write is [`Garbage::ZeroSize`] instead.
    pub fn malformed(&self, serial: &str) {
        self.malformed_with(serial, Garbage::ZeroSize);
    }

    /// The next packet header the device's streams write is `garbage` instead (the payload
    /// follows as usual, then the stream goes on).
    pub fn malformed_with(&self, serial: &str, garbage: Garbage) {
        self.inner.lock().serial(serial).garbage = Some(garbage);
    }

    /// From now on the server accepts connections and never answers (nor closes them), to test
    /// deadlines. Connections already open go on.
    pub fn hang(&self) {
        self.inner.hung.store(true, Ordering::SeqCst);
    }

    /// Ends [`FakeAdb::hang`] for new connections.
    pub fn unhang(&self) {
        self.inner.hung.store(false, Ordering::SeqCst);
    }

    /// How many times the emulated scrcpy server started on the device (arguments accepted).
    pub fn servers_started(&self, serial: &str) -> usize {
        self.inner.lock().serial(serial).servers_started
    }

    /// How many emulated scrcpy servers run on the device now.
    pub fn servers_running(&self, serial: &str) -> usize {
        self.inner
            .lock()
            .slot(serial)
            .map_or(0, |s| s.servers.len())
    }

    /// The last accepted start of the emulated scrcpy server on the device.
    pub fn last_start(&self, serial: &str) -> Option<ScrcpyStart> {
        self.inner.lock().serial(serial).last_start.clone()
    }

    /// Bytes the device's emulated servers wrote to their video sockets, all starts together.
    pub fn bytes_written(&self, serial: &str) -> u64 {
        self.inner.lock().serial(serial).bytes_written
    }

    /// How many `RESET_VIDEO` control messages the device's servers received.
    pub fn resets(&self, serial: &str) -> usize {
        self.inner.lock().serial(serial).resets
    }

    /// The file at `path` on the device (pushed, or put there with [`FakeAdb::put_file`]).
    pub fn file(&self, serial: &str, path: &str) -> Option<PushedFile> {
        self.inner.lock().serial(serial).files.get(path).cloned()
    }

    /// Puts a file on the device as if it had been pushed (mode 0o100644).
    pub fn put_file(&self, serial: &str, path: &str, data: &[u8]) {
        let file = PushedFile {
            data: data.to_vec(),
            mode: 0o100644,
            mtime: 0,
        };
        self.inner
            .lock()
            .serial(serial)
            .files
            .insert(path.to_string(), file);
    }

    /// Every request received so far, in order: host requests (`host:version`…) and, after a
    /// transport switch, device requests (`shell:…`, `sync:`, `localabstract:…`).
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().requests.clone()
    }

    /// Connections open now (host, tracking, shell, sync, video, control…).
    pub fn open_connections(&self) -> usize {
        self.inner.open_connections.load(Ordering::SeqCst)
    }

    /// Waits until `cond` holds (checked every 10 ms), or fails after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&FakeAdb) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !cond(self) {
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("fake-adb: condition not met within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}
