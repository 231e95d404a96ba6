//! gama-gymnasium (the real PyPI package) through the relay's endpoint for tools, beside a VR
//! session, against the same run made directly against GAMA: identical spaces, resets,
//! observations, rewards and terminations, in both of GAMA's server modes; its experiment gone
//! when it closes on gama-headless; nothing of the session in what it hears; slow synchronous
//! steps completing; no sleep needed after `load` on GAMA's desktop server.

mod common;

use std::time::Duration;

use common::*;
use relay_testkit::gama_client::{self, Finish, Unasked};
use relay_testkit::gymnasium::{self, Run, comparable, longest_step};
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::Value;

/// A session beside the tool: headset A in the game, fed while the tool runs.
async fn session(gama: &FakeGama) -> (TestRelay, Headset) {
    let relay = TestRelay::new(gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
    (relay, a)
}

fn port(relay: &TestRelay) -> u16 {
    relay.handle().passthrough_addr().unwrap().port()
}

/// What the tool heard unasked: every message of its own experiment, and no other (desktop
/// GAMA's one experiment is "0" in its messages; `load` answered its name).
fn assert_own_messages_only(report: &Value, direct: &Value) {
    let own = match report["experiment_id"].as_str().unwrap() {
        "gym_xp" => "0",
        id => id,
    };
    let heard = report["unsolicited"].as_array().unwrap();
    for m in heard {
        assert_eq!(m["exp_id"].as_str(), Some(own), "not the tool's: {m}");
        assert_ne!(m["type"], "SimulationOutput", "the session's output: {m}");
    }
    let kinds = |r: &Value| -> Vec<(Value, Value)> {
        r["unsolicited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["type"].clone(), m["content"].clone()))
            .collect()
    };
    assert_eq!(
        kinds(report),
        kinds(direct),
        "heard through the relay vs directly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn gymnasium_runs_through_the_relay_as_directly_headless() {
    let test = "gymnasium_runs_through_the_relay_as_directly_headless";
    let python = gama_client::python_for(test);
    let run = Run::default();
    let alone = headless().await;
    let direct = gymnasium::run(&python, alone.port(), &run).await.unwrap();
    assert_eq!(
        alone.experiment_count(),
        0,
        "gama-headless closed it with the socket"
    );

    let gama = headless().await;
    let (relay, a) = session(&gama).await;
    let feeding = feed(&gama, &relay);
    let through = gymnasium::run(&python, port(&relay), &run).await.unwrap();
    feeding.abort();
    assert_eq!(comparable(&through), comparable(&direct));
    assert_own_messages_only(&through, &direct);
    // env.close() only closes the socket: the experiment ends with it, as directly.
    gama.wait_for(T, "the tool's experiment closed", |g| {
        g.experiment_count() == 1
    })
    .await
    .unwrap();
    assert!(relay.snapshot_player("A").player.in_game);
    assert!(a.recv_json_output(T).await.is_ok(), "the headset was fed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn gymnasium_runs_through_the_relay_as_directly_desktop() {
    let test = "gymnasium_runs_through_the_relay_as_directly_desktop";
    let python = gama_client::python_for(test);
    // Directly, gama-gymnasium waits 8 s after `load` only on port 1000: an experiment that
    // opens at once lets the direct run work on another port.
    let options = FakeGamaOptions {
        open_delay: Duration::ZERO,
        ..FakeGamaOptions::desktop()
    };
    let run = Run::default();
    let alone = FakeGama::start(options.clone()).await.unwrap();
    let direct = gymnasium::run(&python, alone.port(), &run).await.unwrap();

    let gama = FakeGama::start(options).await.unwrap();
    let (relay, a) = session(&gama).await;
    let through = gymnasium::run(&python, port(&relay), &run).await.unwrap();
    assert_eq!(comparable(&through), comparable(&direct));
    assert_own_messages_only(&through, &direct);
    // One experiment at a time: the session ended cleanly, without a player in the tool's model.
    expect_in_game(&a, false).await;
    let creates = gama
        .commands_of_type("expression")
        .iter()
        .filter(|c| {
            c["expr"]
                .as_str()
                .unwrap_or_default()
                .contains("create_player")
        })
        .count();
    assert_eq!(
        creates, 1,
        "create_player only into the session's experiment"
    );
    let state = relay.state_json().await;
    assert_eq!(
        state["gama"]["tool_experiment"]["model"], run.model,
        "{state}"
    );
    // Desktop GAMA keeps the experiment of a client that leaves.
    assert_eq!(gama.experiment_name().as_deref(), Some(run.experiment));
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
}

/// A synchronous step slower than `gama.command_timeout_ms` completes with GAMA's answer.
async fn slow_steps(test: &str, options: FakeGamaOptions) {
    let python = gama_client::python_for(test);
    let gama = FakeGama::start(FakeGamaOptions {
        step_ms: 2000,
        open_delay: Duration::ZERO,
        ..options
    })
    .await
    .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| c.gama.command_timeout_ms = 1000)
        .start()
        .await;
    relay.wait_gama().await;
    let run = Run {
        actions: &[1, 0],
        episodes: 1,
        ..Run::default()
    };
    let report = gymnasium::run(&python, port(&relay), &run).await.unwrap();
    assert_eq!(report["episodes"][0]["steps"].as_array().unwrap().len(), 2);
    assert!(longest_step(&report) >= 1.9, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn a_sync_step_slower_than_the_relays_deadline_completes_headless() {
    slow_steps(
        "a_sync_step_slower_than_the_relays_deadline_completes_headless",
        FakeGamaOptions::headless(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn a_sync_step_slower_than_the_relays_deadline_completes_desktop() {
    slow_steps(
        "a_sync_step_slower_than_the_relays_deadline_completes_desktop",
        FakeGamaOptions::desktop(),
    )
    .await;
}

/// On GAMA's desktop server `load` is answered before the experiment is built; gama-gymnasium
/// sleeps 8 s for it on port 1000 only. Through the tool port it needs no sleep: the relay answers
/// once the experiment is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn gymnasium_needs_no_sleep_on_the_tool_port_desktop() {
    let test = "gymnasium_needs_no_sleep_on_the_tool_port_desktop";
    let python = gama_client::python_for(test);
    let gama = FakeGama::start(FakeGamaOptions {
        open_delay: Duration::from_millis(1500),
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let report = gymnasium::run(&python, port(&relay), &Run::default())
        .await
        .unwrap();
    assert!(
        report["seconds_to_spaces"].as_f64().unwrap() >= 1.4,
        "{report}"
    );
    assert_eq!(report["action_space"], "Discrete(2)");
}

/// A plain gama-client tool beside a training run, both through the relay on gama-headless: each
/// gets its own answers and its own experiments' messages only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn a_gama_client_tool_beside_gymnasium_gets_only_its_own_answers() {
    let test = "a_gama_client_tool_beside_gymnasium_gets_only_its_own_answers";
    let python = gama_client::python_for(test);
    let gama = headless().await;
    let (relay, _a) = session(&gama).await;
    let feeding = feed(&gama, &relay);
    let run = Run {
        episodes: 6,
        ..Run::default()
    };
    let (gym, check) = tokio::join!(
        gymnasium::run(&python, port(&relay), &run),
        gama_client::run_check_with(
            &python,
            port(&relay),
            Finish::Close,
            Unasked::OwnExperimentsOnly
        ),
    );
    feeding.abort();
    let gym = gym.unwrap();
    let checks = check.unwrap();
    assert_eq!(checks.len(), 17, "{checks:#?}");
    let own = gym["experiment_id"].as_str().unwrap();
    for m in gym["unsolicited"].as_array().unwrap() {
        assert_eq!(m["exp_id"].as_str(), Some(own), "not gymnasium's: {m}");
    }
}

/// Feeds headset A with the session's output every 20 ms until aborted.
fn feed(gama: &FakeGama, relay: &TestRelay) -> tokio::task::JoinHandle<()> {
    let gama = gama.clone();
    let session = relay.handle().state().gama.experiment_id.unwrap();
    tokio::spawn(async move {
        for round in 0.. {
            let contents = format!(r#"{{"round":{round}}}"#);
            gama.send_linker_output_of(&session, &linker_output(&["A"], &contents));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}
