//! Who may do what, from where: the rules of the README's threat model, each over real sockets from
//! several loopback source addresses (127.0.0.2, 127.0.0.3… look like other devices).

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use relay_testkit::{FakeGamaOptions, Headset};
use serde_json::Value;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A headset from `source`, registered as `id`, its first `json_state` consumed.
async fn join_from(relay: &TestRelay, source: &str, id: &str) -> Headset {
    let h = Headset::connect_from(relay.headset_addr(), ip(source))
        .await
        .unwrap();
    h.register(id).await.unwrap();
    h.recv_type("json_state", T).await.unwrap();
    h
}

async fn sample(relay: &TestRelay, name: &str) -> f64 {
    let text = relay.text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_player_cannot_be_taken_over_from_another_address() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let live = join_from(&relay, "127.0.0.2", "Player_2").await;
    let intruder = a_laptop_claiming_a_live_id_waits_out_of_the_game(&relay, &live).await;
    the_refusal_is_counted_and_written_down(&relay).await;
    let again = the_same_device_reconnecting_takes_its_player_over(&relay, &live, &intruder).await;
    when_the_live_headset_leaves_the_waiting_one_is_admitted(&relay, again, &intruder).await;
}

/// A student's laptop claims the same id as the `live` headset (at 127.0.0.2): not admitted, told
/// why, the live headset untouched. It is not closed either (the Unity app would never try again):
/// it waits, out of the game. Returns the laptop's connection.
async fn a_laptop_claiming_a_live_id_waits_out_of_the_game(
    relay: &TestRelay,
    live: &Headset,
) -> Headset {
    let intruder = Headset::connect_from(relay.headset_addr(), ip("127.0.0.3"))
        .await
        .unwrap();
    intruder.register("Player_2").await.unwrap();
    let error = intruder.recv_type("error", T).await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Player_2 is in use by a live headset at 127.0.0.2"),
        "{error}"
    );
    let waiting = intruder.recv_type("json_state", T).await.unwrap();
    assert_eq!(waiting["in_game"], false);
    assert_eq!(waiting["id"], "Player_2");
    live.expect_silence(Duration::from_millis(200))
        .await
        .unwrap();
    assert!(!live.is_closed());
    assert!(!intruder.is_closed());
    let state = relay.state_json().await;
    assert_eq!(
        state["players"][0]["remote_address"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("127.0.0.2")
    );
    intruder
}

/// The refusal is counted in the metrics, written down in the audit trail with its source, and the
/// laptop is listed as waiting for the live headset's id.
async fn the_refusal_is_counted_and_written_down(relay: &TestRelay) {
    assert_eq!(
        sample(relay, "gama_vr_relay_takeovers_refused_total").await,
        1.0
    );
    let (_, audit) = relay.get("/api/audit").await;
    let refusal = &audit["refusals"][0];
    assert_eq!(refusal["source"], "127.0.0.3");
    assert_eq!(refusal["player"], "Player_2");
    assert_eq!(refusal["code"], "id_in_use_waiting");
    assert_eq!(audit["waiting"][0]["player"], "Player_2");
    assert_eq!(audit["waiting"][0]["source"], "127.0.0.3");
    let waits = &relay.state_json().await["headsets"]["waiting_for_id"];
    assert_eq!(waits[0]["holder"], "127.0.0.2", "{waits}");
}

/// The same device reconnecting (same address) takes its player over from its old connection
/// (`live`), as before; the `intruder` still waits. Launched, the player is in game from there.
/// Returns the new connection.
async fn the_same_device_reconnecting_takes_its_player_over(
    relay: &TestRelay,
    live: &Headset,
    intruder: &Headset,
) -> Headset {
    let again = join_from(relay, "127.0.0.2", "Player_2").await;
    let old = live.wait_closed(T).await.unwrap();
    assert_eq!(old.map(|(code, _)| code), Some(1000));
    intruder
        .expect_silence(Duration::from_millis(600))
        .await
        .unwrap();
    relay.launch().await;
    relay.wait_in_game(&["Player_2"]).await;
    assert_eq!(
        relay
            .snapshot_player("Player_2")
            .player
            .remote_address
            .split(':')
            .next(),
        Some("127.0.0.2")
    );
    again
}

