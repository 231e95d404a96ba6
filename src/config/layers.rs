//! How the settings are layered, weakest first: the built-in defaults, `--config FILE`, the
//! environment (the SIMPLE webplatform's `.env` names and `GAMA_VR_RELAY_<SECTION>__<KEY>`, then
//! the `.env` file's variables the environment does not set), and the command line (`--set` and the
//! named flags).
//!
//! Values given as text (environment, command line) are converted according to the type of the
//! setting's default, so `AGGRESSIVE_DISCONNECT=yes` and `--set gama.port=1001` both work, and each
//! layer remembers where it came from so that a bad value is reported with the variable or flag
//! that carried it.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::dotenv::{self, DotEnv, Places};
use super::error::{ConfigError, figment_error};
use super::settings::{Config, DEFAULT_TOML, resolve_path};

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

/// The name the built-in defaults go by in error messages, and how [`locate_default_packages`]
/// knows that nothing else set a value.
const DEFAULTS: &str = "built-in defaults";

/// Resolves the layered configuration and validates it.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let defaults = Figment::from(Named {
        name: DEFAULTS,
        provider: Toml::string(DEFAULT_TOML),
    });
    let mut figment = defaults.clone();
    let env = environment(sources);
    if let Some(path) = &sources.file {
        if !path.is_file() {
            return Err(ConfigError::File {
                path: path.clone(),
                message: "no such file".into(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    for var in env {
        if let Some(layer) = env_setting(&defaults, var)? {
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

/// The environment, then the `.env`'s variables that it does not set (real variables win).
fn environment(sources: &Sources) -> Vec<EnvVar<'_>> {
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
    env
}

/// The setting one variable gives, if it is one of the relay's (a webplatform name or a prefixed
/// one) and not empty.
fn env_setting(defaults: &Figment, var: EnvVar) -> Result<Option<Setting>, ConfigError> {
    let EnvVar {
        name,
        value,
        origin,
        base,
    } = var;
    if name == "EXTRA_VERBOSE" {
        // The webplatform's most talkative level.
        return Ok((parse_bool(value) == Some(true)).then(|| Setting {
            key: "log.level".into(),
            value: Value::from("trace".to_string()),
            origin,
        }));
    }
    let key = if let Some((_, key)) = LEGACY_ENV.iter().find(|(n, _)| *n == name) {
        (*key).to_string()
    } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
        match rest.split_once("__") {
            Some((section, key)) => {
                format!("{}.{}", section.to_lowercase(), key.to_lowercase())
            }
            // GAMA_VR_RELAY_CONFIG and friends are command-line flags read by the binary.
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    text_setting(defaults, &key, value, &origin, base)
}

/// When nothing sets the main learning-package folder, its default (`./learning-packages`) is the
/// working directory's, or, when that has none, the one beside the executable.
fn locate_default_packages(config: &mut Config, figment: &Figment, places: &Places) {
    let key = "session.learning_package_path";
    if figment
        .find_metadata(key)
        .is_none_or(|m| m.name != DEFAULTS)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{env, load_error};

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
        let err = load_error(Sources {
            env: env(&[("GAMA_WS_PORT", "abc")]),
            ..Sources::default()
        });
        assert!(err.contains("gama.port"), "{err}");
        assert!(err.contains("abc"), "{err}");
        assert!(err.contains("GAMA_WS_PORT"), "{err}");

        let err = load_error(Sources {
            env: env(&[("GAMA_WS_PORT", "70000")]),
            ..Sources::default()
        });
        assert!(err.contains("gama.port") && err.contains("70000"), "{err}");
        assert!(err.contains("GAMA_WS_PORT"), "{err}");

        let err = load_error(Sources {
            env: env(&[("AGGRESSIVE_DISCONNECT", "maybe")]),
            ..Sources::default()
        });
        assert!(
            err.contains("headsets.aggressive_disconnect") && err.contains("maybe"),
            "{err}"
        );

        let err = load_error(Sources {
            cli: vec![("headsets.nope".into(), "1".into(), "--set".into())],
            ..Sources::default()
        });
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
        let err = load_error(Sources {
            file: Some(file.clone()),
            ..Sources::default()
        });
        assert!(err.contains("headsets.missed_heartbeats"), "{err}");
        assert!(err.contains("bad.toml"), "{err}");

        std::fs::write(&file, "[headsets]\nmisssed = 1\n").unwrap();
        let err = load_error(Sources {
            file: Some(file.clone()),
            ..Sources::default()
        });
        assert!(err.contains("misssed"), "{err}");

        std::fs::write(&file, "this is not toml [").unwrap();
        let err = load_error(Sources {
            file: Some(file),
            ..Sources::default()
        });
        assert!(err.contains("bad.toml"), "{err}");

        let err = load_error(Sources {
            file: Some(dir.path().join("missing.toml")),
            ..Sources::default()
        });
        assert!(err.contains("missing.toml"), "{err}");
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
        let err = load_error(Sources {
            dotenv: dotenv(dir.path(), &[("VERBOSE", "notabool")]),
            ..Sources::default()
        });
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
}
