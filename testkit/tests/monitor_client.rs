//! The editor-tool-like monitor client fails where the real tool fails: a server silent for 2 s
//! kills its connection (pings do not count), and so does a state whose `gama.connected` is not a
//! boolean. Without these, the relay's monitor tests could not fail for those reasons.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use relay_testkit::monitor::{Connection, RECEIVE_SLICE};
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket server that sends `frames` (text, or a ping for `"ping"`), each after `gap`, then
/// holds the connection open.
async fn server(frames: Vec<&'static str>, gap: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        for frame in frames {
            tokio::time::sleep(gap).await;
            let message = if frame == "ping" {
                Message::Ping(Default::default())
            } else {
                Message::text(frame)
            };
            if ws.send(message).await.is_err() {
                return;
            }
        }
        while let Some(Ok(_)) = ws.next().await {}
    });
    addr
}

#[tokio::test]
async fn two_silent_seconds_kill_the_connection_even_with_pings() {
    let state = r#"{"type":"json_state","gama":{"connected":true,"experiment_state":"NONE"}}"#;
    let addr = server(
        vec![state, "ping", "ping", "ping"],
        Duration::from_millis(900),
    )
    .await;
    let conn = Connection::open(addr).await.unwrap();
    tokio::time::sleep(RECEIVE_SLICE + Duration::from_millis(1500)).await;
    let why = conn.died().expect("the connection died");
    assert!(why.contains("no data frame"), "{why}");
    assert!(
        conn.send(serde_json::json!({"type": "pause_experiment"}))
            .is_err()
    );
}

#[tokio::test]
async fn frames_under_two_seconds_apart_keep_it_alive() {
    let state = r#"{"type":"json_state","gama":{"connected":true,"experiment_state":"PAUSED"}}"#;
    let addr = server(vec![state; 4], Duration::from_millis(900)).await;
    let conn = Connection::open(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3800)).await;
    assert_eq!(conn.died(), None);
    assert_eq!(conn.state().0, "PAUSED");
    assert!(conn.longest_silence() < RECEIVE_SLICE);
}

#[tokio::test]
async fn a_connected_that_is_not_a_boolean_kills_the_receive_loop() {
    let addr = server(
        vec![r#"{"type":"json_state","gama":{"connected":null}}"#],
        Duration::from_millis(10),
    )
    .await;
    let conn = Connection::open(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(conn.died().unwrap().contains("not a boolean"));
}
