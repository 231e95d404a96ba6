//! Shared fixtures of the relay's integration tests: a relay on ephemeral ports pointed at a
//! [`FakeGama`], a learning package in a temporary folder, an HTTP client for the admin API and
//! event-driven waits on the relay's state.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::FutureExt;
use gama_vr_relay::Catalog;
use gama_vr_relay::{Config, Server, ServerHandle};
use gama_vr_relay::{PlayerState, StateView};
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::Value;
use tempfile::TempDir;

/// Default wait for anything that should happen promptly.
pub const T: Duration = Duration::from_secs(5);

/// The learning package the tests launch: its model path and experiment.
pub const EXPERIMENT: &str = "vr_xp";

/// Fails the test (ends its process) if it is still running after `limit`: for a test whose
/// failure would block the runtime it runs on, where no timeout inside the test could fire.
/// Dropping the returned guard stops the watch.
pub fn watchdog(test: &'static str, limit: Duration) -> std::sync::mpsc::Sender<()> {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(limit) {
            // Past the harness's capture, which would be lost with the process.
            let line = format!("{test}: still running after {limit:?}; the runtime is stuck\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            std::process::exit(101);
        }
    });
    done
}

/// A port nobody listens on right now, for the tests that start the relay's binary.
#[allow(unused_imports)] // Not every test file needs one.
pub use relay_testkit::free_port;

/// The relay's binary, started in `dir` with `args` (after a clean environment and loopback
/// ports: headsets on `headset_port`, the admin page on a free port), once its log says `ready`.
/// The rest of its log is drained so it never blocks on a full pipe.
pub async fn start_binary(
    dir: &Path,
    headset_port: u16,
    args: &[&str],
    ready: &str,
) -> tokio::process::Child {
    start_binary_with_admin(dir, headset_port, args, ready)
        .await
        .0
}

/// [`start_binary`], with the admin page's port (read from the start-up log).
pub async fn start_binary_with_admin(
    dir: &Path,
    headset_port: u16,
    args: &[&str],
    ready: &str,
) -> (tokio::process::Child, u16) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gama-vr-relay"))
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .args(args)
        .args(["--headset-port", &headset_port.to_string()])
        .args(["--admin-host", "127.0.0.1", "--admin-port", "0"])
        .args(["--set", "headsets.host=127.0.0.1"])
        .args(["--set", "passthrough.port=0", "--set", "monitor.port=0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    // Both lines, in either order: GAMA's link may log before the addresses do.
    let admin = tokio::time::timeout(T, async {
        let (mut admin, mut is_ready) = (None, false);
        while let Some(line) = log.next_line().await.unwrap() {
            if let Some(rest) = line.split("admin: http://").nth(1) {
                admin = rest
                    .split('/')
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok());
                assert!(admin.is_some(), "no admin port in {line:?}");
            }
            is_ready |= line.contains(ready);
            if let (Some(admin), true) = (admin, is_ready) {
                return admin;
            }
        }
        panic!("the relay ended before logging {ready:?} and the admin page's address");
    })
    .await
    .unwrap_or_else(|_| panic!("the relay did not log {ready:?} and the admin page's address"));
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    (child, admin)
}

/// A relay configured for tests: loopback, ephemeral ports, short timeouts.
pub fn test_config(gama_port: u16) -> Config {
    let mut c = Config::default();
    c.gama.host = "127.0.0.1".into();
    c.gama.port = gama_port;
    c.gama.reconnect_initial_ms = 20;
    c.gama.reconnect_max_ms = 200;
    c.gama.command_timeout_ms = 2000;
    c.gama.load_timeout_ms = 3000;
    c.gama.connect_timeout_ms = 1000;
    c.headsets.host = "127.0.0.1".into();
    c.headsets.port = 0;
    c.headsets.min_heartbeat_ms = 20;
    c.admin.host = "127.0.0.1".into();
    c.admin.port = 0;
    c.passthrough.port = 0;
    c.monitor.port = 0;
    // Headset screens stay on, as for a teacher without ADB: nothing answers on port 1, and no
    // `adb start-server` is run on this machine.
    c.mirror.adb_server = "127.0.0.1:1".into();
    c.mirror.adb_program = "/nonexistent/adb".into();
    // Kept sessions go where each test says (TestRelay: its own temporary folder).
    c.sessions.enabled = false;
    c
}

