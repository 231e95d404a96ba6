//! Learning packages: the `settings.json` files that tell the relay which GAMA models it can launch
//! (protocol.md §8.4).
//!
//! Discovery follows the webplatform so existing package folders work unchanged: a `settings.json`
//! in each configured folder and in each of its immediate sub-folders, each holding one model
//! (`json_settings`), a catalog of entries (nested catalogs allowed) or a list of entries. Paths in a
//! file are relative to that file. Unlike the webplatform, a malformed file is reported and skipped
//! instead of stopping the relay (§11.21).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::control::said::{Code, Said};

/// A launchable model.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Position in the flat model table: the id the admin API uses.
    pub index: usize,
    /// Display name.
    pub name: String,
    /// Absolute path of the `.gaml` file, as GAMA needs it.
    pub model_file_path: PathBuf,
    /// Experiment to load.
    pub experiment_name: String,
    /// Players needed before a launch (unless forced).
    pub min_players: Option<u32>,
    /// Most players in the game at once.
    pub max_players: Option<u32>,
    /// Splash image, when the file exists.
    #[serde(skip)]
    pub splashscreen: Option<PathBuf>,
    /// The webplatform's monitoring hint, kept for display.
    pub selected_monitoring: Option<String>,
    /// `load` parameters (`[{"name":…,"value":…,"type":…}]`), when the package gives some.
    #[serde(skip)]
    pub parameters: Option<Box<RawValue>>,
    /// The `settings.json` this model comes from.
    pub settings_file: PathBuf,
    /// Its entry in that file, as the webplatform showed it to its monitor clients: the file's
    /// fields, `model_file_path` made absolute (see [`settings_json`]).
    #[serde(skip)]
    pub settings: std::sync::Arc<RawValue>,
}

/// A node of the catalog tree shown to the operator.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum Entry {
    /// A model, by index into [`Catalog::models`].
    #[serde(rename = "json_settings")]
    Model {
        /// Display name.
        name: String,
        /// Index into the model table.
        model_index: usize,
    },
    /// A named group of entries.
    #[serde(rename = "catalog")]
    Catalog {
        /// Display name.
        name: String,
        /// URL of its splash image on the admin API, when the file exists.
        #[serde(skip_serializing_if = "Option::is_none")]
        splashscreen: Option<String>,
        /// Models first, then sub-catalogs, as the webplatform listed them.
        entries: Vec<Entry>,
    },
}

/// Every model found, and the tree they are presented in.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    /// Flat model table, in discovery order.
    pub models: Vec<Model>,
    /// Top-level entries.
    pub entries: Vec<Entry>,
    /// Problems found while reading the packages, for the operator.
    pub problems: Vec<Said>,
    /// Catalog splash images, by the index in their URL.
    #[serde(skip)]
    pub catalog_splashes: Vec<PathBuf>,
}

impl Catalog {
    /// Scans the given folders (relative ones from `cwd`).
    pub fn discover(folders: &[PathBuf], cwd: &Path) -> Catalog {
        let mut catalog = Catalog::default();
        for folder in folders {
            let folder = native_absolute(cwd, folder);
            if !folder.is_dir() {
                catalog.problem(
                    Code::FolderMissing,
                    &folder,
                    [],
                    format!(
                        "learning-package folder {} does not exist",
                        folder.display()
                    ),
                );
                continue;
            }
            let mut files = Vec::new();
            let own = folder.join("settings.json");
            if own.is_file() {
                files.push(own);
            }
            let mut subdirs: Vec<PathBuf> = match std::fs::read_dir(&folder) {
                Ok(rd) => rd
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect(),
                Err(e) => {
                    catalog.problem(
                        Code::CannotList,
                        &folder,
                        [("message", json!(e.to_string()))],
                        format!("cannot list {}: {e}", folder.display()),
                    );
                    Vec::new()
                }
            };
            subdirs.sort();
            files.extend(
                subdirs
                    .into_iter()
                    .map(|d| d.join("settings.json"))
                    .filter(|f| f.is_file()),
            );
            for file in files {
                catalog.read_file(&file, cwd);
            }
        }
        debug!(models = catalog.models.len(), "learning packages scanned");
        catalog
    }

    /// Something wrong in `path`: logged, and listed on the admin page.
    fn problem<const N: usize>(
        &mut self,
        code: Code,
        path: &Path,
        params: [(&str, Value); N],
        text: String,
    ) {
        warn!("{text}");
        let mut said = Said::new(code, params, text);
        said.params
            .insert("path".into(), json!(path.display().to_string()));
        self.problems.push(said);
    }

