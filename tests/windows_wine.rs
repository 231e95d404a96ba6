//! The Windows program, run under Wine on the Linux test machine: most teachers run the relay on a
//! Windows laptop, which the test machines are not.
//!
//! `scripts/wine-test.sh` (and `scripts/test.sh`) build `gama-vr-relay.exe` for
//! `x86_64-pc-windows-gnu`, put beside it the test-only stand-in `bcryptprimitives.dll`
//! (`tests/wine/`: Debian's Wine 8 lacks the `ProcessPrng` Rust's standard library needs), prepare
//! a Wine prefix under `target/`, and name the program in `GAMA_VR_RELAY_WINDOWS_EXE`. The test
//! lays it out as a teacher unzips it (the program, a `.env`, `learning-packages/`), starts it from
//! another folder, and drives it with the project's fake GAMA and a simulated headset over real
//! loopback sockets. Under a plain `cargo test`, without that variable or Wine, it is skipped with
//! one line saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{EXPERIMENT, T, expect_delivery, expect_in_game, write_package};
use relay_testkit::{FakeGama, FakeGamaOptions, Headset, prereq};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The variable naming the Windows program to test.
const EXE_VAR: &str = "GAMA_VR_RELAY_WINDOWS_EXE";
/// The variable naming Wine's loader (default: `wine64`, then Debian's `/usr/lib/wine/wine64`,
/// then `wine`).
const WINE_VAR: &str = "GAMA_VR_RELAY_WINE";
/// Wine's first start in a prefix, and a slow machine, can take a while.
const START: Duration = Duration::from_secs(60);

/// The Windows program and Wine's loader, or what is missing.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let exe = std::env::var_os(EXE_VAR)
        .map(PathBuf::from)
        .ok_or(format!("{EXE_VAR} does not name the Windows program"))?;
    if !exe.is_file() {
        return Err(format!("{EXE_VAR}={} does not exist", exe.display()));
    }
    let wine = match std::env::var_os(WINE_VAR) {
        Some(w) => PathBuf::from(w),
        None => ["wine64", "/usr/lib/wine/wine64", "wine"]
            .iter()
            .map(PathBuf::from)
            .find(|w| {
                std::process::Command::new(w)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .ok_or("Wine is not installed (Debian packages wine and wine64)")?,
    };
    Ok((exe, wine))
}

/// The relay's log (its stderr), kept for waits and for the failure message; Wine's own lines
/// are counted apart so they do not drown the relay's.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    wine_lines: Mutex<usize>,
    changed: Notify,
}

impl Log {
    fn text(&self) -> String {
        let lines = self.lines.lock().unwrap();
        format!(
            "{}\n({} more lines from Wine)",
            lines.join("\n"),
            self.wine_lines.lock().unwrap()
        )
    }

    /// The first line containing `needle`, waiting for it until `timeout`.
    async fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "the relay did not log {needle:?} within {timeout:?}; its log:\n{}",
                    self.text()
                );
            }
        }
    }
}

/// The relay under Wine.
struct WineRelay {
    child: Child,
    log: Arc<Log>,
}

impl WineRelay {
    /// Starts `exe` under `wine` in `cwd` with `args`, on loopback and ephemeral ports.
    fn start(wine: &Path, exe: &Path, cwd: &Path, args: &[&str]) -> WineRelay {
        let mut child = Command::from(wine_command(wine))
            .arg(exe)
            .args(["--admin-host", "127.0.0.1", "--admin-port", "0"])
            .args(["--headset-port", "0", "--set", "headsets.host=127.0.0.1"])
            .args(["--set", "passthrough.port=0", "--set", "monitor.port=0"])
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", wine.display()));
        let log = Arc::new(Log::default());
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                // The relay's lines start with their time (2026-01-31T…Z); the rest is Wine's.
                if line.get(..2).is_some_and(|s| s == "20") && line.contains('Z') {
                    sink.lines.lock().unwrap().push(line);
                } else {
                    *sink.wine_lines.lock().unwrap() += 1;
                }
                sink.changed.notify_waiters();
            }
        });
        WineRelay { child, log }
    }

    /// The port in the log line containing `label` (`headsets: ws://127.0.0.1:PORT/`).
    async fn port(&self, label: &str) -> u16 {
        let line = self.log.wait_line(label, START).await;
        let after = &line[line.find(label).unwrap() + label.len()..];
        let port: String = after
            .split(':')
            .nth(1)
            .unwrap()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        port.parse()
            .unwrap_or_else(|_| panic!("no port in {line:?}"))
    }

    /// Sends Ctrl-C: Wine turns SIGINT into the console's CTRL_C_EVENT.
    fn ctrl_c(&self) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// `program` (Wine or what runs it) with a clean environment for Wine: the prefix, quiet, no
