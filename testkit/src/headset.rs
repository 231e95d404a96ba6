//! A simulated Unity headset: a WebSocket client of the relay that sends byte for byte what the
//! SIMPLE Unity package sends.
//!
//! The real client (UP `Runtime/Connection/ConnectionManager.cs`, protocol.md §5.2) serializes
//! every message from a Newtonsoft `Dictionary<string,string>`: compact JSON, keys in insertion
//! order, every value a string, and `args` of an `ask` a JSON *string* holding another compact
//! JSON object. [`unity_json`] reproduces that serializer, escaping included.
//!
//! A background task owns the socket. It answers the relay's application ping
//! `{"type":"ping"}` with `{"type":"pong"}` like Unity does (unless [`Headset::set_auto_pong`]
//! turns that off, to model a stalled Unity), counts pings, and queues every text frame for the
//! `recv*` methods. [`Headset::set_paused`] stops reading the socket altogether, so TCP
//! backpressure builds up on the relay's side.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The agent every Unity `ask` targets (hard-coded in ConnectionManager, protocol.md §5.2).
pub const UNITY_ASK_AGENT: &str = "simulation[0].unity_linker[0]";

/// Unity's `HeartbeatInMs` (WebSocketConnector.cs), sent as a string in `connection`.
pub const UNITY_HEARTBEAT: &str = "5000";

/// Bound on the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a clean close waits for the relay's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serializes string pairs exactly like Newtonsoft.Json serializes a `Dictionary<string,string>`
/// with default settings: compact, keys in the given order, every value a string.
///
/// Escaping (Newtonsoft `JavaScriptUtils.WriteEscapedJavaScriptString`, default
/// `StringEscapeHandling`): `"` → `\"`, `\` → `\\`, `\n \r \t \b \f` as such, other control
/// characters below U+0020 and the line terminators U+0085, U+2028, U+2029 as `\u00XX`-style
/// escapes with lowercase hex; everything else, non-ASCII included, raw.
pub fn unity_json(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(
        16 + pairs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>(),
    );
    out.push('{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_newtonsoft_string(&mut out, key);
        out.push(':');
        push_newtonsoft_string(&mut out, value);
    }
    out.push('}');
    out
}

fn push_newtonsoft_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How to open a [`Headset`] connection.
#[derive(Debug, Clone)]
pub struct HeadsetConfig {
    /// Source address to bind before connecting (e.g. `127.0.0.2` to look like another device).
    pub local_ip: Option<IpAddr>,
    /// `SO_RCVBUF` of the socket; a small buffer makes backpressure tests (with
    /// [`Headset::set_paused`]) reach the relay's limits with little data.
    pub recv_buffer: Option<u32>,
    /// Request path; Unity uses `/`.
    pub path: String,
}

impl Default for HeadsetConfig {
    fn default() -> Self {
        HeadsetConfig {
            local_ip: None,
            recv_buffer: None,
            path: "/".to_owned(),
        }
    }
}

/// A received text frame.
#[derive(Debug)]
struct Frame {
    raw: String,
    json: Option<Value>,
    is_ping: bool,
}

impl Frame {
    fn type_is(&self, ty: &str) -> bool {
        self.json
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(Value::as_str)
            == Some(ty)
    }
}

/// Requests to the socket task.
enum Cmd {
    Send(Message, oneshot::Sender<anyhow::Result<()>>),
    Close(u16, String, oneshot::Sender<anyhow::Result<()>>),
}

/// `None` while open; `Some(None)` when the TCP connection ended without a close frame;
/// `Some(Some((code, reason)))` once a close frame arrived.
type CloseState = Option<Option<(u16, String)>>;

struct Shared {
    auto_pong: AtomicBool,
    pings: AtomicUsize,
    paused: watch::Sender<bool>,
    closed: watch::Sender<CloseState>,
}

