//! scrcpy's server, as the teacher installed it: where its file is, which version it is, and the
//! command that starts it on a headset.
//!
//! The server is a small Android program scrcpy pushes to the device and starts with
//! `app_process`; its first argument must be its own version exactly, or it stops at once. Its
//! file is found where scrcpy installs it (`SCRCPY_SERVER_PATH`, next to the `scrcpy` program,
//! `<prefix>/share/scrcpy/`, the usual package folders) or given by `mirror.scrcpy_server`; its
//! version is given by `mirror.scrcpy_version`, or asked of the file itself on a headset (started
//! with version `0`, it answers with its own).

use std::path::{Path, PathBuf};

use crate::config::{MirrorConfig, MirrorModel};

/// Where the server goes on the headset (readable by the shell user; scrcpy's own choice).
pub(crate) const DEVICE_PATH: &str = "/data/local/tmp/scrcpy-server.jar";

/// The server file: from the setting, or where scrcpy installs it.
pub(crate) fn find_server(config: &MirrorConfig) -> Option<PathBuf> {
    if !config.scrcpy_server.as_os_str().is_empty() {
        return config
            .scrcpy_server
            .is_file()
            .then(|| config.scrcpy_server.clone());
    }
    if let Some(p) = std::env::var_os("SCRCPY_SERVER_PATH").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    candidates().into_iter().find(|p| p.is_file())
}

/// Where scrcpy puts its server, in the order scrcpy itself looks, then the packages' folders.
fn candidates() -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(program) = on_path(if cfg!(windows) {
        "scrcpy.exe"
    } else {
        "scrcpy"
    }) {
        let program = std::fs::canonicalize(&program).unwrap_or(program);
        if let Some(dir) = program.parent() {
            list.push(dir.join("scrcpy-server"));
            list.push(dir.join("../share/scrcpy/scrcpy-server"));
        }
    }
    // Windows package managers put a shim on the PATH, not scrcpy itself.
    if cfg!(windows) {
        if let Some(data) = std::env::var_os("ProgramData") {
            list.push(PathBuf::from(data).join(r"chocolatey\lib\scrcpy\tools\scrcpy-server"));
        }
        if let Some(home) = std::env::var_os("USERPROFILE") {
            list.push(PathBuf::from(home).join(r"scoop\apps\scrcpy\current\scrcpy-server"));
        }
    }
    for fixed in [
        "/usr/share/scrcpy/scrcpy-server",
        "/usr/local/share/scrcpy/scrcpy-server",
        "/opt/homebrew/share/scrcpy/scrcpy-server",
        "/opt/local/share/scrcpy/scrcpy-server",
        "/snap/scrcpy/current/usr/share/scrcpy/scrcpy-server",
    ] {
        list.push(PathBuf::from(fixed));
    }
    list
}

/// A program on the `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The version a server named when started with the wrong one: scrcpy prints "The server version
/// (3.3.4) does not match the client (0)".
pub(crate) fn version_in(output: &str) -> Option<String> {
    let rest = output.split("The server version (").nth(1)?;
    let version = rest.split(')').next()?.trim();
    (!version.is_empty() && version.len() < 32).then(|| version.to_string())
}

/// What starts the server on a headset, for stream id `scid` (8 hex digits on the device), showing
/// the part `view` says of its display (its width and height swapped when `turned`).
pub(crate) fn start_command(
    version: &str,
    scid: u32,
    config: &MirrorConfig,
    view: Option<&MirrorModel>,
    turned: bool,
) -> String {
    let mut options = vec![
        format!("scid={:08x}", scid & 0x7fff_ffff),
        "log_level=info".to_string(),
        "tunnel_forward=true".to_string(),
        "audio=false".to_string(),
        "control=false".to_string(),
        "video_codec=h264".to_string(),
        format!("max_size={}", config.max_size),
        format!("video_bit_rate={}", config.bit_rate),
        format!("max_fps={}", config.max_fps),
        // Key frames often: a screen opened late, or a viewer that fell behind, starts from one.
        format!(
            "video_codec_options=i-frame-interval={}",
            config.key_frame_interval_s
        ),
    ];
    if version_major(version) < 4 {
        options.push("send_codec_meta=true".into());
    }
    if let Some(view) = view {
        if let Some([w, h, x, y]) = view.crop_numbers() {
            let (w, h) = if turned { (h, w) } else { (w, h) };
            options.push(format!("crop={w}:{h}:{x}:{y}"));
        }
        if view.angle != 0.0 {
            options.push(format!("angle={}", view.angle));
        }
    }
    format!(
        "CLASSPATH={DEVICE_PATH} app_process / com.genymobile.scrcpy.Server {version} {}",
        options.join(" ")
    )
}

fn version_major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether a value may go on the device's command line unquoted (scrcpy's own rule).
pub(crate) fn safe_for_shell(value: &str) -> bool {
    !value.is_empty()
        && value.len() < 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

/// The server file's bytes (read once per start: scrcpy deletes its own file when it starts).
pub(crate) fn read_server(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_a_server_names() {
        let out = "[server] ERROR: The server version (3.3.4) does not match the client (0)\n\
                   java.lang.IllegalArgumentException…";
        assert_eq!(version_in(out).as_deref(), Some("3.3.4"));
        assert_eq!(version_in("[server] INFO: Device: Quest"), None);
        assert!(safe_for_shell("4.1") && !safe_for_shell("4.1; rm -rf /") && !safe_for_shell(""));
    }

    #[test]
    fn start_commands_name_the_version_first() {
        let config: crate::config::Config = crate::config::Config::default();
        let v3 = start_command("3.3.4", 0x1a2b3c4d, &config.mirror, None, false);
        assert!(v3.starts_with(
            "CLASSPATH=/data/local/tmp/scrcpy-server.jar app_process / com.genymobile.scrcpy.Server 3.3.4 scid=1a2b3c4d "
        ), "{v3}");
        assert!(v3.contains("tunnel_forward=true") && v3.contains("audio=false"));
        assert!(v3.contains("send_codec_meta=true"));
        let v4 = start_command("4.1", 7, &config.mirror, None, false);
        assert!(v4.contains("Server 4.1 scid=00000007") && !v4.contains("send_codec_meta"));
        assert!(!v4.contains("crop=") && !v4.contains("angle="));
    }

    #[test]
    fn a_quest_shows_one_eye_upright_and_its_crop_turns() {
        let config: crate::config::Config = crate::config::Config::default();
        let quest = config
            .mirror
            .model("quest_3")
            .expect("Quest_3 in the defaults");
        let command = start_command("4.1", 1, &config.mirror, Some(quest), false);
        assert!(
            command.contains(" crop=1482:1570:300:250") && command.contains(" angle=23"),
            "{command}"
        );
        let turned = start_command("4.1", 1, &config.mirror, Some(quest), true);
        assert!(turned.contains(" crop=1570:1482:300:250"), "{turned}");
        let s = config.mirror.model("Quest_3S").unwrap();
        let command = start_command("4.1", 1, &config.mirror, Some(s), false);
        assert!(
            command.contains(" crop=1482:1570:170:150") && !command.contains("angle"),
            "{command}"
        );
    }
}
