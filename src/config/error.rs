//! Why a configuration could not be built, always naming the setting and where its value came
//! from (a file, a variable of the environment or of a `.env`, a command-line flag), so a teacher
//! can fix it without reading the code.

use std::path::PathBuf;

use figment::{Figment, Metadata};

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

/// `(from <where>)` for an error message: the provider's name, and the file when there is one.
pub(super) fn origin_hint(metadata: &Metadata) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => format!(" (from {})", path.display()),
        _ => format!(" (from {})", metadata.name),
    }
}

/// A figment error as a [`ConfigError`]: a file that does not parse names the file, a bad value
/// names its setting and the layer that gave it.
pub(super) fn figment_error(figment: &Figment, error: figment::Error) -> ConfigError {
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