    /// The catalog one `settings.json` text describes, as if read from `file`.
    pub fn from_settings(text: &str, file: &Path, cwd: &Path) -> Catalog {
        let mut catalog = Catalog::default();
        catalog.read_text(text, file, cwd);
        catalog
    }

    fn read_file(&mut self, file: &Path, cwd: &Path) {
        match std::fs::read_to_string(file) {
            Ok(text) => self.read_text(&text, file, cwd),
            Err(e) => self.problem(
                Code::CannotRead,
                file,
                [("message", json!(e.to_string()))],
                format!("cannot read {}: {e}", file.display()),
            ),
        }
    }

    fn read_text(&mut self, text: &str, file: &Path, cwd: &Path) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return self.problem(
                    Code::InvalidJson,
                    file,
                    [("message", json!(e.to_string()))],
                    format!(
                        "{} is not valid JSON ({e}); its models are not offered",
                        file.display()
                    ),
                );
            }
        };
        let dir = file.parent().unwrap_or(cwd).to_path_buf();
        let entries = match value {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| self.entry(v, file, &dir, cwd))
                .collect(),
            other => self.entry(other, file, &dir, cwd).into_iter().collect(),
        };
        self.entries.extend(order_entries(entries));
    }

    /// One entry of a file: a catalog (`"type":"catalog"`) or, anything else, a model, as the
    /// webplatform read them. `None`: skipped, the problem noted.
    fn entry(&mut self, value: Value, file: &Path, dir: &Path, cwd: &Path) -> Option<Entry> {
        let Value::Object(obj) = value else {
            self.problem(
                Code::NotAnObject,
                file,
                [],
                format!("{}: an entry is not a JSON object; skipped", file.display()),
            );
            return None;
        };
        if obj.get("type").and_then(Value::as_str) == Some("catalog") {
            return Some(self.catalog_entry(&obj, file, dir, cwd));
        }
        // Anything else is read as a model, as the webplatform did.
        self.model_entry(&obj, file, dir, cwd)
    }

    /// A catalog: its entries (read first, so nested catalogs' splash images come first), then
    /// its own splash image.
    fn catalog_entry(&mut self, obj: &Object, file: &Path, dir: &Path, cwd: &Path) -> Entry {
        let name = text_field(obj, "name");
        let entries: Vec<Entry> = match obj.get("entries") {
            Some(Value::Array(items)) => items
                .clone()
                .into_iter()
                .filter_map(|v| self.entry(v, file, dir, cwd))
                .collect(),
            _ => {
                self.problem(
                    Code::CatalogWithoutEntries,
                    file,
                    [("name", json!(name.as_deref().unwrap_or("")))],
                    format!(
                        "{}: catalog {:?} has no \"entries\" list",
                        file.display(),
                        name.as_deref().unwrap_or("")
                    ),
                );
                Vec::new()
            }
        };
        let splashscreen = self.catalog_splash(obj, dir, cwd);
        Entry::Catalog {
            name: name.unwrap_or_else(|| "Catalog".into()),
            splashscreen,
            entries: order_entries(entries),
        }
    }

    /// The admin API's URL of a catalog's splash image, when the file exists (then kept in
    /// [`Catalog::catalog_splashes`] under the index the URL names).
    fn catalog_splash(&mut self, obj: &Object, dir: &Path, cwd: &Path) -> Option<String> {
        let path = text_field(obj, "splashscreen").and_then(|s| find_file(&s, dir, cwd))?;
        self.catalog_splashes.push(path);
        Some(format!(
            "/api/catalogs/{}/splash",
            self.catalog_splashes.len() - 1
        ))
    }

    /// A model, added to the model table; `None` without its `.gaml` file or its experiment.
    fn model_entry(&mut self, obj: &Object, file: &Path, dir: &Path, cwd: &Path) -> Option<Entry> {
        let name = text_field(obj, "name");
        let (Some(model_path), Some(experiment)) = (
            text_field(obj, "model_file_path"),
            text_field(obj, "experiment_name"),
        ) else {
            self.problem(
                Code::ModelIncomplete,
                file,
                [("name", json!(name.as_deref().unwrap_or("")))],
                format!(
                    "{}: model {:?} needs \"model_file_path\" and \"experiment_name\"; skipped",
                    file.display(),
                    name.as_deref().unwrap_or("")
                ),
            );
            return None;
        };
        let model_file_path = normalize(&absolute(dir, Path::new(&model_path)));
        if !model_file_path.is_file() {
            // GAMA may run on another machine with the same layout; only note it.
            debug!(path = %model_file_path.display(), "model file not found on this machine");
        }
        let min_players = self.players(obj, "minimal_players", file);
        let max_players = self.players(obj, "maximal_players", file);
        let parameters = self.parameters(obj, file);
        let index = self.models.len();
        let settings = settings_json(obj, &model_file_path);
        let name = name.unwrap_or_else(|| experiment.clone());
        self.models.push(Model {
            index,
            name: name.clone(),
            model_file_path,
            experiment_name: experiment,
            min_players,
            max_players,
            splashscreen: text_field(obj, "splashscreen").and_then(|s| find_file(&s, dir, cwd)),
            selected_monitoring: text_field(obj, "selected_monitoring"),
            parameters,
            settings_file: file.to_path_buf(),
            settings,
        });
        Some(Entry::Model {
            name,
            model_index: index,
        })
    }

    /// A number of players (`key`): a whole number, or a string holding one; empty or `null` is
    /// none, anything else a problem and ignored.
    fn players(&mut self, obj: &Object, key: &str, file: &Path) -> Option<u32> {
        let v = obj.get(key)?;
        let parsed = match v {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => s.trim().parse().ok(),
            Value::Null => return None,
            _ => None,
        };
        if parsed.is_none() {
            self.problem(
                Code::NotAWholeNumber,
                file,
                [("key", json!(key)), ("value", json!(v.to_string()))],
                format!(
                    "{}: {key} {v} is not a whole number; ignored",
                    file.display()
                ),
            );
        }
        parsed
    }

    /// A model's `load` parameters, if it has a well-formed list (`[{"name":…,"value":…}]`);
    /// anything else is a problem and ignored.
    fn parameters(&mut self, obj: &Object, file: &Path) -> Option<Box<RawValue>> {
        match obj.get("parameters") {
            None | Some(Value::Null) => None,
            Some(p @ Value::Array(items))
                if items.iter().all(|i| {
                    i.get("name").is_some_and(Value::is_string) && i.get("value").is_some()
                }) =>
            {
                serde_json::value::to_raw_value(p).ok()
            }
            Some(_) => {
                self.problem(
                    Code::BadParameters,
                    file,
                    [],
                    format!(
                        "{}: \"parameters\" must be a list of {{\"name\":…,\"value\":…}}; ignored",
                        file.display()
                    ),
                );
                None
            }
        }
    }
}

