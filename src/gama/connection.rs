//! The supervisor of the GAMA connection: connect with a deadline, probe the server, read frames,
//! and reconnect with capped, jittered backoff after any failure or close, clean or not. `messages`
//! says what the frames read mean.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::{
    ExperimentState, GamaError, GamaEvents, GamaLink, LinkState, Live, Pending, ServerMode, Waiter,
};
use crate::control::said::{Code, Said};
use crate::protocol::command::Command;
use crate::server::metrics::Metrics;
use crate::support::pace::Backoff;

mod messages;

/// Time between the two probes that tell a running experiment from a paused one.
const PROBE_GAP: Duration = Duration::from_millis(250);

/// Runs until `shutdown`: one connection at a time, reconnecting forever.
pub(super) async fn supervise(
    link: GamaLink,
    events: Arc<dyn GamaEvents>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let config = link.inner.config.clone();
    let address = config.address();
    let url = config.url();
    let mut backoff = Backoff::new(
        Duration::from_millis(config.reconnect_initial_ms),
        Duration::from_millis(config.reconnect_max_ms),
    );
    let mut outage_reported = false;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes));
    loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return,
            r = tokio::time::timeout(
                Duration::from_millis(config.connect_timeout_ms),
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_config), true),
            ) => r,
        };
        match attempt {
            Ok(Ok((ws, _response))) => {
                backoff.reset();
                if outage_reported {
                    info!(gama = %address, "GAMA is reachable again");
                }
                outage_reported = false;
                info!(gama = %address, "connected to GAMA");
                let reason = run_connection(&link, ws, events.as_ref(), &shutdown, &tracker).await;
                if shutdown.is_cancelled() {
                    return;
                }
                warn!(gama = %address, "lost the connection to GAMA ({reason}); reconnecting");
                link.update(|s| s.set_link(LinkState::Retrying, Some(reason)));
            }
            failure => {
                let reason = match failure {
                    Ok(Err(e)) => describe_connect_error(&e, &config.host, config.port),
                    _ => Said::new(
                        Code::NoAnswer,
                        [("ms", json!(config.connect_timeout_ms))],
                        format!(
                            "no answer within {} ms (is a firewall dropping the connection?)",
                            config.connect_timeout_ms
                        ),
                    ),
                };
                if outage_reported {
                    debug!(gama = %address, %reason, "GAMA still unreachable");
                } else {
                    warn!("GAMA unreachable at {address}: {reason}; retrying in the background");
                    outage_reported = true;
                }
                link.update(|s| s.set_link(LinkState::Unreachable, Some(reason)));
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Plain words for a failed connection attempt.
fn describe_connect_error(e: &tungstenite::Error, host: &str, port: u16) -> Said {
    use std::io::ErrorKind;
    match e {
        tungstenite::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => Said::new(
                Code::ConnectionRefused,
                [("port", json!(port))],
                format!(
                    "connection refused: nothing listens on port {port} (is GAMA running with its server enabled?)"
                ),
            ),
            ErrorKind::TimedOut => Said::new(Code::TimedOut, [], "the connection timed out"),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Said::new(
                Code::Reset,
                [],
                "the connection was reset during the handshake",
            ),
            _ if io.to_string().contains("lookup") || io.to_string().contains("resolve") => {
                Said::new(
                    Code::UnknownHost,
                    [("host", json!(host))],
                    format!("cannot resolve the host name `{host}`"),
                )
            }
            _ => other_error(io),
        },
        tungstenite::Error::Http(response) => Said::new(
            Code::NotWebsocket,
            [
                ("port", json!(port)),
                ("status", json!(response.status().as_u16())),
            ],
            format!(
                "port {port} answered HTTP {} instead of a WebSocket upgrade: is that GAMA's server port?",
                response.status()
            ),
        ),
        other => other_error(other),
    }
}

/// An error the relay has no words of its own for: the system's, as they are.
fn other_error(e: &dyn std::fmt::Display) -> Said {
    let message = e.to_string();
    Said::new(Code::Other, [("message", json!(message))], message)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves one connection until it ends; returns why it ended.
async fn run_connection(
    link: &GamaLink,
    ws: Ws,
    events: &dyn GamaEvents,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Said {
    let config = &link.inner.config;
    let (sink, mut stream) = ws.split();
    let (tx, rx) = mpsc::channel::<Message>(config.max_in_flight + 16);
    let pending = attach(link, tx);
    let metrics = link.inner.metrics.clone();
    metrics.gama_connections.inc();
    let conn_done = CancellationToken::new();
    let mut writer = tracker.spawn(write_loop(
        sink,
        rx,
        config.command_timeout(),
        metrics,
        conn_done.clone(),
    ));
    let probe_link = link.clone();
    let probe_done = conn_done.clone();
    tracker.spawn(async move {
        tokio::select! {
            () = probe_done.cancelled() => {}
            () = probe(&probe_link) => {}
        }
    });

    let sweep_every =
        (config.command_timeout() / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reason = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Said::new(Code::ShuttingDown, [], "relay shutting down"),
            r = &mut writer => break r.unwrap_or_else(|e| other_error(&e)),
            _ = sweep.tick() => expire(&pending, events, &link.inner.metrics),
            frame = stream.next() => {
                if let Some(reason) = take_frame(link, &pending, events, frame) {
                    break reason;
                }
            }
        }
    };
    conn_done.cancel();
    // Give the writer a moment to send the close frame, then forget this connection: dropping the
    // pending table tells every waiter the connection is gone.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    detach(link, pending, &reason);
    reason
}

/// Makes a new connection the live one: commands go to `tx`, their replies are awaited in the
/// returned table.
fn attach(link: &GamaLink, tx: mpsc::Sender<Message>) -> Arc<Pending> {
    let pending = Arc::new(Pending::new(link.inner.config.max_in_flight));
    *link.inner.live.lock() = Some(Live {
        tx,
        pending: pending.clone(),
    });
    link.update(|s| {
        s.set_link(LinkState::Connected, None);
        s.connections += 1;
        // Until the probe says otherwise: a new socket has no experiment of ours (headless) or has
        // not been told the state yet (desktop).
        s.set_experiment(ExperimentState::None);
        s.mode = None;
    });
    pending
}

/// Forgets the connection that ended for `reason`, and what GAMA's experiment was.
fn detach(link: &GamaLink, pending: Arc<Pending>, reason: &Said) {
    *link.inner.live.lock() = None;
    // Tools connected through the relay hear it from the relay; the relay's own waiters see the
    // senders dropped.
    for entry in pending.drain() {
        if let Waiter::Client { reply, command, .. } = entry.waiter {
            reply.error(
                &command,
                "GamaServerError",
                &format!("the relay lost its connection to GAMA ({reason})"),
            );
        }
    }
    drop(pending);
    link.update(|s| {
        s.set_experiment(ExperimentState::None);
        s.mode = None;
        s.exp_id = None;
        s.tool_hold = None;
    });
}

/// Writes the queued commands until the connection is done; returns why writing ended.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<Ws, Message>,
    mut rx: mpsc::Receiver<Message>,
    write_timeout: Duration,
    metrics: Arc<Metrics>,
    done: CancellationToken,
) -> Said {
    // Everything queued goes out in one write: fifty asks a second per headset are not fifty
    // system calls.
    let mut batch = Vec::with_capacity(64);
    loop {
        let received = tokio::select! {
            () = done.cancelled() => break,
            n = rx.recv_many(&mut batch, 256) => n,
        };
        if received == 0 {
            break;
        }
        let bytes: u64 = batch.iter().map(|m| m.len() as u64).sum();
        let write = async {
            for msg in batch.drain(..) {
                sink.feed(msg).await?;
            }
            sink.flush().await
        };
        match tokio::time::timeout(write_timeout, write).await {
            Ok(Ok(())) => {
                metrics.gama_messages_out.inc_by(received as u64);
                metrics.gama_bytes_out.inc_by(bytes);
            }
            Ok(Err(e)) => {
                return Said::new(
                    Code::WriteFailed,
                    [("message", json!(e.to_string()))],
                    format!("writing to GAMA failed: {e}"),
                );
            }
            Err(_) => {
                return Said::new(
                    Code::StoppedReading,
                    [],
                    "GAMA stopped reading our messages",
                );
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    Said::new(Code::Closed, [], "the relay closed the connection")
}

/// Takes what the connection read; returns why the connection ends, if it does.
fn take_frame(
    link: &GamaLink,
    pending: &Pending,
    events: &dyn GamaEvents,
    frame: Option<Result<Message, tungstenite::Error>>,
) -> Option<Said> {
    match frame {
        Some(Ok(Message::Text(text))) => {
            link.inner.metrics.gama_messages_in.inc();
            link.inner.metrics.gama_bytes_in.inc_by(text.len() as u64);
            messages::handle_frame(link, pending, events, &text);
            None
        }
        Some(Ok(Message::Binary(b))) => {
            if messages::UNREADABLE.check().is_some() {
                warn!(
                    bytes = b.len(),
                    "GAMA sent a binary frame; gama-server only sends text, ignored"
                );
            }
            None
        }
        Some(Ok(Message::Close(frame))) => {
            let (code, why) = frame.map_or((None, String::new()), |f| {
                (Some(u16::from(f.code)), f.reason.to_string())
            });
            let text = match (code, why.as_str()) {
                (Some(code), "") => format!("GAMA closed the connection (code {code})"),
                (Some(code), why) => format!("GAMA closed the connection: {why} ({code})"),
                (None, _) => "GAMA closed the connection".to_string(),
            };
            Some(Said::new(
                Code::ClosedByGama,
                [("code", json!(code)), ("message", json!(why))],
                text,
            ))
        }
        Some(Ok(_)) => None,
        Some(Err(tungstenite::Error::Capacity(e))) => Some(Said::new(
            Code::MessageTooBig,
            [("max", json!(link.inner.config.max_message_bytes))],
            format!("GAMA sent a message over gama.max_message_bytes ({e})"),
        )),
        Some(Err(e)) => Some(Said::new(
            Code::ConnectionError,
            [("message", json!(e.to_string()))],
            format!("connection error: {e}"),
        )),
        None => Some(Said::new(Code::Dropped, [], "the connection dropped")),
    }
}

/// Finds out which server answers and what its experiment is doing (protocol.md §3.3): an
/// `expression` without `exp_id` is refused as malformed by gama-headless, answered
/// "Unable to find the experiment" by the desktop server without an experiment, and evaluated by the
/// desktop server with one. Whether that experiment runs is told by its cycle advancing between two
/// probes [`PROBE_GAP`] apart (a running experiment also evaluates commands only between cycles, so
/// the second answer comes from a later cycle anyway). Status messages that arrive meanwhile win.
async fn probe(link: &GamaLink) {
    let timeout = link.inner.config.command_timeout();
    let first = link
        .ask_quietly(Command::expression(None, "cycle"), timeout)
        .await;
    let mode_and_state = match first {
        Err(GamaError::Rejected { kind, .. }) if kind == "MalformedRequest" => {
            Some((ServerMode::Headless, ExperimentState::None))
        }
        Err(GamaError::Rejected { kind, .. }) if kind == "UnableToExecuteRequest" => {
            Some((ServerMode::Desktop, ExperimentState::None))
        }
        Ok(c1) => {
            tokio::time::sleep(PROBE_GAP).await;
            let second = link
                .ask_quietly(Command::expression(Some("0"), "cycle"), timeout)
                .await;
            match second {
                Ok(c2) => {
                    let advanced = match (c1.trim().parse::<f64>(), c2.trim().parse::<f64>()) {
                        (Ok(a), Ok(b)) => b > a,
                        _ => c1 != c2,
                    };
                    let state = if advanced {
                        ExperimentState::Running
                    } else {
                        ExperimentState::Paused
                    };
                    Some((ServerMode::Desktop, state))
                }
                Err(e) => {
                    warn!(error = %e, "could not tell whether GAMA's experiment runs; assuming it is paused");
                    Some((ServerMode::Desktop, ExperimentState::Paused))
                }
            }
        }
        Err(e) => {
            warn!(error = %e, "could not probe GAMA's state; assuming no experiment is open");
            None
        }
    };
    if let Some((mode, state)) = mode_and_state {
        link.update(|s| {
            s.mode = Some(mode);
            // A status message may have arrived meanwhile; it is fresher than the probe.
            if s.experiment == ExperimentState::None {
                if mode == ServerMode::Desktop && state.is_live() && s.exp_id.is_none() {
                    s.exp_id = Some("0".to_string());
                }
                s.set_experiment(state.clone());
            }
        });
        info!(
            mode = ?mode,
            experiment = state.name(),
            "GAMA server probed"
        );
    }
}

/// Gives up on commands GAMA never answered.
fn expire(pending: &Pending, events: &dyn GamaEvents, metrics: &Metrics) {
    for entry in pending.expire(Instant::now()) {
        metrics.command_failed(entry.kind, "Timeout");
        let error = GamaError::Timeout {
            command: entry.kind,
            timeout: entry.timeout,
        };
        match entry.waiter {
            Waiter::Detached { player } => events.player_command_failed(&player, &error),
            Waiter::Reply(tx) => {
                let _ = tx.send(Err(error));
            }
            Waiter::Client { reply, command, .. } => {
                reply.error(&command, "UnableToExecuteRequest", &error.to_string());
            }
        }
    }
}
