//! Configuration: typed settings, their layered sources, and validation.
//!
//! The built-in defaults are `config/default.toml`, embedded at compile time, so the documented file
//! and the behaviour can never drift apart. Layers, weakest first: defaults, `--config FILE`, the
//! environment (the SIMPLE webplatform's `.env` names and `GAMA_VR_RELAY_<SECTION>__<KEY>`), and the
//! command line. Values given as text (environment, command line) are converted according to the type
//! of the setting's default, so `AGGRESSIVE_DISCONNECT=yes` and `--set gama.port=1001` both work and a
//! bad value is reported with the variable or flag that carried it.
//!
//! Which `.env` is read and where its relative paths lead is in [`dotenv`]: the relay is often
//! started from another folder than its own.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

mod dotenv;
pub use dotenv::{DotEnv, Places};

/// The documented defaults, embedded in the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of the relay's own environment variables: `GAMA_VR_RELAY_HEADSETS__PORT=9000`.
pub const ENV_PREFIX: &str = "GAMA_VR_RELAY_";

/// The webplatform's `.env` names this relay honours, and the setting each one sets.
pub const LEGACY_ENV: &[(&str, &str)] = &[
    ("GAMA_IP_ADDRESS", "gama.host"),
    ("GAMA_WS_PORT", "gama.port"),
    ("HEADSET_WS_PORT", "headsets.port"),
    ("MONITOR_WS_PORT", "monitor.port"),
    ("WEB_APPLICATION_HOST", "admin.host"),
    ("WEB_APPLICATION_PORT", "admin.port"),
    ("LEARNING_PACKAGE_PATH", "session.learning_package_path"),
    (
        "EXTRA_LEARNING_PACKAGE_PATH",
        "session.extra_learning_package_paths",
    ),
    ("AGGRESSIVE_DISCONNECT", "headsets.aggressive_disconnect"),
    ("VERBOSE", "log.verbose"),
    ("HEADSETS_IP", "mirror.headsets"),
];

