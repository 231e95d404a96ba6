//! A gama-server-compatible endpoint for Python tools (gama-client, gama-gymnasium) attached to a
//! running VR session.
//!
//! GAMA's desktop server sends simulation output only to its most recent client (protocol.md
//! §3.3): a researcher connecting a tool to GAMA directly would steal the stream from the headsets.
//! Connected here instead, a tool is greeted like gama-server greets it (`ConnectionSuccessful`),
//! its commands travel on the relay's single GAMA connection with its own fields (`api_id`,
//! additional data) echoed back to it alone, and it receives GAMA's status and output messages too.
//! `exit` is answered by the relay and not forwarded: GAMA also serves the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::access::{Guesses, same_token};
use crate::audit::{Audit, Via, tool_command};
use crate::config::Config;
use crate::gama::{ClientReply, GamaLink};
use crate::listen::{self, Listener};
use crate::protocol::Frame;
use crate::said::Said;

/// Frames waiting for one tool; a tool that lets them pile up is disconnected.
const CLIENT_QUEUE: usize = 4096;

/// The connected tools, to which GAMA's unsolicited messages are copied.
#[derive(Debug, Default)]
pub struct Tools {
    clients: DashMap<u64, Client>,
}

#[derive(Debug, Clone)]
struct Client {
    tx: mpsc::Sender<Frame>,
    closing: CancellationToken,
}

impl Client {
    /// Queues a frame; a tool that does not keep up is disconnected rather than slowing GAMA's
    /// reader.
    fn send(&self, frame: Frame) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(frame) {
            warn!(
                "a tool connected to the gama-server endpoint does not read its messages; disconnecting it"
            );
            self.closing.cancel();
        }
    }
}

impl Tools {
    /// Copies a GAMA message to every tool.
    pub fn broadcast(&self, frame: &Frame) {
        for client in self.clients.iter() {
            client.send(frame.clone());
        }
    }

    /// Whether no tool is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// What a tool's connection reaches.
#[derive(Clone)]
pub struct Endpoint {
    /// The connected tools.
    pub tools: Arc<Tools>,
    /// GAMA, through the relay's connection.
    pub gama: GamaLink,
    /// Where changes the tools make are written down.
    pub audit: Audit,
    /// The token a tool must give (`?token=` or `Authorization: Bearer`), when the endpoint is
    /// reachable from the network.
    pub token: Option<Arc<str>>,
    /// Wrong tokens, per source.
    pub guesses: Guesses,
    /// Ends every connection.
    pub shutdown: CancellationToken,
    /// Every task runs under it.
    pub tracker: TaskTracker,
}

/// Accepts tools on `listener` until shutdown.
pub fn serve(listener: tokio::net::TcpListener, config: &Config, endpoint: Endpoint) {
    let max = config.passthrough.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let serials = AtomicU64::new(1);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.gama.max_message_bytes))
        .max_frame_size(Some(config.gama.max_message_bytes));
    let (shutdown, tracker) = (endpoint.shutdown.clone(), endpoint.tracker.clone());
    let listener = Listener {
        socket: listener,
        what: "tool",
        per_second: None,
    };
    listen::spawn(listener, shutdown, &tracker, move |stream, peer| {
        let id = serials.fetch_add(1, Ordering::Relaxed);
        let permit = slots.clone().try_acquire_owned().ok();
        let endpoint = endpoint.clone();
        endpoint.tracker.clone().spawn(
            async move {
                // The token, if the tool gave one, from the handshake's URL or headers.
                let mut given = None;
                // tungstenite's callback type: its error is the HTTP answer, big by nature.
                #[allow(clippy::result_large_err)]
                let read_token = |request: &Request, response| {
                    given = token_of(request);
                    Ok(response)
                };
                let Ok(Ok(ws)) = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio_tungstenite::accept_hdr_async_with_config(
                        stream,
                        read_token,
                        Some(ws_config),
                    ),
                )
                .await
                else {
                    debug!("WebSocket handshake failed");
                    return;
                };
                if let Some(token) = &endpoint.token {
                    if !given.as_deref().is_some_and(|g| same_token(g, token)) {
                        let wait = endpoint.guesses.failed(peer.ip(), "the tool endpoint");
                        tokio::time::sleep(wait).await;
                        let reason =
                            "this endpoint needs the relay's token: ws://host:port/?token=…";
                        return listen::refuse(ws, CloseCode::Policy, reason).await;
                    }
                    endpoint.guesses.succeeded(peer.ip());
                }
                let Some(_permit) = permit else {
                    warn!(
                        max,
                        "too many tools connected (passthrough.max_connections)"
                    );
                    return listen::refuse(ws, CloseCode::Again, "too many tools connected").await;
                };
                run(ws, id, peer, endpoint).await;
            }
            .instrument(info_span!("tool", %peer, id)),
        );
    });
}

