//! Sessions kept for debriefing: a session driven through the fake GAMA (players join, act, one
//! drops and comes back) is kept, listed, opened as a timeline whose lanes and counts match what
//! was sent, exported, played back at a chosen moment, downloaded and deleted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Waits until the session list satisfies `pred` (sessions are written on a thread of their own).
async fn sessions_until(relay: &TestRelay, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    relay.get_until("/api/sessions", what, pred).await
}

async fn moved(h: &Headset, id: &str, x: i64, y: i64) {
    let (x, y) = (x.to_string(), y.to_string());
    h.ask(
        "move_player_external",
        &[
            ("id", id),
            ("x", &x),
            ("y", &y),
            ("z", "0"),
            ("angle", "900000"),
        ],
    )
    .await
    .unwrap();
}

/// A playback's WebSocket (`/api/sessions/{id}/play`).
type Playback =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_kept_and_can_be_replayed_at_any_moment() {
    let gama = FakeGama::start(FakeGamaOptions {
        cycle_ms: 20,
        autorun: true,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.session.auto_launch = false;
            c.sessions.world_updates_per_second = 5.0;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    relay.launch().await;
    relay.wait_in_game(&["A", "B"]).await;
    let started = Instant::now();
    the_players_act_and_a_ends_at_a_known_place(&a, &b).await;
    let b = b_drops_and_comes_back(&relay, b).await;
    let (status, _) = relay.post("/api/experiment/stop", None).await;
    assert_eq!(status, 200);
    let elapsed = started.elapsed();

    let (listed, id) = the_finished_session_is_listed(&relay).await;
    let timeline = its_timeline_gzipped_or_not(&relay, &id).await;
    the_lanes_show_b_s_drop_and_return(&timeline);
    the_counts_and_the_summary_are_as_sent(&timeline);
    let duration = the_experiment_its_pace_and_the_operator_are_kept(&timeline, elapsed);
    let csv = the_summary_as_csv(&relay, &id).await;
    let ws = seeking_to_the_end_shows_a_at_its_known_place(&relay, &id, duration).await;
    playing_from_the_start_sends_the_worlds_as_kept(ws).await;
    let (status, _) = relay
        .http
        .get(format!("{}/api/sessions/{id}/download", relay.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    exported_for_scripts(&listed, &id, &csv, duration);
    let (status, body) = relay.delete(&format!("/api/sessions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = relay.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "unknown_session");
    drop((a, b));
}

/// A loads and walks, then stands at a known place (777 000, 333 000) until the end; A says
/// something twice, B pings GAMA.
async fn the_players_act_and_a_ends_at_a_known_place(a: &Headset, b: &Headset) {
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    for i in 0..10 {
        moved(a, "A", 100_000 + i * 1_000, 50_000).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A known place, held until the end.
    moved(a, "A", 777_000, 333_000).await;
    a.expression("do hello($id);").await.unwrap();
    a.expression("do hello($id);").await.unwrap();
    b.ask("ping_GAMA", &[("id", "B")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// B drops and comes back (its new connection is returned).
async fn b_drops_and_comes_back(relay: &TestRelay, b: Headset) -> Headset {
    drop(b);
    relay.wait_disconnected("B").await;
    let b = relay.join("B").await;
    relay.wait_in_game(&["A", "B"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b
}

/// The session is listed, finished, with its model and players. Returns the list and its id.
async fn the_finished_session_is_listed(relay: &TestRelay) -> (Value, String) {
    let listed = sessions_until(relay, "the session is finished", |b| {
        b["sessions"]
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0]["in_progress"] == false)
    })
    .await;
    let session = &listed["sessions"][0];
    let id = session["id"].as_str().unwrap().to_string();
    assert_eq!(session["model"], "Demo");
    assert_eq!(session["players"], json!(["A", "B"]));
    assert!(listed["current"].is_null());
    (listed, id)
}

/// The session's timeline (returned); gzipped for browsers (they all ask for it), the same.
async fn its_timeline_gzipped_or_not(relay: &TestRelay, id: &str) -> Value {
    let (status, timeline) = relay.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(status, 200, "{timeline}");
    // Gzipped for browsers (they all ask for it): the same timeline.
    let zipped = relay
        .http
        .get(format!("{}/api/sessions/{id}", relay.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let bytes = zipped.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), timeline);
    timeline
}

/// A's lane has it in game; B's has its drop, and its return to the game after.
fn the_lanes_show_b_s_drop_and_return(timeline: &Value) {
    let lanes = timeline["lanes"].as_array().unwrap();
    let lane = |id: &str| -> Vec<String> {
        lanes
            .iter()
            .find(|l| l[0] == id)
            .unwrap_or_else(|| panic!("no lane for {id}: {timeline}"))[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        lane("A").contains(&"in_game".to_string()),
        "{:?}",
        lane("A")
    );
    let b_states = lane("B");
    let dropped = b_states
        .iter()
        .position(|s| s == "disconnected")
        .expect("B dropped");
    assert!(
        b_states[dropped + 1..].contains(&"in_game".to_string()),
        "B came back into the game: {b_states:?}"
    );
}

/// Counts per player and action, and the summary per player, as sent.
fn the_counts_and_the_summary_are_as_sent(timeline: &Value) {
    assert_eq!(
        timeline["counts"]["A"]["ask:move_player_external"], 11,
        "{}",
        timeline["acts"]
    );
    assert_eq!(
        timeline["counts"]["A"]["ask:send_init_data"], 1,
        "{}",
        timeline["acts"]
    );
    assert_eq!(timeline["counts"]["A"]["expression:do hello($id);"], 2);
    assert_eq!(timeline["counts"]["B"]["ask:ping_GAMA"], 1);
    let summary = timeline["summary"].as_array().unwrap();
    assert_eq!(summary[0]["player"], "A");
    assert_eq!(summary[0]["asks"], 12);
    assert_eq!(summary[0]["expressions"], 2);
    assert_eq!(summary[1]["disconnections"], 1);
}

/// The experiment's states, GAMA's pace and the operator's launch and stop are in the timeline,
/// which lasts as long as the run (`elapsed`, from the launch to the stop). Returns its duration
/// (ms).
fn the_experiment_its_pace_and_the_operator_are_kept(
    timeline: &Value,
    elapsed: std::time::Duration,
) -> u64 {
    let experiment: Vec<&str> = timeline["experiment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert!(experiment.contains(&"RUNNING"), "{experiment:?}");
    assert!(!timeline["pace"].as_array().unwrap().is_empty());
    let audit = timeline["audit"].as_array().unwrap();
    assert!(
        audit.iter().any(|e| e[1]["action"] == "stop"),
        "the operator's stop is in the session: {audit:?}"
    );
    assert!(
        audit.iter().any(|e| e[1]["action"] == "launch"),
        "the launch that started the session opens it: {audit:?}"
    );
    let duration = timeline["duration_ms"].as_u64().unwrap();
    assert!(
        duration + 200 >= elapsed.as_millis() as u64 - 1000,
        "{duration} ms"
    );
    duration
}

/// The session's summary as CSV (returned): a line per player.
async fn the_summary_as_csv(relay: &TestRelay, id: &str) -> String {
    let csv = relay.text(&format!("/api/sessions/{id}/summary.csv")).await;
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "player,in_game_seconds,asks,expressions,disconnections"
    );
    assert!(
        rows[1].starts_with("A,") && rows[1].ends_with(",12,2,0"),
        "{csv}"
    );
    assert!(
        rows[2].starts_with("B,") && rows[2].ends_with(",1,0,1"),
        "{csv}"
    );
    csv
}

/// Playback: seek to the end (the session lasts `duration` ms), where A stood at its known place,
/// its trail behind it, having been sent the world. Returns the playback, still open.
async fn seeking_to_the_end_shows_a_at_its_known_place(
    relay: &TestRelay,
    id: &str,
    duration: u64,
) -> Playback {
    let url = format!(
        "ws://{}/api/sessions/{id}/play?player=A",
        relay.handle().admin_addr()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let t = duration - 100;
    ws.send(Message::text(json!({"type":"seek","t":t}).to_string()))
        .await
        .unwrap();
    let mut frames = Vec::new();
    let position = loop {
        let msg = tokio::time::timeout(T, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = msg.to_text().unwrap().to_string();
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["type"] == "reset" {
            frames.clear();
        } else if v["type"] == "json_output" {
            frames.push(v);
        } else if v["type"] == "positions" && !frames.is_empty() {
            break v;
        }
    };
    assert_eq!(position["players"]["A"]["x"], 777_000, "{position}");
    assert_eq!(position["players"]["A"]["y"], 333_000);
    // Its trail over the last seconds, positions kept at 5 a second: where it walked, then the
    // known place.
    let trail = position["players"]["A"]["trail"].as_array().unwrap();
    assert!(trail.len() >= 3, "{position}");
    assert_eq!(trail[0], json!([100_000, 50_000]));
    assert_eq!(trail[trail.len() - 1], json!([777_000, 333_000]));
    // What the headset had been sent by then: the parameters, the properties, the worlds.
    let has = |key: &str| frames.iter().any(|f| f["contents"].get(key).is_some());
    assert!(
        has("precision") && has("properties") && has("pointsLoc"),
        "{frames:?}"
    );
    ws
}

/// From the start, playing sends the worlds as kept: at most 5 a second per player. The playback
/// ends.
async fn playing_from_the_start_sends_the_worlds_as_kept(mut ws: Playback) {
    ws.send(Message::text(r#"{"type":"seek","t":0}"#))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"play","speed":4}"#))
        .await
        .unwrap();
    let mut worlds = 0;
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        if let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
            if m.to_text().unwrap().contains("pointsLoc") {
                worlds += 1;
            }
        }
    }
    assert!((1..=15).contains(&worlds), "{worlds} worlds in 0.5 s at ×4");
    drop(ws);
}

/// For scripts, from the session's folder (in the `listed` sessions): the same summary as `csv`,
/// every event as JSON lines in time order, the worlds kept for A at most 5 a second over the
/// session's `duration` (ms), and the list of sessions.
fn exported_for_scripts(listed: &Value, id: &str, csv: &str, duration: u64) {
    let folder = std::path::PathBuf::from(listed["folder"].as_str().unwrap());
    let mut out = Vec::new();
    gama_vr_relay::export_session(&folder, id, gama_vr_relay::Export::Csv, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), csv);
    let mut out = Vec::new();
    gama_vr_relay::export_session(&folder, id, gama_vr_relay::Export::Events, &mut out).unwrap();
    let events: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["t"].as_u64() <= w[1]["t"].as_u64()),
        "in time order: {:?}",
        events
            .windows(2)
            .find(|w| w[0]["t"].as_u64() > w[1]["t"].as_u64())
    );
    let worlds_of_a = events
        .iter()
        .filter(|e| {
            e["out"]["f"].get("pointsLoc").is_some()
                && e["out"]["p"].as_array().unwrap().contains(&json!("A"))
        })
        .count() as f64;
    let seconds = duration as f64 / 1000.0;
    assert!(
        worlds_of_a <= 5.0 * seconds + 2.0,
        "{worlds_of_a} world updates kept for A in {seconds} s (GAMA sent 50 a second)"
    );
    let mut out = Vec::new();
    gama_vr_relay::list_sessions(&folder, &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains(id));
}
