//! The webplatform's monitor socket, driven the way the SIMPLE Unity plugin's editor tool drives
//! it (`relay_testkit::monitor`: its steps, its waits and its 2 s limit on a silent connection),
//! and the way the webplatform's own admin UI did.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use relay_testkit::monitor::{Connection, Match, Orchestrator};
use relay_testkit::{FakeGama, FakeGamaOptions};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A learning package holding a catalog with two models that differ only by their model file
/// (one path relative, one absolute, one in a nested catalog), both needing 2 players.
fn write_course(dir: &Path) -> std::path::PathBuf {
    let pkg = dir.join("course");
    std::fs::create_dir_all(pkg.join("models")).unwrap();
    std::fs::write(pkg.join("models/Demo.gaml"), "model demo\n").unwrap();
    let other = dir.join("elsewhere/Other.gaml");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, "model other\n").unwrap();
    let settings = json!({"type": "catalog", "name": "Course", "entries": [
        {"type": "catalog", "name": "More", "entries": [
            {"type": "json_settings", "name": "Other", "splashscreen": "splash.png",
             "model_file_path": other.to_string_lossy(), "experiment_name": EXPERIMENT,
             "minimal_players": "2", "maximal_players": "4"}]},
        {"type": "json_settings", "name": "Démo", "model_file_path": "./models/Demo.gaml",
         "experiment_name": EXPERIMENT, "minimal_players": "2", "maximal_players": "4",
         "selected_monitoring": "gama_screen"}
    ]});
    std::fs::write(pkg.join("settings.json"), settings.to_string()).unwrap();
    other
}

/// A relay whose learning packages are the test's usual one ("Demo") and the course above.
async fn relay_with_course(gama: &FakeGama) -> (TestRelay, std::path::PathBuf) {
    let relay = TestRelay::new(gama).await;
    let other = write_course(relay.packages.path());
    let (status, body) = relay.post("/api/models/rescan", None).await;
    assert_eq!(status, 200, "{body}");
    (relay, other)
}

fn monitor(relay: &TestRelay) -> Orchestrator {
    Orchestrator {
        addr: relay
            .handle()
            .monitor_addr()
            .expect("the monitor socket listens"),
    }
}

/// Everything the editor tool does, in its order, with GAMA taking seconds to load: diagnose,
/// select by model file and experiment, launch with no headset (the model wants 2), resume to
/// RUNNING, a headset joining and put in game, pause, stop, and the same again. Any silence of
/// 2 s on the tool's connection fails it (the tool's socket would die).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_tool_starts_its_scene_with_gama_slow_to_load() {
    let gama = FakeGama::start(FakeGamaOptions {
        open_delay: Duration::from_millis(3500),
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let (relay, other) = relay_with_course(&gama).await;
    relay.wait_gama().await;
    let tool = monitor(&relay);
    // The scene's model, as Unity names its own copy: another folder, the same file name.
    let scene = r"C:\Users\dev\UnityProject\Assets\GAMA\Other.gaml";

    let found = match tool.diagnose(scene, EXPERIMENT).await.unwrap() {
        Match::Ok(found) => found,
        other => panic!("the diagnosis found no single entry: {other:?}"),
    };
    assert_eq!(found["name"], "Other");
    assert_eq!(found["model_file_path"], other.to_string_lossy().as_ref());
    assert!(found["model_index"].is_u64());

    for round in 1..=2 {
        let (state, silence) = tool.start(EXPERIMENT, scene).await.unwrap();
        assert_eq!(state, "RUNNING", "round {round}");
        assert!(
            silence < Duration::from_secs(2),
            "round {round}: silent {silence:?}"
        );
        let now = relay.handle().state();
        assert_eq!(now.model.as_ref().unwrap().name, "Other");
        assert_eq!(now.gama.experiment_state, "RUNNING");
        assert_eq!(
            gama.experiment_model().as_deref(),
            Some(other.to_string_lossy().as_ref())
        );
        // The headsets join once the experiment is open.
        let h = relay.join("Player_101").await;
        expect_in_game(&h, true).await;
        tool.pause().await.unwrap();
        relay.wait_experiment("PAUSED").await;
        // stop_experiment, as the webplatform's admin UI sends it.
        let conn = Connection::open(tool.addr).await.unwrap();
        conn.send(json!({"type": "stop_experiment"})).unwrap();
        relay.wait_experiment("NONE").await;
        conn.finish("done").await;
        expect_in_game(&h, false).await;
        h.close().await.unwrap();
        relay.wait_disconnected("Player_101").await;
    }
    // Each change is in the audit trail, from the monitor and its address.
    let audit = relay.get("/api/audit").await.1;
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["via"] == "monitor" && e["source"] == "127.0.0.1")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["select", "launch_anyway", "resume", "pause", "stop"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}

/// The catalog as the webplatform listed it: a JSON string holding the top-level entries, models
/// before sub-catalogs, `model_index` a JSON integer; each model's settings by index, to the
/// asker alone, in order, and selected as a side effect; nothing for an index out of range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_and_each_models_settings_as_the_webplatform_gave_them() {
    let gama = desktop().await;
    let (relay, other) = relay_with_course(&gama).await;
    let addr = monitor(&relay).addr;
    let mut ws = raw(addr).await;
    on_connecting_the_state_then_the_selected_model_s_settings(&mut ws, &relay).await;
    let entries = the_catalog_lists_models_before_sub_catalogs(&mut ws).await;
    let other_index = entries[1]["entries"][0]["model_index"].clone();
    assert!(other_index.is_u64(), "{other_index}");

    // Two questions, two answers, in order, to the asker alone.
    let mut bystander = raw(addr).await;
    let a = each_model_s_settings_by_index_in_order(&mut ws, &relay, &entries, &other).await;
    // send_simulation selects and is answered with what is selected.
    let mut full = a["simulation"].clone();
    full["model_index"] = other_index.clone();
    send(
        &mut ws,
        json!({"type": "send_simulation", "simulation": full}),
    )
    .await;
    assert_eq!(answer(&mut ws).await["simulation"]["name"], "Other");
    assert_eq!(relay.handle().state().model.unwrap().name, "Other");
    the_other_client_heard_none_of_it(&mut bystander).await;
}

