//! The binary: configuration errors, `.env` (found in the working directory or beside the
//! program), ports that cannot be bound, signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use relay_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_gama-vr-relay");

/// A command for the relay in its own empty working directory, without the caller's environment
/// leaking settings into it.
fn relay(dir: &Path) -> Command {
    relay_at(Path::new(BIN), dir)
}

/// [`relay`] for a copy of the program at `exe`.
fn relay_at(exe: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Flags that keep the relay on loopback and free ports; returns the admin port.
fn loopback_args(cmd: &mut Command) -> u16 {
    let admin_port = free_port();
    cmd.args([
        "--set",
        "headsets.host=127.0.0.1",
        "--admin-host",
        "127.0.0.1",
        "--headset-port",
        &free_port().to_string(),
        "--admin-port",
        &admin_port.to_string(),
        "--gama-port",
        &free_port().to_string(),
        "--set",
        "passthrough.port=0",
        "--set",
        "monitor.port=0",
    ]);
    admin_port
}

fn run_to_end(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The child's stderr, line by line.
fn lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads the child's stderr until a line contains `needle`; returns everything read.
fn wait_for_line(child: &mut Child, needle: &str) -> String {
    let rx = lines(child);
    wait_in(&rx, needle)
}

fn wait_in(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            return seen;
        }
    }
    panic!("no line containing {needle:?} within 10 s; got:\n{seen}");
}

