//! A tool's own connection to gama-headless: everything GAMA sends on it goes to the tool as it
//! is, every command of the tool goes on it, and closing it is what makes gama-headless dispose
//! of the tool's experiments (protocol.md §3.3).
//!
//! Each command carries the relay's correlation field, as on the relay's own connection, so that
//! its answer can be written down in the audit trail and, when `passthrough.command_timeout_ms`
//! is set, answered by the relay if GAMA takes longer. The answer the tool gets echoes exactly
//! what it sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info};

use super::{Client, Endpoint};
use crate::config::GamaConfig;
use crate::gama::{ClientReply, Entry, GamaError, Pending, Waiter};
use crate::protocol::Frame;
use crate::protocol::command::{Command, CommandKind};
use crate::protocol::gama::Envelope;

/// A tool's connection to gama-headless.
type GamaSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Why a tool's connection to GAMA could not be opened.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    /// The connection failed or took too long.
    #[error("cannot connect to GAMA at {address}: {reason}")]
    Connect {
        /// GAMA's address.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// GAMA's first message was not its greeting.
    #[error("GAMA did not greet the connection (first message: {0})")]
    NoGreeting(String),
}

/// The tool's end of its connection to GAMA.
pub(super) struct Upstream {
    tx: mpsc::Sender<Message>,
    pending: Arc<Pending>,
    seq: AtomicU64,
    /// The id gama-headless knows this connection by.
    pub(super) socket_id: String,
    /// Cancelled when GAMA's side of it has closed.
    pub(super) done: CancellationToken,
    tool: u64,
}

impl Upstream {
    /// Connects to GAMA for tool `tool`, whose frames go to `client`. Returns GAMA's greeting too.
    pub(super) async fn open(
        endpoint: &Endpoint,
        tool: u64,
        client: Client,
    ) -> Result<(Upstream, Frame), OpenError> {
        let gama = &endpoint.settings.gama;
        let (sink, mut stream) = connect(gama).await?.split();
        let (greeting, socket_id) = greeting(&mut stream, gama.connect_timeout_ms).await?;
        let pending = Arc::new(Pending::new(gama.max_in_flight));
        let done = CancellationToken::new();
        let (tx, rx) = mpsc::channel::<Message>(gama.max_in_flight + 16);
        let writer = write_commands(sink, rx, gama.command_timeout(), done.clone());
        endpoint.tracker.spawn(writer.in_current_span());
        let reader = Reader {
            pending: pending.clone(),
            client,
            done: done.clone(),
            sweep: endpoint.settings.command_timeout().map(sweep_period),
        };
        let shutdown = endpoint.shutdown.clone();
        endpoint
            .tracker
            .spawn(reader.run(stream, shutdown).in_current_span());
        Ok((
            Upstream {
                tx,
                pending,
                seq: AtomicU64::new(1),
                socket_id,
                done,
                tool,
            },
            greeting,
        ))
    }

    /// Sends a tool's command (the JSON text it sent); GAMA's answer goes to `reply`, at most
    /// `timeout` from now (`None`: whenever it comes). A `socket_id` naming the connection the
    /// tool was `greeted` as is this connection's.
    pub(super) fn forward(
        &self,
        text: &str,
        greeted: &str,
        reply: ClientReply,
        timeout: Option<Duration>,
    ) -> Result<(), GamaError> {
        let rewritten = (greeted != self.socket_id)
            .then(|| with_socket_id(text, greeted, &self.socket_id))
            .flatten();
        let cmd = Command::client(rewritten.as_deref().unwrap_or(text)).ok_or_else(|| {
            GamaError::Rejected {
                command: CommandKind::Client,
                kind: "MalformedRequest".into(),
                message: "a command must be a JSON object".into(),
            }
        })?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let timeout = timeout.unwrap_or(crate::gama::FOREVER);
        self.pending.insert(
            seq,
            Entry {
                kind: CommandKind::Client,
                experiment: None,
                sent: now,
                deadline: now + timeout,
                timeout,
                record_failure: false,
                waiter: Waiter::Client {
                    tool: self.tool,
                    reply,
                    command: Frame::from(text.trim().to_string()),
                },
            },
        )?;
        self.tx
            .try_send(Message::text(cmd.finish(seq)))
            .map_err(|e| {
                self.pending.take(seq);
                match e {
                    mpsc::error::TrySendError::Full(_) => GamaError::Busy(self.pending.len()),
                    mpsc::error::TrySendError::Closed(_) => GamaError::NotConnected,
                }
            })
    }

    /// Closes the connection (GAMA then disposes of the tool's experiments), waiting at most a
    /// second for it to go out.
    pub(super) async fn close(self) {
        let _ = self.tx.try_send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })));
        let _ = tokio::time::timeout(Duration::from_secs(1), self.done.cancelled()).await;
        self.done.cancel();
    }
}

/// The WebSocket connection to gama-headless, within `gama.connect_timeout_ms`.
async fn connect(gama: &GamaConfig) -> Result<GamaSocket, OpenError> {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(gama.max_message_bytes))
        .max_frame_size(Some(gama.max_message_bytes));
    let connect = tokio_tungstenite::connect_async_with_config(gama.url(), Some(ws_config), true);
    let failed = |reason: String| OpenError::Connect {
        address: gama.address(),
        reason,
    };
    let (ws, _) = tokio::time::timeout(Duration::from_millis(gama.connect_timeout_ms), connect)
        .await
        .map_err(|_| failed(format!("no answer within {} ms", gama.connect_timeout_ms)))?
        .map_err(|e| failed(e.to_string()))?;
    Ok(ws)
}

