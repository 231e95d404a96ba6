//! The GAMA side: both server modes, experiment ids, forwarded commands, deadlines, restarts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gama_vr_relay::StateView;
use relay_testkit::{FakeGama, FakeGamaOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_mode_uses_the_id_load_returns_everywhere() {
    let gama = headless().await;
    let relay = TestRelay::new(&gama).await;
    let state = relay.wait_gama().await;
    assert_eq!(state.gama.mode, Some(gama_vr_relay::ServerMode::Headless));
    let a = relay.join("A").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    let id = gama.experiment_id().expect("experiment loaded");
    assert_ne!(
        id, "0",
        "the fake's ids start at 1 so a hard-coded 0 would fail"
    );
    let state = relay.get("/api/state").await.1;
    assert_eq!(state["gama"]["experiment_id"], id.as_str());
    assert_eq!(
        state["gama"]["experiment_name"], EXPERIMENT,
        "the name, not the id"
    );
    let create = gama
        .wait_command(T, |c| c["expr"] == r#"do create_player("A");"#)
        .await
        .unwrap();
    assert_eq!(create["exp_id"], id.as_str());
    a.ask("player_position_updated", &[("id", "A")])
        .await
        .unwrap();
    a.expression("do hello($id);").await.unwrap();
    let ask = gama.wait_command(T, |c| c["type"] == "ask").await.unwrap();
    assert_eq!(ask["exp_id"], id.as_str());
    let expr = gama
        .wait_command(T, |c| c["expr"] == r#"do hello("A");"#)
        .await
        .unwrap();
    assert_eq!(expr["exp_id"], id.as_str());
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    let (raw, _) = a.recv_json_output(T).await.unwrap();
    assert!(raw.starts_with(r#"{"contents":{"precision":"#), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_are_forwarded_verbatim_with_exp_id_and_ids_are_quoted_in_gaml() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let id = r#"Player "q" \ 7"#;
    let a = relay.join(id).await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    gama.wait_players(&[id], T).await.unwrap();
    a.ask(
        "move_player_external",
        &[
            ("id", id),
            ("x", "1"),
            ("y", "-2"),
            ("z", "3"),
            ("angle", "900000"),
        ],
    )
    .await
    .unwrap();
    let ask = gama.wait_command(T, |c| c["type"] == "ask").await.unwrap();
    assert_eq!(ask["exp_id"], "0");
    assert_eq!(ask["action"], "move_player_external");
    assert_eq!(ask["agent"], "simulation[0].unity_linker[0]");
    assert_eq!(
        ask["args"], r#"{"id":"Player \"q\" \\ 7","x":"1","y":"-2","z":"3","angle":"900000"}"#,
        "args stay the JSON string Unity sent"
    );
    a.expression("do a($id); do b($id);").await.unwrap();
    let expr = gama
        .wait_command(T, |c| {
            c["type"] == "expression" && c["expr"].as_str().unwrap().starts_with("do a(")
        })
        .await
        .unwrap();
    assert_eq!(
        expr["expr"],
        r#"do a("Player \"q\" \\ 7"); do b("Player \"q\" \\ 7");"#
    );
    // The removal quotes the id the same way.
    a.disconnect_properly().await.unwrap();
    gama.wait_players(&[], T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gama_restarting_mid_session_brings_everyone_back_without_closing_headsets() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    expect_in_game(&b, true).await;

    gama.kill().await;
    expect_in_game(&a, false).await;
    expect_in_game(&b, false).await;
    let state = relay
        .wait("relay sees GAMA gone", |s| {
            s.gama.connection != gama_vr_relay::LinkState::Connected
        })
        .await;
    assert_eq!(state.gama.experiment_state, "NONE");

    gama.restart().await.unwrap();
    let restarted = Instant::now();
    relay.wait_gama().await;
    assert!(
        restarted.elapsed() < Duration::from_secs(1),
        "reconnected {:?} after GAMA came back",
        restarted.elapsed()
    );
    relay.launch().await;
    expect_in_game(&a, true).await;
    expect_in_game(&b, true).await;
    gama.wait_players(&["A", "B"], T).await.unwrap();
    assert!(
        !a.is_closed() && !b.is_closed(),
        "no headset socket was closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_network_glitch_the_relay_finds_the_experiment_still_running() {
    let gama = desktop_autorun().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    relay.wait_experiment("RUNNING").await;
    expect_in_game(&a, true).await;

    // The desktop server keeps its experiment when a client drops, and tells a new client nothing.
    gama.drop_connections().await;
    expect_in_game(&a, false).await;
    let state = relay.wait_experiment("RUNNING").await;
    assert_eq!(state.gama.mode, Some(gama_vr_relay::ServerMode::Desktop));
    expect_in_game(&a, true).await;
    assert_eq!(gama.accepted_connections(), 2);
    assert_eq!(
        gama.players(),
        ["A"],
        "create_player for a known player is harmless"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_started_next_to_a_paused_experiment_picks_it_up() {
    let gama = desktop().await;
    gama.open_experiment("vr_xp");
    gama.wait_experiment_state("PAUSED", T).await.unwrap();
    let relay = TestRelay::new(&gama).await;
    let state = relay.wait_experiment("PAUSED").await;
    assert_eq!(state.gama.experiment_id.as_deref(), Some("0"));
    let a = relay.join("A").await;
    expect_in_game(&a, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_starts_without_gama_and_connects_when_it_appears() {
    // A port nothing listens on yet.
    let port = free_port();
    let placeholder = desktop().await;
    let relay = TestRelay::builder(&placeholder)
        .config(|c| c.gama.port = port)
        .start()
        .await;
    drop(placeholder);
    let state = relay
        .wait("GAMA unreachable", |s| {
            s.gama.connection == gama_vr_relay::LinkState::Unreachable
        })
        .await;
    let reason = state.gama.reason.unwrap();
    assert!(reason.contains("refused"), "{reason}");
    let (status, body) = relay.post("/api/experiment/launch", None).await;
    assert_eq!(status, 503, "{body}");
    // Headsets can connect meanwhile.
    let a = relay.join("A").await;

    let gama = FakeGama::start(FakeGamaOptions {
        bind: format!("127.0.0.1:{port}").parse().unwrap(),
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    relay.wait_gama().await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    drop(gama);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_a_deadline() {
    let gama = desktop_autorun().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.gama.command_timeout_ms = 300)
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    expect_in_game(&a, true).await;

    // GAMA hangs on pause: the operator hears about it after the deadline, with a 504.
    gama.swallow_commands_containing(r#""type":"pause""#);
    let started = Instant::now();
    let (status, body) = relay.post("/api/experiment/pause", None).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("did not answer"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Stop still ends in a relaunchable state although its pause is never answered.
    let (status, body) = relay.post("/api/experiment/stop", None).await;
    assert_eq!(status, 504, "{body}");
    relay.wait_experiment("NONE").await;
    assert_eq!(
        gama.commands_of_type("stop").len(),
        1,
        "stop was sent after the pause timed out"
    );
    gama.clear_failures();
    relay.launch().await;
    expect_in_game(&a, true).await;

    // A create_player GAMA does not answer in time: the page says so, not "refused".
    let late = relay.join("Late").await;
    gama.swallow_commands_containing("Late2");
    let late2 = relay.join("Late2").await;
    expect_in_game(&late, true).await;
    relay
        .wait("Late2 unanswered after the deadline", |s| {
            s.players
                .iter()
                .any(|p| p.player.id == "Late2" && p.player.state == "no_answer")
        })
        .await;
    late2
        .expect_silence(Duration::from_millis(100))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_load_is_reported_in_plain_words() {
    let gama = desktop().await;
    gama.set_load_error(Some("'/x/demo.gaml' does not exist"));
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let (status, body) = relay.post("/api/experiment/launch", None).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("does not exist"),
        "{body}"
    );
    let state = relay.get("/api/state").await.1;
    assert!(
        state["gama"]["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{state}"
    );
    assert_eq!(state["gama"]["operation"], serde_json::Value::Null);
    gama.set_load_error(None);
    relay.launch().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_experiments_die_with_the_connection_and_players_come_back_after_relaunch() {
    let gama = headless().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    let first_id = gama.experiment_id().unwrap();
    gama.drop_connections().await;
    expect_in_game(&a, false).await;
    let state = relay.wait_gama().await;
    assert_eq!(
        state.gama.experiment_state, "NONE",
        "gama-headless disposed it"
    );
    relay.launch().await;
    expect_in_game(&a, true).await;
    assert_ne!(gama.experiment_id().unwrap(), first_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_carries_the_parameters_the_learning_package_gives() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let pkg = relay.packages.path().join("Params");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("settings.json"),
        r#"{"type":"json_settings","name":"Params","model_file_path":"m.gaml","experiment_name":"vr_xp",
            "parameters":[{"name":"nb_trees","type":"int","value":40},{"name":"title","value":"x"}]}"#,
    )
    .unwrap();
    assert_eq!(relay.post("/api/models/rescan", None).await.0, 200);
    let models = relay.get("/api/models").await.1;
    let index = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Params")
        .unwrap()["index"]
        .as_u64()
        .unwrap();
    assert_eq!(
        relay
            .post(&format!("/api/models/{index}/select"), None)
            .await
            .0,
        200
    );
    relay.wait_gama().await;
    relay.launch().await;
    let load = gama.wait_command(T, |c| c["type"] == "load").await.unwrap();
    assert_eq!(load["model"], pkg.join("m.gaml").to_str().unwrap());
    assert_eq!(
        load["parameters"],
        serde_json::json!([{"name":"nb_trees","type":"int","value":40},{"name":"title","value":"x"}])
    );
}

/// GAMA busy with a heavy step answers create_player after the command's deadline: a late yes
/// still puts the player in the game, a late no keeps it out, and meanwhile the page says GAMA is
/// late rather than that it refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_to_create_player_still_counts() {
    let gama = desktop_autorun().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.gama.command_timeout_ms = 300)
        .start()
        .await;
    relay.wait_gama().await;
    relay.launch().await;
    let state_of = |s: &StateView, id: &str| {
        s.players
            .iter()
            .find(|p| p.player.id == id)
            .map(|p| p.player.state)
    };

    gama.delay_replies(Duration::from_millis(900));
    let slow = relay.join("Slow").await;
    relay
        .wait("Slow shown as unanswered, not refused", |s| {
            state_of(s, "Slow") == Some("no_answer")
        })
        .await;
    expect_in_game(&slow, true).await;
    let state = relay
        .wait("Slow in game after GAMA's late yes", |s| {
            state_of(s, "Slow") == Some("in_game")
        })
        .await;
    assert_eq!(state.counts.in_game, 1);
    assert!(gama.players().contains(&"Slow".to_string()));

    gama.fail_expressions_containing("Refused", "no room for Refused");
    let refused = relay.join("Refused").await;
    relay
        .wait("Refused shown as unanswered first", |s| {
            state_of(s, "Refused") == Some("no_answer")
        })
        .await;
    relay
        .wait("Refused out after GAMA's late no", |s| {
            state_of(s, "Refused") == Some("refused")
        })
        .await;
    refused
        .expect_silence(Duration::from_millis(100))
        .await
        .unwrap();
}