/// A simulated Unity client connected to the relay. Dropping it drops the TCP connection.
pub struct Headset {
    cmd_tx: mpsc::UnboundedSender<Cmd>,
    frames: Mutex<mpsc::UnboundedReceiver<Frame>>,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Headset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Headset")
            .field("local_addr", &self.local_addr)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Drop for Headset {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Outcome of waiting for a frame.
enum Next {
    Frame(Frame),
    Closed,
    TimedOut,
}

impl Headset {
    /// Connects to `ws://addr/` like Unity's WebSocketConnector.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Headset> {
        Self::connect_with(addr, HeadsetConfig::default()).await
    }

    /// Connects from a given source address (`127.0.0.2`, …), to look like another device.
    pub async fn connect_from(addr: SocketAddr, local_ip: IpAddr) -> anyhow::Result<Headset> {
        Self::connect_with(
            addr,
            HeadsetConfig {
                local_ip: Some(local_ip),
                ..HeadsetConfig::default()
            },
        )
        .await
    }

    /// Connects with explicit socket options.
    pub async fn connect_with(addr: SocketAddr, config: HeadsetConfig) -> anyhow::Result<Headset> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = config.local_ip {
            socket
                .bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("headset: cannot bind source address {ip}"))?;
        }
        if let Some(size) = config.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let stream = socket
            .connect(addr)
            .await
            .with_context(|| format!("headset: cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?;
        let url = format!("ws://{addr}{}", config.path);
        let (ws, _response) = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            tokio_tungstenite::client_async(url, stream),
        )
        .await
        .context("headset: WebSocket handshake timed out")?
        .context("headset: WebSocket handshake failed")?;

        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (frame_tx, frame_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            auto_pong: AtomicBool::new(true),
            pings: AtomicUsize::new(0),
            paused: watch::channel(false).0,
            closed: watch::channel(None).0,
        });
        let task = tokio::spawn(socket_task(ws, Arc::clone(&shared), cmd_rx, frame_tx));
        Ok(Headset {
            cmd_tx,
            frames: Mutex::new(frame_rx),
            shared,
            local_addr,
            task: Some(task),
        })
    }

    /// Registers like Unity on socket open: exactly `{"type":"connection","id":"<id>","heartbeat":"5000"}`.
    pub async fn register(&self, id: &str) -> anyhow::Result<()> {
        self.register_with_heartbeat(id, UNITY_HEARTBEAT).await
    }

    /// Registers with another heartbeat string (the relay must cope with `"0"`, garbage…).
    pub async fn register_with_heartbeat(&self, id: &str, heartbeat: &str) -> anyhow::Result<()> {
        self.send_text(&unity_json(&[
            ("type", "connection"),
            ("id", id),
            ("heartbeat", heartbeat),
        ]))
        .await
    }

    /// Sends an ask like Unity: `{"type":"ask","action":..,"args":"<unity_json(args)>",
    /// "agent":"simulation[0].unity_linker[0]"}`.
    pub async fn ask(&self, action: &str, args: &[(&str, &str)]) -> anyhow::Result<()> {
        let args = unity_json(args);
        self.send_text(&unity_json(&[
            ("type", "ask"),
            ("action", action),
            ("args", &args),
            ("agent", UNITY_ASK_AGENT),
        ]))
        .await
    }

    /// Sends `{"type":"expression","expr":..}` (Unity's `SendExecutableExpression`).
    pub async fn expression(&self, expr: &str) -> anyhow::Result<()> {
        self.send_text(&unity_json(&[("type", "expression"), ("expr", expr)]))
            .await
    }

    /// Unity's `DisconnectProperly`: `{"type":"disconnect_properly"}`, then a clean close (1000).
    pub async fn disconnect_properly(&self) -> anyhow::Result<()> {
        self.send_text(&unity_json(&[("type", "disconnect_properly")]))
            .await?;
        // The relay may close first (it is told the player leaves): that is the expected outcome.
        match self.close_with(1000, "").await {
            Err(e) => match self.wait_closed(Duration::from_secs(1)).await {
                Ok(_) => Ok(()),
                Err(_) => Err(e),
            },
            ok => ok,
        }
    }

    /// Sends Unity's `{"type":"pong"}` by hand (useful with auto-pong off).
    pub async fn pong(&self) -> anyhow::Result<()> {
        self.send_text(&unity_json(&[("type", "pong")])).await
    }

    /// Sends a raw text frame (bad-input tests).
    pub async fn send_text(&self, text: &str) -> anyhow::Result<()> {
        self.request(|done| Cmd::Send(Message::text(text.to_owned()), done))
            .await
    }

    /// Sends a binary frame (Unity never does; bad-input tests).
    pub async fn send_binary(&self, data: Vec<u8>) -> anyhow::Result<()> {
        self.request(|done| Cmd::Send(Message::binary(data), done))
            .await
    }

    async fn request(
        &self,
        cmd: impl FnOnce(oneshot::Sender<anyhow::Result<()>>) -> Cmd,
    ) -> anyhow::Result<()> {
        let (done_tx, done_rx) = oneshot::channel();
        self.cmd_tx
            .send(cmd(done_tx))
            .map_err(|_| anyhow!("headset: the connection is closed"))?;
        done_rx
            .await
            .map_err(|_| anyhow!("headset: the connection is closed"))?
    }

    async fn close_with(&self, code: u16, reason: &str) -> anyhow::Result<()> {
        self.request(|done| Cmd::Close(code, reason.to_owned(), done))
            .await
    }

    async fn next_frame(&self, timeout: Duration, accept: impl Fn(&Frame) -> bool) -> Next {
        let deadline = Instant::now() + timeout;
        let mut frames = self.frames.lock().await;
        loop {
            match tokio::time::timeout_at(deadline, frames.recv()).await {
                Ok(Some(frame)) if accept(&frame) => return Next::Frame(frame),
                Ok(Some(_)) => {}
                Ok(None) => return Next::Closed,
                Err(_) => return Next::TimedOut,
            }
        }
    }

    async fn expect_frame(
        &self,
        timeout: Duration,
        what: &str,
        accept: impl Fn(&Frame) -> bool,
    ) -> anyhow::Result<Frame> {
        match self.next_frame(timeout, accept).await {
            Next::Frame(f) => Ok(f),
            Next::Closed => bail!(
                "headset: connection closed ({:?}) while waiting for {what}",
                self.shared.closed.borrow().clone().flatten()
            ),
            Next::TimedOut => bail!("headset: no {what} within {timeout:?}"),
        }
    }

    /// The next text frame (application pings skipped) parsed as JSON.
    pub async fn recv(&self, timeout: Duration) -> anyhow::Result<Value> {
        let frame = self.expect_frame(timeout, "frame", |f| !f.is_ping).await?;
        frame
            .json
            .ok_or_else(|| anyhow!("headset: received a non-JSON frame: {}", frame.raw))
    }

    /// The next text frame (application pings skipped), exact text.
    pub async fn recv_raw(&self, timeout: Duration) -> anyhow::Result<String> {
        Ok(self
            .expect_frame(timeout, "frame", |f| !f.is_ping)
            .await?
            .raw)
    }

    /// Skips frames until one whose `type` is `ty` (use `"ping"` to wait for application pings).
    pub async fn recv_type(&self, ty: &str, timeout: Duration) -> anyhow::Result<Value> {
        let frame = self
            .expect_frame(timeout, &format!("\"{ty}\" frame"), |f| f.type_is(ty))
            .await?;
        frame
            .json
            .ok_or_else(|| anyhow!("headset: received a non-JSON frame: {}", frame.raw))
    }

    /// Skips frames until a `json_output`; returns its exact text and its parsed value.
    pub async fn recv_json_output(&self, timeout: Duration) -> anyhow::Result<(String, Value)> {
        let frame = self
            .expect_frame(timeout, "json_output frame", |f| f.type_is("json_output"))
            .await?;
        let json = frame
            .json
            .ok_or_else(|| anyhow!("headset: received a non-JSON frame: {}", frame.raw))?;
        Ok((frame.raw, json))
    }

    /// Fails if a frame other than an application ping arrives within `d`.
    pub async fn expect_silence(&self, d: Duration) -> anyhow::Result<()> {
        match self.next_frame(d, |f| !f.is_ping).await {
            Next::Frame(f) => bail!("headset: expected silence, received {}", f.raw),
            Next::Closed | Next::TimedOut => Ok(()),
        }
    }

    /// Unity answers `{"type":"ping"}` with exactly `{"type":"pong"}`; default on. Off models a
    /// stalled Unity main thread (pings counted but never answered).
    pub fn set_auto_pong(&self, on: bool) {
        self.shared.auto_pong.store(on, Ordering::SeqCst);
    }

    /// Stops (or resumes) reading the socket at all: nothing is received, nothing is answered,
    /// and the relay's writes eventually block (TCP backpressure).
    pub fn set_paused(&self, on: bool) {
        self.shared.paused.send_replace(on);
    }

    /// Application pings (`{"type":"ping"}`) received so far.
    pub fn pings_received(&self) -> usize {
        self.shared.pings.load(Ordering::SeqCst)
    }

    /// Waits until the connection ends. `Some((code, reason))` is the close frame the relay sent
    /// (`(1005, "")` for a close frame without status); `None` means the TCP connection ended
    /// without a close frame. A paused headset notices nothing until it is resumed.
    pub async fn wait_closed(&self, timeout: Duration) -> anyhow::Result<Option<(u16, String)>> {
        let mut rx = self.shared.closed.subscribe();
        let state = tokio::time::timeout(timeout, rx.wait_for(Option::is_some))
            .await
            .with_context(|| format!("headset: still connected after {timeout:?}"))?
            .map_err(|_| anyhow!("headset: socket task gone"))?
            .clone();
        Ok(state.flatten())
    }

    /// Whether the relay closed the connection (close frame received or TCP ended).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.borrow().is_some()
    }

    /// Closes cleanly (code 1000) and waits for the closing handshake (bounded).
    pub async fn close(mut self) -> anyhow::Result<()> {
        let result = self.close_with(1000, "").await;
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, task).await;
        }
        result
    }

    /// Drops the TCP connection without a close frame (Wi-Fi loss, Unity killed).
    pub fn abort(self) {
        drop(self);
    }

    /// Local (source) address of the connection, as the relay sees the peer.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Drops every frame received so far and says how many: a headset that runs for hours (the
    /// relay's demo) keeps its memory flat.
    pub async fn discard_received(&self) -> usize {
        let mut frames = self.frames.lock().await;
        let mut n = 0;
        while frames.try_recv().is_ok() {
            n += 1;
        }
        n
    }
}