/// GAMA's greeting (`ConnectionSuccessful`), its first text message within `timeout_ms`, and the
/// id it gives the connection.
async fn greeting<S>(stream: &mut S, timeout_ms: u64) -> Result<(Frame, String), OpenError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let greeting = tokio::time::timeout(Duration::from_millis(timeout_ms), async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => return Some(text),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| OpenError::NoGreeting("none".into()))?;
    match Envelope::parse(greeting.as_str()) {
        Ok(e) if e.kind == "ConnectionSuccessful" => {
            let socket_id = e.content_message();
            Ok((greeting, socket_id))
        }
        _ => Err(OpenError::NoGreeting(crate::support::excerpt::truncate(
            &greeting, 80,
        ))),
    }
}

/// Writes the tool's commands (`rx`) to GAMA until a close frame goes out, a write fails or takes
/// longer than `timeout`, or `done`; then cancels `done`.
async fn write_commands<S>(
    mut sink: S,
    mut rx: mpsc::Receiver<Message>,
    timeout: Duration,
    done: CancellationToken,
) where
    S: futures_util::Sink<Message> + Unpin,
{
    loop {
        let message = tokio::select! {
            () = done.cancelled() => break,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        let last = matches!(message, Message::Close(_));
        match tokio::time::timeout(timeout, sink.send(message)).await {
            Ok(Ok(())) if !last => {}
            _ => break,
        }
    }
    done.cancel();
}

/// How often commands past their deadline are looked for.
fn sweep_period(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// `text` with its `socket_id` changed from `from` to `to`, if it names `from`.
fn with_socket_id(text: &str, from: &str, to: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = value.get_mut("socket_id")?;
    let names_from = match &*field {
        serde_json::Value::String(s) => s == from,
        serde_json::Value::Number(n) => from.parse::<u64>().is_ok_and(|f| n.as_u64() == Some(f)),
        _ => false,
    };
    if !names_from {
        return None;
    }
    *field = serde_json::Value::String(to.to_string());
    serde_json::to_string(&value).ok()
}

/// Reads what GAMA sends on a tool's connection.
struct Reader {
    pending: Arc<Pending>,
    client: Client,
    done: CancellationToken,
    sweep: Option<Duration>,
}

impl Reader {
    async fn run<S>(self, mut stream: S, shutdown: CancellationToken)
    where
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + Unpin,
    {
        let mut sweep = tokio::time::interval(self.sweep.unwrap_or(Duration::from_secs(3600)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let close = loop {
            tokio::select! {
                () = shutdown.cancelled() => break None,
                () = self.done.cancelled() => break None,
                _ = sweep.tick(), if self.sweep.is_some() => self.expire(),
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => self.gama_said(text),
                    Some(Ok(Message::Close(frame))) => break Some(frame),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        debug!("a tool's connection to GAMA failed: {e}");
                        break Some(None);
                    }
                    None => break Some(None),
                },
            }
        };
        // GAMA's side ended: the tool hears it as it would from GAMA itself.
        if let Some(frame) = close {
            info!("GAMA closed a tool's connection; closing the tool's");
            for entry in self.pending.drain() {
                if let Waiter::Client { reply, command, .. } = entry.waiter {
                    reply.error(&command, "GamaServerError", "GAMA closed the connection");
                }
            }
            let frame = frame.filter(|f| sendable(f.code)).unwrap_or(CloseFrame {
                code: CloseCode::Away,
                reason: "GAMA closed the connection".into(),
            });
            self.client.send(Message::Close(Some(frame)));
        }
        self.done.cancel();
    }

    /// A message from GAMA: an answer to one of the tool's commands, or anything else GAMA sends
    /// this connection (its experiments' status, output, errors), as it is.
    fn gama_said(&self, text: Frame) {
        // Only answers echo the relay's correlation field: anything else is passed on unread.
        if memchr::memmem::find(text.as_bytes(), b"\"relay_seq\"").is_some()
            && let Ok(envelope) = Envelope::parse(text.as_str())
            && let Some(entry) = envelope
                .correlation()
                .and_then(|seq| self.pending.take(seq))
            && let Waiter::Client { reply, command, .. } = entry.waiter
        {
            let answer = envelope
                .with_command(text.as_str(), command.as_str())
                .map_or_else(|| text.clone(), Frame::from);
            (reply.0)(answer);
            return;
        }
        self.client.send(Message::Text(text));
    }

    /// Answers the commands GAMA did not answer in time (`passthrough.command_timeout_ms`).
    fn expire(&self) {
        for entry in self.pending.expire(Instant::now()) {
            if let Waiter::Client { reply, command, .. } = entry.waiter {
                let error = GamaError::Timeout {
                    command: CommandKind::Client,
                    timeout: entry.timeout,
                };
                reply.error(&command, "UnableToExecuteRequest", &error.to_string());
            }
        }
    }
}

/// Whether a close code may be sent in a close frame (1005, 1006 and 1015 may not).
fn sendable(code: CloseCode) -> bool {
    !matches!(u16::from(code), 1005 | 1006 | 1015)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_id_naming_the_greeting_names_the_connection() {
        assert_eq!(
            with_socket_id(
                r#"{"type":"play","exp_id":"1","socket_id":"7"}"#,
                "7",
                "123"
            )
            .as_deref(),
            Some(r#"{"exp_id":"1","socket_id":"123","type":"play"}"#)
        );
        assert!(with_socket_id(r#"{"type":"play","socket_id":"8"}"#, "7", "123").is_none());
        assert!(with_socket_id(r#"{"type":"play"}"#, "7", "123").is_none());
    }
}
