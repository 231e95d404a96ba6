//! Headset screens: what each headset shows, for the admin page and the projector (`/screens`).
//!
//! It uses what the teacher installed: the ADB server of Android's platform-tools (on
//! `mirror.adb_server`), which knows the headsets plugged in or connected over Wi-Fi, and scrcpy's
//! server file, which the relay pushes to a headset and starts there when someone wants to see its
//! screen. Without them, or with `mirror.enabled = false`, the relay runs exactly as without this
//! module, and the page says in one line what to install.
//!
//! The parts: [`adb`] (the ADB server's protocol, every step under a deadline), [`scrcpy`] (the
//! server file, its version, its start command), [`framing`] (its video stream, in the 3.x and
//! 4.x framings), [`h264`] (the codec and size a browser's decoder needs), [`device`] (one headset's
//! stream while watched) and [`fanout`] (its packets to each watcher, each at its own pace).
//! Nothing here can slow relaying: its own tasks, bounded queues, deadlines, and each failure
//! logged once and kept to its headset.

pub(crate) mod adb;
mod device;
pub(crate) mod fanout;
pub(crate) mod framing;
pub(crate) mod h264;
pub(crate) mod scrcpy;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use crate::config::MirrorConfig;
use crate::control::said::{Code, Said};
use crate::support::changes::Changes;
use crate::support::pace::Backoff;
use adb::{Adb, AdbError, Listed};
use fanout::{Fanout, Viewer};

/// Why a headset's screen cannot be shown.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum MirrorError {
    /// `mirror.enabled = false`.
    #[error("headset screens are turned off (mirror.enabled)")]
    Off,
    /// No scrcpy server file.
    #[error(
        "scrcpy is not installed: its server file was not found (install scrcpy, or set mirror.scrcpy_server)"
    )]
    NoServer,
    /// The server file cannot be read.
    #[error("cannot read scrcpy's server file {0}: {1}")]
    ServerFile(PathBuf, String),
    /// The server's version is not one this relay reads.
    #[error("scrcpy {0} is not supported (versions 3 and 4 are)")]
    Version(String),
    /// The server's version could not be found out.
    #[error("cannot tell the version of scrcpy's server file (set mirror.scrcpy_version): {0}")]
    UnknownVersion(String),
    /// The ADB server failed while the server file's version was asked.
    #[error("cannot ask the headset for scrcpy's version: {0}")]
    Probe(String),
    /// No such headset, or not usable now.
    #[error("no headset {0} ready for its screen (ADB lists it as {1})")]
    NoDevice(String, String),
}

impl MirrorError {
    /// The page's name for it (README, "Headset screens").
    pub(crate) fn code(&self) -> Code {
        match self {
            MirrorError::Off => Code::MirrorOff,
            MirrorError::NoServer | MirrorError::ServerFile(..) => Code::ScrcpyMissing,
            MirrorError::Version(_) | MirrorError::UnknownVersion(_) => Code::ScrcpyVersion,
            MirrorError::NoDevice(..) => Code::NoDevice,
            MirrorError::Probe(_) => Code::Failed,
        }
    }
}

/// A headset as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenDevice {
    /// ADB's serial (`192.168.1.50:5555` over Wi-Fi).
    pub serial: String,
    /// Its model (`Quest_3`), when known.
    pub model: Option<String>,
    /// ADB's state: `device` (ready), `unauthorized` (accept USB debugging in the headset)…
    pub state: String,
    /// Its network address, when known.
    pub address: Option<String>,
    /// The player connected from that address, if one is.
    pub player: Option<String>,
    /// Whether its screen is being streamed now.
    pub streaming: bool,
    /// The picture's width, once known.
    pub width: Option<u32>,
    /// The picture's height, once known.
    pub height: Option<u32>,
}

/// Headset screens, for the page (`GET /api/state` and `GET /api/screens`).
#[derive(Debug, Clone, Serialize)]
pub struct ScreensView {
    /// `mirror.enabled`.
    pub enabled: bool,
    /// Why screens cannot be shown now (what to install), if they cannot.
    pub unavailable: Option<Said>,
    /// The headsets the ADB server knows.
    pub devices: Vec<ScreenDevice>,
    /// The headset enlarged on the projector page.
    pub focus: Option<String>,
}