#[test]
fn an_invalid_value_is_an_error_naming_the_setting_the_value_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run_to_end(relay(dir.path()).env("GAMA_WS_PORT", "abc"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("gama.port") && err.contains("abc") && err.contains("GAMA_WS_PORT"),
        "{err}"
    );

    let (code, err) = run_to_end(relay(dir.path()).args(["--set", "headsets.missed_heartbeats=0"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("headsets.missed_heartbeats"), "{err}");

    let (code, err) = run_to_end(relay(dir.path()).args(["--config", "nope.toml"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn the_webplatform_dot_env_is_read_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "GAMA_WS_PORT=1000\nGAMA_IP_ADDRESS=localhost\n\nHEADSET_WS_PORT=8080\n\nMONITOR_WS_PORT=8001\n\nVIDEO_WS_PORT=8082\n\n\
         WEB_APPLICATION_HOST=0.0.0.0\nWEB_APPLICATION_PORT=8000\n#WEB_HOSTNAME=simple\n\nVERBOSE=notabool\n\n\
         LEARNING_PACKAGE_PATH=\"./learning-packages\"\n#AGGRESSIVE_DISCONNECT=false\n",
    )
    .unwrap();
    // The .env is read: its bad VERBOSE is reported, naming the variable.
    let (code, err) = run_to_end(&mut relay(dir.path()));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("VERBOSE") && err.contains("notabool"), "{err}");
    // The real environment wins over the .env.
    let mut cmd = relay(dir.path());
    cmd.env("VERBOSE", "false");
    loopback_args(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let log = wait_for_line(&mut child, "headsets: ws://");
    assert!(log.contains("VIDEO_WS_PORT is ignored"), "{log}");
    assert_read_settings_from(&log, &dir.path().join(".env"));
    // Its relative path leads from its folder.
    let packages = dir.path().join("learning-packages");
    assert!(
        log.contains(&format!(
            "learning_package_path={:?}",
            packages.display().to_string()
        )),
        "{log}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_port_in_use_stops_the_relay_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, err) = run_to_end(relay(dir.path()).args([
        "--set",
        "headsets.host=127.0.0.1",
        "--headset-port",
        &port.to_string(),
        "--admin-port",
        &free_port().to_string(),
        "--set",
        "passthrough.port=0",
        "--set",
        "monitor.port=0",
    ]));
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("headsets"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_relay_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = relay(dir.path());
    loopback_args(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    // Starts fine without GAMA, and says so once per outage, not once per retry (about every
    // second with the default backoff cap).
    let rx = lines(&mut child);
    wait_in(&rx, "GAMA unreachable at localhost:");
    let mut later = String::new();
    let until = Instant::now() + Duration::from_millis(2500);
    while let Ok(line) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        later.push_str(&line);
    }
    assert!(!later.contains("unreachable"), "repeated:\n{later}");
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still running 3 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Closing the terminal window a teacher started the relay from (SIGHUP) stops it as cleanly as
/// SIGTERM does: a recording is complete.
#[cfg(unix)]
#[test]
fn closing_its_terminal_stops_the_relay_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = relay(dir.path());
    loopback_args(&mut cmd);
    cmd.args(["--record", "session.jsonl"]);
    let mut child = cmd.spawn().unwrap();
    let rx = lines(&mut child);
    wait_in(&rx, "headsets: ws://");
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    wait_in(&rx, "shutting down signal=\"SIGHUP (terminal closed)\"");
    wait_in(&rx, "recording finished");
    assert!(child.wait().unwrap().success());
}

/// The webplatform's `.env.example`, byte for byte (simple.webplatform @ 4418c64).
const WEBPLATFORM_ENV_EXAMPLE: &str = r#"GAMA_WS_PORT=1000
GAMA_IP_ADDRESS=localhost

HEADSET_WS_PORT=8080

MONITOR_WS_PORT=8001

WEB_APPLICATION_HOST=0.0.0.0
WEB_APPLICATION_PORT=8000
# Allow reaching webplatform with any mDNS hostname
# http://<WEB_HOSTNAME>.local:<WEB_APPLICATION_PORT>
# => Default to http://simple.local:5173
#WEB_HOSTNAME=simple

VERBOSE=false

LEARNING_PACKAGE_PATH="./learning-packages"
# Be careful, this will display A LOT of messages
#EXTRA_LEARNING_PACKAGE_PATH="/uncommment/and/set/another/path/to/check"

# List IP addresses of headsets you want the middleware to scrcpy
# Each IP should be separated with a ";" as shown below
#HEADSETS_IP="192.168.68.178;192.168.68.180;"

# Will pro-actively entirely remove player from GAMA / Middleware if device disconnect
# Default to `false`
#AGGRESSIVE_DISCONNECT=false
"#;

#[test]
fn the_webplatform_env_example_is_accepted_as_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), WEBPLATFORM_ENV_EXAMPLE).unwrap();
    let out = relay(dir.path())
        .arg("--check-config")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let effective: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(effective["gama"]["host"].as_str(), Some("localhost"));
    assert_eq!(effective["gama"]["port"].as_integer(), Some(1000));
    assert_eq!(effective["headsets"]["port"].as_integer(), Some(8080));
    assert_eq!(effective["admin"]["host"].as_str(), Some("0.0.0.0"));
    assert_eq!(effective["admin"]["port"].as_integer(), Some(8000));
    let packages = dir.path().join("learning-packages");
    assert_eq!(
        effective["session"]["learning_package_path"].as_str(),
        packages.to_str()
    );
    assert_eq!(effective["log"]["verbose"].as_bool(), Some(false));
}

