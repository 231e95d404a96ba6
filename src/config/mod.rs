//! Configuration: typed settings, their layered sources, and validation.
//!
//! The built-in defaults are `config/default.toml`, embedded at compile time, so the documented file
//! and the behaviour can never drift apart. Layers, weakest first: defaults, `--config FILE`, the
//! environment (the SIMPLE webplatform's `.env` names and `GAMA_VR_RELAY_<SECTION>__<KEY>`), and the
//! command line. Values given as text (environment, command line) are converted according to the type
//! of the setting's default, so `AGGRESSIVE_DISCONNECT=yes` and `--set gama.port=1001` both work and a
//! bad value is reported with the variable or flag that carried it.
//!
//! The parts, each its own file:
//! - [`settings`]: the typed settings, one struct per section, their defaults and helpers;
//! - [`layers`]: how defaults, the file, the environment, a `.env` and the command line combine
//!   ([`load`]);
//! - [`dotenv`]: which `.env` is read and where its relative paths lead (the relay is often started
//!   from another folder than its own);
//! - [`validate`]: ranges and relations that types alone cannot check;
//! - [`error`]: [`ConfigError`], which always names the setting and where its value came from;
//! - [`describe`]: the settings as the start-up log and `--check-config` show them.
//!
//! Everything public is re-exported here: `config::Config`, `config::load`, and so on.

mod describe;
mod dotenv;
mod error;
mod layers;
mod settings;
mod validate;

pub use dotenv::{DotEnv, Places};
pub use error::ConfigError;
pub use layers::{ENV_PREFIX, IGNORED_LEGACY_ENV, LEGACY_ENV, Sources, load};
pub use settings::{
    AdminConfig, Config, DEFAULT_TOML, GamaConfig, HeadsetConfig, LogConfig,
    MONITOR_MAX_SILENCE_MS, MirrorConfig, MirrorModel, MonitorConfig, PassthroughConfig,
    RecordConfig, SessionConfig, SessionsConfig, Takeover, is_loopback, listen_addr, resolve_path,
};

/// What the tests of the layering and of the validation share.
#[cfg(test)]
mod testing {
    use super::{Sources, load};

    /// Environment variables from pairs of name and value.
    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The error loading `sources` gives, in words.
    pub(super) fn load_error(sources: Sources) -> String {
        load(&sources).unwrap_err().to_string()
    }
}