#[derive(Debug, Default)]
struct Device {
    listed: Option<Listed>,
    address: Option<IpAddr>,
    fanout: Option<Arc<Fanout>>,
    stop: Option<CancellationToken>,
    /// Its display is reported turned: the crop's width and height are swapped.
    turned: bool,
}

#[derive(Debug, Default)]
struct State {
    devices: BTreeMap<String, Device>,
    /// Why the ADB server cannot be used, if it cannot.
    adb_problem: Option<Said>,
    /// scrcpy's server file is not where it should be.
    server_missing: bool,
    focus: Option<String>,
    /// The server file and its version, once found out.
    server: Option<(PathBuf, String)>,
    /// When the ADB server was last asked to connect to each Wi-Fi address.
    asked: HashMap<SocketAddr, Instant>,
}

/// Port of a Quest's wireless ADB (`adb tcpip 5555`).
const WIRELESS_PORT: u16 = 5555;
/// Between two rounds of Wi-Fi connections.
const CONNECT_ROUND: Duration = Duration::from_secs(5);
/// Before the same address is tried again.
const CONNECT_AGAIN: Duration = Duration::from_secs(30);

/// A headset's Wi-Fi ADB address from a setting: `192.168.1.50` (port 5555) or
/// `192.168.1.50:5555`; quotes and spaces around it are ignored, as the webplatform did.
pub(crate) fn wireless_address(text: &str) -> Option<SocketAddr> {
    let text = text.trim().trim_matches(['"', '\'']).trim();
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| Some(SocketAddr::new(text.parse().ok()?, WIRELESS_PORT)))
}

struct Inner {
    config: MirrorConfig,
    adb: Adb,
    state: Mutex<State>,
    changes: Changes,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// One version probe at a time.
    probing: tokio::sync::Mutex<()>,
}

/// Handle to the headset screens; cheap to clone.
#[derive(Clone)]
pub(crate) struct Mirror {
    inner: Arc<Inner>,
}

