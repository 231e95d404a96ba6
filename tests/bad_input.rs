//! Bad input from headsets, from GAMA and from the admin API: each gets a precise answer, costs
//! nobody else anything, and leaves the relay working.
//!
//! The relay answers at most one complaint per connection per second, so every case uses a
//! connection of its own.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use relay_testkit::{FakeGama, Headset};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

/// Receives the next frame and checks it is `{"type":"error","message":…}` whose message contains
/// every one of `words`; returns the message.
async fn expect_error(h: &Headset, input: &str, words: &[&str]) -> String {
    let raw = h
        .recv_raw(T)
        .await
        .unwrap_or_else(|e| panic!("no reply to {input}: {e}"));
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["type"], "error", "reply to {input}: {raw}");
    assert_eq!(v.as_object().unwrap().len(), 2, "reply to {input}: {raw}");
    let message = v["message"].as_str().unwrap().to_owned();
    for w in words {
        assert!(
            message.contains(w),
            "reply to {input} should mention {w:?}: {message}"
        );
    }
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_headset_messages_get_an_error_and_the_socket_stays_usable() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let bystander = relay.join("Bystander").await;
    let cases: &[(&str, &[&str])] = &[
        ("{nope", &["JSON"]),
        ("", &["JSON"]),
        ("[1,2]", &["type"]),
        (r#""connection""#, &["type"]),
        (r#"{"id":"Player_9"}"#, &["type"]),
        (r#"{"type":5}"#, &["type"]),
        (r#"{"type":null}"#, &["type"]),
        (r#"{"type":"dance"}"#, &["unknown", "dance"]),
        (
            r#"{"type":"connection","id":{"a":1}}"#,
            &["\"id\"", "string"],
        ),
        (r#"{"type":"connection"}"#, &["\"id\"", "missing"]),
        (r#"{"type":"ask","action":3}"#, &["\"action\"", "string"]),
        (r#"{"type":"ask","args":"{}"}"#, &["\"action\"", "missing"]),
        (
            r#"{"type":"ask","action":"move","args":["id","P"]}"#,
            &["\"args\""],
        ),
        (
            r#"{"type":"ask","action":"move","agent":7}"#,
            &["\"agent\""],
        ),
        (
            r#"{"type":"expression","expr":[]}"#,
            &["\"expr\"", "string"],
        ),
        (r#"{"type":"expression"}"#, &["\"expr\"", "missing"]),
    ];
    let mut sockets = Vec::new();
    for (i, (input, words)) in cases.iter().enumerate() {
        let h = relay.connect().await;
        h.send_text(input).await.unwrap();
        expect_error(&h, input, words).await;
        // Still open, still served, and a registration works.
        expect_pong(&h, &format!("after-{i}")).await;
        let id = format!("Player_{i}");
        h.register(&id).await.unwrap();
        let state = h.recv_type("json_state", T).await.unwrap();
        assert_eq!(state["id"], id.as_str(), "after {input}");
        assert!(!h.is_closed());
        sockets.push(h);
    }
    let state = relay.handle().state();
    assert_eq!(state.players.len(), cases.len() + 1);
    for i in 0..cases.len() {
        let p = player(&state, &format!("Player_{i}")).expect("registered after the bad input");
        assert!(p.player.connected);
    }
    assert_eq!(state.counts.connected, cases.len() + 1);
    // Somebody else never noticed.
    expect_delivery(&gama, &bystander, "Bystander", r#"{"ok":1}"#).await;
    bystander
        .expect_silence(Duration::from_millis(50))
        .await
        .unwrap();
    assert!(relay.healthy_within(T).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_arrays_are_not_messages() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let cases = [
        r#"["connection","Player_9","5000"]"#,
        r#"["ping","x"]"#,
        r#"["disconnect_properly"]"#,
    ];
    for input in cases {
        let h = relay.connect().await;
        h.send_text(input).await.unwrap();
        expect_error(&h, input, &["object", "type"]).await;
        expect_pong(&h, "after").await;
    }
    assert!(relay.handle().state().players.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_before_connection_are_refused() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let bystander = relay.join("Bystander").await;
    relay.launch().await;
    expect_in_game(&bystander, true).await;

    let asker = relay.connect().await;
    asker
        .ask("send_init_data", &[("id", "Player_101")])
        .await
        .unwrap();
    expect_error(&asker, "an ask", &["connection"]).await;
    let expr = relay.connect().await;
    expr.expression("do hello($id);").await.unwrap();
    expect_error(&expr, "an expression", &["connection"]).await;

    // Neither reached GAMA: the bystander's ask, sent afterwards, is the only one.
    bystander
        .ask("send_init_data", &[("id", "Bystander")])
        .await
        .unwrap();
    gama.wait_command(T, |c| c["type"] == "ask").await.unwrap();
    let asks = gama.commands_of_type("ask");
    assert_eq!(asks.len(), 1, "{asks:?}");
    assert_eq!(asks[0]["args"], r#"{"id":"Bystander"}"#);
    assert!(
        gama.commands_of_type("expression")
            .iter()
            .all(|c| !c["expr"].as_str().unwrap_or("").contains("hello")),
        "{:?}",
        gama.commands()
    );
    // Both sockets are still usable.
    expect_pong(&asker, "a").await;
    expect_pong(&expr, "e").await;
    assert!(relay.handle().state().players.len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_without_a_live_experiment_are_not_forwarded() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    h.ask("send_init_data", &[("id", "Player_101")])
        .await
        .unwrap();
    expect_error(&h, "an ask", &["not forwarded", "no experiment"]).await;
    assert!(gama.commands_of_type("ask").is_empty());
    let other = relay.join("Player_102").await;
    other.expression("do hello($id);").await.unwrap();
    expect_error(&other, "an expression", &["not forwarded"]).await;
    assert!(!h.is_closed() && !other.is_closed());

    // Once live, an ask goes through; the refused one never follows it.
    relay.launch().await;
    expect_in_game(&h, true).await;
    h.ask(
        "player_ready_to_receive_geometries",
        &[("id", "Player_101")],
    )
    .await
    .unwrap();
    gama.wait_command(T, |c| c["type"] == "ask").await.unwrap();
    let asks = gama.commands_of_type("ask");
    assert_eq!(asks.len(), 1, "{asks:?}");
    assert_eq!(asks[0]["action"], "player_ready_to_receive_geometries");
    assert!(
        gama.commands_of_type("expression")
            .iter()
            .all(|c| !c["expr"].as_str().unwrap_or("").contains("hello")),
        "{:?}",
        gama.commands()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_are_refused_without_closing() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    h.send_binary(vec![1, 2, 3]).await.unwrap();
    expect_error(&h, "a binary frame", &["binary", "3 bytes"]).await;
    expect_pong(&h, "after").await;
    expect_delivery(&gama, &h, "Player_101", r#"{"still":"registered"}"#).await;
    let p = relay.player_json("Player_101").await.unwrap();
    assert_eq!(p["connected"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_with_1009_and_spares_the_others() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.max_message_bytes = 1024)
        .start()
        .await;
    relay.wait_gama().await;
    let big = relay.join("P1").await;
    let other = relay.join("P2").await;

    // Just under the limit is fine.
    let fits = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(1000));
    assert!(fits.len() <= 1024);
    big.send_text(&fits).await.unwrap();
    assert_eq!(
        big.recv_raw(T).await.unwrap(),
        format!(r#"{{"type":"pong","id":"{}"}}"#, "x".repeat(1000))
    );

    let x = "x".repeat(2000);
    big.ask("move_player_external", &[("id", "P1"), ("x", &x)])
        .await
        .unwrap();
    let closed = big.wait_closed(T).await.unwrap();
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(code, 1009, "reason: {reason}");
    assert!(!reason.is_empty());
    // The error reply was written before the close frame.
    let error = big.recv_type("error", T).await.unwrap();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("max_message_bytes = 1024"), "{message}");

    let state = relay.wait_disconnected("P1").await;
    assert!(player(&state, "P2").unwrap().player.connected);
    expect_delivery(&gama, &other, "P2", r#"{"enableMove":true}"#).await;
    expect_pong(&other, "p2").await;
    assert!(!other.is_closed());
}

/// How many asks the flooding headset sends at once.
const FLOOD: usize = 3000;
/// The relay's limit on a headset's messages a second, in the flood test.
const RATE: u32 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_asks_is_slowed_down_without_delaying_other_players() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.max_messages_per_second = RATE;
            c.gama.command_timeout_ms = 10_000;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let flooder = relay.join("P1").await;
    let other = relay.join("P2").await;
    relay.launch().await;
    expect_in_game(&flooder, true).await;
    expect_in_game(&other, true).await;

    let asks_before = gama.commands_of_type("ask").len();
    let started = Instant::now();
    for i in 0..FLOOD {
        let x = i.to_string();
        flooder
            .ask("move_player_external", &[("id", "P1"), ("x", &x)])
            .await
            .unwrap();
    }
    let (rounds, worst) = while_the_flood_trickles_in_the_other_player_is_served(
        &relay,
        &gama,
        &other,
        asks_before,
        started,
    )
    .await;
    let drained = started.elapsed();
    assert!(rounds >= 2, "the flood drained before any measurement");
    assert!(
        worst < Duration::from_millis(500),
        "worst delivery {worst:?}"
    );
    // A burst of twice the rate passes at once, the rest at the rate: about a second here.
    let floor = Duration::from_secs_f64((FLOOD as f64 - 2.0 * f64::from(RATE)) / f64::from(RATE));
    assert!(
        drained >= floor.mul_f64(0.8),
        "{FLOOD} asks reached GAMA in {drained:?}: not slowed down"
    );
    nothing_was_dropped_and_the_order_was_kept(&gama, asks_before);
    // The flooder is still connected and served.
    flooder
        .send_text(r#"{"type":"ping","id":"survived"}"#)
        .await
        .unwrap();
    let pong = flooder.recv_type("pong", T).await.unwrap();
    assert_eq!(pong["id"], "survived");
}

/// While the flood (sent at `started`) trickles in to GAMA, the `other` player's output arrives at
/// once and the admin API answers, round after round until GAMA has every ask (after the
/// `asks_before` it had). Returns the number of rounds and the worst delivery time.
async fn while_the_flood_trickles_in_the_other_player_is_served(
    relay: &TestRelay,
    gama: &FakeGama,
    other: &Headset,
    asks_before: usize,
    started: Instant,
) -> (u32, Duration) {
    let mut rounds = 0;
    let mut worst = Duration::ZERO;
    while gama.commands_of_type("ask").len() - asks_before < FLOOD {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the flood never drained"
        );
        rounds += 1;
        let sent = Instant::now();
        let contents = format!(r#"{{"round":{rounds}}}"#);
        gama.send_linker_output(&linker_output(&["P2"], &contents));
        let (raw, _) = other
            .recv_json_output(Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("round {rounds}: {e}"));
        assert_eq!(raw, json_output(&contents));
        worst = worst.max(sent.elapsed());
        assert!(
            relay.healthy_within(Duration::from_secs(1)).await,
            "round {rounds}: /healthz did not answer within 1 s"
        );
    }
    (rounds, worst)
}

/// Nothing was dropped and the order was kept: GAMA got the flood's asks (after the `asks_before`
/// it had) with x = 0, 1, 2…
fn nothing_was_dropped_and_the_order_was_kept(gama: &FakeGama, asks_before: usize) {
    let xs: Vec<usize> = gama
        .commands_of_type("ask")
        .iter()
        .skip(asks_before)
        .map(|c| {
            let args: Value = serde_json::from_str(c["args"].as_str().unwrap()).unwrap();
            args["x"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(xs, (0..FLOOD).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_vanishing_mid_frame_does_not_hurt_the_relay() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let other = relay.join("P2").await;

    let url = format!("ws://{}/", relay.headset_addr());
    let tcp = tokio::net::TcpStream::connect(relay.headset_addr())
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws.send(Message::text(
        r#"{"type":"connection","id":"P1","heartbeat":"5000"}"#,
    ))
    .await
    .unwrap();
    relay
        .wait("P1 registered", |s| {
            player(s, "P1").is_some_and(|p| p.player.connected)
        })
        .await;
    // A masked text frame announcing 1000 bytes (FIN, opcode 1; mask bit, 126, then 16-bit length),
    // its mask key and 3 bytes of payload; then the peer is gone.
    let tcp = ws.get_mut();
    tcp.write_all(&[
        0x81,
        0xFE,
        0x03,
        0xE8,
        1,
        2,
        3,
        4,
        b'{' ^ 1,
        b'"' ^ 2,
        b't' ^ 3,
    ])
    .await
    .unwrap();
    tcp.flush().await.unwrap();
    drop(ws);

    let state = relay.wait_disconnected("P1").await;
    assert!(player(&state, "P2").unwrap().player.connected);
    assert!(relay.healthy_within(T).await);
    expect_delivery(&gama, &other, "P2", r#"{"fine":true}"#).await;
    expect_pong(&other, "p2").await;
    // And new headsets are still welcome.
    let newcomer = relay.join("P3").await;
    expect_pong(&newcomer, "p3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gama_garbage_does_not_cost_the_connection() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("P1").await;
    let accepted = gama.accepted_connections();
    let garbage = [
        "this is not JSON",
        "",
        "[1,2,3]",
        r#"{"type":"SimulationOutput","content":"not json"}"#,
        r#"{"type":"SimulationOutput","content":{"message":"hello","color":{}}}"#,
        r#"{"type":"SimulationOutput","content":"pong"}"#,
        r#"{"type":"SimulationOutput","content":42}"#,
        r#"{"type":"SimulationOutput"}"#,
        r#"{"type":"SimulationOutput","content":"{\"contents\":5}"}"#,
        r#"{"type":"SomethingNew","content":{"x":[1,2]}}"#,
        r#"{"content":"no type"}"#,
    ];
    for (i, frame) in garbage.iter().enumerate() {
        gama.send_raw(frame);
        // Frames from GAMA are handled in order: this delivery proves the garbage was handled.
        expect_delivery(&gama, &h, "P1", &format!(r#"{{"after":{i}}}"#)).await;
        let state = relay.handle().state();
        assert_eq!(
            state.gama.connection,
            gama_vr_relay::LinkState::Connected,
            "after {frame}"
        );
        assert_eq!(
            gama.accepted_connections(),
            accepted,
            "reconnected after {frame}"
        );
    }
    // Nothing of the garbage reached the headset.
    h.expect_silence(Duration::from_millis(50)).await.unwrap();

    // A linker output whose first element has no id: the valid elements are still delivered.
    gama.send_linker_output(
        r#"{"contents":[{"contents":{"lost":true}},{"id":["P1"],"contents":{"kept":1}},{"id":"P1","contents":{"kept":2.0}}],"type":"output"}"#,
    );
    let (raw, _) = h.recv_json_output(T).await.unwrap();
    assert_eq!(raw, json_output(r#"{"kept":1}"#));
    let (raw, _) = h.recv_json_output(T).await.unwrap();
    assert_eq!(raw, json_output(r#"{"kept":2}"#));
    h.expect_silence(Duration::from_millis(50)).await.unwrap();

    let state = relay.state_json().await;
    assert_eq!(state["gama"]["connection"], "connected");
    assert_eq!(gama.accepted_connections(), accepted);
    assert_eq!(gama.open_connections(), 1);
    expect_pong(&h, "p1").await;
}

/// Checks an admin API answer (`what`: the case) is the error `want`: a status, plain words, and a
/// stable code the page translates, nothing else. Returns the words.
fn expect_json_error(what: &str, (status, body): (u16, Value), want: u16) -> String {
    assert_eq!(status, want, "{what}: {body}");
    let error = body["error"].as_str();
    assert!(
        error.is_some_and(|e| !e.is_empty()),
        "{what}: not a JSON error: {body}"
    );
    let code = body["code"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "{what}: no code: {body}"
    );
    let keys = body.as_object().unwrap().keys().collect::<Vec<_>>();
    assert!(
        keys.iter()
            .all(|k| ["error", "code", "params"].contains(&k.as_str())),
        "{what}: {body}"
    );
    error.unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_rejects_bad_input_with_json_errors() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.admin.max_body_bytes = 1024)
        .start()
        .await;
    relay.wait_gama().await;

    // Every error: plain words, and a stable code the page translates.
    let launch = "/api/experiment/launch";
    let e = expect_json_error(
        "launch {not json",
        relay.post(launch, Some("{not json")).await,
        400,
    );
    assert!(e.contains("JSON"), "{e}");
    let e = expect_json_error(
        "force maybe",
        relay.post(launch, Some(r#"{"force":"maybe"}"#)).await,
        400,
    );
    assert!(e.contains("force"), "{e}");
    expect_json_error(
        "unknown field",
        relay.post(launch, Some(r#"{"forse":true}"#)).await,
        400,
    );
    let huge = format!(r#"{{"force":true,"pad":"{}"}}"#, "x".repeat(2048));
    expect_json_error(
        "body over the limit",
        relay.post(launch, Some(&huge)).await,
        413,
    );
    // None of these launched anything.
    assert_eq!(gama.commands_of_type("load").len(), 0);
    assert_eq!(relay.state_json().await["gama"]["experiment_state"], "NONE");

    let e = expect_json_error(
        "select abc",
        relay.post("/api/models/abc/select", None).await,
        400,
    );
    assert!(e.contains("abc"), "{e}");
    expect_json_error(
        "select -1",
        relay.post("/api/models/-1/select", None).await,
        400,
    );
    expect_json_error(
        "select 99",
        relay.post("/api/models/99/select", None).await,
        404,
    );
    expect_json_error(
        "remove nobody",
        relay.delete("/api/players/nobody").await,
        404,
    );
    expect_json_error("unknown endpoint", relay.get("/api/nothing").await, 404);

    // The relay still works: a valid launch goes through.
    let (status, body) = relay.post(launch, Some(r#"{"force":true}"#)).await;
    assert_eq!(status, 200, "{body}");
    relay.wait_experiment("PAUSED").await;
    assert!(relay.healthy_within(T).await);
}
