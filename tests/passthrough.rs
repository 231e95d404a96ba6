//! The gama-server endpoint for tools: the real PyPI gama-client works through the relay while the
//! headsets keep receiving their output, and replies go to the tool that asked, alone.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use relay_testkit::gama_client::{self, Finish};
use relay_testkit::{FakeGama, FakeGamaOptions};
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

async fn with_gama_client_running(test: &str, mode: FakeGamaOptions) {
    let Some(python) = gama_client::python_or_skip(test) else {
        return;
    };
    let gama = FakeGama::start(mode).await.unwrap();
    let relay = TestRelay::start(&gama, "", "", |_| {}).await;
    relay.wait_gama().await;
    let a = relay.join("A").await;
    let port = relay.handle().passthrough_addr().unwrap().port();
    // The real gama-client runs every check through the relay while GAMA keeps feeding the
    // headset. Each answer must echo exactly what the tool sent, none of the relay's own fields.
    let smoke =
        tokio::spawn(async move { gama_client::run_check(&python, port, Finish::Close).await });
    let mut rounds = 0;
    while !smoke.is_finished() {
        rounds += 1;
        let contents = format!(r#"{{"round":{rounds}}}"#);
        gama.send_linker_output(&linker_output(&["A"], &contents));
        loop {
            let (raw, _) = a.recv_json_output(T).await.unwrap();
            if raw == json_output(&contents) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let checks = smoke.await.unwrap().unwrap();
    assert_eq!(checks.len(), 16, "{checks:#?}");
    assert!(rounds > 1, "the headset was fed during the run");
    assert_eq!(
        gama.accepted_connections(),
        1,
        "the tool used the relay's connection"
    );
    // The tool's commands reached GAMA with its own api_id.
    assert!(gama.commands_of_type("describe")[0]["api_id"].is_string());
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_gama_client_works_through_the_relay_desktop() {
    with_gama_client_running(
        "the_real_gama_client_works_through_the_relay_desktop",
        FakeGamaOptions::desktop(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_gama_client_works_through_the_relay_headless() {
    with_gama_client_running(
        "the_real_gama_client_works_through_the_relay_headless",
        FakeGamaOptions::headless(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_go_to_their_tool_alone_and_status_goes_to_everyone() {
    let gama = desktop().await;
    let relay = TestRelay::start(&gama, "", "", |_| {}).await;
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
    // Both tools see the experiment's status; only the first got the reply.
    for ws in [&mut one, &mut two] {
        loop {
            let m = next(ws).await;
            assert_ne!(
                m["command"]["api_id"], "7",
                "a reply reached the other tool"
            );
            if m["type"] == "SimulationStatus" && m["content"] == "PAUSED" {
                break;
            }
        }
    }
    // The relay follows the experiment the tool opened (one GAMA, one frontmost experiment).
    relay.wait_experiment("PAUSED").await;

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
    relay.shutdown().await;
}
