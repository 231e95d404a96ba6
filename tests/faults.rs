//! Fault injection: GAMA crashing over and over, headsets flapping, a headset that stops reading,
//! operators pressing buttons at once. Each test is bounded in time.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use relay_testkit::headset::HeadsetConfig;
use relay_testkit::{FakeGama, Headset};

fn create_players_since(gama: &FakeGama, from: usize) -> Vec<String> {
    gama.commands()
        .iter()
        .skip(from)
        .filter_map(|c| c["expr"].as_str())
        .filter(|e| e.starts_with("do create_player("))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gama_killed_and_restarted_fifty_times_during_a_session() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let ids = ["A", "B", "C", "D"];
    let mut headsets = Vec::new();
    for id in ids {
        headsets.push(relay.join(id).await);
    }
    relay.launch().await;
    relay.wait_in_game(&ids).await;

    let mut slowest = Duration::ZERO;
    for round in 0..50 {
        gama.kill().await;
        relay
            .wait(&format!("round {round}: GAMA gone"), |s| {
                s.gama.connection != gama_vr_relay::LinkState::Connected
            })
            .await;
        let from = gama.commands().len();
        gama.restart().await.unwrap();
        let back = Instant::now();
        relay.wait_gama().await;
        slowest = slowest.max(back.elapsed());
        relay.launch().await;
        relay.wait_in_game(&ids).await;
        gama.wait_players(&ids, T).await.unwrap();
        let mut creates = create_players_since(&gama, from);
        creates.sort();
        assert_eq!(
            creates,
            ids.iter()
                .map(|id| format!(r#"do create_player("{id}");"#))
                .collect::<Vec<_>>(),
            "round {round}: exactly one create_player per player"
        );
    }
    assert!(
        slowest < Duration::from_secs(1),
        "slowest reconnection {slowest:?}"
    );
    for h in &headsets {
        assert!(!h.is_closed(), "no headset socket was closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_the_default_backoff_reconnects_within_a_second() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            let defaults = gama_vr_relay::Config::default().gama;
            c.gama.reconnect_initial_ms = defaults.reconnect_initial_ms;
            c.gama.reconnect_max_ms = defaults.reconnect_max_ms;
        })
        .start()
        .await;
    relay.wait_gama().await;
    gama.kill().await;
    // Long enough for the backoff to reach its cap.
    tokio::time::sleep(Duration::from_secs(3)).await;
    gama.restart().await.unwrap();
    let back = Instant::now();
    relay.wait_gama().await;
    assert!(
        back.elapsed() < Duration::from_secs(1),
        "{:?}",
        back.elapsed()
    );
}

/// Polls a count that has no change notification (tasks ending) until it reaches `want`.
async fn settle(what: &str, want: usize, count: impl Fn() -> usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = count();
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {n}, expected {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_flapping_headsets_leak_nothing_and_disturb_nobody() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.disconnect_grace_ms = 100;
            c.headsets.max_new_connections_per_second = 100_000;
            c.headsets.missed_heartbeats = 2;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let observer = relay.join("Observer").await;
    relay.launch().await;
    expect_in_game(&observer, true).await;
    relay.wait_in_game(&["Observer"]).await;
    settle("tasks at rest", relay.handle().tasks(), || {
        relay.handle().tasks()
    })
    .await;
    let tasks_at_rest = relay.handle().tasks();

    let mut worst = Duration::ZERO;
    let mut half_open = Vec::new();
    for i in 0..500 {
        // Some ids come back (takeovers, grace-time returns), most are new.
        let id = if i % 5 == 0 {
            format!("F{}", i % 20)
        } else {
            format!("F{i}")
        };
        let h = Headset::connect(relay.headset_addr()).await.unwrap();
        h.register_with_heartbeat(&id, "50").await.unwrap();
        h.recv_type("json_state", T).await.unwrap();
        match i % 3 {
            0 => h.close().await.unwrap(),
            1 => h.abort(),
            // Half-open: the socket stays, the headset never answers again.
            _ => {
                h.set_auto_pong(false);
                h.set_paused(true);
                half_open.push(h);
            }
        }
        if i % 25 == 0 {
            let sent = Instant::now();
            let contents = format!(r#"{{"flap":{i}}}"#);
            gama.send_linker_output(&linker_output(&["Observer"], &contents));
            let (raw, _) = observer.recv_json_output(T).await.unwrap();
            assert_eq!(raw, json_output(&contents));
            worst = worst.max(sent.elapsed());
        }
    }
    assert!(
        worst < Duration::from_millis(500),
        "observer's worst delivery {worst:?}"
    );

    // Every flapping player goes (half-open ones after their missed keep-alives, all after the
    // grace time); only the observer stays, in game, and GAMA agrees.
    let state = relay
        .wait_for("only the observer left", Duration::from_secs(10), |s| {
            s.players.len() == 1
        })
        .await
        .unwrap();
    assert_eq!(state.players[0].player.id, "Observer");
    assert!(state.players[0].player.in_game);
    gama.wait_players(&["Observer"], Duration::from_secs(10))
        .await
        .unwrap();
    drop(half_open);
    settle("tasks after the flaps", tasks_at_rest, || {
        relay.handle().tasks()
    })
    .await;
    expect_pong(&observer, "still-here").await;
}

/// The bound on a headset's queue in the slow-headset test.
const MAX_QUEUE: usize = 1024 * 1024;
/// The headsets that keep reading, in the slow-headset test.
const NORMAL: [&str; 3] = ["N1", "N2", "N3"];
/// Everyone in the slow-headset test: the normal headsets and the slow one.
const EVERYONE: [&str; 4] = ["N1", "N2", "N3", "Slow"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headset_that_stops_reading_gets_coalesced_worlds_and_then_a_reasoned_disconnect() {
    let gama = desktop().await;
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.headsets.max_queue_bytes = MAX_QUEUE;
            c.headsets.write_timeout_ms = 10_000;
            // The test sends world updates back to back, about a hundred times GAMA's pace: a headset
            // is behind after a few of them, as it would be after a few at 30 Hz.
            c.headsets.coalesce_after_ms = 10;
        })
        .start()
        .await;
    relay.wait_gama().await;
    let mut normal = Vec::new();
    for id in NORMAL {
        normal.push(relay.join(id).await);
    }
    let slow = a_headset_with_a_small_receive_buffer(&relay).await;
    let normal_worst = while_everyone_reads(&gama, &normal, &slow).await;
    the_slow_headset_stops_reading_and_the_others_do_not_wait(
        &relay,
        &gama,
        &normal,
        &slow,
        normal_worst,
    )
    .await;
    past_the_bound_it_is_disconnected_with_a_reason(&relay, &gama, &slow).await;
    // The others never noticed.
    expect_pong(&normal[0], "fine").await;
}

/// A headset registered as "Slow", whose socket buffers little (4 KB).
async fn a_headset_with_a_small_receive_buffer(relay: &TestRelay) -> Headset {
    let slow = Headset::connect_with(
        relay.headset_addr(),
        HeadsetConfig {
            recv_buffer: Some(4096),
            ..HeadsetConfig::default()
        },
    )
    .await
    .unwrap();
    slow.register("Slow").await.unwrap();
    slow.recv_type("json_state", T).await.unwrap();
    slow
}

/// A world update of about 20 KB, as the linker sends each step.
fn world(step: usize) -> String {
    let names: Vec<String> = (0..1500).map(|i| format!("\"agent{i}\"")).collect();
    format!(
        r#"{{"pointsLoc":[{{"c":[{step},0,0,0]}}],"isInit":false,"offsetYGeom":[],"names":[{}],"keepNames":[],"propertyID":[],"pointsGeom":[],"attributes":[]}}"#,
        names.join(",")
    )
}

/// GAMA sends world `step` to everyone; returns how long the `normal` headsets took to get it (the
/// slowest of them).
async fn round(gama: &FakeGama, normal: &[Headset], step: usize) -> Duration {
    let sent = Instant::now();
    gama.send_linker_output(&linker_output(&EVERYONE, &world(step)));
    let mut worst = Duration::ZERO;
    for h in normal {
        let (raw, _) = h.recv_json_output(T).await.unwrap();
        assert!(
            raw.contains(&format!(r#""c":[{step},0,0,0]"#)),
            "step {step}"
        );
        worst = worst.max(sent.elapsed());
    }
    worst
}

/// Normal latency, everyone reading: 20 world updates. Returns the worst latency of the `normal`
/// headsets.
async fn while_everyone_reads(gama: &FakeGama, normal: &[Headset], slow: &Headset) -> Duration {
    let mut normal_worst = Duration::ZERO;
    for step in 0..20 {
        normal_worst = normal_worst.max(round(gama, normal, step).await);
        slow.recv_json_output(T).await.unwrap();
    }
    normal_worst
}

/// The slow headset stops reading; 400 more world updates (8 MB for it, far more than socket
/// buffers hold), each sent once the other three received the previous one. The others' latency
/// stays as it was (`normal_worst`); the slow one stays connected, its worlds coalesced within the
/// bound.
async fn the_slow_headset_stops_reading_and_the_others_do_not_wait(
    relay: &TestRelay,
    gama: &FakeGama,
    normal: &[Headset],
    slow: &Headset,
    normal_worst: Duration,
) {
    slow.set_paused(true);
    let mut slow_worst = Duration::ZERO;
    for step in 20..420 {
        slow_worst = slow_worst.max(round(gama, normal, step).await);
    }
    let floor = Duration::from_millis(20);
    assert!(
        slow_worst <= (normal_worst * 2).max(floor),
        "others' latency {slow_worst:?} against {normal_worst:?} before"
    );
    let state = relay.snapshot_player("Slow");
    let traffic = state
        .traffic
        .expect("still connected: world updates are coalesced");
    assert!(traffic.queue_bytes <= MAX_QUEUE, "{traffic:?}");
    assert!(traffic.coalesced > 0, "{traffic:?}");
}

/// One-shot messages are never dropped: past the bound, the headset is disconnected with a reason
/// and a log line. Once it reads again it gets what was written before the bound and then the
/// reason.
async fn past_the_bound_it_is_disconnected_with_a_reason(
    relay: &TestRelay,
    gama: &FakeGama,
    slow: &Headset,
) {
    let big = format!(r#"{{"properties":[{{"id":"{}"}}]}}"#, "x".repeat(50_000));
    for _ in 0..30 {
        gama.send_linker_output(&linker_output(&["Slow"], &big));
    }
    relay
        .wait("the slow headset is disconnected", |s| {
            s.players
                .iter()
                .any(|p| p.player.id == "Slow" && !p.player.connected)
        })
        .await;
    slow.set_paused(false);
    // Once it reads again it gets what was written before the bound and then the reason.
    let (code, reason) = slow.wait_closed(T).await.unwrap().expect("a close frame");
    assert_eq!(code, 1008);
    assert!(reason.contains("too slow"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_operator_commands_make_one_load_and_end_consistent() {
    let gama = desktop().await;
    gama.delay_replies(Duration::from_millis(300));
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    // Launch twice and stop, all at once: the second launch is refused as busy, the stop waits for
    // the launch and then stops.
    let (l1, l2, stop) = tokio::join!(
        relay.post("/api/experiment/launch", None),
        relay.post("/api/experiment/launch", None),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            relay.post("/api/experiment/stop", None).await
        }
    );
    let mut launches = [l1.0, l2.0];
    launches.sort();
    assert_eq!(launches, [200, 409], "{l1:?} {l2:?}");
    assert_eq!(stop.0, 200, "{stop:?}");
    assert_eq!(gama.commands_of_type("load").len(), 1);
    assert_eq!(gama.commands_of_type("stop").len(), 1);
    let state = relay.wait_experiment("NONE").await;
    assert_eq!(state.gama.operation, None);
    relay
        .wait("A out of the game", |s| s.counts.in_game == 0)
        .await;
    assert_eq!(gama.experiment_state(), "NONE");
    // And a new launch works.
    relay.launch().await;
    expect_in_game(&a, true).await;
    let by_type: HashMap<String, usize> =
        gama.commands().iter().fold(HashMap::new(), |mut m, c| {
            *m.entry(c["type"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
            m
        });
    assert_eq!(by_type["load"], 2, "{by_type:?}");
}
