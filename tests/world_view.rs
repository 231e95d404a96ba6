//! The admin page's extras: the GAML console, the simulation clock and the world-view stream.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(T, ws.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return t.to_string(),
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_evaluates_gaml_in_the_live_experiment() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let (status, body) = relay
        .post("/api/console", Some(r#"{"expr":"cycle"}"#))
        .await;
    assert_eq!(status, 409, "no experiment yet: {body}");
    relay.launch().await;
    let (status, body) = relay
        .post("/api/console", Some(r#"{"expr":"cycle"}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "0");
    let cmd = gama
        .wait_command(T, |c| {
            c["type"] == "expression" && c["expr"] == "cycle" && c["exp_id"] == "0"
        })
        .await;
    assert!(cmd.is_ok());
    // GAMA's refusal comes back in plain words.
    let (status, body) = relay
        .post("/api/console", Some(r#"{"expr":"nonsense"}"#))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown expression"),
        "{body}"
    );
    let (status, _) = relay.post("/api/console", Some(r#"{"expr":"  "}"#)).await;
    assert_eq!(status, 400);
    let (status, _) = relay
        .post("/api/console", Some(r#"{"gaml":"cycle"}"#))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_shows_gama_s_pace() {
    let gama = FakeGama::start(FakeGamaOptions {
        cycle_ms: 50,
        autorun: true,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    a.ask("player_ready_to_receive_geometries", &[("id", "A")])
        .await
        .unwrap();
    // A world update every cycle (50 ms): about 20 outputs a second once two seconds have passed.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let state = relay.get("/api/state").await.1;
    let rate = state["clock"]["outputs_per_second"].as_f64().unwrap();
    assert!((12.0..=24.0).contains(&rate), "{}", state["clock"]);
    assert!(state["clock"]["last_output_ms_ago"].as_u64().unwrap() < 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_view_opened_late_gets_the_player_s_view_then_follows_it() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let _b = relay.join("B").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    // The linker's init sequence, then movement enabled (everyone is in).
    let mut seen_by_a = Vec::new();
    while !seen_by_a
        .iter()
        .any(|f: &String| f.contains(r#""enableMove":true"#))
    {
        seen_by_a.push(a.recv_json_output(T).await.unwrap().0);
    }

    let (mut view, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/api/world?player=A",
        relay.handle().admin_addr()
    ))
    .await
    .unwrap();
    the_view_gets_the_cached_payloads_as_a_received_them(&mut view, &seen_by_a).await;
    then_a_s_output_and_positions_not_b_s(&mut view, &gama, &a).await;
}

/// The cached payloads, exactly as A received them (`seen_by_a`), parameters first.
async fn the_view_gets_the_cached_payloads_as_a_received_them(view: &mut Ws, seen_by_a: &[String]) {
    let mut cached = Vec::new();
    for _ in 0..4 {
        let text = next_text(view).await;
        if !text.contains("\"positions\"") {
            cached.push(text);
        }
    }
    while cached.len() < 4 {
        let text = next_text(view).await;
        if !text.contains("\"positions\"") {
            cached.push(text);
        }
    }
    assert!(
        cached[0].starts_with(r#"{"contents":{"precision":"#),
        "{cached:?}"
    );
    for frame in &cached {
        assert!(seen_by_a.contains(frame), "{frame}");
    }
}

/// Live: A's output and positions reach A's view; B's output does not.
async fn then_a_s_output_and_positions_not_b_s(view: &mut Ws, gama: &FakeGama, a: &Headset) {
    gama.send_linker_output(&linker_output(&["B"], r#"{"for":"B"}"#));
    gama.send_linker_output(&linker_output(&["A"], r#"{"for":"A"}"#));
    a.ask(
        "move_player_external",
        &[
            ("id", "A"),
            ("x", "120000"),
            ("y", "340000"),
            ("z", "0"),
            ("angle", "900000"),
        ],
    )
    .await
    .unwrap();
    let mut got_output = false;
    let mut got_position = false;
    while !(got_output && got_position) {
        let text = next_text(view).await;
        assert!(
            !text.contains(r#""for":"B""#),
            "B's output reached A's view"
        );
        if text.contains(r#""for":"A""#) {
            got_output = true;
        }
        if text.contains("\"positions\"") {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["players"]["A"]["x"] == 120000 {
                assert_eq!(v["players"]["A"]["y"], 340000);
                assert_eq!(v["players"]["A"]["angle"], 900000);
                got_position = true;
            }
        }
    }
}