/// Owns the socket: writes requested frames, reads (unless paused), answers application pings.
async fn socket_task(
    mut ws: WebSocketStream<TcpStream>,
    shared: Arc<Shared>,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    frame_tx: mpsc::UnboundedSender<Frame>,
) {
    let mut paused_rx = shared.paused.subscribe();
    let mut closing = false;
    let mut commands_open = true;
    loop {
        let paused = *paused_rx.borrow_and_update();
        tokio::select! {
            cmd = cmd_rx.recv(), if commands_open => match cmd {
                Some(Cmd::Send(msg, done)) => {
                    let r = ws.send(msg).await.map_err(|e| anyhow!("headset: send failed: {e}"));
                    let _ = done.send(r);
                }
                Some(Cmd::Close(code, reason, done)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let r = ws.close(Some(frame)).await.map_err(|e| anyhow!("headset: close failed: {e}"));
                    closing = true;
                    let _ = done.send(r);
                }
                // The Headset is gone (its Drop also aborts this task).
                None => commands_open = false,
            },
            _ = paused_rx.changed() => {}
            incoming = ws.next(), if !paused => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let raw = text.as_str().to_owned();
                    let json = serde_json::from_str::<Value>(&raw).ok();
                    let is_ping = json.as_ref().and_then(|v| v.get("type")).and_then(Value::as_str) == Some("ping");
                    if is_ping {
                        shared.pings.fetch_add(1, Ordering::SeqCst);
                        if shared.auto_pong.load(Ordering::SeqCst) && !closing {
                            let pong = unity_json(&[("type", "pong")]);
                            if ws.send(Message::text(pong)).await.is_err() {
                                break;
                            }
                        }
                    }
                    let _ = frame_tx.send(Frame { raw, json, is_ping });
                }
                Some(Ok(Message::Close(frame))) => {
                    let info = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    shared.closed.send_if_modified(|s| {
                        if s.is_none() {
                            *s = Some(Some(info));
                            true
                        } else {
                            false
                        }
                    });
                    if closing {
                        // Our close was answered: the closing handshake is complete.
                        break;
                    }
                    // tungstenite answers the relay's close frame; the stream ends on a later read.
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!("headset: read error: {e}");
                    break;
                }
                None => break,
            },
        }
    }
    shared.closed.send_if_modified(|s| {
        if s.is_none() {
            *s = Some(None);
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::unity_json;

    #[test]
    fn plain_pairs_are_compact_and_ordered() {
        assert_eq!(
            unity_json(&[
                ("type", "connection"),
                ("id", "Player_101"),
                ("heartbeat", "5000")
            ]),
            r#"{"type":"connection","id":"Player_101","heartbeat":"5000"}"#
        );
        assert_eq!(
            unity_json(&[("z", "1"), ("a", "2")]),
            r#"{"z":"1","a":"2"}"#
        );
        assert_eq!(unity_json(&[]), "{}");
    }

    #[test]
    fn nested_args_are_escaped_once_more() {
        let args = unity_json(&[("id", "Player_101"), ("x", "251234"), ("angle", "-900000")]);
        assert_eq!(
            unity_json(&[
                ("type", "ask"),
                ("action", "move_player_external"),
                ("args", &args)
            ]),
            r#"{"type":"ask","action":"move_player_external","args":"{\"id\":\"Player_101\",\"x\":\"251234\",\"angle\":\"-900000\"}"}"#
        );
    }

    #[test]
    fn newtonsoft_escapes() {
        assert_eq!(unity_json(&[("k", "a\"b\\c/d")]), r#"{"k":"a\"b\\c/d"}"#);
        assert_eq!(
            unity_json(&[("k", "\n\r\t\u{8}\u{c}")]),
            r#"{"k":"\n\r\t\b\f"}"#
        );
        assert_eq!(
            unity_json(&[("k", "\u{0}\u{1}\u{1f}\u{7f}")]),
            "{\"k\":\"\\u0000\\u0001\\u001f\u{7f}\"}"
        );
        // Non-ASCII stays raw, except the line terminators Newtonsoft always escapes.
        assert_eq!(unity_json(&[("k", "é€😀'<>&")]), "{\"k\":\"é€😀'<>&\"}");
        assert_eq!(
            unity_json(&[("k", "\u{85}\u{2028}\u{2029}")]),
            r#"{"k":"\u0085\u2028\u2029"}"#
        );
    }

    #[test]
    fn output_is_valid_json_with_the_same_strings() {
        let nasty = "q\"b\\s\u{1}\u{2028}é\n";
        let text = unity_json(&[("id", nasty)]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["id"], nasty);
    }
}
