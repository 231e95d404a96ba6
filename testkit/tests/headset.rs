//! Tests of the simulated Unity headset against a tiny tokio-tungstenite server standing in for
//! the relay: exact bytes sent (protocol.md §5.2), application ping/pong, close reporting,
//! pausing, source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use relay_testkit::{Headset, HeadsetConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const T: Duration = Duration::from_secs(5);

/// One accepted connection of the stand-in relay.
struct Peer {
    ws: WebSocketStream<TcpStream>,
    path: String,
    remote: SocketAddr,
}

impl Peer {
    /// Next data frame (text or binary), control frames skipped; `None` once the stream ends.
    async fn next(&mut self) -> anyhow::Result<Option<Message>> {
        let deadline = Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .context("no frame from the headset within 5 s")?
            {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => {
                    return Ok(Some(m));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(None),
            }
        }
    }

    async fn text(&mut self) -> anyhow::Result<String> {
        match self.next().await? {
            Some(Message::Text(t)) => Ok(t.as_str().to_owned()),
            other => bail!("expected a text frame, got {other:?}"),
        }
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(text.to_owned())).await?;
        Ok(())
    }
}

/// Binds a stand-in relay and returns its address and its first accepted connection.
// The handshake callback's error type is tungstenite's (large) HTTP response.
#[allow(clippy::result_large_err)]
async fn relay() -> anyhow::Result<(SocketAddr, oneshot::Receiver<Peer>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((stream, remote)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut path = String::new();
        let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
            path = req.uri().path().to_owned();
            Ok(resp)
        })
        .await;
        if let Ok(ws) = ws {
            let _ = tx.send(Peer { ws, path, remote });
        }
    });
    Ok((addr, rx))
}

async fn pair() -> anyhow::Result<(Headset, Peer)> {
    let (addr, peer) = relay().await?;
    let headset = Headset::connect(addr).await?;
    let peer = tokio::time::timeout(T, peer).await??;
    Ok((headset, peer))
}