/// Writes a learning package whose model allows `min`..=`max` players.
pub fn write_package(dir: &Path, name: &str, min: &str, max: &str) {
    let pkg = dir.join(name);
    std::fs::create_dir_all(pkg.join("models")).unwrap();
    std::fs::write(pkg.join("models/demo.gaml"), "model demo\n").unwrap();
    std::fs::write(
        pkg.join("settings.json"),
        format!(
            r#"{{"type":"json_settings","name":"{name}","model_file_path":"./models/demo.gaml","experiment_name":"{EXPERIMENT}","minimal_players":"{min}","maximal_players":"{max}","selected_monitoring":"gama_screen"}}"#
        ),
    )
    .unwrap();
}

/// A running relay and what the tests need to talk to it. It stops when dropped (see
/// [`TestRelay::shutdown`] for a test that checks its graceful stop).
pub struct TestRelay {
    /// `None` once [`TestRelay::shutdown`] took it.
    pub handle: Option<ServerHandle>,
    pub http: reqwest::Client,
    pub base: String,
    pub packages: TempDir,
}

/// A change to the relay's configuration, applied before it starts.
type Tweak<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

/// How a [`TestRelay`] is set up before it starts: by default one model without player limits
/// and [`test_config`] as is.
#[must_use = "a builder does nothing until started"]
pub struct TestRelayBuilder<'a> {
    gama_port: u16,
    min: String,
    max: String,
    tweaks: Vec<Tweak<'a>>,
}

impl<'a> TestRelayBuilder<'a> {
    /// The model allows `min`..=`max` players (`""` for no limit).
    pub fn players(mut self, min: &str, max: &str) -> Self {
        self.min = min.to_owned();
        self.max = max.to_owned();
        self
    }

    /// Changes the relay's configuration (after the test defaults; tweaks apply in order).
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Starts the relay on ephemeral ports, its learning package and kept sessions in a
    /// temporary folder.
    pub async fn start(self) -> TestRelay {
        let packages = tempfile::tempdir().unwrap();
        write_package(packages.path(), "Demo", &self.min, &self.max);
        let mut config = test_config(self.gama_port);
        config.session.learning_package_path = packages.path().to_path_buf();
        config.sessions.enabled = true;
        config.sessions.folder_path = packages.path().join("sessions");
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        let catalog = Catalog::discover(&config.learning_package_paths(), packages.path());
        let server = Server::bind(config).await.expect("bind the relay");
        let handle = server.spawn_with_catalog(catalog);
        let base = format!("http://{}", handle.admin_addr());
        TestRelay {
            handle: Some(handle),
            http: reqwest::Client::new(),
            base,
            packages,
        }
    }
}

impl TestRelay {
    /// A relay with the defaults, pointed at `gama`.
    pub async fn new(gama: &FakeGama) -> Self {
        Self::builder(gama).start().await
    }