/// Webplatform variables that have no meaning here; they are accepted (an existing `.env` must load)
/// and explained once at start.
pub const IGNORED_LEGACY_ENV: &[(&str, &str)] = &[
    (
        "VIDEO_WS_PORT",
        "headset screens are served on the admin port (/screens)",
    ),
    ("WEB_HOSTNAME", "no mDNS name is published"),
    ("NODE_ENV", "there is no Node.js runtime"),
    ("ENV_GAMALESS", "the relay always connects to GAMA"),
];

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
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
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

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` could not be read or parsed.
    #[error("cannot read configuration file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A setting has a value of the wrong type or out of range.
    #[error("invalid value for `{key}`{source_hint}: {message}")]
    Invalid {
        /// Dotted setting name.
        key: String,
        /// ` (from <source>)`, or empty.
        source_hint: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The `.env` file could not be read.
    #[error("cannot read {path}: {message}")]
    DotEnv {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A variable or flag names a setting that does not exist.
    #[error("unknown setting `{key}` (from {origin})")]
    UnknownSetting {
        /// The dotted name that was given.
        key: String,
        /// The variable or flag that gave it.
        origin: String,
    },
}

/// The raw inputs of a configuration, gathered by the binary (or a test) and resolved by [`load`].
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// `--config FILE`.
    pub file: Option<PathBuf>,
    /// A snapshot of the environment.
    pub env: Vec<(String, String)>,
    /// The `.env` file read, if any: its variables count where the environment does not set them,
    /// and its relative paths lead from its folder.
    pub dotenv: Option<DotEnv>,
    /// Where the default learning-package folder is looked for.
    pub places: Places,
    /// Command-line settings as `(dotted key, text value, flag name)`.
    pub cli: Vec<(String, String, String)>,
}

/// One variable as [`load`] reads it: from the environment or from the `.env` file.
struct EnvVar<'a> {
    name: &'a str,
    value: &'a str,
    origin: String,
    /// The `.env` file's folder, for its relative paths.
    base: Option<&'a Path>,
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

/// Resolves the layered configuration and validates it.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let defaults = Figment::from(Named {
        name: "built-in defaults",
        provider: Toml::string(DEFAULT_TOML),
    });
    let mut figment = defaults.clone();
    // The environment, then the `.env`'s variables that it does not set (real variables win).
    let mut env: Vec<EnvVar> = sources
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name,
            value,
            origin: format!("environment variable {name}"),
            base: None,
        })
        .collect();
    if let Some(dotenv) = &sources.dotenv {
        for (name, value) in &dotenv.vars {
            if !sources.env.iter().any(|(real, _)| real == name) {
                env.push(EnvVar {
                    name,
                    value,
                    origin: format!("{name} in {}", dotenv.path.display()),
                    base: Some(dotenv.dir()),
                });
            }
        }
    }
    // The webplatform's names first, the relay's own prefixed ones after: when both set the same
    // setting, the more specific one wins whatever the order of the environment.
    env.sort_by_key(|var| var.name.starts_with(ENV_PREFIX));
    if let Some(path) = &sources.file {
        if !path.is_file() {
            return Err(ConfigError::File {
                path: path.clone(),
                message: "no such file".into(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    for EnvVar {
        name,
        value,
        origin,
        base,
    } in env
    {
        if name == "EXTRA_VERBOSE" {
            // The webplatform's most talkative level.
            if parse_bool(value) == Some(true) {
                figment = figment.merge(Setting {
                    key: "log.level".into(),
                    value: Value::from("trace".to_string()),
                    origin,
                });
            }
            continue;
        }
        let key = if let Some((_, key)) = LEGACY_ENV.iter().find(|(n, _)| *n == name) {
            (*key).to_string()
        } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
            match rest.split_once("__") {
                Some((section, key)) => {
                    format!("{}.{}", section.to_lowercase(), key.to_lowercase())
                }
                // GAMA_VR_RELAY_CONFIG and friends are command-line flags read by the binary.
                None => continue,
            }
        } else {
            continue;
        };
        if let Some(layer) = text_setting(&defaults, &key, value, &origin, base)? {
            figment = figment.merge(layer);
        }
    }
    for (key, value, flag) in &sources.cli {
        let origin = format!("command-line flag {flag}");
        if let Some(layer) = text_setting(&defaults, key, value, &origin, None)? {
            figment = figment.merge(layer);
        }
    }
    let mut config: Config = figment.extract().map_err(|e| figment_error(&figment, e))?;
    locate_default_packages(&mut config, &figment, &sources.places);
    config.validate(&figment)?;
    Ok(config)
}

/// When nothing sets the main learning-package folder, its default (`./learning-packages`) is the
/// working directory's, or, when that has none, the one beside the executable.
fn locate_default_packages(config: &mut Config, figment: &Figment, places: &Places) {
    let key = "session.learning_package_path";
    if figment
        .find_metadata(key)
        .is_none_or(|m| m.name != "built-in defaults")
    {
        return;
    }
    let default = &config.session.learning_package_path;
    if places.cwd.join(default).is_dir() {
        return;
    }
    if let Some(exe_dir) = &places.exe_dir {
        let beside = resolve_path(exe_dir, default);
        if beside.is_dir() {
            config.session.learning_package_path = beside;
        }
    }
}

/// Converts one textual setting to the type of its default; `None` for an empty value, which the
/// webplatform treated as unset (`VERBOSE=`). A relative path leads from `base` when given (the
/// folder of the `.env` it comes from).
fn text_setting(
    defaults: &Figment,
    key: &str,
    text: &str,
    origin: &str,
    base: Option<&Path>,
) -> Result<Option<Setting>, ConfigError> {
    let Ok(default) = defaults.find_value(key) else {
        return Err(ConfigError::UnknownSetting {
            key: key.to_string(),
            origin: origin.to_string(),
        });
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let path = |p: PathBuf| -> String {
        match base {
            Some(base) if dotenv::is_path_setting(key) => resolve_path(base, &p),
            _ => p,
        }
        .to_string_lossy()
        .into_owned()
    };
    let invalid = |message: String| ConfigError::Invalid {
        key: key.to_string(),
        source_hint: format!(" (from {origin})"),
        message,
    };
    let value = match default {
        Value::Bool(..) => Value::from(parse_bool(text).ok_or_else(|| {
            invalid(format!(
                "`{text}` is not a boolean (true/false, yes/no, 1/0, on/off)"
            ))
        })?),
        Value::Num(..) => {
            let n: u64 = text
                .parse()
                .map_err(|_| invalid(format!("`{text}` is not a whole non-negative number")))?;
            Value::from(n)
        }
        // Folder lists are separated like PATH.
        Value::Array(..) if key.ends_with("_paths") => Value::from(
            std::env::split_paths(text)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| Value::from(path(p)))
                .collect::<Vec<_>>(),
        ),
        // Other lists by commas, or semicolons as the webplatform's HEADSETS_IP.
        Value::Array(..) => Value::from(
            text.split([',', ';'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::from(s.to_string()))
                .collect::<Vec<_>>(),
        ),
        Value::String(..) if dotenv::is_path_setting(key) => Value::from(path(PathBuf::from(text))),
        _ => Value::from(text.to_string()),
    };
    Ok(Some(Setting {
        key: key.to_string(),
        value,
        origin: origin.to_string(),
    }))
}

/// Booleans as the webplatform read them (`true`/`1`/`yes`), plus their obvious opposites.
fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A provider under a name of our choosing, for error messages.
struct Named<P> {
    name: &'static str,
    provider: P,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        self.provider.data()
    }
}

/// One setting from a variable or flag, as a figment layer that remembers where it came from.
struct Setting {
    key: String,
    value: Value,
    origin: String,
}

impl Provider for Setting {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        let mut value = self.value.clone();
        for part in self.key.rsplit('.') {
            let mut dict = Dict::new();
            dict.insert(part.to_string(), value);
            value = Value::Dict(Tag::Default, dict);
        }
        let Value::Dict(_, dict) = value else {
            unreachable!("the loop above always wraps the value in a dict")
        };
        Ok(Profile::Default.collect(dict))
    }
}

/// `(from <where>)` for an error message: the provider's name, and the file when there is one.
fn origin_hint(metadata: &Metadata) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => format!(" (from {})", path.display()),
        _ => format!(" (from {})", metadata.name),
    }
}

fn figment_error(figment: &Figment, error: figment::Error) -> ConfigError {
    let key = error.path.join(".");
    let source_hint = error
        .metadata
        .as_ref()
        .map(origin_hint)
        .or_else(|| figment.find_metadata(&key).map(origin_hint))
        .unwrap_or_default();
    if key.is_empty() {
        if let Some(md) = &error.metadata {
            if let Some(figment::Source::File(path)) = &md.source {
                return ConfigError::File {
                    path: path.clone(),
                    message: error.kind.to_string(),
                };
            }
        }
    }
    ConfigError::Invalid {
        key: if key.is_empty() {
            "configuration".into()
        } else {
            key
        },
        source_hint,
        message: error.kind.to_string(),
    }
}

impl Config {
    /// Checks what types alone cannot: ranges and relations between settings.
    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        let fail = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                source_hint: figment
                    .find_metadata(key)
                    .map(origin_hint)
                    .unwrap_or_default(),
                message,
            })
        };
        let g = &self.gama;
        let h = &self.headsets;
        if g.host.trim().is_empty() {
            return fail("gama.host", "must not be empty".into());
        }
        if g.port == 0 {
            return fail("gama.port", "0 is not a port GAMA can listen on".into());
        }
        for (key, value) in [
            ("gama.connect_timeout_ms", g.connect_timeout_ms),
            ("gama.reconnect_initial_ms", g.reconnect_initial_ms),
            ("gama.command_timeout_ms", g.command_timeout_ms),
            ("gama.load_timeout_ms", g.load_timeout_ms),
            ("gama.late_answer_ms", g.late_answer_ms),
            ("headsets.handshake_timeout_ms", h.handshake_timeout_ms),
            ("headsets.register_timeout_ms", h.register_timeout_ms),
            ("headsets.write_timeout_ms", h.write_timeout_ms),
            ("headsets.min_heartbeat_ms", h.min_heartbeat_ms),
            ("admin.push_refresh_ms", self.admin.push_refresh_ms),
            ("passthrough.load_ready_ms", self.passthrough.load_ready_ms),
            ("monitor.refresh_ms", self.monitor.refresh_ms),
            ("mirror.idle_stop_ms", self.mirror.idle_stop_ms),
            ("mirror.step_timeout_ms", self.mirror.step_timeout_ms),
        ] {
            if value == 0 {
                return fail(
                    key,
                    "0 would never wait: give a duration in milliseconds".into(),
                );
            }
        }
        for (key, value) in [
            ("gama.max_message_bytes", g.max_message_bytes),
            ("gama.max_in_flight", g.max_in_flight),
            ("headsets.max_connections", h.max_connections),
            ("headsets.max_players", h.max_players),
            (
                "headsets.max_new_connections_per_second",
                h.max_new_connections_per_second as usize,
            ),
            (
                "headsets.max_messages_per_second",
                h.max_messages_per_second as usize,
            ),
            ("headsets.max_message_bytes", h.max_message_bytes),
            ("headsets.max_queue_bytes", h.max_queue_bytes),
            ("headsets.max_player_id_bytes", h.max_player_id_bytes),
            ("admin.max_body_bytes", self.admin.max_body_bytes),
            ("monitor.max_connections", self.monitor.max_connections),
            ("monitor.max_message_bytes", self.monitor.max_message_bytes),
            ("mirror.max_size", self.mirror.max_size as usize),
            ("mirror.bit_rate", self.mirror.bit_rate as usize),
            ("mirror.max_fps", self.mirror.max_fps as usize),
            (
                "mirror.key_frame_interval_s",
                self.mirror.key_frame_interval_s as usize,
            ),
            ("mirror.viewer_queue_bytes", self.mirror.viewer_queue_bytes),
            (
                "record.max_queued_messages",
                self.record.max_queued_messages,
            ),
            (
                "sessions.max_queued_messages",
                self.sessions.max_queued_messages,
            ),
        ] {
            if value == 0 {
                return fail(key, "must be at least 1".into());
            }
        }
        let rate = self.sessions.world_updates_per_second;
        if !(rate.is_finite() && rate > 0.0 && rate <= 1000.0) {
            return fail(
                "sessions.world_updates_per_second",
                format!("{rate} is not a rate between 0 and 1000 per second"),
            );
        }
        for network in &h.allowed_networks {
            if let Err(why) = parse_network(network) {
                return fail("headsets.allowed_networks", why);
            }
        }
        let adb = &self.mirror.adb_server;
        if adb
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return fail(
                "mirror.adb_server",
                format!("`{adb}` is not host:port (127.0.0.1:5037)"),
            );
        }
        let version = &self.mirror.scrcpy_version;
        if !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return fail(
                "mirror.scrcpy_version",
                format!("`{version}` is not a version (3.3.4, 4.1)"),
            );
        }
        for headset in &self.mirror.headsets {
            if crate::mirror::wireless_address(headset).is_none() {
                return fail(
                    "mirror.headsets",
                    format!("`{headset}` is not an IP address, or address:port"),
                );
            }
        }
        for (model, view) in &self.mirror.models {
            if !view.crop.is_empty() && view.crop_numbers().is_none() {
                return fail(
                    &format!("mirror.models.{model}.crop"),
                    format!("`{}` is not width:height:x:y", view.crop),
                );
            }
            if !(view.angle.is_finite() && view.angle.abs() <= 360.0) {
                return fail(
                    &format!("mirror.models.{model}.angle"),
                    format!("{} is not an angle in degrees", view.angle),
                );
            }
        }
        for (key, value, floor_key, floor) in [
            (
                "gama.late_answer_ms",
                g.late_answer_ms,
                "gama.command_timeout_ms",
                g.command_timeout_ms,
            ),
            (
                "gama.reconnect_max_ms",
                g.reconnect_max_ms,
                "gama.reconnect_initial_ms",
                g.reconnect_initial_ms,
            ),
            (
                "headsets.max_heartbeat_ms",
                h.max_heartbeat_ms,
                "headsets.min_heartbeat_ms",
                h.min_heartbeat_ms,
            ),
        ] {
            if value < floor {
                return fail(key, format!("{value} is below {floor_key} ({floor})"));
            }
        }
        if !(h.min_heartbeat_ms..=h.max_heartbeat_ms).contains(&h.default_heartbeat_ms) {
            return fail(
                "headsets.default_heartbeat_ms",
                format!(
                    "{} is outside [headsets.min_heartbeat_ms, headsets.max_heartbeat_ms] = [{}, {}]",
                    h.default_heartbeat_ms, h.min_heartbeat_ms, h.max_heartbeat_ms
                ),
            );
        }
        if self.monitor.refresh_ms > MONITOR_MAX_SILENCE_MS {
            return fail(
                "monitor.refresh_ms",
                format!(
                    "{} is too long: the Unity editor tool drops a monitor connection silent for 2 s (at most {MONITOR_MAX_SILENCE_MS})",
                    self.monitor.refresh_ms
                ),
            );
        }
        if h.missed_heartbeats == 0 {
            return fail(
                "headsets.missed_heartbeats",
                "must be at least 1 (a headset is declared gone after that many silent periods)"
                    .into(),
            );
        }
        for (key, host) in [
            ("headsets.host", &h.host),
            ("admin.host", &self.admin.host),
            ("passthrough.host", &self.passthrough.host),
            ("monitor.host", &self.monitor.host),
        ] {
            if host.parse::<IpAddr>().is_err() && host != "localhost" {
                return fail(
                    key,
                    format!(
                        "`{host}` is not an IP address to listen on (e.g. 0.0.0.0, 127.0.0.1, ::)"
                    ),
                );
            }
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return fail(
                "log.format",
                format!("`{}` is not one of text, json", self.log.format),
            );
        }
        if self.log.file_max_bytes == 0 {
            return fail("log.file_max_bytes", "must be at least 1".into());
        }
        if !matches!(
            self.log.level.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return fail(
                "log.level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.log.level
                ),
            );
        }
        Ok(())
    }

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

    /// The effective configuration as a TOML document, in the layout of `config/default.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// A one-line-per-section description for the start-up log.
    pub fn describe(&self) -> Vec<String> {
        let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        sections
            .into_iter()
            .map(|(section, fields)| {
                let body = match fields {
                    serde_json::Value::Object(fields) => fields
                        .into_iter()
                        .map(|(k, v)| format!("{k}={}", shown(&section, &k, &v)))
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                format!("[{section}] {body}")
            })
            .collect()
    }
}

