//! Keep-alive: the relay's `{"type":"ping"}` every announced heartbeat, liveness through any
//! inbound frame, disconnection after `headsets.missed_heartbeats` silent periods, round-trip time
//! and traffic counters.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use relay_testkit::Headset;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A headset that registered as `id` with `heartbeat`, auto-pong as given (set before the first
/// ping can arrive), its `json_state` consumed. Returns when the registration was sent.
async fn join_with(relay: &TestRelay, id: &str, heartbeat: &str, auto_pong: bool) -> Headset {
    let h = relay.connect().await;
    h.set_auto_pong(auto_pong);
    h.register_with_heartbeat(id, heartbeat).await.unwrap();
    let state = h.recv_type("json_state", T).await.unwrap();
    assert_eq!(state["id"], id);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_exact_and_follow_the_announced_heartbeat() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;

    // Exact bytes, seen by a plain WebSocket client.
    let url = format!("ws://{}/", relay.headset_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(
        r#"{"type":"connection","id":"Player_101","heartbeat":"100"}"#,
    ))
    .await
    .unwrap();
    let mut texts = Vec::new();
    while texts.len() < 3 {
        match tokio::time::timeout(T, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => texts.push(t.as_str().to_owned()),
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
        if texts.len() > 1 {
            ws.send(Message::text(r#"{"type":"pong"}"#)).await.unwrap();
        }
    }
    assert_json_state(&texts[0], "Player_101", r#""100""#, false);
    assert_eq!(texts[1], r#"{"type":"ping"}"#);
    assert_eq!(texts[2], r#"{"type":"ping"}"#);

    // The period, counted by a Unity-like headset over a bounded window.
    let h = join_with(&relay, "Player_102", "100", true).await;
    h.recv_type("ping", T).await.unwrap();
    let before = h.pings_received();
    h.expect_silence(Duration::from_millis(700)).await.unwrap();
    let pings = h.pings_received() - before;
    // Nominally 7.
    assert!((3..=15).contains(&pings), "{pings} pings in 700 ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headset_answering_pings_stays_connected() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.missed_heartbeats = 3)
        .start()
        .await;
    let h = join_with(&relay, "Player_101", "100", true).await;
    // Well beyond 3 × 100 ms.
    assert!(
        h.wait_closed(Duration::from_secs(1)).await.is_err(),
        "closed while answering pings"
    );
    assert!(
        h.pings_received() >= 4,
        "pings must have been sent: {}",
        h.pings_received()
    );
    let p = relay.player_json("Player_101").await.unwrap();
    assert_eq!(p["connected"], true);
    expect_pong(&h, "alive").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_headset_is_dropped_after_the_missed_heartbeats() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.missed_heartbeats = 3)
        .start()
        .await;
    let started = Instant::now();
    let h = join_with(&relay, "Player_101", "100", false).await;
    let other = join_with(&relay, "Player_102", "100", true).await;

    // Not after one period.
    assert!(
        h.wait_closed(Duration::from_millis(150)).await.is_err(),
        "closed after one silent period"
    );
    let (code, reason) = h
        .wait_closed(Duration::from_secs(3))
        .await
        .unwrap()
        .expect("close frame with a reason");
    let elapsed = started.elapsed();
    assert_eq!(code, 1000);
    assert!(reason.contains("keep-alive"), "reason: {reason:?}");
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed after {elapsed:?}"
    );
    assert!(h.pings_received() >= 2, "{} pings", h.pings_received());

    let state = relay.wait_disconnected("Player_101").await;
    assert_eq!(
        player(&state, "Player_101").unwrap().player.state,
        "disconnected"
    );
    assert!(player(&state, "Player_102").unwrap().player.connected);
    let p = relay.player_json("Player_101").await.unwrap();
    assert_eq!(p["connected"], false);
    assert!(!other.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_heartbeats_sets_how_many_silent_periods_are_tolerated() {
    let gama = desktop().await;
    let one = TestRelay::builder(&gama)
        .config(|c| c.headsets.missed_heartbeats = 1)
        .start()
        .await;
    let three = TestRelay::builder(&gama)
        .config(|c| c.headsets.missed_heartbeats = 3)
        .start()
        .await;
    let started = Instant::now();
    let (a, b) = tokio::join!(
        join_with(&one, "Player_101", "200", false),
        join_with(&three, "Player_101", "200", false)
    );

    let closed_a = a.wait_closed(T).await.unwrap().expect("close frame");
    let elapsed_a = started.elapsed();
    assert!(!b.is_closed(), "3 missed heartbeats closed as early as 1");
    let closed_b = b.wait_closed(T).await.unwrap().expect("close frame");
    let elapsed_b = started.elapsed();

    assert_eq!(closed_a.0, 1000);
    assert!(closed_a.1.contains("1 keep-alive"), "{closed_a:?}");
    assert_eq!(closed_b.0, 1000);
    assert!(closed_b.1.contains("3 keep-alive"), "{closed_b:?}");
    assert!(elapsed_a >= Duration::from_millis(200), "{elapsed_a:?}");
    assert!(elapsed_b >= Duration::from_millis(600), "{elapsed_b:?}");
    assert!(elapsed_a < elapsed_b);
    assert!(b.pings_received() >= 2, "{} pings", b.pings_received());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_inbound_message_proves_liveness() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.missed_heartbeats = 3)
        .start()
        .await;
    let h = join_with(&relay, "Player_101", "100", false).await;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let until = Instant::now() + Duration::from_secs(1);
    let mut n = 0;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        if n % 2 == 0 {
            h.ask("move_player_external", &[("id", "Player_101"), ("x", "1")])
                .await
                .unwrap();
        } else {
            h.expression("do hello($id);").await.unwrap();
        }
        assert!(!h.is_closed(), "closed after {n} messages");
    }
    assert!(
        h.pings_received() >= 4,
        "pings were sent and never answered: {}",
        h.pings_received()
    );
    assert!(relay.player_json("Player_101").await.unwrap()["connected"] == true);
    // And once it stops talking, it is dropped.
    let (code, _) = h.wait_closed(T).await.unwrap().expect("close frame");
    assert_eq!(code, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_time_is_measured() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let h = join_with(&relay, "Player_101", "100", false).await;
    let before = relay.player_json("Player_101").await.unwrap();
    assert_eq!(before["traffic"]["rtt_ms"], Value::Null, "{before}");

    h.recv_type("ping", T).await.unwrap();
    h.pong().await.unwrap();
    // The relay reads a connection in order: once this is answered, the pong was handled.
    expect_pong(&h, "after").await;
    let p = relay.player_json("Player_101").await.unwrap();
    let rtt = &p["traffic"]["rtt_ms"];
    assert!(rtt.is_u64(), "rtt_ms must be a number: {p}");
    assert!(rtt.as_u64().unwrap() < 5000, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_counters_follow_the_traffic() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    // A 60 s heartbeat: no keep-alive frames during the test.
    let h = relay.connect().await;
    let connection = r#"{"type":"connection","id":"Player_101","heartbeat":"60000"}"#;
    h.send_text(connection).await.unwrap();
    let state_frame = h.recv_raw(T).await.unwrap();

    let mut sent = vec![connection.to_owned()];
    let mut received = vec![state_frame];
    for i in 0..3 {
        let ping = format!(r#"{{"type":"ping","id":"n{i}"}}"#);
        h.send_text(&ping).await.unwrap();
        sent.push(ping);
        received.push(h.recv_raw(T).await.unwrap());
    }
    let traffic = relay.player_json("Player_101").await.unwrap()["traffic"].clone();
    assert_eq!(traffic["messages_in"], 4, "{traffic}");
    let bytes_in: usize = sent.iter().map(String::len).sum();
    assert_eq!(traffic["bytes_in"], bytes_in, "{traffic}");
    // The writer accounts for a frame once written: every frame but the last one is counted.
    let out = traffic["messages_out"].as_u64().unwrap() as usize;
    assert!(out == 3 || out == 4, "{traffic}");
    let bytes_out: usize = received[..out].iter().map(String::len).sum();
    assert_eq!(traffic["bytes_out"], bytes_out, "{traffic}");

    // More traffic, higher counters.
    expect_pong(&h, "more").await;
    expect_pong(&h, "again").await;
    let later = relay.player_json("Player_101").await.unwrap()["traffic"].clone();
    assert_eq!(later["messages_in"], 6, "{later}");
    assert!(later["bytes_in"].as_u64() > traffic["bytes_in"].as_u64());
    assert!(later["messages_out"].as_u64().unwrap() >= 5, "{later}");
    assert!(later["bytes_out"].as_u64() > traffic["bytes_out"].as_u64());
}

/// WebSocket's own ping is answered with its payload, between the relay's frames, and a headset
/// that closes gets its close code back (the relay writes its frames itself; the library's own
/// answers go out through the same writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_pings_are_answered_and_a_close_is_echoed() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let url = format!("ws://{}/", relay.headset_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(
        r#"{"type":"connection","id":"Player_201","heartbeat":"60000"}"#,
    ))
    .await
    .unwrap();
    let mut state = None;
    let mut pong = None;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    while state.is_none() || pong.is_none() {
        match tokio::time::timeout(T, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => state = Some(t.as_str().to_owned()),
            Some(Ok(Message::Pong(p))) => pong = Some(p.to_vec()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_json_state(&state.unwrap(), "Player_201", r#""60000""#, false);
    assert_eq!(pong.unwrap(), b"are you there");

    ws.send(Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: 4001.into(),
            reason: "bye".into(),
        },
    )))
    .await
    .unwrap();
    loop {
        match tokio::time::timeout(T, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 4001);
                break;
            }
            Some(Ok(Message::Text(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    relay.wait_disconnected("Player_201").await;
}