    /// A relay pointed at `gama`, to set up before [`TestRelayBuilder::start`].
    pub fn builder<'a>(gama: &FakeGama) -> TestRelayBuilder<'a> {
        TestRelayBuilder {
            gama_port: gama.port(),
            min: String::new(),
            max: String::new(),
            tweaks: Vec::new(),
        }
    }

    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("relay running")
    }

    pub fn headset_addr(&self) -> std::net::SocketAddr {
        self.handle().headset_addr()
    }

    /// A headset that connected and registered as `id`, its first `json_state` consumed.
    pub async fn join(&self, id: &str) -> Headset {
        let h = Headset::connect(self.headset_addr()).await.unwrap();
        h.register(id).await.unwrap();
        let state = h.recv_type("json_state", T).await.unwrap();
        assert_eq!(state["id"], id);
        h
    }

    /// Waits until the relay's state satisfies `pred` (woken by the relay's change notifications).
    pub async fn wait(&self, what: &str, pred: impl Fn(&StateView) -> bool) -> StateView {
        self.wait_for(what, T, pred).await.unwrap()
    }

    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&StateView) -> bool,
    ) -> anyhow::Result<StateView> {
        let relay = self.handle();
        let mut changes = relay.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let state = relay.state();
            if pred(&state) {
                return Ok(state);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                let state = relay.state();
                if pred(&state) {
                    return Ok(state);
                }
                bail!(
                    "timed out waiting for {what}; state: {}",
                    serde_json::to_string_pretty(&state)?
                );
            }
        }
    }

    /// One player as the relay shows it now.
    pub fn snapshot_player(&self, id: &str) -> gama_vr_relay::PlayerState {
        self.handle()
            .state()
            .players
            .into_iter()
            .find(|p| p.player.id == id)
            .unwrap_or_else(|| panic!("no player {id}"))
    }

    /// Waits for GAMA's experiment state as the relay sees it.
    pub async fn wait_experiment(&self, state: &str) -> StateView {
        self.wait(&format!("experiment {state}"), |s| {
            s.gama.experiment_state == state
        })
        .await
    }

    /// Waits until the relay is connected to GAMA and knows its mode.
    pub async fn wait_gama(&self) -> StateView {
        self.wait("GAMA connected and probed", |s| {
            s.gama.connection == gama_vr_relay::LinkState::Connected && s.gama.mode.is_some()
        })
        .await
    }

    /// The body of `GET path` as text (`/metrics`, CSV…).
    pub async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until player `id` is listed with its connection gone (kept during its grace time).
    pub async fn wait_disconnected(&self, id: &str) -> StateView {
        self.wait(&format!("{id} disconnected"), |s| {
            s.players
                .iter()
                .any(|p| p.player.id == id && !p.player.connected)
        })
        .await
    }

    /// Waits until exactly these players are in the game.
    pub async fn wait_in_game(&self, ids: &[&str]) -> StateView {
        let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        want.sort();
        self.wait(&format!("in game: {ids:?}"), |s| {
            let mut got: Vec<String> = s
                .players
                .iter()
                .filter(|p| p.player.in_game)
                .map(|p| p.player.id.clone())
                .collect();
            got.sort();
            got == want
        })
        .await
    }

    /// Polls `GET path` until it answers 200 with a body that satisfies `pred` (for what has no
    /// change notification: the audit trail, sessions written on a thread of their own).
    pub async fn get_until(&self, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && pred(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Launches the model and waits for the experiment to be live.
    pub async fn launch(&self) {
        let (status, body) = self.post("/api/experiment/launch", None).await;
        assert_eq!(status, 200, "launch failed: {body}");
    }

    /// Stops the relay gracefully, checking every task ended in time: for the tests whose next
    /// steps depend on the stop (the page sees the relay go, a recording is complete). Dropping
    /// the relay stops it too, without waiting.
    pub async fn shutdown(mut self) {
        let handle = self.handle.take().unwrap();
        assert!(
            handle.shutdown(Duration::from_secs(2)).await,
            "relay tasks did not end within 2 s"
        );
    }
}

impl Drop for TestRelay {
    /// Tells the relay's tasks to stop, as [`TestRelay::shutdown`] does, without waiting for them
    /// (a drop cannot await): the first poll of [`ServerHandle::shutdown`] signals them; they end
    /// on the runtime (headsets get their close frame), or with it when the test ends.
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        // The wait's timer needs the runtime; without one, the relay's tasks are gone already.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = handle.shutdown(Duration::ZERO).now_or_never();
        }
    }
}

/// A desktop-mode fake GAMA.
pub async fn desktop() -> FakeGama {
    FakeGama::start(FakeGamaOptions::desktop()).await.unwrap()
}