/// Mono or Gecko (nothing to download), and the stand-in DLL beside the program before Wine's own.
fn wine_command(program: &Path) -> std::process::Command {
    let prefix = std::env::var_os("WINEPREFIX").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("wineprefix"),
        PathBuf::from,
    );
    let mut command = std::process::Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=;bcryptprimitives=n,b")
        .env("RUST_LOG", "info");
    command
}

async fn get(http: &reqwest::Client, admin: u16, path: &str) -> (u16, Value) {
    let r = http
        .get(format!("http://127.0.0.1:{admin}{path}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Wine and the Windows build: scripts/test.sh runs it"]
async fn the_windows_program_relays_between_gama_and_a_headset_and_stops_on_ctrl_c() {
    let test = "the_windows_program_relays_between_gama_and_a_headset_and_stops_on_ctrl_c";
    let (exe, wine) = match tools() {
        Ok(found) => found,
        Err(missing) => {
            prereq::require(test, Some(missing));
            return;
        }
    };
    let (_app, program) = unzipped_as_a_teacher_does(&exe);
    // Started from another folder, like a shortcut does.
    let work = tempfile::tempdir().unwrap();

    let gama = FakeGama::start(FakeGamaOptions::desktop()).await.unwrap();
    let gama_port = gama.port().to_string();
    let mut relay = WineRelay::start(
        &wine,
        &program,
        work.path(),
        &[
            "--gama-host",
            "127.0.0.1",
            "--gama-port",
            &gama_port,
            "--record",
            "session.jsonl",
        ],
    );
    let headset_port = relay.port("headsets: ws://").await;
    let admin = relay.port("admin page: http://").await;
    the_env_beside_the_program_is_read(&relay.log).await;
    let http = reqwest::Client::new();
    let sent = a_launch_sends_gama_a_native_windows_path(&http, admin, &gama, &relay.log).await;
    // The fake GAMA checks paths the Linux way and refuses that one; the teacher opens the
    // experiment in GAMA's window instead, and the relay follows.
    gama.open_experiment(EXPERIMENT);
    let headset = a_headset_plays_and_gets_gama_s_output(&http, admin, headset_port, &gama).await;
    ctrl_c_stops_it_cleanly(&mut relay, &headset, work.path()).await;
    // Shown with --nocapture.
    println!(
        "GAMA was sent {sent}\nthe relay's log:\n{}",
        relay.log.text()
    );
}

/// As a teacher unzips it, in a folder of its own (returned, with the program in it): the program
/// (and, for Wine only, the stand-in DLL beside it), the webplatform's .env and
/// learning-packages/.
fn unzipped_as_a_teacher_does(exe: &Path) -> (tempfile::TempDir, PathBuf) {
    let app = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(exe.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_file() && (ext.eq_ignore_ascii_case("exe") || ext.eq_ignore_ascii_case("dll")) {
            std::fs::copy(&path, app.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let program = app.path().join(exe.file_name().unwrap());
    std::fs::write(
        app.path().join(".env"),
        "LEARNING_PACKAGE_PATH=./learning-packages\r\nVIDEO_WS_PORT=8082\r\n",
    )
    .unwrap();
    write_package(&app.path().join("learning-packages"), "Demo", "", "");
    (app, program)
}

/// The .env beside the program was read (Wine shows Linux's / as drive Z:), its webplatform-only
/// setting noted; GAMA is reached.
async fn the_env_beside_the_program_is_read(log: &Log) {
    let read = log.wait_line("read settings from ", T).await;
    assert!(
        read.contains(r"\.env") && read.contains(":\\"),
        "{read}\n{}",
        log.text()
    );
    log.wait_line("VIDEO_WS_PORT is ignored", T).await;
    log.wait_line("GAMA server probed", START).await;
}

/// The admin API (on port `admin`) answers; the package beside the program is offered with a
/// Windows path. A launch sends GAMA that path: an ordinary absolute Windows path, never `\\?\`.
/// Returns the path GAMA was sent.
async fn a_launch_sends_gama_a_native_windows_path(
    http: &reqwest::Client,
    admin: u16,
    gama: &FakeGama,
    log: &Log,
) -> String {
    let (status, models) = get(http, admin, "/api/models").await;
    assert_eq!(status, 200, "{models}");
    let model_path = models["models"][0]["model_file_path"]
        .as_str()
        .unwrap_or_else(|| panic!("no model: {models}\n{}", log.text()))
        .to_string();
    // A launch sends GAMA that path: an ordinary absolute Windows path, never `\\?\`.
    http.post(format!("http://127.0.0.1:{admin}/api/experiment/launch"))
        .send()
        .await
        .unwrap();
    let load = gama.wait_command(T, |c| c["type"] == "load").await.unwrap();
    let sent = load["model"].as_str().unwrap();
    assert_eq!(sent, model_path);
    let bytes = sent.as_bytes();
    assert!(
        bytes.len() > 3
            && bytes[0].is_ascii_alphabetic()
            && &bytes[1..3] == b":\\"
            && !sent.contains('/')
            && sent.ends_with(r"\learning-packages\Demo\models\demo.gaml"),
        "not a native Windows path: {sent}"
    );
    sent.to_string()
}

/// A headset registers (on `headset_port`), is created in GAMA, and receives GAMA's output; the
/// admin API (on port `admin`) lists it in game. Returns the headset.
async fn a_headset_plays_and_gets_gama_s_output(
    http: &reqwest::Client,
    admin: u16,
    headset_port: u16,
    gama: &FakeGama,
) -> Headset {
    let headset = Headset::connect(format!("127.0.0.1:{headset_port}").parse().unwrap())
        .await
        .unwrap();
    headset.register("Player_1").await.unwrap();
    expect_in_game(&headset, true).await;
    gama.wait_players(&["Player_1"], T).await.unwrap();
    assert!(
        gama.commands()
            .iter()
            .any(|c| c["expr"].as_str() == Some(r#"do create_player("Player_1");"#)),
        "{:?}",
        gama.commands()
    );
    expect_delivery(gama, &headset, "Player_1", r#"{"agents":[1,2,3]}"#).await;
    let (status, state) = get(http, admin, "/api/state").await;
    assert_eq!(status, 200, "{state}");
    let player = &state["players"][0];
    assert_eq!(
        (player["id"].as_str(), player["in_game"].as_bool()),
        (Some("Player_1"), Some(true)),
        "{state}"
    );
    headset
}

/// Ctrl-C stops it as SIGTERM does on Linux: the headset is told why, the recording (in `work`) is
/// flushed, the exit is clean.
async fn ctrl_c_stops_it_cleanly(relay: &mut WineRelay, headset: &Headset, work: &Path) {
    relay.ctrl_c();
    let close = headset.wait_closed(Duration::from_secs(10)).await.unwrap();
    assert_eq!(close, Some((1001, "relay shutting down".to_string())));
    let status = tokio::time::timeout(Duration::from_secs(10), relay.child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 10 s after Ctrl-C:\n{}", relay.log.text()))
        .unwrap();
    assert!(status.success(), "{status:?}\n{}", relay.log.text());
    relay.log.wait_line("Ctrl-C", T).await;
    let recording = std::fs::read_to_string(work.join("session.jsonl")).unwrap();
    assert!(
        recording.contains("Player_1") && recording.contains("agents"),
        "{recording}"
    );
}

/// Double-clicked, the program has a console window of its own, which closes when it ends: after
/// an error it waits for Enter, so the teacher can read why. A terminal (`script`'s) stands for
/// that window: Wine makes it the program's console, with no other process on it.
#[test]
#[ignore = "needs Wine and the Windows build: scripts/test.sh runs it"]
fn after_an_error_its_own_console_window_stays_open_until_enter() {
    let test = "after_an_error_its_own_console_window_stays_open_until_enter";
    let found = tools().and_then(|found| {
        which("script")
            .map(|script| (found, script))
            .ok_or_else(|| "`script` (Debian's bsdutils) is not installed".to_string())
    });
    let ((exe, wine), script) = match found {
        Ok(found) => found,
        Err(missing) => {
            prereq::require(test, Some(missing));
            return;
        }
    };
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    // A port that is not a number: the start-up stops with a configuration error.
    let line = format!(
        "{} {} --set headsets.port=eighty; echo relay-exit=$?",
        quote(&wine),
        quote(&exe)
    );
    let mut child = wine_command(&script)
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = std::io::Read::read(&mut out, &mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |needle: &str, timeout: Duration| {
        let deadline = std::time::Instant::now() + timeout;
        while !screen.lock().unwrap().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline
                    && !screen.lock().unwrap().contains("relay-exit="),
                "{needle:?} not shown (within {timeout:?}, before the program ended); the window shows:\n{}",
                screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("Press Enter to close this window.", START);
    let shown = screen.lock().unwrap().clone();
    assert!(
        shown.contains("headsets.port") && shown.contains("eighty"),
        "the reason is in the window: {shown}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !screen.lock().unwrap().contains("relay-exit="),
        "the program ended without waiting for Enter"
    );
    // Enter, as a terminal sends it.
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"\r").unwrap();
    std::io::Write::flush(&mut stdin).unwrap();
    wait_for("relay-exit=", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    let shown = screen.lock().unwrap().clone();
    assert!(shown.contains("relay-exit=2"), "exit code 2: {shown}");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
}

/// The program named `name` on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