/// An entry's fields, as a `settings.json` gives them.
type Object = serde_json::Map<String, Value>;

/// The string value of `key`, if it is a string.
fn text_field(obj: &Object, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A model's entry as the webplatform showed it to its monitor clients: its fields in the order a
/// learning package writes them (then any other, by name), `type` `json_settings` unless the file
/// says otherwise, and `model_file_path` the absolute path the relay sends GAMA.
fn settings_json(
    entry: &serde_json::Map<String, Value>,
    model_file_path: &Path,
) -> std::sync::Arc<RawValue> {
    const ORDER: &[&str] = &[
        "type",
        "name",
        "splashscreen",
        "model_file_path",
        "experiment_name",
        "minimal_players",
        "maximal_players",
        "selected_monitoring",
        "parameters",
    ];
    let path = Value::String(model_file_path.to_string_lossy().into_owned());
    let value = |key: &str| match key {
        "model_file_path" => Some(&path),
        _ => entry.get(key),
    };
    let mut fields: Vec<(&str, Value)> = Vec::new();
    for key in ORDER {
        match (*key, value(key)) {
            (_, Some(v)) => fields.push((key, v.clone())),
            ("type", None) => fields.push((key, Value::from("json_settings"))),
            _ => {}
        }
    }
    for (key, v) in entry {
        if !ORDER.contains(&key.as_str()) {
            fields.push((key, v.clone()));
        }
    }
    let mut text = String::from("{");
    for (i, (key, v)) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&Value::from(*key).to_string());
        text.push(':');
        text.push_str(&v.to_string());
    }
    text.push('}');
    RawValue::from_string(text)
        .map(std::sync::Arc::from)
        .unwrap_or_else(|_| std::sync::Arc::from(RawValue::NULL.to_owned()))
}

/// Models before sub-catalogs, each group in file order.
fn order_entries(entries: Vec<Entry>) -> Vec<Entry> {
    let (models, catalogs): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| matches!(e, Entry::Model { .. }));
    models.into_iter().chain(catalogs).collect()
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// `path` from `base` when relative, as a clean absolute path in the platform's ordinary form:
/// what GAMA is sent and what people read in the log.
pub(crate) fn native_absolute(base: &Path, path: &Path) -> PathBuf {
    normalize(&absolute(base, path))
}

