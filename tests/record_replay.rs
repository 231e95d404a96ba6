//! Recording a session and replaying it without GAMA: headsets receive the same `json_output`
//! bytes in the same order.

mod common;

use std::time::Duration;

use common::*;
use gama_vr_relay::Catalog;
use gama_vr_relay::Server;
use gama_vr_relay::{Recording, ReplayGama, ReplayOptions};
use relay_testkit::Headset;

/// Every json_output frame `h` receives until `last` arrives.
async fn outputs_until(h: &Headset, last: &str, what: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let (raw, _) = h
            .recv_json_output(T)
            .await
            .unwrap_or_else(|e| panic!("{what}: after {got:?}: {e}"));
        let done = raw == json_output(last);
        got.push(raw);
        if done {
            return got;
        }
    }
}

/// The json_output frames `h` receives until `last`, and whether it was told it is in game (then
/// or in the next few frames).
async fn everything_until(h: &Headset, last: &str) -> (Vec<String>, bool) {
    let mut outputs = Vec::new();
    let mut in_game = false;
    loop {
        let raw = h.recv_raw(T).await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        if v["type"] == "json_state" && v["in_game"] == true {
            in_game = true;
        }
        if v["type"] == "json_output" {
            let done = raw == json_output(last);
            outputs.push(raw);
            if done {
                break;
            }
        }
    }
    if !in_game {
        in_game = expect_in_game(h, true).await["in_game"] == true;
    }
    (outputs, in_game)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replays_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec/session.jsonl");

    // The session, recorded.
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| c.record.file = file.clone())
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let b = relay.join("B").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    expect_in_game(&b, true).await;
    a.ask("send_init_data", &[("id", "A")]).await.unwrap();
    for i in 0..5 {
        gama.send_linker_output(&linker_output(&["A", "B"], &format!(r#"{{"step":{i}.0}}"#)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gama.send_linker_output(&linker_output(&["B"], r#"{"only":"B"}"#));
    gama.send_linker_output(&linker_output(&["A", "B"], r#"{"end":true}"#));
    let recorded_a = outputs_until(&a, r#"{"end":true}"#, "recording A").await;
    let recorded_b = outputs_until(&b, r#"{"end":true}"#, "recording B").await;
    relay.shutdown().await;

    let recording = Recording::read(&file).unwrap();
    assert_eq!(recording.players, ["A", "B"]);

    // The replay: no GAMA, a stand-in plays the recording four times as fast.
    let stand_in = ReplayGama::bind().await.unwrap();
    let mut config = test_config(stand_in.addr().unwrap().port());
    config.session.learning_package_path = dir.path().to_path_buf();
    let handle = Server::bind(config)
        .await
        .unwrap()
        .spawn_with_catalog(Catalog::default());
    let mut done = stand_in.spawn(
        recording,
        ReplayOptions {
            speed: 4.0,
            players: None,
        },
        &handle,
    );
    let connect = |id: &'static str| {
        let addr = handle.headset_addr();
        async move {
            let h = Headset::connect(addr).await.unwrap();
            h.register(id).await.unwrap();
            h
        }
    };
    let a = connect("A").await;
    let b = connect("B").await;
    // The recorded experiment becomes live: both are added to the game again, and get the
    // recorded output (which may overtake the acknowledgement of their creation).
    let (replayed_a, in_game_a) = everything_until(&a, r#"{"end":true}"#).await;
    let (replayed_b, in_game_b) = everything_until(&b, r#"{"end":true}"#).await;
    assert!(in_game_a && in_game_b);
    assert_eq!(replayed_a, recorded_a);
    assert_eq!(replayed_b, recorded_b);
    assert!(replayed_a.iter().any(|f| f.contains("\"precision\"")));
    assert!(replayed_b.contains(&json_output(r#"{"only":"B"}"#)));
    tokio::time::timeout(T, done.wait_for(|d| *d))
        .await
        .unwrap()
        .unwrap();
    assert!(handle.shutdown(Duration::from_secs(2)).await);
}

#[test]
fn replaying_something_else_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-recording.jsonl");
    std::fs::write(&file, "{\"hello\":1}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gama-vr-relay"))
        .current_dir(dir.path())
        .env_clear()
        .arg("replay")
        .arg(&file)
        .args(["--exit-when-done", "--set", "passthrough.port=0"])
        .args(["--set", "monitor.port=0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a gama-vr-relay recording"), "{err}");
}

/// `replay FILE --exit-when-done` exits only once every recorded message reached the connected
/// headsets, the last one a 1 MB world included, byte for byte and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_exit_when_done_delivers_the_whole_recording_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let payloads: Vec<String> = (0..4)
        .map(|i| format!(r#"{{"step":{i},"agents":[{i},{i},{i}]}}"#))
        .chain([format!(r#"{{"world":"{}"}}"#, "w".repeat(1_000_000))])
        .collect();
    let mut lines = vec![
        r#"{"format":"gama-vr-relay recording","version":1,"started":"2026-11-25T10:00:00Z"}"#
            .to_string(),
        r#"{"t":0,"headset":{"type":"connection","id":"A","heartbeat":"5000"},"conn":1,"player":null}"#
            .to_string(),
        r#"{"t":10,"gama":{"type":"SimulationStatus","content":"PAUSED","exp_id":"0"}}"#.to_string(),
    ];
    for (i, payload) in payloads.iter().enumerate() {
        let linker =
            format!(r#"{{"contents":[{{"id":["A"],"contents":{payload}}}],"type":"output"}}"#);
        let frame = serde_json::json!({"type":"SimulationOutput","content":linker,"exp_id":"0"});
        lines.push(format!(
            r#"{{"t":{},"gama":{frame}}}"#,
            200_000 + i * 20_000
        ));
    }
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let headset_port = free_port();
    let file = file.to_string_lossy();
    let args = ["replay", &file, "--speed", "4", "--exit-when-done"];
    let mut child = start_binary(dir.path(), headset_port, &args, "replay waits for").await;

    let h = Headset::connect(format!("127.0.0.1:{headset_port}").parse().unwrap())
        .await
        .unwrap();
    h.register("A").await.unwrap();
    let mut received = Vec::new();
    while received.len() < payloads.len() {
        match h.recv_json_output(T).await {
            Ok((raw, _)) => received.push(raw),
            Err(e) => panic!(
                "after {} of {} outputs: {e}; closed with {:?}",
                received.len(),
                payloads.len(),
                h.wait_closed(Duration::ZERO).await.ok().flatten()
            ),
        }
    }
    let expected: Vec<String> = payloads.iter().map(|p| json_output(p)).collect();
    assert!(
        received == expected,
        "the outputs differ from the recording"
    );
    let close = h.wait_closed(T).await.unwrap();
    assert_eq!(close, Some((1001, "relay shutting down".to_string())));
    let status = tokio::time::timeout(T, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// A disk that stops taking the recording (here a pipe nobody reads) never stalls relaying: the
/// headset gets every output, and what the recording left out is counted in `/metrics`. One
/// runtime thread, so a writer that blocked it would stop everything.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_stuck_recording_never_stalls_relaying() {
    let _watch = watchdog(
        "a_stuck_recording_never_stalls_relaying",
        Duration::from_secs(60),
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stuck.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Open for reading (and writing, so the open does not wait for a writer), never read.
    let unread = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.record.file = fifo.clone();
            c.record.max_queued_messages = 8;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    expect_in_game(&a, true).await;
    // More messages than any queue between the relay and the disk holds.
    let blob = "x".repeat(2_000);
    for i in 0..1500 {
        let payload = format!(r#"{{"step":{i},"blob":"{blob}"}}"#);
        gama.send_linker_output(&linker_output(&["A"], &payload));
        let (raw, _) = a
            .recv_json_output(T)
            .await
            .unwrap_or_else(|e| panic!("output {i} did not arrive: {e}"));
        assert_eq!(raw, json_output(&payload));
    }
    let metrics = relay.text("/metrics").await;
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gama_vr_relay_recording_messages_dropped_total "))
        .expect("the counter is exposed")
        .parse()
        .unwrap();
    assert!(dropped > 0.0, "{metrics}");
    // The disk comes back (the reader goes away: writes fail), and the relay stops cleanly.
    drop(unread);
}
