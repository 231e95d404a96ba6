//! The webplatform's `.env` file: which one the relay reads, and where its paths lead.
//!
//! Teachers unzip the relay into a folder with the webplatform's `.env` and `learning-packages/`,
//! then double-click it, or start it from a shortcut or a terminal somewhere else: the working
//! directory is often not the relay's folder. So the `.env` of the working directory wins, and
//! otherwise the one beside the executable is read; a relative path in a `.env`
//! (`LEARNING_PACKAGE_PATH=./learning-packages`) leads from that file's folder, whatever the working
//! directory. The file is parsed, never applied to the process environment: real variables win over
//! it, and each setting it gives is reported as coming from it.
//!
//! Paths are never canonicalized: on Windows that turns `C:\…` into a `\\?\C:\…` verbatim path,
//! which GAMA cannot open.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The file name the webplatform used, and the relay looks for.
pub const FILE_NAME: &str = ".env";

/// Where the relay looks for its `.env` and for its default learning-package folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    /// The working directory (empty: the process's, as a relative path).
    pub cwd: PathBuf,
    /// The executable's folder, when known.
    pub exe_dir: Option<PathBuf>,
}

impl Places {
    /// The running process's working directory and executable folder, in their ordinary form.
    pub fn of_process() -> Places {
        let native = |p: PathBuf| crate::control::packages::native_absolute(Path::new(""), &p);
        Places {
            cwd: std::env::current_dir().map(native).unwrap_or_default(),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| native(dir.to_path_buf()))),
        }
    }

    /// The `.env` to read: the working directory's, else the one beside the executable.
    pub fn find_dotenv(&self) -> Option<PathBuf> {
        std::iter::once(self.cwd.as_path())
            .chain(self.exe_dir.as_deref())
            .map(|dir| dir.join(FILE_NAME))
            .find(|file| file.is_file())
    }

    /// A `.env.txt` where a `.env` was looked for: Notepad adds `.txt` when saving, and Windows
    /// hides it. Only worth a hint when no `.env` was found.
    pub fn misnamed_dotenv(&self) -> Option<PathBuf> {
        std::iter::once(self.cwd.as_path())
            .chain(self.exe_dir.as_deref())
            .map(|dir| dir.join(".env.txt"))
            .find(|file| file.is_file())
    }

    /// Where [`Places::find_dotenv`] looked, for a person: `C:\work` or `C:\work and C:\relay`.
    pub fn searched(&self) -> String {
        match &self.exe_dir {
            Some(exe) if *exe != self.cwd => {
                format!("{} and {}", self.cwd.display(), exe.display())
            }
            _ => self.cwd.display().to_string(),
        }
    }
}

/// A `.env` file that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnv {
    /// Its path, as found.
    pub path: PathBuf,
    /// Its variables in file order; a name given twice keeps its last value, as the webplatform
    /// (Node's dotenv) read it.
    pub vars: Vec<(String, String)>,
}

impl DotEnv {
    /// Reads and parses a `.env` file (UTF-8, with or without a byte-order mark, any line ends).
    pub fn read(path: &Path) -> Result<DotEnv, ConfigError> {
        let error = |message: String| ConfigError::DotEnv {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        // Notepad may start the file with a byte-order mark, which dotenvy would take as part of
        // the first name.
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let mut vars: Vec<(String, String)> = Vec::new();
        for item in dotenvy::from_read_iter(text) {
            let (name, value) = item.map_err(|e| error(plain(&e)))?;
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
        }
        Ok(DotEnv {
            path: path.to_path_buf(),
            vars,
        })
    }

    /// The folder its relative paths lead from.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// The value of one variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// dotenvy's error in plain words (its own say "Error parsing line: …").
fn plain(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, at) => {
            format!("cannot read the line {line:?} (at character {at})")
        }
        other => other.to_string(),
    }
}

/// Whether a setting names a file or a folder (`file`, `…_file`, `…_path`, `…_paths`), so that a
/// relative value from a `.env` leads from that file's folder.
pub(super) fn is_path_setting(key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    name == "file" || name.ends_with("_file") || name.ends_with("_path") || name.ends_with("_paths")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_directory_wins_over_the_executable_folder() {
        let cwd = tempfile::tempdir().unwrap();
        let exe = tempfile::tempdir().unwrap();
        let places = Places {
            cwd: cwd.path().to_path_buf(),
            exe_dir: Some(exe.path().to_path_buf()),
        };
        assert_eq!(places.find_dotenv(), None);
        assert_eq!(places.misnamed_dotenv(), None);
        std::fs::write(exe.path().join(".env.txt"), "A=0\n").unwrap();
        assert_eq!(places.find_dotenv(), None);
        assert_eq!(places.misnamed_dotenv(), Some(exe.path().join(".env.txt")));
        std::fs::write(exe.path().join(".env"), "A=1\n").unwrap();
        assert_eq!(places.find_dotenv(), Some(exe.path().join(".env")));
        std::fs::write(cwd.path().join(".env"), "A=2\n").unwrap();
        assert_eq!(places.find_dotenv(), Some(cwd.path().join(".env")));
        // A folder named .env is not a file.
        let odd = tempfile::tempdir().unwrap();
        std::fs::create_dir(odd.path().join(".env")).unwrap();
        let places = Places {
            cwd: odd.path().to_path_buf(),
            exe_dir: None,
        };
        assert_eq!(places.find_dotenv(), None);
        assert_eq!(places.searched(), odd.path().display().to_string());
    }

    #[test]
    fn windows_editors_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        // Notepad's byte-order mark and CRLF line ends; a name given twice keeps its last value.
        std::fs::write(
            &file,
            "\u{feff}GAMA_WS_PORT=1000\r\n# comment\r\nLEARNING_PACKAGE_PATH=\"./learning-packages\"\r\nGAMA_WS_PORT=1001\r\n",
        )
        .unwrap();
        let env = DotEnv::read(&file).unwrap();
        assert_eq!(env.get("GAMA_WS_PORT"), Some("1001"));
        assert_eq!(
            env.get("LEARNING_PACKAGE_PATH"),
            Some("./learning-packages")
        );
        assert_eq!(env.vars.len(), 2);
        assert_eq!(env.dir(), dir.path());
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(&file, "GOOD=1\nthis line is not a setting\n").unwrap();
        let err = DotEnv::read(&file).unwrap_err().to_string();
        assert!(err.contains(".env") && err.contains("this line"), "{err}");
        let err = DotEnv::read(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn path_settings_are_recognised_by_name() {
        for key in [
            "session.learning_package_path",
            "session.extra_learning_package_paths",
            "record.file",
            "log.file",
        ] {
            assert!(is_path_setting(key), "{key}");
        }
        for key in [
            "gama.host",
            "log.file_count",
            "log.file_max_bytes",
            "admin.port",
        ] {
            assert!(!is_path_setting(key), "{key}");
        }
    }
}