/// Removes `.` and resolves `..` lexically, so GAMA gets a clean absolute path. Nothing is
/// canonicalized (on Windows that gives `\\?\C:\…` verbatim paths, which GAMA cannot open), and a
/// verbatim path that came in anyway (from a setting, or the working directory) is made ordinary
/// first.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in ordinary(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A Windows verbatim path in its ordinary form: `\\?\C:\…` is `C:\…` and
/// `\\?\UNC\server\share\…` is `\\server\share\…`. Its parts are then read again the ordinary way,
/// where `/` separates and `.` and `..` mean what they usually do (not so after `\\?\`). Other paths
/// are returned as they are.
fn ordinary(path: &Path) -> std::borrow::Cow<'_, Path> {
    use std::path::{Component, Prefix};
    let mut components = path.components();
    let Some(Component::Prefix(prefix)) = components.next() else {
        return path.into();
    };
    let mut out = match prefix.kind() {
        Prefix::VerbatimDisk(drive) => PathBuf::from(format!("{}:", char::from(drive))),
        Prefix::VerbatimUNC(server, share) => {
            let mut unc = std::ffi::OsString::from(r"\\");
            unc.push(server);
            unc.push(r"\");
            unc.push(share);
            PathBuf::from(unc)
        }
        _ => return path.into(),
    };
    for c in components {
        out.push(c);
    }
    out.into()
}

