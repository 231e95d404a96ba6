//! One tool's connection: its greeting, each command to the right GAMA connection (its own on
//! gama-headless, the relay's on the desktop server), what it changed written down, and what its
//! leaving means for its experiments.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, warn};

use super::upstream::Upstream;
use super::{CLIENT_QUEUE, Client, Endpoint, desktop};
use crate::control::audit::{Via, tool_command};
use crate::control::said::{Code, Said};
use crate::gama::{ClientReply, GamaError, ServerMode};
use crate::protocol::Frame;
use crate::protocol::gama::Envelope;

/// Longest wait for one write to a tool.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The commands of a tool that change an experiment: written down in the audit trail with GAMA's
/// answer.
const CHANGES: &[&str] = &[
    "load", "play", "pause", "step", "stepBack", "reload", "stop",
];

/// A tool while it is connected.
struct Tool {
    id: u64,
    peer: SocketAddr,
    endpoint: Endpoint,
    client: Client,
    /// The socket id the tool was greeted with.
    greeted: String,
    /// Its own connection to gama-headless, once it has one.
    upstream: Option<Upstream>,
    /// gama-headless: the experiments it loaded and did not stop.
    loaded: Arc<Mutex<BTreeSet<String>>>,
}

/// Serves one tool until it leaves, GAMA's side of it closes, or the relay stops.
pub(super) async fn run(
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    id: u64,
    peer: SocketAddr,
    endpoint: Endpoint,
) {
    info!("a tool connected to the gama-server endpoint");
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(CLIENT_QUEUE);
    let closing = CancellationToken::new();
    let client = Client {
        tx,
        closing: closing.clone(),
    };
    let writer_closing = closing.clone();
    // What is queued goes out before the connection closes (GAMA's own close frame, last), each
    // write within WRITE_TIMEOUT: a tool that stops reading is let go.
    let writer = endpoint.tracker.spawn(
        async move {
            loop {
                let message = tokio::select! {
                    biased;
                    m = rx.recv() => match m { Some(m) => m, None => break },
                    () = writer_closing.cancelled() => break,
                };
                let last = matches!(message, Message::Close(_));
                match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
                    Ok(Ok(())) if !last => {}
                    _ => return,
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        }
        .in_current_span(),
    );

    let mut tool = Tool {
        id,
        peer,
        client: client.clone(),
        greeted: id.to_string(),
        upstream: None,
        loaded: Arc::default(),
        endpoint,
    };
    // On gama-headless the tool gets its own connection at once, and GAMA's own greeting (the
    // socket id it knows that connection by, which a tool may put in `socket_id`).
    let greeting = match tool.open_upstream_if_headless().await {
        Some(hello) => hello,
        // As gama-server does: the socket's id first (gama-client requires it).
        None => Frame::from(format!(
            r#"{{"type":"ConnectionSuccessful","content":"{id}"}}"#
        )),
    };
    client.send_text(greeting);
    tool.endpoint.tools.clients.insert(id, client);
    loop {
        let gone = tool
            .upstream
            .as_ref()
            .map_or_else(CancellationToken::new, |u| u.done.clone());
        let frame = tokio::select! {
            () = tool.endpoint.shutdown.cancelled() => break,
            () = closing.cancelled() => break,
            () = gone.cancelled() => break,
            f = stream.next() => f,
        };
        match frame {
            Some(Ok(Message::Text(text))) => tool.command(text.as_str()).await,
            Some(Ok(Message::Binary(_))) => debug!("a tool sent a binary frame; ignored"),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    tool.endpoint.tools.clients.remove(&id);
    tool.leave().await;
    closing.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    info!(%peer, "a tool left the gama-server endpoint");
}

impl Tool {
    /// Opens the tool's own connection when GAMA is gama-headless; returns GAMA's greeting.
    async fn open_upstream_if_headless(&mut self) -> Option<Frame> {
        if self.endpoint.gama.status().mode != Some(ServerMode::Headless) || self.upstream.is_some()
        {
            return None;
        }
        match Upstream::open(&self.endpoint, self.id, self.client.clone()).await {
            Ok((upstream, hello)) => {
                debug!(socket = %upstream.socket_id, "the tool has its own connection to gama-headless");
                self.upstream = Some(upstream);
                Some(hello)
            }
            Err(e) => {
                warn!("cannot open a connection to GAMA for a tool: {e}");
                None
            }
        }
    }

    /// Forwards one command, or answers it as gama-server would when it cannot be forwarded.
    async fn command(&mut self, text: &str) {
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(rename = "type", borrow, default)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        let head = match serde_json::from_str::<Head<'_>>(text) {
            Ok(h) if text.trim_start().starts_with('{') => h,
            Ok(_) => return self.malformed("a command must be a JSON object"),
            Err(e) => return self.malformed(&e.to_string()),
        };
        let echo = Frame::from(text.trim().to_string());
        let kind = head.kind.as_deref().unwrap_or_default();
        let reply = self.reply();
        if kind == "exit" {
            let why = "the relay does not forward exit: GAMA also serves the VR session";
            let refused = Said::new(Code::ExitNotForwarded, [], why);
            self.endpoint.audit.record(
                self.peer.ip(),
                Via::Tool,
                tool_command("exit"),
                Err(refused),
            );
            reply.error(&echo, "UnableToExecuteRequest", why);
            return;
        }
        let reply = if CHANGES.contains(&kind) {
            self.audited(kind, text, reply)
        } else {
            reply
        };
        let timeout = self.endpoint.settings.command_timeout();
        // GAMA may have come back, or changed, since the tool connected.
        let mode = self.endpoint.gama.status().mode;
        let sent = match mode {
            Some(ServerMode::Headless) => {
                self.open_upstream_if_headless().await;
                match &self.upstream {
                    Some(upstream) => upstream.forward(text, &self.greeted, reply.clone(), timeout),
                    None => Err(GamaError::NotConnected),
                }
            }
            _ => {
                let reply = if kind == "load" && mode == Some(ServerMode::Desktop) {
                    desktop::answer_when_ready(
                        &self.endpoint,
                        self.id,
                        self.peer,
                        text,
                        reply.clone(),
                    )
                } else {
                    reply.clone()
                };
                self.endpoint
                    .gama
                    .forward_client(self.id, text, reply, timeout)
            }
        };
        if let Err(e) = sent {
            reply.error(&echo, "UnableToExecuteRequest", &e.to_string());
        }
    }

    /// Where GAMA's answers to this tool go.
    fn reply(&self) -> ClientReply {
        let client = self.client.clone();
        ClientReply(Arc::new(move |frame| client.send_text(frame)))
    }

    /// `reply`, writing down in the audit trail how the command `kind` went before passing the
    /// answer on (and, on gama-headless, which experiments the tool has loaded).
    fn audited(&self, kind: &str, text: &str, reply: ClientReply) -> ClientReply {
        let (audit, source) = (self.endpoint.audit.clone(), self.peer.ip());
        let action = match (kind, model_of(text)) {
            ("load", Some(model)) => Said::new(
                Code::Tool,
                [("command", json!(kind)), ("model", json!(model))],
                format!("load {model}"),
            ),
            _ => tool_command(kind),
        };
        let (kind, exp_id) = (kind.to_string(), field_of(text, "exp_id"));
        let loaded = self.loaded.clone();
        let once = std::sync::Once::new();
        ClientReply(Arc::new(move |frame: Frame| {
            once.call_once(|| {
                let gama_said = |message: String| {
                    Said::new(Code::GamaSaid, [("message", json!(message))], message)
                };
                let outcome = match Envelope::parse(frame.as_str()) {
                    Ok(e) if e.message_type().is_command_failure() => {
                        Err(gama_said(e.content_message()))
                    }
                    Ok(e) => {
                        let mut loaded = loaded.lock();
                        match kind.as_str() {
                            "load" => {
                                loaded.extend(e.content_str().map(|c| c.into_owned()));
                            }
                            "stop" => {
                                exp_id.iter().for_each(|id| {
                                    loaded.remove(id);
                                });
                            }
                            _ => {}
                        }
                        Ok(())
                    }
                    Err(e) => Err(gama_said(e.to_string())),
                };
                audit.record(source, Via::Tool, action.clone(), outcome);
            });
            (reply.0)(frame);
        }))
    }

    /// gama-server's answer to unreadable JSON: no `command`, since there is none to echo.
    fn malformed(&self, message: &str) {
        let mut out = b"{\"type\":\"MalformedRequest\",\"content\":".to_vec();
        crate::protocol::json::write_str(&mut out, message);
        out.push(b'}');
        self.client.send_text(crate::protocol::frame_from_vec(out));
    }

    /// The tool is gone: GAMA does with its experiments what it does when a client of its own
    /// leaves, and the audit trail says what became of them.
    async fn leave(&mut self) {
        let source = self.peer.ip();
        if let Some(upstream) = self.upstream.take() {
            // gama-headless disposes of the experiments of a socket that closes.
            upstream.close().await;
            let experiments: Vec<String> = std::mem::take(&mut *self.loaded.lock())
                .into_iter()
                .collect();
            if !experiments.is_empty() {
                let list = experiments.join(", ");
                info!(experiments = %list, "the tool left; gama-headless closes its experiments");
                let said = Said::new(
                    Code::ToolLeft,
                    [("experiments", json!(experiments))],
                    format!("a tool left; GAMA closed its experiments {list}"),
                );
                self.endpoint.audit.record(source, Via::Tool, said, Ok(()));
            }
        }
        // Desktop GAMA keeps the experiment of a client that leaves.
        if let Some(hold) = self.endpoint.gama.tool_left(self.id) {
            info!(model = %hold.model, "the tool left; desktop GAMA keeps its experiment open");
            let said = Said::new(
                Code::ToolLeftKept,
                [
                    ("experiment", json!(hold.experiment)),
                    ("model", json!(hold.model)),
                ],
                format!(
                    "a tool left; desktop GAMA keeps its experiment {} ({}) open",
                    hold.experiment, hold.model
                ),
            );
            self.endpoint.audit.record(source, Via::Tool, said, Ok(()));
        }
    }
}

/// A string field of a command, if it has one.
pub(super) fn field_of(text: &str, field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    match value.get(field)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The model a `load` names.
fn model_of(text: &str) -> Option<String> {
    field_of(text, "model")
}