/// The live headset (`again`) leaves: the one that waited (`intruder`) is admitted at once, as a
/// newcomer would be, and put in the game; nobody waits any more.
async fn when_the_live_headset_leaves_the_waiting_one_is_admitted(
    relay: &TestRelay,
    again: Headset,
    intruder: &Headset,
) {
    again.close().await.unwrap();
    expect_in_game(intruder, true).await;
    assert_eq!(
        relay
            .snapshot_player("Player_2")
            .player
            .remote_address
            .split(':')
            .next(),
        Some("127.0.0.3")
    );
    assert!(
        relay.get("/api/audit").await.1["waiting"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A headset that waits for its id is admitted when the live one goes silent (misses its
/// keep-alives), and no more connections wait than `headsets.max_waiting_for_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_headset_is_admitted_when_the_live_one_goes_silent() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.headsets.max_waiting_for_id = 1)
        .start()
        .await;
    relay.wait_gama().await;
    let live = Headset::connect_from(relay.headset_addr(), ip("127.0.0.2"))
        .await
        .unwrap();
    live.register_with_heartbeat("Player_7", "300")
        .await
        .unwrap();
    live.recv_type("json_state", T).await.unwrap();
    let waiting = Headset::connect_from(relay.headset_addr(), ip("127.0.0.3"))
        .await
        .unwrap();
    waiting.register("Player_7").await.unwrap();
    waiting.recv_type("error", T).await.unwrap();
    // One waiting is the limit here: the next claim is closed with the reason.
    let third = Headset::connect_from(relay.headset_addr(), ip("127.0.0.4"))
        .await
        .unwrap();
    third.register("Player_7").await.unwrap();
    let (code, reason) = third.wait_closed(T).await.unwrap().expect("a close frame");
    assert_eq!(code, 1008);
    assert!(reason.contains("max_waiting_for_id"), "{reason}");
    // The live headset vanishes without closing: once it missed a keep-alive, the waiting one
    // takes the player.
    live.set_auto_pong(false);
    relay
        .wait("Player_7 from 127.0.0.3", |s| {
            s.players.iter().any(|p| {
                p.player.id == "Player_7" && p.player.remote_address.starts_with("127.0.0.3")
            })
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_headset_can_be_taken_over_and_labs_behind_nat_can_allow_it_always() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    // A headset that stopped answering (it vanished without closing): one keep-alive of 100 ms
    // missed and another device may take the player.
    let gone = Headset::connect_from(relay.headset_addr(), ip("127.0.0.4"))
        .await
        .unwrap();
    gone.register_with_heartbeat("Player_4", "100")
        .await
        .unwrap();
    gone.recv_type("json_state", T).await.unwrap();
    gone.set_auto_pong(false);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let other = join_from(&relay, "127.0.0.5", "Player_4").await;
    assert!(gone.wait_closed(T).await.unwrap().is_some());
    drop(other);
    relay.shutdown().await;

    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.takeover = gama_vr_relay::config::Takeover::Always;
        })
        .start()
        .await;
    let first = join_from(&relay, "127.0.0.6", "Lab").await;
    let second = join_from(&relay, "127.0.0.7", "Lab").await;
    assert!(first.wait_closed(T).await.unwrap().is_some());
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headsets_from_outside_the_allowed_networks_are_refused() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.allowed_networks = vec!["127.0.0.8/31".into()];
        })
        .start()
        .await;
    let inside = join_from(&relay, "127.0.0.9", "Inside").await;
    let outside = Headset::connect_from(relay.headset_addr(), ip("127.0.0.10"))
        .await
        .unwrap();
    let close = outside.wait_closed(T).await.unwrap();
    assert_eq!(
        close,
        Some((
            1008,
            "127.0.0.10 is not on the classroom's network (headsets.allowed_networks)".to_string()
        ))
    );
    assert_eq!(
        sample(&relay, "gama_vr_relay_headsets_refused_network_total").await,
        1.0
    );
    assert!(!inside.is_closed());
    let (_, audit) = relay.get("/api/audit").await;
    assert_eq!(audit["refusals"][0]["source"], "127.0.0.10");
}

/// Elapsed time of one admin request with a wrong token from `client`.
async fn wrong_token(relay: &TestRelay, client: &reqwest::Client) -> Duration {
    let started = Instant::now();
    let r = client
        .get(format!("{}/api/state", relay.base))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_admin_token_gets_slower_for_the_guesser_only() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.admin.token = "s3cret-token".into())
        .start()
        .await;
    let guesser = reqwest::Client::builder()
        .local_address(ip("127.0.0.11"))
        .build()
        .unwrap();
    let teacher = reqwest::Client::builder()
        .local_address(ip("127.0.0.12"))
        .build()
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        times.push(wrong_token(&relay, &guesser).await);
    }
    assert!(
        times[..3].iter().all(|t| *t < Duration::from_millis(200)),
        "{times:?}"
    );
    assert!(times[3] >= Duration::from_millis(250), "{times:?}");
    assert!(times[4] >= Duration::from_millis(500), "{times:?}");
    // The teacher's machine is not slowed down by the guesser, and is never locked out.
    assert!(wrong_token(&relay, &teacher).await < Duration::from_millis(200));
    let ok = teacher
        .get(format!("{}/api/state", relay.base))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        sample(&relay, "gama_vr_relay_token_failures_total").await,
        6.0
    );
}