/// A file named relative to the settings file, or (as the webplatform's demo writes it) relative to
/// the working directory.
fn find_file(name: &str, dir: &Path, cwd: &Path) -> Option<PathBuf> {
    [
        absolute(dir, Path::new(name)),
        absolute(cwd, Path::new(name)),
    ]
    .into_iter()
    .map(|p| normalize(&p))
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn discovers_models_catalogs_and_skips_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("learning-packages");
        write(
            &root.join("demo/settings.json"),
            r#"{"type":"json_settings","name":"LinkToUnity","splashscreen":"splash/one.png",
                "model_file_path":"./Models/Demo/DemoModelVR.gaml","experiment_name":"vr_xp",
                "minimal_players":"0","maximal_players":"4","selected_monitoring":"gama_screen"}"#,
        );
        write(&root.join("demo/splash/one.png"), "png");
        write(
            &root.join("nested/settings.json"),
            r#"{"type":"catalog","name":"Lessons","entries":[
                {"type":"catalog","name":"Advanced","entries":[
                    {"type":"json_settings","name":"Deep","model_file_path":"deep/d.gaml","experiment_name":"x",
                     "maximal_players":2,"parameters":[{"name":"nb","value":3,"type":"int"}]}]},
                {"name":"Flat","model_file_path":"../shared/f.gaml","experiment_name":"y"},
                {"name":"Broken"}]}"#,
        );
        write(&root.join("zbad/settings.json"), "{ this is not json");
        write(
            &root.join("list/settings.json"),
            r#"[{"name":"InList","model_file_path":"l.gaml","experiment_name":"z","minimal_players":"two"}]"#,
        );
        let c = Catalog::discover(&[PathBuf::from("learning-packages")], tmp.path());
        let names: Vec<_> = c.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["LinkToUnity", "InList", "Deep", "Flat"]);
        let demo = &c.models[0];
        assert_eq!(
            demo.model_file_path,
            root.join("demo/Models/Demo/DemoModelVR.gaml")
        );
        assert_eq!(demo.experiment_name, "vr_xp");
        assert_eq!((demo.min_players, demo.max_players), (Some(0), Some(4)));
        assert_eq!(demo.splashscreen, Some(root.join("demo/splash/one.png")));
        let deep = &c.models[2];
        assert_eq!(deep.max_players, Some(2));
        assert_eq!(
            deep.parameters.as_ref().unwrap().get(),
            r#"[{"name":"nb","type":"int","value":3}]"#
        );
        assert_eq!(c.models[3].model_file_path, root.join("shared/f.gaml"));
        assert_eq!(c.models[1].min_players, None);
        // The nested catalog lists its model before its sub-catalog.
        let json = serde_json::to_value(&c.entries).unwrap();
        assert_eq!(json[2]["type"], "catalog");
        assert_eq!(json[2]["entries"][0]["name"], "Flat");
        assert_eq!(json[2]["entries"][1]["name"], "Advanced");
        assert_eq!(json[2]["entries"][1]["entries"][0]["model_index"], 2);
        // Each problem names its file, with a code and values the page words in its language.
        let said = |code: &str| {
            c.problems
                .iter()
                .find(|p| p.code.as_str() == code)
                .unwrap_or_else(|| panic!("no {code} in {:?}", c.problems))
        };
        assert!(said("invalid_json").text.contains("zbad"));
        assert!(
            said("invalid_json").params["path"]
                .as_str()
                .unwrap()
                .contains("zbad")
        );
        assert_eq!(said("model_incomplete").params["name"], "Broken");
        assert_eq!(said("not_a_whole_number").params["key"], "minimal_players");
        assert!(said("not_a_whole_number").text.contains("minimal_players"));
    }

    #[test]
    fn missing_folder_is_a_problem_not_a_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Catalog::discover(&[PathBuf::from("nope")], tmp.path());
        assert!(c.models.is_empty());
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].code, Code::FolderMissing);
    }

    #[test]
    fn paths_are_made_absolute_lexically() {
        let base = std::env::temp_dir().join("relay-base");
        assert_eq!(
            native_absolute(&base, Path::new("./lp/./demo/../m.gaml")),
            base.join("lp").join("m.gaml")
        );
        let elsewhere = std::env::temp_dir().join("elsewhere");
        assert_eq!(native_absolute(&base, &elsewhere), elsewhere);
        // A link is not followed: GAMA gets the path the package was found at.
        #[cfg(unix)]
        {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir(tmp.path().join("real")).unwrap();
            std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
            write(
                &tmp.path().join("link/one/settings.json"),
                r#"{"name":"Solo","model_file_path":"m.gaml","experiment_name":"e"}"#,
            );
            let c = Catalog::discover(&[PathBuf::from("link")], tmp.path());
            assert_eq!(
                c.models[0].model_file_path,
                tmp.path().join("link/one/m.gaml")
            );
        }
    }

    /// GAMA (Java) cannot open `\\?\` verbatim paths: they become ordinary ones.
    #[cfg(windows)]
    #[test]
    fn windows_paths_are_ordinary_never_verbatim() {
        // Compared as text: what GAMA is sent, separators included.
        let native = |base: &str, path: &str| {
            native_absolute(Path::new(base), Path::new(path))
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(
            native(r"C:\Users\t", r".\lp\demo\..\m.gaml"),
            r"C:\Users\t\lp\m.gaml"
        );
        assert_eq!(
            native(r"C:\Users\t", "./lp/m.gaml"),
            r"C:\Users\t\lp\m.gaml"
        );
        assert_eq!(native(r"C:\x", r"\\?\D:\lp\.\m.gaml"), r"D:\lp\m.gaml");
        assert_eq!(
            native(r"\\?\C:\relay", "./lp/../lp/m.gaml"),
            r"C:\relay\lp\m.gaml"
        );
        assert_eq!(
            native(r"C:\x", r"\\?\UNC\server\share\lp\m.gaml"),
            r"\\server\share\lp\m.gaml"
        );
        assert_eq!(
            native(r"\\server\share\lp", "m.gaml"),
            r"\\server\share\lp\m.gaml"
        );
        // A whole discovery from a verbatim working directory.
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp.path().join("lp/one/settings.json"),
            r#"{"name":"Solo","model_file_path":"./models/m.gaml","experiment_name":"e"}"#,
        );
        let verbatim = std::fs::canonicalize(tmp.path()).unwrap();
        assert!(
            verbatim.to_string_lossy().starts_with(r"\\?\"),
            "{verbatim:?}"
        );
        let c = Catalog::discover(&[PathBuf::from("lp")], &verbatim);
        let sent = c.models[0].model_file_path.to_string_lossy().into_owned();
        assert!(!sent.starts_with(r"\\?\"), "{sent}");
        assert!(sent.ends_with(r"\lp\one\models\m.gaml"), "{sent}");
        assert_eq!(sent.as_bytes()[1..3], *b":\\", "{sent}");
    }

    #[test]
    fn a_package_folder_can_itself_hold_settings() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp.path().join("one/settings.json"),
            r#"{"name":"Solo","model_file_path":"m.gaml","experiment_name":"e"}"#,
        );
        let c = Catalog::discover(&[tmp.path().join("one")], Path::new("/"));
        assert_eq!(c.models.len(), 1);
        assert_eq!(c.models[0].model_file_path, tmp.path().join("one/m.gaml"));
    }
}