/// A desktop-mode fake GAMA whose experiments play as soon as they are loaded, as GAMA's window
/// does with an experiment that has autorun.
pub async fn desktop_autorun() -> FakeGama {
    FakeGama::start(FakeGamaOptions {
        autorun: true,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap()
}

/// A headless-mode fake GAMA.
pub async fn headless() -> FakeGama {
    FakeGama::start(FakeGamaOptions::headless()).await.unwrap()
}

/// Receives `json_state` frames until one says `in_game` = `want`.
pub async fn expect_in_game(h: &Headset, want: bool) -> Value {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let s = h
            .recv_type("json_state", remaining)
            .await
            .with_context(|| format!("waiting for in_game = {want}"))
            .unwrap();
        if s["in_game"] == want {
            return s;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers added for registration.rs, heartbeat.rs and bad_input.rs
// ---------------------------------------------------------------------------------------------

impl TestRelay {
    /// A headset connected to the relay, not registered.
    pub async fn connect(&self) -> Headset {
        Headset::connect(self.headset_addr()).await.unwrap()
    }

    /// `GET /api/state` as JSON (must answer 200).
    pub async fn state_json(&self) -> Value {
        let (status, body) = self.get("/api/state").await;
        assert_eq!(status, 200, "GET /api/state: {body}");
        body
    }

    /// The entry of `id` in `GET /api/state`'s `players`, if it is listed.
    pub async fn player_json(&self, id: &str) -> Option<Value> {
        let state = self.state_json().await;
        state["players"]
            .as_array()
            .expect("players is an array")
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
    }

    /// Waits until the state lists exactly these player ids (in arrival order).
    pub async fn wait_players(&self, ids: &[&str]) -> StateView {
        self.wait(&format!("players {ids:?}"), |s| player_ids(s) == ids)
            .await
    }

    /// Answers `GET /healthz` with `{"status":"ok"}` within `timeout`?
    pub async fn healthy_within(&self, timeout: Duration) -> bool {
        let request = self.http.get(format!("{}/healthz", self.base)).send();
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(r)) if r.status().as_u16() == 200 => {
                r.json::<Value>().await.ok() == Some(serde_json::json!({"status": "ok"}))
            }
            _ => false,
        }
    }
}

/// The player ids of a state, in arrival order.
pub fn player_ids(state: &StateView) -> Vec<&str> {
    state.players.iter().map(|p| p.player.id.as_str()).collect()
}

/// A player of a state, if listed.
pub fn player<'a>(state: &'a StateView, id: &str) -> Option<&'a PlayerState> {
    state.players.iter().find(|p| p.player.id == id)
}

/// Checks a `json_state` frame byte for byte, except the digits of `date_connection` (local
/// `HH:MM`). `ping_interval` is the JSON text expected for that field (`"\"5000\""` or `"5000"`).
pub fn assert_json_state(raw: &str, id: &str, ping_interval: &str, in_game: bool) {
    let prefix = format!(
        r#"{{"type":"json_state","id_player":"{id}","id":"{id}","ping_interval":{ping_interval},"is_alive":true,"connected":true,"in_game":{in_game},"date_connection":""#
    );
    assert!(
        raw.starts_with(&prefix),
        "json_state:\n  got  {raw}\n  want {prefix}HH:MM\"}}"
    );
    let rest = &raw[prefix.len()..];
    let hh_mm = rest
        .strip_suffix("\"}")
        .unwrap_or_else(|| panic!("json_state does not end with the date: {raw}"));
    let b = hh_mm.as_bytes();
    assert!(
        b.len() == 5
            && b[2] == b':'
            && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
            && hh_mm[..2].parse::<u8>().unwrap() < 24
            && hh_mm[3..].parse::<u8>().unwrap() < 60,
        "date_connection is not HH:MM: {raw}"
    );
}

/// A linker output document (what the SIMPLE linker puts in a `SimulationOutput`) with one element
/// for `ids` carrying `contents` (JSON text).
pub fn linker_output(ids: &[&str], contents: &str) -> String {
    let ids = serde_json::to_string(ids).unwrap();
    format!(r#"{{"contents":[{{"id":{ids},"contents":{contents}}}],"type":"output"}}"#)
}

/// The exact `json_output` frame a headset receives for a linker payload (already in the
/// relay's number format).
pub fn json_output(contents: &str) -> String {
    format!(r#"{{"contents":{contents},"type":"json_output"}}"#)
}

/// Sends a linker output for `id` through GAMA and checks the headset receives exactly it.
pub async fn expect_delivery(gama: &FakeGama, h: &Headset, id: &str, contents: &str) {
    gama.send_linker_output(&linker_output(&[id], contents));
    let (raw, _) = h
        .recv_json_output(T)
        .await
        .with_context(|| format!("waiting for {contents} addressed to {id}"))
        .unwrap();
    assert_eq!(raw, json_output(contents));
}

/// Sends `{"type":"ping","id":"<tag>"}` and checks the answer is exactly the matching pong: the
/// connection is open and served.
pub async fn expect_pong(h: &Headset, tag: &str) {
    h.send_text(&format!(r#"{{"type":"ping","id":"{tag}"}}"#))
        .await
        .unwrap();
    let raw = h
        .recv_raw(T)
        .await
        .with_context(|| format!("waiting for the pong {tag}"))
        .unwrap();
    assert_eq!(raw, format!(r#"{{"type":"pong","id":"{tag}"}}"#));
}