/// What a tool is told when it connects to the endpoint for tools.
async fn tool_hello(url: &str) -> (Option<Value>, Option<(u16, String)>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer")
    {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
            (Some(serde_json::from_str(&t).unwrap()), None)
        }
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
            (None, Some((u16::from(f.code), f.reason.to_string())))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_endpoint_beyond_loopback_needs_the_token_and_changes_are_audited() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.passthrough.host = "0.0.0.0".into();
        })
        .start()
        .await;
    relay.wait_gama().await;
    let token = relay.handle().tools_token().expect("a token").to_string();
    // The admin API on loopback still needs none.
    assert_eq!(relay.handle().admin_token(), None);
    let port = relay.handle().passthrough_addr().unwrap().port();
    let (hello, close) = tool_hello(&format!("ws://127.0.0.1:{port}/")).await;
    assert!(hello.is_none());
    let (code, reason) = close.unwrap();
    assert_eq!(code, 1008);
    assert!(reason.contains("token"), "{reason}");
    let (hello, _) = tool_hello(&format!("ws://127.0.0.1:{port}/?token={token}")).await;
    assert_eq!(hello.unwrap()["type"], "ConnectionSuccessful");

    // A tool's load and the operator's launch, stop and console: each in the audit trail with its
    // source and outcome.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/?token={token}"))
            .await
            .unwrap();
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"load","model":"/m/demo.gaml","experiment":"vr_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    loop {
        let m = ws.next().await.unwrap().unwrap();
        if m.to_text().unwrap().contains(r#""api_id":"1""#) {
            break;
        }
    }
    relay.wait_experiment("PAUSED").await;
    let (status, _) = relay.post("/api/experiment/stop", None).await;
    assert_eq!(status, 200);
    let (status, _) = relay
        .post("/api/console", Some(r#"{"expr":"cycle"}"#))
        .await;
    assert_eq!(status, 409, "no experiment any more");
    let (_, audit) = relay.get("/api/audit").await;
    let entries: Vec<(String, String, bool, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["via"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["ok"].as_bool().unwrap(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "admin".into(),
                "console: cycle".into(),
                false,
                "127.0.0.1".into()
            ),
            ("admin".into(), "stop".into(), true, "127.0.0.1".into()),
            (
                "tool".into(),
                "load /m/demo.gaml".into(),
                true,
                "127.0.0.1".into()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_changes_go_into_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let gama = relay_testkit::FakeGama::start(FakeGamaOptions::desktop())
        .await
        .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| c.record.file = file.clone())
        .start()
        .await;
    relay.wait_gama().await;
    relay.launch().await;
    relay.shutdown().await;
    let text = std::fs::read_to_string(&file).unwrap();
    let audit: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("audit").cloned())
        .collect();
    assert_eq!(audit.len(), 1, "{text}");
    assert_eq!(audit[0]["action"], "launch");
    assert_eq!(audit[0]["ok"], true);
}