#[tokio::test]
async fn sends_exactly_what_unity_sends() -> anyhow::Result<()> {
    let (h, mut relay) = pair().await?;
    assert_eq!(relay.path, "/");
    assert_eq!(relay.remote, h.local_addr());

    h.register("Player_101").await?;
    assert_eq!(
        relay.text().await?,
        r#"{"type":"connection","id":"Player_101","heartbeat":"5000"}"#
    );
    h.register_with_heartbeat("Player_101", "0").await?;
    assert_eq!(
        relay.text().await?,
        r#"{"type":"connection","id":"Player_101","heartbeat":"0"}"#
    );

    h.ask(
        "move_player_external",
        &[
            ("id", "Player_101"),
            ("x", "251234"),
            ("y", "48810"),
            ("z", "17000"),
            ("angle", "-900000"),
        ],
    )
    .await?;
    assert_eq!(
        relay.text().await?,
        r#"{"type":"ask","action":"move_player_external","args":"{\"id\":\"Player_101\",\"x\":\"251234\",\"y\":\"48810\",\"z\":\"17000\",\"angle\":\"-900000\"}","agent":"simulation[0].unity_linker[0]"}"#
    );

    h.expression(r#"do hello($id, "a\b");"#).await?;
    assert_eq!(
        relay.text().await?,
        r#"{"type":"expression","expr":"do hello($id, \"a\\b\");"}"#
    );

    h.send_text("{broken").await?;
    assert_eq!(relay.text().await?, "{broken");
    h.send_binary(vec![1, 2, 3]).await?;
    assert_eq!(relay.next().await?, Some(Message::binary(vec![1u8, 2, 3])));

    h.disconnect_properly().await?;
    assert_eq!(relay.text().await?, r#"{"type":"disconnect_properly"}"#);
    match relay.next().await? {
        Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1000),
        other => bail!("expected a close frame, got {other:?}"),
    }
    // The relay's close reply completes the handshake.
    assert_eq!(relay.next().await?, None);
    assert!(h.wait_closed(T).await?.is_some());
    Ok(())
}

#[tokio::test]
async fn answers_pings_and_hides_them_from_recv() -> anyhow::Result<()> {
    let (h, mut relay) = pair().await?;
    relay.send(r#"{"type":"ping"}"#).await?;
    assert_eq!(relay.text().await?, r#"{"type":"pong"}"#);
    relay.send(r#"{"type":"ping"}"#).await?;
    relay
        .send(r#"{"type":"json_state","in_game":false}"#)
        .await?;
    let v = h.recv(T).await?;
    assert_eq!(v["type"], "json_state");
    assert_eq!(relay.text().await?, r#"{"type":"pong"}"#);
    assert_eq!(h.pings_received(), 2);

    // A stalled Unity counts pings but does not answer them.
    h.set_auto_pong(false);
    relay.send(r#"{"type":"ping"}"#).await?;
    assert_eq!(h.recv_type("ping", T).await?["type"], "ping");
    h.send_text("marker").await?;
    assert_eq!(relay.text().await?, "marker", "no pong before the marker");
    assert_eq!(h.pings_received(), 3);
    h.pong().await?;
    assert_eq!(relay.text().await?, r#"{"type":"pong"}"#);
    Ok(())
}

#[tokio::test]
async fn receive_helpers() -> anyhow::Result<()> {
    let (h, mut relay) = pair().await?;
    let output = r#"{"contents":{"b":1,"a":[1.0]},"type":"json_output"}"#;
    relay
        .send(r#"{"type":"json_state","connected":true}"#)
        .await?;
    relay.send(output).await?;
    relay.send("not json").await?;
    let (raw, v) = h.recv_json_output(T).await?;
    assert_eq!(raw, output);
    assert_eq!(v["contents"]["b"], 1);
    assert_eq!(h.recv_raw(T).await?, "not json");
    relay.send("not json either").await?;
    assert!(h.recv(T).await.is_err(), "recv requires JSON");
    relay.send(r#"{"type":"ping"}"#).await?;
    h.expect_silence(Duration::from_millis(50)).await?;
    relay.send(r#"{"type":"json_state"}"#).await?;
    assert!(h.expect_silence(T).await.is_err());
    assert!(
        h.recv_type("json_state", Duration::from_millis(20))
            .await
            .is_err(),
        "consumed"
    );
    Ok(())
}

#[tokio::test]
async fn wait_closed_reports_code_and_reason() -> anyhow::Result<()> {
    let (h, mut relay) = pair().await?;
    relay
        .ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "0000:0000:0000:0000:0000:ffff:7f00:0001".into(),
        }))
        .await?;
    assert_eq!(
        h.wait_closed(T).await?,
        Some((1000, "0000:0000:0000:0000:0000:ffff:7f00:0001".to_owned()))
    );
    assert!(h.is_closed());
    assert_eq!(
        relay.next().await?.map(|m| m.is_close()),
        Some(true),
        "close answered"
    );
    assert!(
        h.register("late").await.is_err(),
        "sending after the close fails"
    );
    Ok(())
}

#[tokio::test]
async fn wait_closed_reports_a_dropped_connection() -> anyhow::Result<()> {
    let (h, relay) = pair().await?;
    assert!(!h.is_closed());
    drop(relay);
    assert_eq!(h.wait_closed(T).await?, None);
    assert!(h.recv(T).await.is_err());
    Ok(())
}

#[tokio::test]
async fn close_and_abort() -> anyhow::Result<()> {
    let (h, mut relay) = pair().await?;
    let closing = tokio::spawn(h.close());
    match relay.next().await? {
        Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1000),
        other => bail!("expected a close frame, got {other:?}"),
    }
    assert_eq!(relay.next().await?, None);
    closing.await??;

    let (h, mut relay) = pair().await?;
    h.abort();
    assert_eq!(relay.next().await?, None, "TCP ended without a close frame");
    Ok(())
}

#[tokio::test]
async fn connects_from_another_loopback_address() -> anyhow::Result<()> {
    let (addr, peer) = relay().await?;
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let h = Headset::connect_from(addr, ip).await?;
    let peer = tokio::time::timeout(T, peer).await??;
    assert_eq!(peer.remote.ip(), ip);
    assert_eq!(h.local_addr().ip(), ip);
    Ok(())
}

#[tokio::test]
async fn paused_headset_builds_backpressure() -> anyhow::Result<()> {
    let (addr, peer) = relay().await?;
    let h = Headset::connect_with(
        addr,
        HeadsetConfig {
            recv_buffer: Some(4096),
            ..HeadsetConfig::default()
        },
    )
    .await?;
    let mut relay = tokio::time::timeout(T, peer).await??;
    h.set_paused(true);
    let chunk = format!(
        r#"{{"type":"json_output","contents":{{"pad":"{}"}}}}"#,
        "x".repeat(64 * 1024)
    );
    let mut sent = 0usize;
    let blocked = loop {
        match tokio::time::timeout(
            Duration::from_millis(200),
            relay.ws.send(Message::text(chunk.clone())),
        )
        .await
        {
            Ok(r) => {
                r?;
                sent += 1;
            }
            Err(_) => break true,
        }
        if sent > 1024 {
            break false; // 64 MiB accepted: no backpressure
        }
    };
    assert!(blocked, "the relay side never blocked after {sent} frames");
    assert!(h.expect_silence(Duration::from_millis(20)).await.is_ok());
    h.set_paused(false);
    let (raw, _) = h.recv_json_output(T).await?;
    assert_eq!(raw, chunk);
    Ok(())
}
