//! A gama-server-compatible endpoint for Python tools (gama-client, gama-gymnasium) used beside a
//! running VR session: each tool must see GAMA as if it had it to itself.
//!
//! How depends on GAMA's server (protocol.md §3.3):
//!
//! * **gama-headless** keeps each socket's experiments apart, sends their status and output to
//!   that socket alone, and disposes of them when it closes. So each tool gets its own connection
//!   to GAMA ([`upstream`]): everything GAMA does for a client of its own, it does for the tool,
//!   and the relay's session runs beside it untouched.
//! * **GAMA's desktop server** has one experiment and sends status and output only to its newest
//!   socket: a second connection would take the stream from the headsets. So a tool's commands
//!   go over the relay's connection ([`crate::gama::GamaLink::forward_client`]). A tool that
//!   loads a model replaces the session's experiment: the session ends, and GAMA's messages go to
//!   that tool alone ([`crate::gama::ToolHold`]); its `load` is answered once the experiment can
//!   take commands, as the relay's own launch waits ([`desktop`]).
//!
//! Either way a tool's commands wait for GAMA's answer as long as GAMA takes
//! (`passthrough.command_timeout_ms`, off by default), its answers echo exactly what it sent, and
//! `exit` is answered by the relay and not forwarded: GAMA also serves the session.

mod desktop;
mod tool;
mod upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use crate::config::{Config, GamaConfig, PassthroughConfig};
use crate::control::audit::Audit;
use crate::gama::GamaLink;
use crate::protocol::Frame;
use crate::server::access::{Guesses, same_token};
use crate::server::listen::{self, Listener};

/// Frames waiting for one tool; a tool that lets them pile up is disconnected.
const CLIENT_QUEUE: usize = 4096;

/// The connected tools, by connection number: where the messages of a tool's experiment go.
#[derive(Debug, Default)]
pub struct Tools {
    clients: DashMap<u64, Client>,
}

impl Tools {
    /// Hands a message of GAMA to tool `tool`, if it is still connected.
    pub fn send_to(&self, tool: u64, frame: &Frame) {
        if let Some(client) = self.clients.get(&tool) {
            client.send(Message::Text(frame.clone()));
        }
    }
}

/// A tool's connection, as the rest of the endpoint writes to it.
#[derive(Debug, Clone)]
struct Client {
    tx: mpsc::Sender<Message>,
    closing: CancellationToken,
}

impl Client {
    /// Queues a frame; a tool that does not keep up is disconnected rather than slowing GAMA's
    /// reader.
    fn send(&self, message: Message) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(message) {
            warn!(
                "a tool connected to the gama-server endpoint does not read its messages; disconnecting it"
            );
            self.closing.cancel();
        }
    }

    fn send_text(&self, frame: Frame) {
        self.send(Message::Text(frame));
    }
}

/// The settings a tool's connection follows.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[passthrough]`.
    pub passthrough: PassthroughConfig,
    /// `[gama]`: where GAMA is, for the tools' own connections to gama-headless.
    pub gama: GamaConfig,
}

impl Settings {
    /// How long a tool's command waits for GAMA's answer; `None`: as long as GAMA takes.
    fn command_timeout(&self) -> Option<Duration> {
        let ms = self.passthrough.command_timeout_ms;
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// How long a desktop `load`'s answer waits for the experiment to be ready.
    fn load_ready(&self) -> Duration {
        Duration::from_millis(self.passthrough.load_ready_ms)
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
    /// The settings.
    pub settings: Arc<Settings>,
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
                tool::run(ws, id, peer, endpoint).await;
            }
            .instrument(info_span!("tool", %peer, id)),
        );
    });
}

/// The token in a handshake: `?token=` in its URL, or `Authorization: Bearer`.
pub(crate) fn token_of(request: &Request) -> Option<String> {
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
