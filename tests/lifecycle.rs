//! Players in and out of the game: acknowledgement, rollback, gating by the model's minimum and
//! maximum, the waiting list, grace time, auto-launch, reloads and the operator's controls.

mod common;

use std::time::Duration;

use common::*;
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::Value;

fn creates(gama: &FakeGama) -> Vec<String> {
    gama.commands_of_type("expression")
        .into_iter()
        .filter_map(|c| c["expr"].as_str().map(str::to_string))
        .filter(|e| e.starts_with("do create_player"))
        .collect()
}

fn no_auto_launch(c: &mut gama_vr_relay::Config) {
    c.session.auto_launch = false;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_is_in_game_only_once_gama_accepted_it() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let ok = relay.join("P1").await;
    let refused = relay.join("P2").await;
    gama.fail_expressions_containing(r#"create_player("P2")"#, "> Error: no more room");
    relay.launch().await;
    expect_in_game(&ok, true).await;
    let state = relay
        .wait("P2 refused", |s| {
            s.players
                .iter()
                .any(|p| p.player.id == "P2" && p.player.state == "refused")
        })
        .await;
    let p2 = state.players.iter().find(|p| p.player.id == "P2").unwrap();
    assert!(!p2.player.in_game);
    assert!(
        state
            .gama
            .last_error
            .as_ref()
            .unwrap()
            .message
            .contains("no more room"),
        "{:?}",
        state.gama.last_error
    );
    refused
        .expect_silence(Duration::from_millis(200))
        .await
        .expect("no in_game:true for a refused player");
    // A refused player is not retried in a loop; reconnecting gives it another chance.
    assert_eq!(creates(&gama).len(), 2);
    gama.clear_failures();
    drop(refused);
    let again = relay.join("P2").await;
    expect_in_game(&again, true).await;
    relay.wait_in_game(&["P1", "P2"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_players_are_enforced_and_the_waiting_list_is_served_in_arrival_order() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .players("0", "2")
        .config(no_auto_launch)
        .start()
        .await;
    relay.wait_gama().await;
    let mut headsets = Vec::new();
    for id in ["A", "B", "C", "D"] {
        headsets.push(relay.join(id).await);
    }
    relay.launch().await;
    relay.wait_in_game(&["A", "B"]).await;
    gama.wait_players(&["A", "B"], T).await.unwrap();
    let state = relay
        .wait("C and D waiting", |s| s.counts.waiting == 2)
        .await;
    let waiting: Vec<&str> = state
        .players
        .iter()
        .filter(|p| p.player.waiting)
        .map(|p| p.player.id.as_str())
        .collect();
    assert_eq!(waiting, ["C", "D"]);
    assert_eq!(
        creates(&gama).len(),
        2,
        "never more create_player than slots"
    );
    // C and D still see in_game:false (they got that on registration and nothing since).
    headsets[2]
        .expect_silence(Duration::from_millis(100))
        .await
        .unwrap();

    // The operator removes A: GAMA removes it, C (first in line) gets the slot, D keeps waiting.
    let (status, body) = relay.delete("/api/players/A").await;
    assert_eq!(status, 200, "{body}");
    assert!(headsets[0].wait_closed(T).await.unwrap().is_some());
    expect_in_game(&headsets[2], true).await;
    relay.wait_in_game(&["B", "C"]).await;
    gama.wait_players(&["B", "C"], T).await.unwrap();
    let exprs: Vec<Value> = gama.commands_of_type("expression");
    let remove_a = exprs
        .iter()
        .position(|c| c["expr"] == r#"do remove_player("A");"#)
        .expect("remove_player sent");
    let create_c = exprs
        .iter()
        .position(|c| c["expr"] == r#"do create_player("C");"#)
        .expect("create_player sent");
    assert!(remove_a < create_c, "the slot is freed before it is given");
    assert_eq!(relay.get("/api/state").await.1["counts"]["waiting"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_is_refused_below_the_minimum_unless_forced() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .players("3", "6")
        .config(no_auto_launch)
        .start()
        .await;
    relay.wait_gama().await;
    let _a = relay.join("A").await;
    let (status, body) = relay.post("/api/experiment/launch", None).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("at least 3") && message.contains("1 connected"),
        "{message}"
    );
    // The page words it in its own language from the code and its values.
    assert_eq!(body["code"], "below_minimum");
    assert_eq!(body["params"]["min"], 3);
    assert_eq!(body["params"]["connected"], 1);
    assert_eq!(body["params"]["model"], "Demo");
    assert!(gama.commands_of_type("load").is_empty());
    let (status, body) = relay
        .post("/api/experiment/launch", Some(r#"{"force":true}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    relay.wait_in_game(&["A"]).await;
    // Already open: a second launch is refused, GAMA gets one load only.
    let (status, body) = relay
        .post("/api/experiment/launch", Some(r#"{"force":true}"#))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "experiment_open");
    assert_eq!(body["params"]["state"], "PAUSED");
    assert_eq!(gama.commands_of_type("load").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_launches_at_once_make_one_load() {
    let gama = desktop().await;
    gama.delay_replies(Duration::from_millis(200));
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let (first, second) = tokio::join!(
        relay.post("/api/experiment/launch", None),
        relay.post("/api/experiment/launch", None)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    assert_eq!(gama.commands_of_type("load").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_launch_when_the_maximum_is_connected() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama).players("1", "2").start().await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    a.expect_silence(Duration::from_millis(100)).await.unwrap();
    assert!(gama.commands_of_type("load").is_empty());
    let b = relay.join("B").await;
    let load = gama.wait_command(T, |c| c["type"] == "load").await.unwrap();
    assert!(
        load["model"]
            .as_str()
            .unwrap()
            .ends_with("/Demo/models/demo.gaml"),
        "{load}"
    );
    assert!(std::path::Path::new(load["model"].as_str().unwrap()).is_absolute());
    assert_eq!(load["experiment"], EXPERIMENT);
    expect_in_game(&a, true).await;
    expect_in_game(&b, true).await;
    // Stopping does not relaunch by itself while the same players stay connected.
    let (status, body) = relay.post("/api/experiment/stop", None).await;
    assert_eq!(status, 200, "{body}");
    expect_in_game(&a, false).await;
    a.expect_silence(Duration::from_millis(300)).await.unwrap();
    assert_eq!(gama.commands_of_type("load").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_player_keeps_its_slot_for_the_grace_time() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .players("0", "1")
        .config(|c| {
            c.session.auto_launch = false;
            c.headsets.disconnect_grace_ms = 800;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    a.abort();
    relay
        .wait("A disconnected", |s| {
            s.players
                .iter()
                .any(|p| p.player.id == "A" && p.player.state == "disconnected")
        })
        .await;
    b.expect_silence(Duration::from_millis(100)).await.unwrap();
    // A comes back within the grace time: straight back in game, no second create_player.
    let a = Headset::connect(relay.headset_addr()).await.unwrap();
    a.register("A").await.unwrap();
    let state = a.recv_type("json_state", T).await.unwrap();
    assert_eq!(state["in_game"], true);
    assert_eq!(creates(&gama), [r#"do create_player("A");"#]);
    // A drops for good: after the grace time GAMA removes it and B gets the slot.
    a.abort();
    expect_in_game(&b, true).await;
    gama.wait_players(&["B"], T).await.unwrap();
    relay
        .wait("A forgotten", |s| {
            s.players.iter().all(|p| p.player.id != "A")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_are_added_again_after_a_reload_and_an_end_of_game() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    expect_in_game(&a, true).await;

    gama.gui_reload();
    expect_in_game(&a, false).await;
    expect_in_game(&a, true).await;
    gama.wait_players(&["A"], T).await.unwrap();

    gama.end_of_game("Game over");
    let (raw, _) = a.recv_json_output(T).await.unwrap();
    assert_eq!(
        raw,
        r#"{"contents":{"endOfGame":"Game over"},"type":"json_output"}"#
    );
    expect_in_game(&a, false).await;
    expect_in_game(&a, true).await;
    gama.wait_players(&["A"], T).await.unwrap();
    assert_eq!(creates(&gama).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_opened_in_gama_s_window_gets_the_players_too() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    gama.open_experiment("vr_xp");
    expect_in_game(&a, true).await;
    gama.wait_players(&["A"], T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_stop_drive_gama_and_keep_headsets_connected() {
    let gama = desktop_autorun().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    relay.wait_experiment("RUNNING").await;
    expect_in_game(&a, true).await;

    assert_eq!(relay.post("/api/experiment/pause", None).await.0, 200);
    relay.wait_experiment("PAUSED").await;
    assert_eq!(
        relay.post("/api/experiment/pause", None).await.0,
        409,
        "not running"
    );
    assert_eq!(relay.post("/api/experiment/resume", None).await.0, 200);
    relay.wait_experiment("RUNNING").await;

    let (status, body) = relay.post("/api/experiment/stop", None).await;
    assert_eq!(status, 200, "{body}");
    let types: Vec<String> = gama
        .commands()
        .iter()
        .filter_map(|c| c["type"].as_str().map(str::to_string))
        .filter(|t| t == "pause" || t == "stop" || t == "play")
        .collect();
    assert_eq!(
        types,
        ["pause", "play", "pause", "stop"],
        "stop pauses first"
    );
    relay.wait_experiment("NONE").await;
    expect_in_game(&a, false).await;
    assert!(!a.is_closed(), "stop does not close headset sockets");
    assert_eq!(gama.experiment_state(), "NONE");

    // Relaunchable.
    relay.launch().await;
    expect_in_game(&a, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selecting_a_model_changes_what_launch_loads_and_the_limits() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(no_auto_launch)
        .start()
        .await;
    write_package(relay.packages.path(), "Second", "0", "1");
    let (status, models) = relay.post("/api/models/rescan", None).await;
    assert_eq!(status, 200, "{models}");
    let names: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Demo", "Second"]);
    assert_eq!(models["selected"], 0);
    let (status, body) = relay.post("/api/models/1/select", None).await;
    assert_eq!(status, 200, "{body}");
    let state = relay.get("/api/state").await.1;
    assert_eq!(state["model"]["name"], "Second");
    assert_eq!(state["model"]["max_players"], 1);
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    relay.launch().await;
    let load = gama.wait_command(T, |c| c["type"] == "load").await.unwrap();
    assert!(
        load["model"].as_str().unwrap().contains("/Second/"),
        "{load}"
    );
    expect_in_game(&a, true).await;
    relay.wait("B waiting", |s| s.counts.waiting == 1).await;
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_launch_waits_for_gama_when_the_players_are_there_first() {
    let port = free_port();
    let placeholder = desktop().await;
    let relay = TestRelay::builder(&placeholder)
        .players("1", "2")
        .config(|c| c.gama.port = port)
        .start()
        .await;
    drop(placeholder);
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    let gama = FakeGama::start(FakeGamaOptions {
        bind: format!("127.0.0.1:{port}").parse().unwrap(),
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    gama.wait_command(T, |c| c["type"] == "load").await.unwrap();
    expect_in_game(&a, true).await;
    expect_in_game(&b, true).await;
    assert_eq!(gama.commands_of_type("load").len(), 1);
}

/// A teacher's tablet drops off the Wi-Fi right after asking for a launch: the launch still runs to
/// its end (players created in GAMA) and "launching" does not stay on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_completes_when_the_client_that_asked_goes_away() {
    use tokio::io::AsyncWriteExt;
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(no_auto_launch)
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    // GAMA takes its time to load, so the client is gone long before the answer.
    gama.delay_replies(Duration::from_millis(400));
    let admin = relay.handle().admin_addr();
    let mut client = tokio::net::TcpStream::connect(admin).await.unwrap();
    let request = format!(
        "POST /api/experiment/launch HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 0\r\n\r\n"
    );
    client.write_all(request.as_bytes()).await.unwrap();
    relay
        .wait("the launch started", |s| {
            s.gama.operation == Some("launching")
        })
        .await;
    gama.wait_command(T, |c| c["type"] == "load").await.unwrap();
    drop(client);
    expect_in_game(&a, true).await;
    relay
        .wait("the label cleared", |s| {
            s.gama.operation.is_none() && s.counts.in_game == 1
        })
        .await;
    assert_eq!(creates(&gama), [r#"do create_player("A");"#]);
    // The audit trail has the launch and how it went, although nobody was left to answer.
    let is_launch = |e: &&Value| e["kind"] == "launch";
    let audit = relay
        .get_until("/api/audit", "the launch in the audit trail", |a| {
            a["entries"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| is_launch(&e)))
        })
        .await;
    let launch = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(is_launch)
        .unwrap();
    assert_eq!(launch["ok"], true, "{launch}");
    assert_eq!(launch["source"], "127.0.0.1", "{launch}");
    // And the operator can act again.
    gama.clear_failures();
    let (status, body) = relay.post("/api/experiment/pause", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("nothing to pause"),
        "the operator's turn is free again: {body}"
    );
}
