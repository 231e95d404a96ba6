//! Headset registration: the `connection` message and its `json_state`, heartbeat values, ids,
//! takeover by a reconnecting headset, leaving, grace time and Unity's own `ping`.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use relay_testkit::{Headset, unity_json};

/// Registers with an exact `connection` text and returns the raw first `json_state`.
async fn register_raw(h: &Headset, connection: &str) -> String {
    h.send_text(connection).await.unwrap();
    let raw = h.recv_raw(T).await.unwrap();
    assert!(raw.contains(r#""type":"json_state""#), "{raw}");
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unity_connection_gets_the_reference_json_state() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let h = relay.connect().await;
    let raw = register_raw(
        &h,
        r#"{"type":"connection","id":"Player_101","heartbeat":"5000"}"#,
    )
    .await;
    assert_json_state(&raw, "Player_101", r#""5000""#, false);
    // Nothing else follows (no duplicate state, no early ping with a 5 s heartbeat).
    h.expect_silence(Duration::from_millis(200)).await.unwrap();
    assert_eq!(h.pings_received(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_interval_keeps_the_json_type_of_the_heartbeat() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;

    let numeric = relay.connect().await;
    let raw = register_raw(
        &numeric,
        r#"{"type":"connection","id":"Player_102","heartbeat":4000}"#,
    )
    .await;
    assert_json_state(&raw, "Player_102", "4000", false);

    let missing = relay.connect().await;
    let raw = register_raw(&missing, r#"{"type":"connection","id":"Player_103"}"#).await;
    assert_json_state(&raw, "Player_103", "5000", false);

    let state = relay.state_json().await;
    assert_eq!(state["players"][0]["heartbeat_ms"], 4000);
    assert_eq!(state["players"][1]["heartbeat_ms"], 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_outside_the_allowed_range_are_clamped() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.min_heartbeat_ms = 50;
            c.headsets.max_heartbeat_ms = 60_000;
        })
        .start()
        .await;

    // "0" made the webplatform ping every millisecond: here it is raised to the minimum.
    let zero = relay.connect().await;
    zero.register_with_heartbeat("Player_104", "0")
        .await
        .unwrap();
    let raw = zero.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_104", r#""50""#, false);
    let first = zero.recv_type("ping", T).await.unwrap();
    assert_eq!(first, serde_json::json!({"type": "ping"}));
    let before = zero.pings_received();
    zero.expect_silence(Duration::from_millis(500))
        .await
        .unwrap();
    let pings = zero.pings_received() - before;
    // Nominally 10 (every 50 ms); every millisecond would be hundreds.
    assert!((3..=20).contains(&pings), "{pings} pings in 500 ms");

    let huge = relay.connect().await;
    huge.register_with_heartbeat("Player_105", "99999999")
        .await
        .unwrap();
    let raw = huge.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_105", r#""60000""#, false);

    let state = relay.state_json().await;
    assert_eq!(state["players"][0]["heartbeat_ms"], 50);
    assert_eq!(state["players"][1]["heartbeat_ms"], 60000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_heartbeat_gets_the_default() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.default_heartbeat_ms = 150)
        .start()
        .await;
    let h = relay.connect().await;
    h.register_with_heartbeat("Player_106", "garbage")
        .await
        .unwrap();
    let raw = h.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_106", r#""150""#, false);
    h.recv_type("ping", T).await.unwrap();
    let before = h.pings_received();
    h.expect_silence(Duration::from_millis(600)).await.unwrap();
    let pings = h.pings_received() - before;
    // Nominally 4 (every 150 ms).
    assert!((1..=10).contains(&pings), "{pings} pings in 600 ms");
    assert!(!h.is_closed(), "pings are answered: the headset stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headsets_on_one_host_are_distinct_players() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let ids: Vec<String> = (1..=6).map(|i| format!("Player_{i}")).collect();
    let mut headsets = Vec::new();
    for id in &ids {
        headsets.push(relay.join(id).await);
    }
    let state = relay.state_json().await;
    let players = state["players"].as_array().unwrap();
    assert_eq!(players.len(), ids.len(), "{state}");
    for ((p, id), h) in players.iter().zip(&ids).zip(&headsets) {
        assert_eq!(p["id"], id.as_str());
        assert_eq!(p["connected"], true);
        assert_eq!(p["state"], "connected");
        assert_eq!(p["remote_address"], h.local_addr().to_string());
    }
    assert_eq!(state["counts"]["connected"], 6);
    // Every socket is still open: nobody took anybody over.
    for (h, id) in headsets.iter().zip(&ids) {
        expect_pong(h, id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headsets_from_distinct_addresses_are_distinct_players() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let mut headsets = Vec::new();
    for (last, id) in [(2, "Player_2"), (3, "Player_3")] {
        let ip = IpAddr::from([127, 0, 0, last]);
        let h = Headset::connect_from(relay.headset_addr(), ip)
            .await
            .unwrap();
        h.register(id).await.unwrap();
        let raw = h.recv_raw(T).await.unwrap();
        assert_json_state(&raw, id, r#""5000""#, false);
        headsets.push(h);
    }
    let state = relay.state_json().await;
    let players = state["players"].as_array().unwrap();
    assert_eq!(players.len(), 2, "{state}");
    for (p, (h, (ip, id))) in players.iter().zip(
        headsets
            .iter()
            .zip([("127.0.0.2", "Player_2"), ("127.0.0.3", "Player_3")]),
    ) {
        assert_eq!(p["id"], id);
        assert_eq!(p["connected"], true);
        let remote = p["remote_address"].as_str().unwrap();
        assert!(remote.starts_with(&format!("{ip}:")), "{remote}");
        assert_eq!(remote, h.local_addr().to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnection_takes_over_the_player() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let old = relay.join("Player_101").await;
    let new = relay.connect().await;
    new.register("Player_101").await.unwrap();
    let raw = new.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_101", r#""5000""#, false);

    let (code, reason) = old
        .wait_closed(T)
        .await
        .unwrap()
        .expect("the relay closes the old socket with a close frame");
    assert_eq!(code, 1000);
    assert!(reason.contains("Player_101"), "reason: {reason:?}");

    let state = relay
        .wait("one player, on the new socket", |s| {
            s.players.len() == 1
                && s.players[0].player.connected
                && s.players[0].player.remote_address == new.local_addr().to_string()
        })
        .await;
    assert_eq!(player_ids(&state), ["Player_101"]);
    assert_eq!(state.counts.connected, 1);
    assert_eq!(state.counts.disconnected, 0);
    // The old socket's close did not disconnect the player afterwards.
    expect_pong(&new, "still-here").await;
    let p = relay.player_json("Player_101").await.unwrap();
    assert_eq!(p["connected"], true);
    assert_eq!(p["remote_address"], new.local_addr().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnection_in_game_keeps_the_place_without_a_second_create_player() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let old = relay.join("Player_101").await;
    relay.launch().await;
    expect_in_game(&old, true).await;
    relay.wait_in_game(&["Player_101"]).await;

    let new = relay.connect().await;
    new.register("Player_101").await.unwrap();
    let raw = new.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_101", r#""5000""#, true);
    let (code, reason) = old.wait_closed(T).await.unwrap().expect("close frame");
    assert_eq!(code, 1000);
    assert!(reason.contains("Player_101"), "reason: {reason:?}");

    // Commands to GAMA keep their order: once this ask arrived, a second create_player sent at the
    // takeover would have arrived too.
    new.ask("send_init_data", &[("id", "Player_101")])
        .await
        .unwrap();
    gama.wait_command(T, |c| c["type"] == "ask" && c["action"] == "send_init_data")
        .await
        .unwrap();
    let creates: Vec<_> = gama
        .commands_of_type("expression")
        .into_iter()
        .filter(|c| c["expr"].as_str().unwrap_or("").contains("create_player"))
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0]["expr"], r#"do create_player("Player_101");"#);
    assert_eq!(gama.players(), ["Player_101"]);
    let state = relay.wait_in_game(&["Player_101"]).await;
    assert_eq!(state.players.len(), 1);
    assert!(state.players[0].player.connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_socket_again_under_another_id_releases_the_first() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.disconnect_grace_ms = 300)
        .start()
        .await;
    relay.wait_gama().await;
    let h = relay.join("Player_A").await;
    h.register("Player_B").await.unwrap();
    let raw = h.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_B", r#""5000""#, false);

    let state = relay.wait_players(&["Player_A", "Player_B"]).await;
    let a = player(&state, "Player_A").unwrap();
    assert!(!a.player.connected);
    assert_eq!(a.player.state, "disconnected");
    assert!(player(&state, "Player_B").unwrap().player.connected);

    // Output for A no longer reaches the socket; output for B does.
    gama.send_linker_output(&linker_output(&["Player_A"], r#"{"for":"A"}"#));
    expect_delivery(&gama, &h, "Player_B", r#"{"for":"B"}"#).await;

    // A's grace ends; B stays.
    relay.wait_players(&["Player_B"]).await;
    assert!(!h.is_closed());
    expect_pong(&h, "B").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_are_refused_and_the_socket_stays_usable() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.max_player_id_bytes = 16)
        .start()
        .await;
    let cases = [
        ("", "empty"),
        ("Player\u{1}101", "control characters"),
        ("Player\n101", "control characters"),
        ("Player_101_abcdef", "longer than 16 bytes"),
    ];
    let mut accepted: Vec<String> = Vec::new();
    let mut sockets = Vec::new();
    for (i, (id, why)) in cases.into_iter().enumerate() {
        let h = relay.connect().await;
        h.register(id).await.unwrap();
        let error = h.recv(T).await.unwrap();
        assert_eq!(error["type"], "error", "{id:?}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(why), "{id:?}: {message}");
        assert_eq!(error.as_object().unwrap().len(), 2, "{error}");
        // Not registered.
        let state = relay.state_json().await;
        let listed: Vec<&str> = state["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(listed, accepted, "{id:?} must not be listed");
        // The socket stays open and a valid registration on it works.
        let ok = format!("Ok_{i}");
        let raw = register_raw(&h, &unity_json(&[("type", "connection"), ("id", &ok)])).await;
        assert_json_state(&raw, &ok, "5000", false);
        accepted.push(ok);
        sockets.push(h);
    }
    let ids: Vec<&str> = accepted.iter().map(String::as_str).collect();
    relay.wait_players(&ids).await;
    // Exactly at the limit is fine.
    let h = relay.connect().await;
    h.register("Player_10123456").await.unwrap();
    let raw = h.recv_raw(T).await.unwrap();
    assert_json_state(&raw, "Player_10123456", r#""5000""#, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_registers_is_closed_after_the_register_timeout() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.register_timeout_ms = 200)
        .start()
        .await;
    let registered = relay.join("Player_101").await;
    let started = Instant::now();
    let silent = relay.connect().await;
    let (code, reason) = silent
        .wait_closed(T)
        .await
        .unwrap()
        .expect("the relay sends a close frame");
    let elapsed = started.elapsed();
    assert_eq!(code, 1008);
    assert!(reason.contains("connection"), "reason: {reason:?}");
    assert!(
        elapsed >= Duration::from_millis(200),
        "closed after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "closed after {elapsed:?}");
    // A registered headset is not affected by the deadline.
    assert!(!registered.is_closed());
    expect_pong(&registered, "alive").await;
    assert_eq!(player_ids(&relay.handle().state()), ["Player_101"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_properly_removes_the_player_and_closes_the_socket() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    let other = relay.join("Player_102").await;
    // Only the message, not Unity's close that follows it: the relay must close by itself.
    h.send_text(r#"{"type":"disconnect_properly"}"#)
        .await
        .unwrap();
    let (code, reason) = h.wait_closed(T).await.unwrap().expect("close frame");
    assert_eq!(code, 1000);
    assert!(!reason.is_empty());
    let state = relay.wait_players(&["Player_102"]).await;
    assert_eq!(
        state.counts.disconnected, 0,
        "no grace after a proper goodbye"
    );
    // Not in game: GAMA is told nothing.
    expect_pong(&other, "x").await;
    assert!(
        gama.commands_of_type("expression")
            .iter()
            .all(|c| !c["expr"].as_str().unwrap_or("").contains("remove_player")),
        "{:?}",
        gama.commands()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_properly_in_game_removes_the_player_from_gama() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    let other = relay.join("Player_102").await;
    relay.launch().await;
    expect_in_game(&h, true).await;
    relay.wait_in_game(&["Player_101", "Player_102"]).await;

    // Unity's DisconnectProperly: the message, then a close.
    h.disconnect_properly().await.unwrap();
    h.wait_closed(T).await.unwrap();
    let remove = gama
        .wait_command(T, |c| {
            c["type"] == "expression" && c["expr"].as_str().unwrap_or("").contains("remove_player")
        })
        .await
        .unwrap();
    assert_eq!(remove["expr"], r#"do remove_player("Player_101");"#);
    gama.wait_players(&["Player_102"], T).await.unwrap();
    let state = relay.wait_players(&["Player_102"]).await;
    assert_eq!(state.counts.in_game, 1);
    // The other player is untouched.
    expect_delivery(&gama, &other, "Player_102", r#"{"still":true}"#).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_headsets_keep_their_player_for_the_grace_time() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.disconnect_grace_ms = 300)
        .start()
        .await;
    let clean = relay.join("Player_101").await;
    let lost = relay.join("Player_102").await;
    let stays = relay.join("Player_103").await;

    let started = Instant::now();
    clean.close().await.unwrap();
    lost.abort();
    let state = relay
        .wait("both dropped players disconnected", |s| {
            s.counts.disconnected == 2 && s.players.len() == 3
        })
        .await;
    for id in ["Player_101", "Player_102"] {
        let p = player(&state, id).unwrap();
        assert!(!p.player.connected);
        assert_eq!(p.player.state, "disconnected");
        assert!(p.player.disconnected_since.is_some());
        assert!(p.traffic.is_none());
    }
    let p = relay.player_json("Player_101").await.unwrap();
    assert_eq!(p["connected"], false);
    assert_eq!(p["state"], "disconnected");

    relay.wait_players(&["Player_103"]).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "removed after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "removed after {elapsed:?}"
    );
    expect_pong(&stays, "x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggressive_disconnect_removes_dropped_players_at_once() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.aggressive_disconnect = true;
            c.headsets.disconnect_grace_ms = 60_000;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let h = relay.join("Player_101").await;
    let other = relay.join("Player_102").await;
    relay.launch().await;
    expect_in_game(&h, true).await;
    relay.wait_in_game(&["Player_101", "Player_102"]).await;

    h.abort();
    let state = relay.wait_players(&["Player_102"]).await;
    assert_eq!(state.counts.disconnected, 0);
    let remove = gama
        .wait_command(T, |c| {
            c["type"] == "expression" && c["expr"].as_str().unwrap_or("").contains("remove_player")
        })
        .await
        .unwrap();
    assert_eq!(remove["expr"], r#"do remove_player("Player_101");"#);
    gama.wait_players(&["Player_102"], T).await.unwrap();
    expect_delivery(&gama, &other, "Player_102", r#"{"still":true}"#).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unity_ping_is_answered_with_pong() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    let h = relay.join("Player_101").await;
    h.send_text(r#"{"type":"ping","id":"abc"}"#).await.unwrap();
    assert_eq!(
        h.recv_raw(T).await.unwrap(),
        r#"{"type":"pong","id":"abc"}"#
    );
    h.send_text(r#"{"type":"ping","id":7}"#).await.unwrap();
    assert_eq!(h.recv_raw(T).await.unwrap(), r#"{"type":"pong","id":7}"#);
    h.send_text(r#"{"type":"ping"}"#).await.unwrap();
    assert_eq!(h.recv_raw(T).await.unwrap(), r#"{"type":"pong"}"#);
    // Before registering too.
    let fresh = relay.connect().await;
    fresh.send_text(r#"{"type":"ping"}"#).await.unwrap();
    assert_eq!(fresh.recv_raw(T).await.unwrap(), r#"{"type":"pong"}"#);
}