/// On connecting: the state, then the selected model's settings.
async fn on_connecting_the_state_then_the_selected_model_s_settings(
    ws: &mut Ws,
    relay: &TestRelay,
) {
    let first = next(ws).await;
    assert_eq!(first["type"], "json_state");
    // The selected model's settings, on connecting.
    let settings = next(ws).await;
    assert_eq!(settings["type"], "json_settings");
    assert_eq!(settings["name"], relay.handle().state().model.unwrap().name);
}

/// The catalog, asked for: a JSON string (ASCII) holding the top-level entries, the package Demo
/// then the course, whose models come before its sub-catalogs. Returns the course's entries.
async fn the_catalog_lists_models_before_sub_catalogs(ws: &mut Ws) -> Value {
    send(ws, json!({"type": "get_simulation_informations"})).await;
    let (text, list) = loop {
        let text = next_text(ws).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        if let Value::String(inner) = v {
            break (text, serde_json::from_str::<Value>(&inner).unwrap());
        }
    };
    assert!(text.is_ascii(), "non-ASCII in {text}");
    assert_eq!(list[0]["type"], "json_settings", "the package Demo");
    assert_eq!(list[1]["type"], "catalog");
    assert_eq!(list[1]["name"], "Course");
    let entries = &list[1]["entries"];
    assert_eq!(
        entries[0]["type"], "json_settings",
        "models before sub-catalogs"
    );
    assert_eq!(entries[0]["name"], "Démo");
    assert_eq!(entries[1]["type"], "catalog");
    entries.clone()
}

/// Three questions by index (Other, 99, Démo): two answers, in order, each model's settings as in
/// its file (`other`'s path as given, Démo's made absolute), none for 99; asking selected Démo.
/// Returns the first answer (Other's).
async fn each_model_s_settings_by_index_in_order(
    ws: &mut Ws,
    relay: &TestRelay,
    entries: &Value,
    other: &Path,
) -> Value {
    let other_index = &entries[1]["entries"][0]["model_index"];
    send(
        ws,
        json!({"type": "get_simulation_by_index", "simulationIndex": other_index}),
    )
    .await;
    send(
        ws,
        json!({"type": "get_simulation_by_index", "simulationIndex": 99}),
    )
    .await;
    send(
        ws,
        json!({"type": "get_simulation_by_index", "simulationIndex": entries[0]["model_index"]}),
    )
    .await;
    let a = answer(ws).await;
    assert_eq!(a["simulation"]["name"], "Other");
    assert_eq!(a["simulation"]["type"], "json_settings");
    assert_eq!(a["simulation"]["experiment_name"], EXPERIMENT);
    assert_eq!(
        a["simulation"]["model_file_path"],
        other.to_string_lossy().as_ref()
    );
    assert_eq!(a["simulation"]["minimal_players"], "2", "as in the file");
    assert_eq!(a["simulation"]["splashscreen"], "splash.png");
    assert!(a["simulation"].get("model_index").is_none());
    let b = answer(ws).await;
    assert_eq!(b["simulation"]["name"], "Démo", "no answer for index 99");
    let demo_path = b["simulation"]["model_file_path"].as_str().unwrap();
    assert!(
        Path::new(demo_path).is_absolute() && demo_path.ends_with("Demo.gaml"),
        "{demo_path}"
    );
    // Asking selected it.
    assert_eq!(relay.handle().state().model.unwrap().name, "Démo");
    a
}

/// The other client (`bystander`) heard none of the answers: nothing but states and settings.
async fn the_other_client_heard_none_of_it(bystander: &mut Ws) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(Duration::from_millis(50), bystander.next()).await
    {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert!(
                matches!(v["type"].as_str(), Some("json_state" | "json_settings")),
                "an answer reached another client: {v}"
            );
        }
    }
}

