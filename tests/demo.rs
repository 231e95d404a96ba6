//! `gama-vr-relay demo`: started from the binary with nothing beside it (no GAMA, no learning
//! package), it shows a live session within seconds — players in game, GAMA's output flowing, the
//! world moving, the console answering — through the API and in the admin page in Chromium (a
//! screenshot goes to `target/demo.png`, the README's picture). A real headset that joins gets the
//! town like the simulated ones.

mod common;

#[path = "browser/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use common::*;
use harness::*;
use relay_testkit::Headset;
use serde_json::Value;

/// The relay's state from the demo's admin port.
async fn state(http: &reqwest::Client, admin: u16) -> Option<Value> {
    http.get(format!("http://127.0.0.1:{admin}/api/state"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// A running demo: the process, its admin and headset ports, and its state once live.
struct Demo {
    child: tokio::process::Child,
    admin: u16,
    headsets: u16,
    live: Value,
    ready_after: Duration,
    _dir: tempfile::TempDir,
}

/// Starts `gama-vr-relay demo --headsets 4` and waits until four players are in game and fed.
async fn start_demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let headsets = free_port();
    let started = Instant::now();
    let (child, admin) = start_binary_with_admin(
        dir.path(),
        headsets,
        &["demo", "--headsets", "4"],
        "simulated headsets join it",
    )
    .await;
    let http = reqwest::Client::new();
    // Four players in game and GAMA's output reaching each of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let live = loop {
        if let Some(s) = state(&http, admin).await {
            let fed = s["players"].as_array().is_some_and(|p| {
                p.len() == 4
                    && p.iter().all(|p| {
                        p["state"] == "in_game" && p["traffic"]["outputs"].as_u64() > Some(5)
                    })
            });
            let flowing = s["clock"]["outputs_per_second"].as_f64() > Some(5.0);
            if fed && flowing && s["gama"]["experiment_state"] == "RUNNING" {
                break s;
            }
        }
        assert!(Instant::now() < deadline, "no live session after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Demo {
        child,
        admin,
        headsets,
        live,
        ready_after: started.elapsed(),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_a_live_session_within_seconds() {
    let mut demo = start_demo().await;
    assert!(
        demo.live["model"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Demo")
    );
    // The console answers.
    let answer: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/api/console", demo.admin))
        .json(&serde_json::json!({"expr": "length(unity_player)"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"], "4", "{answer}");
    eprintln!(
        "demo: a live session {:.1} s after starting",
        demo.ready_after.as_secs_f64()
    );
    let _ = demo.child.kill().await;
}

/// A headset that joins the demo with an id of its own gets the town, as the simulated ones do:
/// the start of the world on joining, then its moving cars, even before it asks for anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_headset_that_joins_the_demo_gets_the_town() {
    let mut demo = start_demo().await;
    let h = Headset::connect(format!("127.0.0.1:{}", demo.headsets).parse().unwrap())
        .await
        .unwrap();
    h.register("Player_50").await.unwrap();
    // Everything it is sent, in order: it asks for nothing.
    let (mut in_game, mut init, mut moving) = (false, false, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(in_game && init && moving >= 5) {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = h.recv(left).await.unwrap_or_else(|e| {
            panic!("in game {in_game}, init {init}, {moving} world updates: {e}")
        });
        match message["type"].as_str() {
            Some("json_state") => in_game |= message["in_game"] == true,
            Some("json_output") => {
                let contents = &message["contents"];
                init |= contents["precision"].is_number();
                if contents["isInit"] == false {
                    moving += 1;
                }
            }
            _ => {}
        }
    }
    // Asking for the world, as the Unity app does, still works.
    h.ask("send_init_data", &[("id", "Player_50")])
        .await
        .unwrap();
    loop {
        let (_, output) = h.recv_json_output(T).await.unwrap();
        if output["contents"]["precision"].is_number() {
            break;
        }
    }
    drop(h);
    let _ = demo.child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and playwright-core: scripts/test.sh runs it"]
async fn the_demo_in_the_admin_page() {
    require_browser("the_demo_in_the_admin_page");
    let mut demo = start_demo().await;
    let mut browser = Browser::start().await;
    browser.viewport(1280, 900).await;
    browser
        .open(&format!("http://127.0.0.1:{}/", demo.admin))
        .await;
    browser.wait(r#"#relay-link[data-state="live"]"#).await;
    browser.wait(&tile_in("Player_201", "in_game")).await;
    // The world view follows a player and draws the town's cars moving.
    let snapshot = "window.worldView.snapshot()";
    browser
        .wait_fn(
            &format!("{snapshot}.connected && {snapshot}.messages > 20"),
            10_000,
        )
        .await;
    let first = browser
        .eval(&format!("JSON.stringify({snapshot}.agents)"))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = browser
        .eval(&format!("JSON.stringify({snapshot}.agents)"))
        .await;
    assert_ne!(first, later, "the cars move");
    browser.wait_text("#clock-status", "Flowing").await;
    browser.screenshot("demo.png").await;
    browser.assert_no_page_errors().await;
    browser.close().await;
    let _ = demo.child.kill().await;
}