#[test]
fn check_config_catches_a_bad_file_and_prints_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[headsets]\nport = \"eighty\"\n").unwrap();
    let (code, err) = run_to_end(
        relay(dir.path())
            .args(["--check-config", "--config"])
            .arg(&bad),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("headsets.port") && err.contains("bad.toml"),
        "{err}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[headsets]\nport = 9090\n").unwrap();
    let out = relay(dir.path())
        .args(["--check-config", "--config"])
        .arg(&good)
        .args(["--set", "gama.port=1234"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let effective: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(effective["headsets"]["port"].as_integer(), Some(9090));
    assert_eq!(effective["gama"]["port"].as_integer(), Some(1234));
}

#[test]
fn the_default_configuration_is_printed_documented_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay(dir.path())
        .arg("--print-default-config")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, gama_vr_relay::config::DEFAULT_TOML);
    std::fs::write(dir.path().join("copy.toml"), &text).unwrap();
    let (code, err) =
        run_to_end(relay(dir.path()).args(["--check-config", "--config", "copy.toml"]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn help_and_version_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay(dir.path())
        .arg("--help")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--config",
        "--gama-host",
        "--gama-port",
        "--headset-port",
        "--admin-host",
        "--admin-port",
        "--learning-packages",
        "--verbose",
        "--set",
        "--log-format",
        "--check-config",
        "--print-default-config",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    let out = relay(dir.path())
        .arg("--version")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("gama-vr-relay {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn json_logs_and_a_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = relay(dir.path());
    loopback_args(&mut cmd);
    cmd.args(["--log-format", "json", "--set", "log.file=logs/relay.log"]);
    let mut child = cmd.spawn().unwrap();
    let rx = lines(&mut child);
    let line = wait_in(&rx, "headsets: ws://");
    let last = line.lines().last().unwrap();
    let event: serde_json::Value = serde_json::from_str(last).expect("stderr lines are JSON");
    assert_eq!(event["level"], "INFO");
    assert!(
        event["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("headsets: ws://")
    );
    // A clean stop flushes the file's background writer.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let file = std::fs::read_to_string(dir.path().join("logs/relay.log")).unwrap();
    assert!(file.contains("gama-vr-relay starting"), "{file}");
    assert!(
        file.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{file}"
    );
}

/// A folder as a teacher lays it out: the program (linked or copied from the built one), and
/// whatever else the test writes beside it. Under Cargo's target folder, so a hard link works.
fn install_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let exe = dir.path().join(Path::new(BIN).file_name().unwrap());
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    (dir, exe)
}

/// A learning package named `name` in `folder`, its model at `models/demo.gaml`.
fn write_package(folder: &Path, name: &str) {
    let pkg = folder.join(name);
    std::fs::create_dir_all(pkg.join("models")).unwrap();
    std::fs::write(pkg.join("models/demo.gaml"), "model demo\n").unwrap();
    std::fs::write(
        pkg.join("settings.json"),
        format!(
            r#"{{"type":"json_settings","name":"{name}","model_file_path":"./models/demo.gaml","experiment_name":"vr_xp"}}"#
        ),
    )
    .unwrap();
}

/// `GET path` on the admin API at `port`, as JSON (HTTP/1.1 by hand: these tests are not async).
fn get_json(port: u16, path: &str) -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// Starts the relay at `exe` from `cwd`; returns its log up to the ready line and the models
/// `GET /api/models` lists, as (name, model file) pairs.
fn start_and_list_models(exe: &Path, cwd: &Path) -> (String, Vec<(String, String)>) {
    let mut cmd = relay_at(exe, cwd);
    let admin_port = loopback_args(&mut cmd);
    let mut child = spawn_retrying(&mut cmd);
    let log = wait_for_line(&mut child, "headsets: ws://");
    let models = get_json(admin_port, "/api/models");
    child.kill().unwrap();
    child.wait().unwrap();
    let models = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["model_file_path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (log, models)
}

/// Spawns, retrying while the just-written program is still held open by a process another test
/// thread forked meanwhile ("text file busy").
fn spawn_retrying(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

fn model_file(folder: &Path, name: &str) -> String {
    folder
        .join(name)
        .join("models")
        .join("demo.gaml")
        .display()
        .to_string()
}

/// The program in a folder of its own, beside a webplatform `.env` (with a setting the relay
/// ignores) and a learning package "Beside".
fn install_with_a_webplatform_dotenv() -> (tempfile::TempDir, PathBuf) {
    let (app, exe) = install_folder();
    std::fs::write(
        app.path().join(".env"),
        "LEARNING_PACKAGE_PATH=./learning-packages\nVIDEO_WS_PORT=8082\n",
    )
    .unwrap();
    write_package(&app.path().join("learning-packages"), "Beside");
    (app, exe)
}

#[test]
fn a_dotenv_and_learning_packages_beside_the_program_are_found_from_another_folder() {
    let (app, exe) = install_with_a_webplatform_dotenv();
    let work = tempfile::tempdir().unwrap();
    let (log, models) = start_and_list_models(&exe, work.path());
    assert_read_settings_from(&log, &app.path().join(".env"));
    assert!(log.contains("VIDEO_WS_PORT is ignored"), "{log}");
    let packages = app.path().join("learning-packages");
    assert_eq!(
        models,
        [("Beside".to_string(), model_file(&packages, "Beside"))]
    );
}

#[test]
fn a_dotenv_in_the_working_directory_wins_over_the_one_beside_the_program() {
    let (_app, exe) = install_with_a_webplatform_dotenv();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join(".env"), "LEARNING_PACKAGE_PATH=lp\n").unwrap();
    write_package(&work.path().join("lp"), "Here");
    let (log, models) = start_and_list_models(&exe, work.path());
    assert_read_settings_from(&log, &work.path().join(".env"));
    assert!(
        !log.contains("VIDEO_WS_PORT"),
        "the other .env is not read:\n{log}"
    );
    let packages = work.path().join("lp");
    assert_eq!(
        models,
        [("Here".to_string(), model_file(&packages, "Here"))]
    );
}

#[test]
fn without_a_dotenv_the_default_packages_folder_is_found_here_or_beside_the_program() {
    let (app, exe) = install_folder();
    write_package(&app.path().join("learning-packages"), "Beside");
    let work = tempfile::tempdir().unwrap();
    let (log, models) = start_and_list_models(&exe, work.path());
    assert!(
        log.contains(&format!(
            "no .env file found (looked in {} and {})",
            work.path().display(),
            app.path().display()
        )),
        "{log}"
    );
    let beside = app.path().join("learning-packages");
    assert_eq!(
        models,
        [("Beside".to_string(), model_file(&beside, "Beside"))]
    );
    // Notepad's .env.txt is pointed out.
    std::fs::write(app.path().join(".env.txt"), "VERBOSE=true\n").unwrap();
    let (log, _) = start_and_list_models(&exe, work.path());
    let txt = app.path().join(".env.txt");
    assert!(
        log.contains(&format!("{} is not read: rename it to .env", txt.display())),
        "{log}"
    );
    // The working directory's own folder comes first.
    write_package(&work.path().join("learning-packages"), "Here");
    let (_, models) = start_and_list_models(&exe, work.path());
    let here = work.path().join("learning-packages");
    assert_eq!(models, [("Here".to_string(), model_file(&here, "Here"))]);
}

/// The example shipped in the archives: every line it comments out is a setting the relay knows,
/// with a valid value.
#[test]
fn the_example_env_shipped_in_the_archives_names_real_settings() {
    let example = include_str!("../config/example.env");
    let settings: Vec<&str> = example
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| {
            l.split_once('=')
                .is_some_and(|(name, _)| !name.contains(' '))
        })
        .collect();
    assert!(settings.len() >= 10, "{settings:?}");
    for line in &settings {
        let name = line.split_once('=').unwrap().0;
        assert!(
            gama_vr_relay::config::LEGACY_ENV
                .iter()
                .any(|(legacy, _)| *legacy == name)
                || name == "EXTRA_VERBOSE"
                || name.starts_with(gama_vr_relay::config::ENV_PREFIX),
            "{name} is not a setting"
        );
    }
    // Every one of them given at once, as written, is a valid configuration.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), settings.join("\n")).unwrap();
    let out = relay(dir.path())
        .arg("--check-config")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let effective: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(
        effective["headsets"]["missed_heartbeats"].as_integer(),
        Some(5)
    );
    assert_eq!(
        effective["session"]["learning_package_path"].as_str(),
        dir.path().join("learning-packages").to_str()
    );
}

/// The relay's log says it read its settings from `file`.
fn assert_read_settings_from(log: &str, file: &Path) {
    assert!(
        log.contains(&format!("read settings from {}", file.display())),
        "not read from {}:\n{log}",
        file.display()
    );
}