/// `json_state` as the webplatform sent it: `gama` with its six keys in order (`connected` a
/// boolean), `player` keyed by player id; pushed on changes and at least every `refresh_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_state_keeps_coming_in_the_webplatforms_shape() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.monitor.refresh_ms = 300)
        .start()
        .await;
    relay.wait_gama().await;
    let _h = relay.join("Player_101").await;
    let mut ws = raw(monitor(&relay).addr).await;
    let mut states = Vec::new();
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1300) {
        let text = next_text(&mut ws).await;
        if text.starts_with(r#"{"type":"json_state""#) {
            states.push((started.elapsed(), text));
        }
    }
    assert!(states.len() >= 4, "{} states in 1.3 s", states.len());
    let text = &states.last().unwrap().1;
    assert!(
        text.starts_with(r#"{"type":"json_state","gama":{"connected":true,"experiment_state":"NONE","loading":false,"content_error":"","experiment_id":"","experiment_name":""},"player":{"Player_101":{"id":"Player_101","ping_interval":"5000","is_alive":true,"connected":true,"in_game":false,"date_connection":""#),
        "{text}"
    );
}

/// Bad input (not JSON, `null`, a list, an unknown type, a field missing or of the wrong type, an
/// index out of range, binary garbage) is logged and ignored: the connection goes on, the
/// headsets too. The webplatform exited on the first of these.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_ignored_and_stops_nothing() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    let mut ws = raw(monitor(&relay).addr).await;
    for bad in [
        "{not json",
        "null",
        "[1,2]",
        "42",
        r#"{"type":"no_such_thing"}"#,
        r#"{"type":"send_simulation"}"#,
        r#"{"type":"send_simulation","simulation":{"model_index":"x"}}"#,
        r#"{"type":"get_simulation_by_index","simulationIndex":-1}"#,
        r#"{"type":"get_simulation_by_index"}"#,
        r#"{"type":"remove_player_headset"}"#,
        r#"{"type":"remove_player_headset","id":"nobody"}"#,
        r#"{"type":"add_player_headset","id":"Player_101"}"#,
        r#"{"type":"try_connection"}"#,
    ] {
        ws.send(Message::text(bad)).await.unwrap();
    }
    ws.send(Message::binary(vec![0xff, 0xfe, 0x00]))
        .await
        .unwrap();
    // send_simulation without a usable index is still answered (the clients wait for it), with
    // the model selected now; get_simulation_by_index out of range is not.
    for _ in 0..2 {
        assert_eq!(answer(&mut ws).await["simulation"]["name"], "Demo");
    }
    // screen_control: the headsets' video is not part of the relay, and it says so.
    send(
        &mut ws,
        json!({"type": "screen_control", "display_type": "grid"}),
    )
    .await;
    let unsupported = loop {
        let v = next(&mut ws).await;
        if v["type"] != "json_state" && v["type"] != "json_settings" {
            break v;
        }
    };
    assert_eq!(unsupported["type"], "error", "{unsupported}");
    // Still served, and so is the headset.
    send(&mut ws, json!({"type": "get_simulation_informations"})).await;
    loop {
        if next(&mut ws).await.is_string() {
            break;
        }
    }
    expect_pong(&h, "still-here").await;
    assert!(relay.snapshot_player("Player_101").player.connected);
}

/// The admin UI's `remove_player_headset` removes a player from the game, as the page's Remove.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_player_headset_removes_the_player() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    relay.launch().await;
    relay.wait_in_game(&["Player_101"]).await;
    let mut ws = raw(monitor(&relay).addr).await;
    send(
        &mut ws,
        json!({"type": "remove_player_headset", "id": "Player_101"}),
    )
    .await;
    h.wait_closed(T).await.unwrap();
    gama.wait_command(T, |c| c["expr"] == "do remove_player(\"Player_101\");")
        .await
        .unwrap();
}

/// Off loopback the monitor socket wants the admin token, as the admin API does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_monitor_socket_needs_the_token() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.monitor.host = "0.0.0.0".into();
            c.admin.token = "classroom-secret".into();
        })
        .start()
        .await;
    let port = monitor(&relay).addr.port();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap();
    match tokio::time::timeout(T, ws.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("not refused: {other:?}"),
    }
    let mut ws = raw(format!("127.0.0.1:{port}/?token=classroom-secret")).await;
    assert_eq!(next(&mut ws).await["type"], "json_state");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw(addr: impl std::fmt::Display) -> Ws {
    let addr = addr.to_string();
    let url = if addr.contains('/') {
        format!("ws://{addr}")
    } else {
        format!("ws://{addr}/")
    };
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(T, ws.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return t.as_str().to_string(),
            _ => continue,
        }
    }
}

async fn next(ws: &mut Ws) -> Value {
    serde_json::from_str(&next_text(ws).await).unwrap()
}

/// The next `get_simulation_by_index` answer.
async fn answer(ws: &mut Ws) -> Value {
    loop {
        let v = next(ws).await;
        if v["type"] == "get_simulation_by_index" {
            return v;
        }
    }
}
