//! The settings themselves: one typed struct per section of `config/default.toml`, their
//! documented defaults, and what the rest of the relay asks of them (addresses, durations, paths).
//!
//! A newcomer looking for what can be set, and to what by default, reads this file and
//! `config/default.toml`; how values reach these fields is in [`super::layers`], what makes them
//! acceptable in [`super::validate`].

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};

/// The documented defaults, embedded in the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Every setting of the relay. See `config/default.toml` for what each one does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Connection to gama-server.
    pub gama: GamaConfig,
    /// The WebSocket server Unity headsets connect to.
    pub headsets: HeadsetConfig,
    /// The admin page and HTTP API.
    pub admin: AdminConfig,
    /// The gama-server endpoint for tools.
    pub passthrough: PassthroughConfig,
    /// The webplatform's monitor socket (the Unity editor tool).
    pub monitor: MonitorConfig,
    /// Headset screens (ADB and scrcpy).
    pub mirror: MirrorConfig,
    /// Session recording.
    pub record: RecordConfig,
    /// Learning packages and session policy.
    pub session: SessionConfig,
    /// Sessions kept for debriefing.
    pub sessions: SessionsConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[sessions]`: every experiment run kept for debriefing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Keep sessions at all.
    pub enabled: bool,
    /// Where (relative: from the folder of the `.env` read, else the working directory).
    pub folder_path: PathBuf,
    /// Most bytes kept, all sessions together (the oldest go first).
    pub max_total_bytes: u64,
    /// Most sessions kept.
    pub max_count: usize,
    /// World updates kept per second and player.
    pub world_updates_per_second: f64,
    /// Messages waiting for the disk; past them, left out of the session (counted).
    pub max_queued_messages: usize,
}

/// `[gama]`: how the relay reaches gama-server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GamaConfig {
    /// Host name or address of gama-server.
    pub host: String,
    /// Port of gama-server.
    pub port: u16,
    /// Deadline of one connection attempt.
    pub connect_timeout_ms: u64,
    /// First reconnection delay.
    pub reconnect_initial_ms: u64,
    /// Largest reconnection delay.
    pub reconnect_max_ms: u64,
    /// Deadline of every command but `load`.
    pub command_timeout_ms: u64,
    /// Deadline of `load` and of the experiment becoming ready.
    pub load_timeout_ms: u64,
    /// How long after sending `create_player` a late answer from GAMA still counts.
    pub late_answer_ms: u64,
    /// Largest message accepted from GAMA.
    pub max_message_bytes: usize,
    /// Most commands awaiting a reply at once.
    pub max_in_flight: usize,
}

/// `[headsets]`: the WebSocket server of the Unity clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadsetConfig {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks a free one, for tests).
    pub port: u16,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// Most players known at once.
    pub max_players: usize,
    /// New connections accepted per second.
    pub max_new_connections_per_second: u32,
    /// Messages read per second from one headset.
    pub max_messages_per_second: u32,
    /// Largest inbound message.
    pub max_message_bytes: usize,
    /// Most bytes queued for one headset.
    pub max_queue_bytes: usize,
    /// Longest accepted player id.
    pub max_player_id_bytes: usize,
    /// Most connections waiting at once for an id in use by a live headset.
    pub max_waiting_for_id: usize,
    /// Age of a waiting world update that makes the headset "behind".
    pub coalesce_after_ms: u64,
    /// Deadline of the WebSocket handshake.
    pub handshake_timeout_ms: u64,
    /// Deadline of the `connection` message after the socket opened.
    pub register_timeout_ms: u64,
    /// Deadline of one write.
    pub write_timeout_ms: u64,
    /// Keep-alive period when the headset announces none.
    pub default_heartbeat_ms: u64,
    /// Smallest accepted keep-alive period.
    pub min_heartbeat_ms: u64,
    /// Largest accepted keep-alive period.
    pub max_heartbeat_ms: u64,
    /// Silent periods before a headset is declared gone.
    pub missed_heartbeats: u32,
    /// How long a dropped player keeps its slot.
    pub disconnect_grace_ms: u64,
    /// Remove players as soon as their connection drops.
    pub aggressive_disconnect: bool,
    /// When a new connection may take over the id of a live player.
    pub takeover: Takeover,
    /// Networks (CIDR) headsets may connect from; empty: any.
    pub allowed_networks: Vec<String>,
}

/// When a new connection may take over the id of a player whose headset is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Takeover {
    /// From the same address as the current connection, or once that one has missed a keep-alive.
    SameAddressOrSilent,
    /// Always (labs behind NAT, where every headset shows the same address).
    Always,
}

impl HeadsetConfig {
    /// [`HeadsetConfig::allowed_networks`], parsed (validated when the configuration loads). A bare
    /// address is a network of one.
    pub fn networks(&self) -> Vec<ipnet::IpNet> {
        self.allowed_networks
            .iter()
            .filter_map(|n| parse_network(n).ok())
            .collect()
    }
}

/// `10.0.0.0/24`, `fd00::/8`, or a single address.
pub(super) fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("{text:?} is not a network (write it like 10.0.0.0/24) nor an address")
        })
}

/// `[admin]`: the admin page and API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks a free one, for tests).
    pub port: u16,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Access token; empty means generated when needed.
    pub token: String,
    /// Extra origins allowed to use the API from a browser.
    pub allowed_origins: Vec<String>,
    /// Shortest interval between two state pushes.
    pub push_min_interval_ms: u64,
    /// Longest interval between two state pushes.
    pub push_refresh_ms: u64,
}

/// `[passthrough]`: the gama-server-compatible endpoint for tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassthroughConfig {
    /// Whether the endpoint runs.
    pub enabled: bool,
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks a free one, for tests).
    pub port: u16,
    /// Most tools at once.
    pub max_connections: usize,
    /// How long a tool's command waits for GAMA's answer before the relay answers it with an
    /// error; 0: as long as GAMA takes, as with GAMA itself.
    pub command_timeout_ms: u64,
    /// Desktop GAMA: how long the answer to a tool's `load` waits for the experiment to be ready.
    pub load_ready_ms: u64,
}

/// `[mirror]`: headset screens, through the ADB server and scrcpy's server the teacher installed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// Whether headset screens are offered.
    pub enabled: bool,
    /// The ADB server (`host:port`).
    pub adb_server: String,
    /// The `adb` program, used only to start the ADB server when none answers.
    pub adb_program: String,
    /// scrcpy's server file; empty: found where scrcpy installs it.
    pub scrcpy_server: PathBuf,
    /// Its version; empty: asked of the file itself.
    pub scrcpy_version: String,
    /// Longest side of the picture, in pixels.
    pub max_size: u32,
    /// Video bit rate, bits per second.
    pub bit_rate: u32,
    /// Most frames per second.
    pub max_fps: u32,
    /// Seconds between two key frames (a screen opened late starts at one).
    pub key_frame_interval_s: u32,
    /// Bytes waiting for one viewer; past them it skips to the next key frame.
    pub viewer_queue_bytes: usize,
    /// A headset's stream stops when nobody has watched it this long.
    pub idle_stop_ms: u64,
    /// Deadline of each step with the ADB server.
    pub step_timeout_ms: u64,
    /// Headsets the ADB server is asked to connect to over Wi-Fi (`ip` or `ip:port`).
    pub headsets: Vec<String>,
    /// Whether each connected player's address is tried too.
    pub connect_players: bool,
    /// What part of each model's display is shown, by ADB's model name (`Quest_3`).
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, MirrorModel>,
}

/// `[mirror.models.<model>]`: the part of a headset model's display its screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorModel {
    /// scrcpy's `crop`, `width:height:x:y` of the display; empty: all of it.
    #[serde(default)]
    pub crop: String,
    /// scrcpy's `angle`, degrees.
    #[serde(default)]
    pub angle: f64,
}

impl MirrorModel {
    /// The crop's four numbers, if it has them.
    pub(crate) fn crop_numbers(&self) -> Option<[u32; 4]> {
        let parts: Vec<u32> = self
            .crop
            .split(':')
            .map(|p| p.trim().parse().ok())
            .collect::<Option<_>>()?;
        parts.try_into().ok()
    }
}

impl MirrorConfig {
    /// What to show of `model`'s display (models compare without case: environment variables
    /// cannot keep it).
    pub(crate) fn model(&self, model: &str) -> Option<&MirrorModel> {
        self.models
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(model))
            .map(|(_, view)| view)
    }
}

/// Longest `monitor.refresh_ms`: the Unity editor tool gives up on a socket silent for 2 s.
pub const MONITOR_MAX_SILENCE_MS: u64 = 1500;

/// `[monitor]`: the webplatform's monitor WebSocket, for the programs that drive it (the SIMPLE
/// Unity plugin's editor tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Whether the socket runs.
    pub enabled: bool,
    /// Listen address; `localhost` listens on both loopback addresses (IPv4 and IPv6).
    pub host: String,
    /// Listen port (0 picks a free one, for tests).
    pub port: u16,
    /// Longest time between two `json_state` messages to a client.
    pub refresh_ms: u64,
    /// Most clients at once.
    pub max_connections: usize,
    /// Size of one message from a client.
    pub max_message_bytes: usize,
}

/// `[record]`: session recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Recording file, empty for none.
    pub file: PathBuf,
    /// Size at which recording stops.
    pub max_bytes: u64,
    /// Messages waiting for the disk; past them, messages are left out of the recording.
    pub max_queued_messages: usize,
}

/// `[session]`: learning packages and session policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Main learning-package folder.
    pub learning_package_path: PathBuf,
    /// More learning-package folders.
    pub extra_learning_package_paths: Vec<PathBuf>,
    /// Launch by itself when the model's maximum of players is connected.
    pub auto_launch: bool,
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Default level.
    pub level: String,
    /// Debug level, as the webplatform's `VERBOSE`.
    pub verbose: bool,
    /// `text` or `json`.
    pub format: String,
    /// Log file, empty for none.
    pub file: PathBuf,
    /// Size at which the log file is rotated.
    pub file_max_bytes: u64,
    /// Old log files kept.
    pub file_count: u32,
}

impl Default for Config {
    // The embedded file is not outside data: a unit test checks it parses, so this cannot fail in a
    // released binary.
    #[allow(clippy::expect_used)]
    fn default() -> Self {
        Figment::from(Toml::string(DEFAULT_TOML))
            .extract()
            .expect("config/default.toml is valid")
    }
}

impl Config {
    /// Whether the admin page, the tool endpoint or the monitor socket listens beyond this
    /// machine: then they need a token.
    pub fn reachable_from_network(&self) -> bool {
        !is_loopback(&self.admin.host)
            || (self.passthrough.enabled && !is_loopback(&self.passthrough.host))
            || (self.monitor.enabled && !is_loopback(&self.monitor.host))
    }

    /// Every learning-package folder, main one first.
    pub fn learning_package_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.session.learning_package_path.clone()];
        paths.extend(self.session.extra_learning_package_paths.iter().cloned());
        paths
    }

    /// The log filter directive this configuration asks for (RUST_LOG aside).
    pub fn log_filter(&self) -> String {
        let level = if self.log.verbose && !matches!(self.log.level.as_str(), "trace") {
            "debug".to_string()
        } else {
            self.log.level.to_ascii_lowercase()
        };
        // Our crate at the chosen level; dependencies one notch quieter unless tracing everything.
        match level.as_str() {
            "trace" => "trace".into(),
            "debug" => "info,gama_vr_relay=debug".into(),
            other => other.into(),
        }
    }

    /// Where sessions are kept: `sessions.folder_path`, a relative one from the working directory
    /// (a `.env` that sets it has already made it absolute from its own folder).
    pub fn sessions_folder(&self) -> PathBuf {
        let cwd = std::env::current_dir().unwrap_or_default();
        resolve_path(&cwd, &self.sessions.folder_path)
    }
}

impl GamaConfig {
    /// `host:port`, as shown to people.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The WebSocket URL of gama-server.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.address())
    }

    /// Deadline of ordinary commands.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }

    /// Deadline of `load`.
    pub fn load_timeout(&self) -> Duration {
        Duration::from_millis(self.load_timeout_ms)
    }
}

impl HeadsetConfig {
    /// Clamps an announced keep-alive period to the configured range.
    pub fn clamp_heartbeat(&self, ms: u64) -> u64 {
        ms.clamp(self.min_heartbeat_ms, self.max_heartbeat_ms)
    }
}

/// Resolves a listen address from a host setting and a port.
pub fn listen_addr(host: &str, port: u16) -> SocketAddr {
    let ip = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        // Validated by Config::validate.
        host.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    };
    SocketAddr::new(ip, port)
}

/// Whether an address only accepts connections from this machine.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Resolves a possibly relative path against a base directory, lexically (`.` and `..` removed,
/// never canonicalized, so a Windows path stays `C:\…`).
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    crate::control::packages::native_absolute(base, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Sources, load};

    #[test]
    fn embedded_defaults_match_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.gama.host, "localhost");
        assert_eq!(c.gama.port, 1000);
        assert_eq!(c.headsets.host, "0.0.0.0");
        assert_eq!(c.headsets.port, 8080);
        assert_eq!(c.admin.port, 8000);
        assert_eq!(c.headsets.missed_heartbeats, 3);
        assert!(!c.headsets.aggressive_disconnect);
        assert!(c.session.auto_launch);
        assert_eq!(load(&Sources::default()).unwrap(), c);
    }

    #[test]
    fn heartbeat_is_clamped() {
        let c = Config::default();
        assert_eq!(c.headsets.clamp_heartbeat(0), 1000);
        assert_eq!(c.headsets.clamp_heartbeat(5000), 5000);
        assert_eq!(c.headsets.clamp_heartbeat(10_000_000), 60000);
    }
}
