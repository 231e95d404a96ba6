//! `gama-vr-relay demo`: started from the binary with nothing beside it (no GAMA, no learning
//! package), it shows a live session within seconds — players in game, GAMA's output flowing, the
//! world moving, the console answering — through the API and in the admin page in Chromium (a
//! screenshot goes to `target/demo.png`, the README's picture). A real headset can join too.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_a_live_session_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let headsets = free_port();
    let started = Instant::now();
    let (mut child, admin) = start_binary_with_admin(
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
    let ready_after = started.elapsed();
    assert!(live["model"]["name"].as_str().unwrap().starts_with("Demo"));
    // The console answers.
    let answer: Value = http
        .post(format!("http://127.0.0.1:{admin}/api/console"))
        .json(&serde_json::json!({"expr": "length(unity_player)"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"], "4", "{answer}");
    // A real headset joins the demo and gets the world.
    let h = Headset::connect(format!("127.0.0.1:{headsets}").parse().unwrap())
        .await
        .unwrap();
    h.register("Player_50").await.unwrap();
    expect_in_game(&h, true).await;
    h.ask("send_init_data", &[("id", "Player_50")])
        .await
        .unwrap();
    let (_, init) = h.recv_json_output(T).await.unwrap();
    assert!(init["contents"]["precision"].is_number(), "{init}");

    if browser_ready("the_demo_shows_a_live_session_within_seconds") {
        let mut browser = Browser::start().await;
        browser.viewport(1280, 900).await;
        browser.open(&format!("http://127.0.0.1:{admin}/")).await;
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
    }
    eprintln!(
        "demo: a live session {:.1} s after starting",
        ready_after.as_secs_f64()
    );
    drop(h);
    let _ = child.kill().await;
}