impl Mirror {
    /// The screens of `config`, not yet following the headsets ([`Mirror::start`]).
    pub(crate) fn new(
        config: MirrorConfig,
        changes: Changes,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let adb = Adb {
            address: config.adb_server.clone(),
            step: Duration::from_millis(config.step_timeout_ms),
        };
        Mirror {
            inner: Arc::new(Inner {
                config,
                adb,
                state: Mutex::default(),
                changes,
                shutdown,
                tracker,
                probing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub(super) fn config(&self) -> &MirrorConfig {
        &self.inner.config
    }

    pub(super) fn adb(&self) -> Adb {
        self.inner.adb.clone()
    }

    /// Follows the headsets the ADB server knows, until shutdown, and has it connect to those on
    /// Wi-Fi: `mirror.headsets`, and with `mirror.connect_players` the addresses
    /// `headset_addresses` gives (the headsets connected to the relay).
    pub(crate) fn start(&self, headset_addresses: impl Fn() -> Vec<IpAddr> + Send + 'static) {
        if !self.inner.config.enabled {
            return;
        }
        let this = self.clone();
        self.inner.tracker.spawn(async move {
            let shutdown = this.inner.shutdown.clone();
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = this.follow_devices() => {}
            }
            this.stop_all();
        });
        let this = self.clone();
        self.inner.tracker.spawn(async move {
            let shutdown = this.inner.shutdown.clone();
            let mut round = tokio::time::interval(CONNECT_ROUND);
            round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = round.tick() => this.connect_wireless(&headset_addresses()),
                }
            }
        });
    }

    /// One round: the ADB server is asked to connect to each Wi-Fi headset it does not know yet
    /// (each address at most every 30 s, each request under the step deadline).
    fn connect_wireless(&self, players: &[IpAddr]) {
        let config = &self.inner.config;
        let mut wanted: Vec<SocketAddr> = config
            .headsets
            .iter()
            .filter_map(|h| wireless_address(h))
            .collect();
        if config.connect_players {
            wanted.extend(players.iter().map(|&ip| SocketAddr::new(ip, WIRELESS_PORT)));
        }
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        if state.adb_problem.is_some() {
            return;
        }
        let known: Vec<IpAddr> = state.devices.values().filter_map(|d| d.address).collect();
        state
            .asked
            .retain(|_, at| now.duration_since(*at) < CONNECT_AGAIN);
        for address in wanted {
            if known.contains(&address.ip()) || state.asked.contains_key(&address) {
                continue;
            }
            state.asked.insert(address, now);
            let adb = self.inner.adb.clone();
            self.inner.tracker.spawn(async move {
                match adb.connect_wireless(&address.to_string()).await {
                    Ok(answer) if answer.starts_with("connected") => {
                        info!("headset screens: ADB {answer}");
                    }
                    Ok(answer) => debug!(%address, "headset screens: ADB: {answer}"),
                    Err(e) => debug!(%address, "headset screens: ADB connect: {e}"),
                }
            });
        }
    }

    /// Keeps `host:track-devices-l` open, reconnecting (and starting the ADB server once, with
    /// `mirror.adb_program`) when it is not there.
    async fn follow_devices(&self) {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut started_adb = false;
        let mut reported = false;
        loop {
            self.check_server_file();
            match self.inner.adb.track_devices().await {
                Ok(mut stream) => {
                    backoff.reset();
                    if reported {
                        info!("headset screens: the ADB server answers again");
                    }
                    reported = false;
                    self.adb_unavailable(None);
                    while let Ok(list) = adb::read_devices(&mut stream).await {
                        self.devices_now(list);
                    }
                    debug!("the ADB server closed the device list; reconnecting");
                    self.devices_now(Vec::new());
                }
                Err(e) => {
                    if matches!(e, AdbError::Unreachable { .. }) && !started_adb {
                        started_adb = true;
                        if self.start_adb_server().await {
                            continue;
                        }
                    }
                    if !reported {
                        info!(
                            "headset screens: {e} (install Android platform-tools, `adb`, to see the headsets' screens)"
                        );
                        reported = true;
                    }
                    self.adb_unavailable(Some(e));
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// `adb start-server`, when `adb` is installed; whether it ran.
    async fn start_adb_server(&self) -> bool {
        let program = &self.inner.config.adb_program;
        let found = scrcpy::on_path(program)
            .or_else(|| scrcpy::on_path(&format!("{program}.exe")))
            .or_else(|| {
                std::path::Path::new(program)
                    .is_file()
                    .then(|| PathBuf::from(program))
            });
        let Some(program) = found else {
            return false;
        };
        let port = self
            .inner
            .config
            .adb_server
            .rsplit(':')
            .next()
            .unwrap_or("5037")
            .to_string();
        let run = tokio::process::Command::new(&program)
            .args(["-P", &port, "start-server"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        match tokio::time::timeout(Duration::from_secs(20), run).await {
            Ok(Ok(status)) if status.success() => {
                info!(
                    "headset screens: started the ADB server ({} start-server)",
                    program.display()
                );
                true
            }
            _ => false,
        }
    }

    fn adb_unavailable(&self, error: Option<AdbError>) {
        let said = error.map(|e| {
            Said::new(
                Code::AdbUnreachable,
                [("address", json!(self.inner.config.adb_server))],
                format!("{e}: install Android platform-tools (adb) to see the headsets' screens"),
            )
        });
        self.inner.state.lock().adb_problem = said;
        self.inner.changes.notify();
    }

    /// Whether scrcpy's server file is where it should be; the page says so when it is not.
    /// Checked again at each change of the device list: scrcpy installed meanwhile is seen.
    fn check_server_file(&self) {
        let missing = scrcpy::find_server(&self.inner.config).is_none();
        let was = std::mem::replace(&mut self.inner.state.lock().server_missing, missing);
        if missing && !was {
            let set = &self.inner.config.scrcpy_server;
            if set.as_os_str().is_empty() {
                info!("headset screens: {}", MirrorError::NoServer);
            } else {
                info!(
                    "headset screens: mirror.scrcpy_server is {}, which is not a file",
                    set.display()
                );
            }
        }
        if missing != was {
            self.inner.changes.notify();
        }
    }

    /// The ADB server's new device list.
    fn devices_now(&self, list: Vec<Listed>) {
        self.check_server_file();
        let mut new_ready = Vec::new();
        {
            let mut state = self.inner.state.lock();
            let present: Vec<String> = list.iter().map(|l| l.serial.clone()).collect();
            for (serial, device) in state.devices.iter_mut() {
                if !present.contains(serial) && device.listed.take().is_some() {
                    info!(%serial, "headset screens: a headset left ADB");
                    if let Some(stop) = device.stop.take() {
                        stop.cancel();
                    }
                    if let Some(f) = &device.fanout {
                        f.status("ended", Code::Left, "the headset left");
                    }
                }
            }
            state.devices.retain(|_, d| {
                d.listed.is_some() || d.fanout.as_ref().is_some_and(|f| f.viewers() > 0)
            });
            for listed in list {
                let device = state.devices.entry(listed.serial.clone()).or_default();
                let was_ready = device.listed.as_ref().is_some_and(|l| l.state == "device");
                if listed.state == "device" && !was_ready {
                    new_ready.push(listed.serial.clone());
                }
                if device.listed.as_ref() != Some(&listed) {
                    info!(serial = %listed.serial, state = %listed.state, "headset screens: ADB lists a headset");
                }
                if device.address.is_none() {
                    device.address = listed.serial.split(':').next().and_then(|h| h.parse().ok());
                }
                device.listed = Some(listed);
            }
        }
        self.inner.changes.notify();
        // Plugged in by USB: its Wi-Fi address, to match it to its player.
        for serial in new_ready {
            let needs_address = self
                .inner
                .state
                .lock()
                .devices
                .get(&serial)
                .is_some_and(|d| d.address.is_none());
            if needs_address {
                let this = self.clone();
                self.inner
                    .tracker
                    .spawn(async move { this.learn_address(serial).await });
            }
        }
    }

    async fn learn_address(&self, serial: String) {
        let out = self
            .inner
            .adb
            .shell_output(&serial, "ip -f inet addr show wlan0", 4096)
            .await;
        let address = out.ok().and_then(|text| {
            text.split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok())
        });
        if let Some(address) = address {
            if let Some(d) = self.inner.state.lock().devices.get_mut(&serial) {
                d.address = Some(address);
            }
            self.inner.changes.notify();
        }
    }

    /// The server file and its version (asked of a headset once, unless set).
    pub(super) async fn server(&self, serial: &str) -> Result<(PathBuf, String), MirrorError> {
        let path = scrcpy::find_server(&self.inner.config).ok_or(MirrorError::NoServer)?;
        let set = self.inner.config.scrcpy_version.trim();
        if !set.is_empty() {
            if !scrcpy::safe_for_shell(set) {
                return Err(MirrorError::Version(set.to_string()));
            }
            return Ok((path, set.to_string()));
        }
        let _probing = self.inner.probing.lock().await;
        if let Some((known, version)) = self.inner.state.lock().server.clone()
            && known == path
        {
            return Ok((path, version));
        }
        let version = self.probe_version(&path, serial).await?;
        info!(version = %version, path = %path.display(), "headset screens: scrcpy's server");
        self.inner.state.lock().server = Some((path.clone(), version.clone()));
        Ok((path, version))
    }

    /// Starts the server file on a headset with version `0`: it answers with its own.
    async fn probe_version(
        &self,
        path: &std::path::Path,
        serial: &str,
    ) -> Result<String, MirrorError> {
        let file = scrcpy::read_server(path)
            .map_err(|e| MirrorError::ServerFile(path.to_path_buf(), e.to_string()))?;
        let adb = &self.inner.adb;
        let unknown = |e: AdbError| MirrorError::Probe(e.to_string());
        adb.push(serial, &file, scrcpy::DEVICE_PATH)
            .await
            .map_err(unknown)?;
        let command = format!(
            "CLASSPATH={} app_process / com.genymobile.scrcpy.Server 0",
            scrcpy::DEVICE_PATH
        );
        let out = adb
            .shell_output(serial, &command, 16 * 1024)
            .await
            .map_err(unknown)?;
        scrcpy::version_in(&out)
            .filter(|v| scrcpy::safe_for_shell(v))
            .ok_or_else(|| {
                MirrorError::UnknownVersion(crate::support::excerpt::truncate(out.trim(), 120))
            })
    }

    /// A new watcher of headset `serial`'s screen; its stream starts if it was not running.
    pub(crate) fn watch(&self, serial: &str) -> Result<Arc<Viewer>, MirrorError> {
        if !self.inner.config.enabled {
            return Err(MirrorError::Off);
        }
        let mut state = self.inner.state.lock();
        let device = state
            .devices
            .get_mut(serial)
            .ok_or_else(|| MirrorError::NoDevice(serial.to_string(), "unknown".into()))?;
        let listed_state = device.listed.as_ref().map_or("gone", |l| l.state.as_str());
        if listed_state != "device" {
            return Err(MirrorError::NoDevice(
                serial.to_string(),
                listed_state.to_string(),
            ));
        }
        let max = self.inner.config.viewer_queue_bytes;
        let fanout = device
            .fanout
            .get_or_insert_with(|| Arc::new(Fanout::new(serial, max)))
            .clone();
        let viewer = fanout.watch();
        if device
            .stop
            .as_ref()
            .is_none_or(CancellationToken::is_cancelled)
        {
            let stop = self.inner.shutdown.child_token();
            device.stop = Some(stop.clone());
            let (this, serial) = (self.clone(), serial.to_string());
            self.inner.tracker.spawn(async move {
                device::run(this.clone(), serial.clone(), fanout, stop).await;
                if let Some(d) = this.inner.state.lock().devices.get_mut(&serial) {
                    d.stop = None;
                }
                this.inner.changes.notify();
            });
        }
        drop(state);
        self.inner.changes.notify();
        Ok(viewer)
    }

    /// ADB's model name of headset `serial`, when known.
    pub(super) fn model_of(&self, serial: &str) -> Option<String> {
        let state = self.inner.state.lock();
        state.devices.get(serial)?.listed.as_ref()?.model.clone()
    }

    /// Whether headset `serial` reports its display turned.
    pub(super) fn turned(&self, serial: &str) -> bool {
        self.inner
            .state
            .lock()
            .devices
            .get(serial)
            .is_some_and(|d| d.turned)
    }

    pub(super) fn set_turned(&self, serial: &str, turned: bool) {
        if let Some(d) = self.inner.state.lock().devices.get_mut(serial) {
            d.turned = turned;
        }
    }

    /// The headset enlarged on the projector page (`None`: none).
    pub(crate) fn set_focus(&self, serial: Option<String>) {
        self.inner.state.lock().focus = serial;
        self.inner.changes.notify();
    }

    fn stop_all(&self) {
        for device in self.inner.state.lock().devices.values_mut() {
            if let Some(stop) = device.stop.take() {
                stop.cancel();
            }
        }
    }

    /// What the page shows; `players` are the connected players' ids and addresses, to say which
    /// headset is whose.
    pub(crate) fn view(&self, players: &[(String, IpAddr)]) -> ScreensView {
        let state = self.inner.state.lock();
        let devices = state
            .devices
            .iter()
            .filter_map(|(serial, d)| {
                let listed = d.listed.as_ref()?;
                let picture = d.fanout.as_ref().map(|f| f.picture());
                let info = picture.as_ref().and_then(|p| p.info.clone());
                Some(ScreenDevice {
                    serial: serial.clone(),
                    model: listed.model.clone(),
                    state: listed.state.clone(),
                    address: d.address.map(|a| a.to_string()),
                    player: d.address.and_then(|a| {
                        players
                            .iter()
                            .find(|(_, ip)| *ip == a)
                            .map(|(id, _)| id.clone())
                    }),
                    streaming: d.stop.as_ref().is_some_and(|s| !s.is_cancelled()),
                    width: info.as_ref().map(|i| i.width),
                    height: info.as_ref().map(|i| i.height),
                })
            })
            .collect();
        let unavailable = if !self.inner.config.enabled {
            Some(Said::new(Code::MirrorOff, [], MirrorError::Off.to_string()))
        } else if let Some(problem) = &state.adb_problem {
            Some(problem.clone())
        } else if state.server_missing {
            Some(Said::new(
                Code::ScrcpyMissing,
                [],
                MirrorError::NoServer.to_string(),
            ))
        } else {
            None
        };
        ScreensView {
            enabled: self.inner.config.enabled,
            unavailable,
            devices,
            focus: state.focus.clone(),
        }
    }
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("adb", &self.inner.adb.address)
            .finish_non_exhaustive()
    }
}