/// A setting's value as the start-up log shows it: the admin token only as set or not (the log
/// may be sent to someone for help; the page's address with the token is logged on purpose, once),
/// text in quotes with Windows paths' backslashes as they are.
fn shown(section: &str, key: &str, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) if section == "admin" && key == "token" => {
            if text.is_empty() {
                "(none set)"
            } else {
                "(set)"
            }
            .to_string()
        }
        serde_json::Value::String(text)
            if !text.contains('"') && !text.contains(char::is_control) =>
        {
            format!("\"{text}\"")
        }
        other => other.to_string(),
    }
}

impl Config {
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
    crate::packages::native_absolute(base, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_up_log_shows_settings_plainly_and_never_the_token() {
        let mut config = Config::default();
        config.admin.token = "s3cret-token".into();
        config.sessions.folder_path = PathBuf::from(r"C:\Users\Lan\sessions");
        config.session.learning_package_path = PathBuf::from(r#"odd "name""#);
        let lines = config.describe().join("\n");
        assert!(!lines.contains("s3cret-token"), "{lines}");
        assert!(lines.contains("token=(set)"), "{lines}");
        assert!(
            lines.contains(r#"folder_path="C:\Users\Lan\sessions""#),
            "{lines}"
        );
        assert!(
            lines.contains(r#"learning_package_path="odd \"name\"""#),
            "{lines}"
        );
        assert!(lines.contains("port=1000 "), "{lines}");
        config.admin.token.clear();
        assert!(config.describe().join("\n").contains("token=(none set)"));
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
    fn layers_apply_in_order_defaults_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("relay.toml");
        std::fs::write(
            &file,
            "[gama]\nhost = \"10.0.0.5\"\nport = 2000\n[headsets]\nport = 9000\nmissed_heartbeats = 7\n",
        )
        .unwrap();
        let sources = Sources {
            file: Some(file),
            env: env(&[("GAMA_WS_PORT", "3000"), ("HEADSET_WS_PORT", "9100")]),
            cli: vec![(
                "headsets.port".into(),
                "9200".into(),
                "--headset-port".into(),
            )],
            ..Sources::default()
        };
        let c = load(&sources).unwrap();
        assert_eq!(c.gama.host, "10.0.0.5", "file beats defaults");
        assert_eq!(c.gama.port, 3000, "environment beats file");
        assert_eq!(c.headsets.port, 9200, "command line beats environment");
        assert_eq!(c.headsets.missed_heartbeats, 7);
    }

    #[test]
    fn legacy_env_names_are_honoured() {
        let c = load(&Sources {
            env: env(&[
                ("GAMA_IP_ADDRESS", "192.168.1.20"),
                ("GAMA_WS_PORT", "6868"),
                ("HEADSET_WS_PORT", "8181"),
                ("WEB_APPLICATION_HOST", "127.0.0.1"),
                ("WEB_APPLICATION_PORT", "8001"),
                ("LEARNING_PACKAGE_PATH", "./lp"),
                ("EXTRA_LEARNING_PACKAGE_PATH", "/opt/more"),
                ("AGGRESSIVE_DISCONNECT", "YES"),
                ("VERBOSE", "false"),
                ("MONITOR_WS_PORT", "8002"),
                ("HEADSETS_IP", "192.168.68.178;192.168.68.180:5555;"),
                ("UNRELATED", "x"),
            ]),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.gama.host, "192.168.1.20");
        assert_eq!(c.gama.port, 6868);
        assert_eq!(c.headsets.port, 8181);
        assert_eq!(c.admin.host, "127.0.0.1");
        assert_eq!(c.admin.port, 8001);
        assert_eq!(c.monitor.port, 8002);
        assert_eq!(c.session.learning_package_path, PathBuf::from("./lp"));
        assert_eq!(
            c.session.extra_learning_package_paths,
            vec![PathBuf::from("/opt/more")]
        );
        assert!(c.headsets.aggressive_disconnect);
        assert!(!c.log.verbose);
        assert_eq!(
            c.mirror.headsets,
            vec!["192.168.68.178", "192.168.68.180:5555"]
        );
    }

    #[test]
    fn prefixed_names_win_over_webplatform_names_whatever_the_order() {
        for env in [
            env(&[("GAMA_VR_RELAY_GAMA__PORT", "2"), ("GAMA_WS_PORT", "1")]),
            env(&[("GAMA_WS_PORT", "1"), ("GAMA_VR_RELAY_GAMA__PORT", "2")]),
        ] {
            let c = load(&Sources {
                env,
                ..Sources::default()
            })
            .unwrap();
            assert_eq!(c.gama.port, 2);
        }
        let c = load(&Sources {
            env: env(&[("EXTRA_VERBOSE", "true")]),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.log.level, "trace");
    }

    #[test]
    fn empty_legacy_values_mean_unset() {
        let c = load(&Sources {
            env: env(&[("VERBOSE", ""), ("EXTRA_LEARNING_PACKAGE_PATH", "")]),
            ..Sources::default()
        })
        .unwrap();
        assert!(!c.log.verbose);
        assert!(c.session.extra_learning_package_paths.is_empty());
    }

    #[test]
    fn prefixed_env_reaches_every_setting() {
        let c = load(&Sources {
            env: env(&[
                ("GAMA_VR_RELAY_HEADSETS__MISSED_HEARTBEATS", "5"),
                ("GAMA_VR_RELAY_GAMA__COMMAND_TIMEOUT_MS", "2500"),
                ("GAMA_VR_RELAY_CONFIG", "ignored-here.toml"),
            ]),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.headsets.missed_heartbeats, 5);
        assert_eq!(c.gama.command_timeout_ms, 2500);
    }

    #[test]
    fn bad_values_name_the_setting_the_value_and_the_source() {
        let err = load(&Sources {
            env: env(&[("GAMA_WS_PORT", "abc")]),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("gama.port"), "{err}");
        assert!(err.contains("abc"), "{err}");
        assert!(err.contains("GAMA_WS_PORT"), "{err}");

        let err = load(&Sources {
            env: env(&[("GAMA_WS_PORT", "70000")]),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("gama.port") && err.contains("70000"), "{err}");
        assert!(err.contains("GAMA_WS_PORT"), "{err}");

        let err = load(&Sources {
            env: env(&[("AGGRESSIVE_DISCONNECT", "maybe")]),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("headsets.aggressive_disconnect") && err.contains("maybe"),
            "{err}"
        );

        let err = load(&Sources {
            cli: vec![("headsets.nope".into(), "1".into(), "--set".into())],
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("headsets.nope") && err.contains("--set"),
            "{err}"
        );
    }

    #[test]
    fn file_errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[headsets]\nmissed_heartbeats = \"many\"\n").unwrap();
        let err = load(&Sources {
            file: Some(file.clone()),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("headsets.missed_heartbeats"), "{err}");
        assert!(err.contains("bad.toml"), "{err}");

        std::fs::write(&file, "[headsets]\nmisssed = 1\n").unwrap();
        let err = load(&Sources {
            file: Some(file.clone()),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("misssed"), "{err}");

        std::fs::write(&file, "this is not toml [").unwrap();
        let err = load(&Sources {
            file: Some(file),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.toml"), "{err}");

        let err = load(&Sources {
            file: Some(dir.path().join("missing.toml")),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn relations_between_settings_are_checked() {
        let err = load(&Sources {
            env: env(&[
                ("GAMA_VR_RELAY_HEADSETS__MIN_HEARTBEAT_MS", "9000"),
                ("GAMA_VR_RELAY_HEADSETS__MAX_HEARTBEAT_MS", "2000"),
            ]),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("headsets.max_heartbeat_ms") && err.contains("2000"),
            "{err}"
        );

        let err = load(&Sources {
            cli: vec![("headsets.host".into(), "not-an-ip".into(), "--set".into())],
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("headsets.host") && err.contains("not-an-ip"),
            "{err}"
        );
        assert!(err.contains("--set"), "{err}");
    }

    fn dotenv(dir: &Path, vars: &[(&str, &str)]) -> Option<DotEnv> {
        Some(DotEnv {
            path: dir.join(".env"),
            vars: env(vars),
        })
    }

    #[test]
    fn a_dotenv_counts_below_the_environment_and_its_paths_lead_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let extra = std::env::join_paths([Path::new("more"), elsewhere.path()]).unwrap();
        let c = load(&Sources {
            env: env(&[("GAMA_WS_PORT", "1001")]),
            dotenv: dotenv(
                dir.path(),
                &[
                    ("GAMA_WS_PORT", "2002"),
                    ("HEADSET_WS_PORT", "8181"),
                    ("GAMA_IP_ADDRESS", "./not-a-path"),
                    ("LEARNING_PACKAGE_PATH", "./learning-packages/../lp"),
                    ("EXTRA_LEARNING_PACKAGE_PATH", extra.to_str().unwrap()),
                    ("GAMA_VR_RELAY_RECORD__FILE", "session.jsonl"),
                    ("GAMA_VR_RELAY_LOG__FILE", ""),
                ],
            ),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.gama.port, 1001, "the real environment wins");
        assert_eq!(c.headsets.port, 8181);
        assert_eq!(c.gama.host, "./not-a-path", "only paths are resolved");
        assert_eq!(c.session.learning_package_path, dir.path().join("lp"));
        assert_eq!(
            c.session.extra_learning_package_paths,
            [dir.path().join("more"), elsewhere.path().to_path_buf()]
        );
        assert_eq!(c.record.file, dir.path().join("session.jsonl"));
        assert_eq!(c.log.file, PathBuf::new(), "empty means unset");

        // The same names from the real environment keep leading from the working directory.
        let c = load(&Sources {
            env: env(&[("LEARNING_PACKAGE_PATH", "./lp")]),
            dotenv: dotenv(dir.path(), &[("LEARNING_PACKAGE_PATH", "./other")]),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.session.learning_package_path, PathBuf::from("./lp"));
    }

    #[test]
    fn a_bad_value_in_a_dotenv_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&Sources {
            dotenv: dotenv(dir.path(), &[("VERBOSE", "notabool")]),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        let file = dir.path().join(".env");
        assert!(
            err.contains("log.verbose")
                && err.contains("notabool")
                && err.contains(&format!("VERBOSE in {}", file.display())),
            "{err}"
        );
    }

    #[test]
    fn the_default_packages_folder_is_the_working_directorys_else_the_executables() {
        let cwd = tempfile::tempdir().unwrap();
        let exe = tempfile::tempdir().unwrap();
        let places = Places {
            cwd: cwd.path().to_path_buf(),
            exe_dir: Some(exe.path().to_path_buf()),
        };
        let main_folder = |sources: Sources| load(&sources).unwrap().session.learning_package_path;
        let default = Config::default().session.learning_package_path;
        let with = |env_vars: &[(&str, &str)]| Sources {
            env: env(env_vars),
            places: places.clone(),
            ..Sources::default()
        };
        // Neither has one: the default stays, and discovery reports it missing.
        assert_eq!(main_folder(with(&[])), default);
        std::fs::create_dir(exe.path().join("learning-packages")).unwrap();
        assert_eq!(main_folder(with(&[])), exe.path().join("learning-packages"));
        // Set by anything, it is what was set.
        assert_eq!(
            main_folder(with(&[("LEARNING_PACKAGE_PATH", "./learning-packages")])),
            PathBuf::from("./learning-packages")
        );
        std::fs::create_dir(cwd.path().join("learning-packages")).unwrap();
        assert_eq!(main_folder(with(&[])), default);
    }

    #[test]
    fn heartbeat_is_clamped() {
        let c = Config::default();
        assert_eq!(c.headsets.clamp_heartbeat(0), 1000);
        assert_eq!(c.headsets.clamp_heartbeat(5000), 5000);
        assert_eq!(c.headsets.clamp_heartbeat(10_000_000), 60000);
    }
}