async fn run(
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    id: u64,
    peer: SocketAddr,
    endpoint: Endpoint,
) {
    info!("a tool connected to the gama-server endpoint");
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Frame>(CLIENT_QUEUE);
    let closing = CancellationToken::new();
    let client = Client {
        tx,
        closing: closing.clone(),
    };
    // As gama-server does: the socket's id first (gama-client requires it).
    client.send(Frame::from(format!(
        r#"{{"type":"ConnectionSuccessful","content":"{id}"}}"#
    )));
    endpoint.tools.clients.insert(id, client.clone());
    let reply = {
        let client = client.clone();
        ClientReply(Arc::new(move |frame| client.send(frame)))
    };
    let writer_closing = closing.clone();
    let writer = endpoint.tracker.spawn(
        async move {
            loop {
                let frame = tokio::select! {
                    () = writer_closing.cancelled() => break,
                    f = rx.recv() => match f { Some(f) => f, None => break },
                };
                if sink.send(Message::Text(frame)).await.is_err() {
                    break;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
        .in_current_span(),
    );
    loop {
        let frame = tokio::select! {
            () = endpoint.shutdown.cancelled() => break,
            () = closing.cancelled() => break,
            f = stream.next() => f,
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                command(&endpoint, peer, &client, &reply, text.as_str())
            }
            Some(Ok(Message::Binary(_))) => debug!("a tool sent a binary frame; ignored"),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    endpoint.tools.clients.remove(&id);
    closing.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    info!(%peer, "a tool left the gama-server endpoint");
}

/// The token in a handshake: `?token=` in its URL, or `Authorization: Bearer`.
fn token_of(request: &Request) -> Option<String> {
    let from_query = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_string)
    });
    from_query.or_else(|| {
        let value = request.headers().get("authorization")?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    })
}

/// The commands of a tool that change the experiment: written down in the audit trail with GAMA's
/// answer.
const CHANGES: &[&str] = &[
    "load", "play", "pause", "step", "stepBack", "reload", "stop",
];

/// Forwards one command, or answers it as gama-server would when it cannot be forwarded.
fn command(
    endpoint: &Endpoint,
    peer: SocketAddr,
    client: &Client,
    reply: &ClientReply,
    text: &str,
) {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let head = match serde_json::from_str::<Head<'_>>(text) {
        Ok(h) if text.trim_start().starts_with('{') => h,
        Ok(_) => return malformed(client, "a command must be a JSON object"),
        Err(e) => return malformed(client, &e.to_string()),
    };
    let echo = Frame::from(text.trim().to_string());
    let kind = head.kind.as_deref().unwrap_or_default();
    if kind == "exit" {
        let why = "the relay does not forward exit: GAMA also serves the VR session";
        let refused = Said::new("exit_not_forwarded", [], why);
        endpoint
            .audit
            .record(peer.ip(), Via::Tool, tool_command("exit"), Err(refused));
        reply.error(&echo, "UnableToExecuteRequest", why);
        return;
    }
    let reply = if CHANGES.contains(&kind) {
        audited(endpoint, peer, kind, reply)
    } else {
        reply.clone()
    };
    if let Err(e) = endpoint.gama.forward_client(text, reply.clone()) {
        reply.error(&echo, "UnableToExecuteRequest", &e.to_string());
    }
}

/// `reply`, writing down in the audit trail how the command `kind` went before passing the answer on.
fn audited(endpoint: &Endpoint, peer: SocketAddr, kind: &str, reply: &ClientReply) -> ClientReply {
    let (audit, inner, action) = (endpoint.audit.clone(), reply.clone(), tool_command(kind));
    let once = std::sync::Once::new();
    ClientReply(Arc::new(move |frame: Frame| {
        once.call_once(|| {
            let gama_said =
                |message: String| Said::new("gama_said", [("message", json!(message))], message);
            let outcome = match crate::protocol::gama::Envelope::parse(frame.as_str()) {
                Ok(e) if e.message_type().is_command_failure() => {
                    Err(gama_said(e.content_message()))
                }
                Ok(_) => Ok(()),
                Err(e) => Err(gama_said(e.to_string())),
            };
            audit.record(peer.ip(), Via::Tool, action.clone(), outcome);
        });
        (inner.0)(frame);
    }))
}

/// gama-server's answer to unreadable JSON: no `command`, since there is none to echo.
fn malformed(client: &Client, message: &str) {
    let mut out = b"{\"type\":\"MalformedRequest\",\"content\":".to_vec();
    crate::json::write_str(&mut out, message);
    out.push(b'}');
    client.send(crate::protocol::frame_from_vec(out));
}
