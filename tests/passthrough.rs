//! The gama-server endpoint for tools: each tool sees GAMA as if it had it to itself. The real PyPI
//! gama-client works through the relay; a tool gets its own answers and its own experiments'
//! messages, nothing of the session's or another tool's; its experiments end with it on
//! gama-headless; on the desktop server its `load` ends the session cleanly; its commands wait for
//! GAMA as long as GAMA takes, without holding up the relay's own.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use relay_testkit::gama_client::{self, Finish, Unasked};
use relay_testkit::{FakeGama, FakeGamaOptions, Headset};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn tool(relay: &TestRelay) -> Ws {
    let addr = relay.handle().passthrough_addr().expect("endpoint enabled");
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    ws
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(T, ws.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            _ => continue,
        }
    }
}

/// Skips unsolicited messages until the reply to `api_id`.
async fn reply_to(ws: &mut Ws, api_id: &str) -> Value {
    loop {
        let m = next(ws).await;
        if m["command"]["api_id"] == api_id {
            return m;
        }
    }
}

/// The gama-client check through the relay on gama-headless, while the session's headset is fed:
/// the tool has its own connection to GAMA and hears nothing of the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn the_real_gama_client_works_through_the_relay_headless() {
    let test = "the_real_gama_client_works_through_the_relay_headless";
    let python = gama_client::python_for(test);
    let gama = headless().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
    let session = relay.handle().state().gama.experiment_id.unwrap();
    let port = relay.handle().passthrough_addr().unwrap().port();
    // Each answer must echo exactly what the tool sent, none of the relay's own fields, and every
    // message it gets unasked must be of its own experiments.
    let smoke = tokio::spawn(async move {
        gama_client::run_check_with(&python, port, Finish::Close, Unasked::OwnExperimentsOnly).await
    });
    let mut rounds = 0;
    while !smoke.is_finished() {
        rounds += 1;
        deliver(&gama, &session, &a, &format!(r#"{{"round":{rounds}}}"#)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let checks = smoke.await.unwrap().unwrap();
    assert_eq!(checks.len(), 17, "{checks:#?}");
    assert!(rounds > 1, "the headset was fed during the run");
    assert_eq!(
        gama.accepted_connections(),
        2,
        "the tool had a connection of its own to gama-headless"
    );
    assert!(gama.commands_of_type("describe")[0]["api_id"].is_string());
    // Its experiments ended with it; the session's goes on.
    gama.wait_for(T, "the tool's experiments closed", |g| {
        g.experiment_count() == 1
    })
    .await
    .unwrap();
    assert!(relay.snapshot_player("A").player.in_game);
}

/// The gama-client check through the relay on GAMA's desktop server: it works, and its `load`
/// (one experiment at a time) ends the session, which a launch from the page starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Python venv (gama-client, gama-gymnasium): scripts/test.sh runs it"]
async fn the_real_gama_client_works_through_the_relay_desktop() {
    let test = "the_real_gama_client_works_through_the_relay_desktop";
    let python = gama_client::python_for(test);
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
    let port = relay.handle().passthrough_addr().unwrap().port();
    let checks = gama_client::run_check(&python, port, Finish::Close)
        .await
        .unwrap();
    assert_eq!(checks.len(), 16, "{checks:#?}");
    assert_eq!(
        gama.accepted_connections(),
        1,
        "one connection: GAMA's newest gets the output"
    );
    expect_in_game(&a, false).await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
}

/// Answers go to the tool that asked, alone; the messages of its experiment too (item 2 of
/// issue 19: they used to reach every tool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_and_statuses_go_to_the_tool_that_loaded_alone() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let mut one = tool(&relay).await;
    let mut two = tool(&relay).await;
    let hello = next(&mut one).await;
    assert_eq!(hello["type"], "ConnectionSuccessful");
    assert!(hello["content"].is_string());
    assert_eq!(next(&mut two).await["type"], "ConnectionSuccessful");

    one.send(Message::text(
        r#"{"type":"load","model":"/m/demo.gaml","experiment":"vr_xp","api_id":"7","my_tag":{"k":[1,2]}}"#,
    ))
    .await
    .unwrap();
    let reply = reply_to(&mut one, "7").await;
    assert_eq!(reply["type"], "CommandExecutedSuccessfully");
    assert_eq!(reply["content"], "vr_xp");
    assert_eq!(
        reply["command"],
        serde_json::json!({"type":"load","model":"/m/demo.gaml","experiment":"vr_xp","api_id":"7","my_tag":{"k":[1,2]}}),
        "the tool gets back exactly what it sent"
    );
    // The experiment's status reached the tool that loaded it (before its answer: the answer
    // waits for the experiment to be ready).
    relay.wait_experiment("PAUSED").await;
    // The other tool got nothing of it: its next message is the answer to its own command.
    two.send(Message::text(
        r#"{"type":"expression","exp_id":"0","expr":"cycle","api_id":"x"}"#,
    ))
    .await
    .unwrap();
    let first = next(&mut two).await;
    assert_eq!(
        first["command"]["api_id"], "x",
        "got {first} before its answer"
    );

    // exit is not forwarded; a tool cannot kill GAMA for the classroom.
    one.send(Message::text(r#"{"type":"exit","api_id":"8"}"#))
        .await
        .unwrap();
    let reply = reply_to(&mut one, "8").await;
    assert_eq!(reply["type"], "UnableToExecuteRequest");
    assert!(gama.commands_of_type("exit").is_empty());

    // Unreadable JSON gets gama-server's answer, without a command to echo.
    one.send(Message::text("{not json")).await.unwrap();
    let m = loop {
        let m = next(&mut one).await;
        if m["type"] == "MalformedRequest" {
            break m;
        }
    };
    assert!(m.get("command").is_none());

    // Without GAMA, commands are answered at once, echoing the tool's fields.
    gama.kill().await;
    relay
        .wait("GAMA gone", |s| {
            s.gama.connection != gama_vr_relay::LinkState::Connected
        })
        .await;
    two.send(Message::text(
        r#"{"type":"play","exp_id":"0","api_id":"9"}"#,
    ))
    .await
    .unwrap();
    let reply = reply_to(&mut two, "9").await;
    assert_eq!(reply["type"], "UnableToExecuteRequest");
    assert!(
        reply["content"].as_str().unwrap().contains("not connected"),
        "{reply}"
    );
}

/// On gama-headless a tool hears nothing of the session running beside it, only its own
/// experiment (item 2 of issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_hears_nothing_of_the_session_headless() {
    let gama = headless().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
    let mut t = tool(&relay).await;
    assert_eq!(next(&mut t).await["type"], "ConnectionSuccessful");
    // The session's output flows…
    let session = relay.handle().state().gama.experiment_id.unwrap();
    deliver(&gama, &session, &a, r#"{"n":1}"#).await;
    deliver(&gama, &session, &a, r#"{"n":2}"#).await;
    // …and the tool's own experiment is all it hears of.
    t.send(Message::text(
        r#"{"type":"load","model":"/m/tool.gaml","experiment":"tool_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    let mut own = None;
    loop {
        let m = next(&mut t).await;
        if m["command"]["api_id"] == "1" {
            assert_eq!(m["type"], "CommandExecutedSuccessfully");
            own = m["content"].as_str().map(str::to_string);
            continue;
        }
        assert!(m.get("command").is_none(), "an answer to someone else: {m}");
        assert_ne!(
            m["type"], "SimulationOutput",
            "the session's output reached the tool: {m}"
        );
        assert_eq!(
            Some(m["exp_id"].as_str().unwrap().to_string()),
            own,
            "a status of another experiment: {m}"
        );
        if m["content"] == "PAUSED" {
            break;
        }
    }
    deliver(&gama, &session, &a, r#"{"n":3}"#).await;
    t.send(Message::text(
        r#"{"type":"expression","exp_id":"1","expr":"cycle","api_id":"2"}"#,
    ))
    .await
    .unwrap();
    let m = next(&mut t).await;
    assert_eq!(m["command"]["api_id"], "2", "got {m} before its answer");
}

/// gama-headless disposes of a client's experiments when its socket closes; through the relay too
/// (item 1 of issue 19: they outlived their tool), and the audit trail says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tools_experiments_end_with_it_headless() {
    let gama = headless().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let _a = relay.join("A").await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
    let mut t = tool(&relay).await;
    next(&mut t).await;
    let mut ids = Vec::new();
    for api_id in ["1", "2"] {
        t.send(Message::text(format!(
            r#"{{"type":"load","model":"/m/tool.gaml","experiment":"tool_xp","api_id":"{api_id}"}}"#
        )))
        .await
        .unwrap();
        let reply = reply_to(&mut t, api_id).await;
        ids.push(reply["content"].as_str().unwrap().to_string());
    }
    assert_eq!(gama.experiment_count(), 3);
    t.close(None).await.unwrap();
    gama.wait_for(T, "the tool's experiments closed", |g| {
        g.experiment_count() == 1
    })
    .await
    .unwrap();
    let audit = relay
        .get_until("/api/audit", "the tool's leaving in the audit trail", |b| {
            b["entries"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["kind"] == "tool_left"))
        })
        .await;
    let left = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "tool_left")
        .unwrap()
        .clone();
    assert_eq!(
        left["params"]["experiments"],
        serde_json::json!(ids),
        "{left}"
    );
    assert_eq!(left["via"], "tool");
    // The session was never touched.
    assert!(relay.snapshot_player("A").player.in_game);
}

/// On GAMA's desktop server a tool's `load` replaces the session's experiment: the session ends
/// cleanly, the page says which tool loaded what, and no player is pushed into the tool's model,
/// not after its load nor after its reload (item 3 of issue 19). A launch from the page brings the
/// session back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tools_load_ends_the_session_desktop() {
    let gama = desktop().await;
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let a = relay.join("Player_gym").await;
    relay.launch().await;
    relay.wait_in_game(&["Player_gym"]).await;
    expect_in_game(&a, true).await;
    let mut t = tool(&relay).await;
    next(&mut t).await;
    let creates_before = the_tool_s_load_ends_the_session(&mut t, &relay, &gama, &a).await;
    no_player_goes_into_the_tool_s_experiment(&mut t, &relay, &gama, creates_before).await;
    the_audit_trail_says_which_tool_loaded_what(&relay).await;
    // The tool leaves: desktop GAMA keeps its experiment, the page and the audit say so.
    t.close(None).await.unwrap();
    relay
        .get_until("/api/state", "the tool gone", |s| {
            s["gama"]["tool_experiment"]["connected"] == false
        })
        .await;
    relay
        .get_until("/api/audit", "the tool's leaving in the audit trail", |b| {
            b["entries"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["kind"] == "tool_left_kept"))
        })
        .await;
    // A launch from the page works as usual.
    relay.launch().await;
    relay.wait_in_game(&["Player_gym"]).await;
    expect_in_game(&a, true).await;
    assert!(relay.state_json().await["gama"]["tool_experiment"].is_null());
    assert_eq!(gama.experiment_name().as_deref(), Some(EXPERIMENT));
}

/// The tool `t` loads its model: the session ends (the headset `a` is out of the game) and the
/// relay's state says which tool holds which experiment. Returns how many times GAMA had been
/// asked to create the player by then.
async fn the_tool_s_load_ends_the_session(
    t: &mut Ws,
    relay: &TestRelay,
    gama: &FakeGama,
    a: &Headset,
) -> usize {
    let address = t.get_ref().get_ref().local_addr().unwrap().to_string();
    t.send(Message::text(
        r#"{"type":"load","model":"/m/gym_walk.gaml","experiment":"gym_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    let reply = reply_to(t, "1").await;
    assert_eq!(reply["type"], "CommandExecutedSuccessfully");
    let creates_before = creates(gama, "Player_gym");
    expect_in_game(a, false).await;
    let state = relay.state_json().await;
    let held = &state["gama"]["tool_experiment"];
    assert_eq!(held["address"], address, "{state}");
    assert_eq!(held["model"], "/m/gym_walk.gaml");
    assert_eq!(held["experiment"], "gym_xp");
    assert_eq!(held["connected"], true);
    creates_before
}

/// No player is pushed into the tool's model (GAMA is asked to create none beyond
/// `creates_before`), not after its load nor after its reload.
async fn no_player_goes_into_the_tool_s_experiment(
    t: &mut Ws,
    relay: &TestRelay,
    gama: &FakeGama,
    creates_before: usize,
) {
    t.send(Message::text(
        r#"{"type":"reload","exp_id":"gym_xp","api_id":"2"}"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        reply_to(t, "2").await["type"],
        "CommandExecutedSuccessfully"
    );
    // Everything the relay would do after GAMA's statuses has had time to happen.
    t.send(Message::text(
        r#"{"type":"expression","exp_id":"gym_xp","expr":"cycle","api_id":"3"}"#,
    ))
    .await
    .unwrap();
    reply_to(t, "3").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        creates(gama, "Player_gym"),
        creates_before,
        "create_player went into the tool's experiment"
    );
    assert!(!relay.snapshot_player("Player_gym").player.in_game);
}

/// The audit trail has the tool's load, with its model, done.
async fn the_audit_trail_says_which_tool_loaded_what(relay: &TestRelay) {
    let audit = relay
        .get_until("/api/audit", "the tool's load in the audit trail", |b| {
            b["entries"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|e| e["kind"] == "tool" && e["params"]["command"] == "load")
            })
        })
        .await;
    let load = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "tool" && e["params"]["command"] == "load")
        .unwrap()
        .clone();
    assert_eq!(load["params"]["model"], "/m/gym_walk.gaml", "{load}");
    assert_eq!(load["ok"], true);
}

/// A tool's synchronous step slower than `gama.command_timeout_ms` is answered by GAMA, as it
/// would be directly, and the relay's own work goes on meanwhile where GAMA allows it: on
/// gama-headless, a headset joining gets into the game during the step (item 4 of issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_step_is_answered_by_gama_and_holds_up_nothing_headless() {
    let gama = FakeGama::start(FakeGamaOptions {
        step_ms: 3000,
        ..FakeGamaOptions::headless()
    })
    .await
    .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| c.gama.command_timeout_ms = 1500)
        .start()
        .await;
    relay.wait_gama().await;
    let _a = relay.join("A").await;
    relay.launch().await;
    relay.wait_in_game(&["A"]).await;
    let mut t = tool(&relay).await;
    next(&mut t).await;
    t.send(Message::text(
        r#"{"type":"load","model":"/m/gym_walk.gaml","experiment":"gym_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    let exp = reply_to(&mut t, "1").await["content"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = Instant::now();
    t.send(Message::text(format!(
        r#"{{"type":"step","exp_id":"{exp}","sync":true,"api_id":"2"}}"#
    )))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A headset joins during the step: GAMA creates its player on the session's connection.
    let b = relay.join("B").await;
    expect_in_game(&b, true).await;
    assert!(
        sent.elapsed() < Duration::from_millis(2500),
        "B got into the game only after the tool's step ({:?})",
        sent.elapsed()
    );
    let reply = reply_to(&mut t, "2").await;
    assert_eq!(reply["type"], "CommandExecutedSuccessfully", "{reply}");
    assert!(sent.elapsed() >= Duration::from_millis(2900));
}

/// On GAMA's desktop server too, a slow synchronous step is answered by GAMA, not cut short by the
/// relay's deadline (item 4 of issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_step_is_answered_by_gama_desktop() {
    let gama = FakeGama::start(FakeGamaOptions {
        step_ms: 2500,
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::builder(&gama)
        .config(|c| c.gama.command_timeout_ms = 1500)
        .start()
        .await;
    relay.wait_gama().await;
    let mut t = tool(&relay).await;
    next(&mut t).await;
    t.send(Message::text(
        r#"{"type":"load","model":"/m/gym_walk.gaml","experiment":"gym_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    reply_to(&mut t, "1").await;
    let sent = Instant::now();
    t.send(Message::text(
        r#"{"type":"step","exp_id":"gym_xp","sync":true,"api_id":"2"}"#,
    ))
    .await
    .unwrap();
    let reply = reply_to(&mut t, "2").await;
    assert_eq!(reply["type"], "CommandExecutedSuccessfully", "{reply}");
    assert!(sent.elapsed() >= Duration::from_millis(2400));
}

/// Desktop GAMA answers `load` before the experiment is built; through the relay the answer comes
/// once the experiment takes commands, so a tool can use it at once (item 5 of issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tools_load_is_answered_once_the_experiment_is_ready_desktop() {
    let gama = FakeGama::start(FakeGamaOptions {
        open_delay: Duration::from_millis(1500),
        ..FakeGamaOptions::desktop()
    })
    .await
    .unwrap();
    let relay = TestRelay::new(&gama).await;
    relay.wait_gama().await;
    let mut t = tool(&relay).await;
    next(&mut t).await;
    let sent = Instant::now();
    t.send(Message::text(
        r#"{"type":"load","model":"/m/gym_walk.gaml","experiment":"gym_xp","api_id":"1"}"#,
    ))
    .await
    .unwrap();
    let reply = reply_to(&mut t, "1").await;
    assert_eq!(reply["type"], "CommandExecutedSuccessfully");
    assert_eq!(reply["content"], "gym_xp", "GAMA's answer, unchanged");
    assert!(
        sent.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        sent.elapsed()
    );
    t.send(Message::text(
        r#"{"type":"expression","exp_id":"gym_xp","expr":"GymAgent[0].action_space","api_id":"2"}"#,
    ))
    .await
    .unwrap();
    let reply = reply_to(&mut t, "2").await;
    assert_eq!(reply["type"], "CommandExecutedSuccessfully", "{reply}");
    assert_eq!(reply["content"]["type"], "Discrete");
}

/// How many `create_player` expressions for `id` GAMA received.
fn creates(gama: &FakeGama, id: &str) -> usize {
    let expr = format!("do create_player(\"{id}\");");
    gama.commands_of_type("expression")
        .iter()
        .filter(|c| c["expr"] == expr.as_str())
        .count()
}

/// Sends a linker output of the session's experiment to headset A and waits until A has it.
async fn deliver(gama: &FakeGama, session: &str, a: &Headset, contents: &str) {
    gama.send_linker_output_of(session, &linker_output(&["A"], contents));
    loop {
        let (raw, _) = a.recv_json_output(T).await.unwrap();
        if raw == json_output(contents) {
            return;
        }
    }
}
