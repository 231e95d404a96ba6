//! The WebSocket server Unity headsets connect to: accept, handshake, then one reader loop and one
//! writer task per connection.
//!
//! The reader hands every text frame to [`Relay::headset_text`]; the writer drains the
//! connection's queue, sends the keep-alive `ping` every heartbeat and declares the headset gone
//! after the configured number of silent periods. Either side ending closes the other.

mod conn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

pub use conn::{Conn, ConnRef, ConnView, QueueLimits, SendError};

use crate::protocol::headset::{error_frame, ping_frame};
use crate::protocol::{Frame, gama::truncate};
use crate::relay::Relay;
use crate::util::{LogLimiter, TokenBucket};

/// Read buffer of a headset connection (larger messages are assembled across reads).
const HEADSET_READ_BUFFER: usize = 8 * 1024;

static REFUSED: LogLimiter = LogLimiter::new(Duration::from_secs(5));
static PACED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// Accepts headset connections until `shutdown`.
pub async fn serve(
    listener: Arc<TcpListener>,
    relay: Relay,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let config = relay.config().headsets.clone();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let serials = AtomicU64::new(1);
    // Headsets send small messages: a small read buffer per connection keeps a hundred headsets
    // within a few megabytes (tungstenite's default is 128 KiB each, zero-filled on every read).
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(HEADSET_READ_BUFFER)
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes));
    let mut pace = TokenBucket::new(
        config.max_new_connections_per_second,
        config.max_new_connections_per_second,
    );
    loop {
        // Past the connection rate, stop accepting for a moment: the kernel queues the rest.
        let wait = pace.take(std::time::Instant::now());
        if !wait.is_zero() {
            if let Some(suppressed) = PACED.check() {
                info!(
                    suppressed,
                    "many new headset connections; accepting them more slowly"
                );
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    warn!(error = %e, "accepting a headset connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let serial = serials.fetch_add(1, Ordering::Relaxed);
        let permit = slots.clone().try_acquire_owned().ok();
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        let tracker2 = tracker.clone();
        let span = info_span!("headset", %peer, conn = serial, player = tracing::field::Empty);
        tracker.spawn(
            async move {
                let handshake = tokio::time::timeout(
                    Duration::from_millis(config.handshake_timeout_ms),
                    tokio_tungstenite::accept_async_with_config(stream, Some(ws_config)),
                )
                .await;
                let ws = match handshake {
                    Ok(Ok(ws)) => ws,
                    Ok(Err(e)) => {
                        debug!(error = %e, "WebSocket handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!("WebSocket handshake timed out");
                        return;
                    }
                };
                let Some(_permit) = permit else {
                    if let Some(suppressed) = REFUSED.check() {
                        warn!(
                            suppressed,
                            limit = config.max_connections,
                            "too many headset connections; refusing one"
                        );
                    }
                    let mut ws = ws;
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: CloseCode::Again,
                            reason: format!(
                                "relay full: {} connections (headsets.max_connections)",
                                config.max_connections
                            )
                            .into(),
                        }))
                        .await;
                    return;
                };
                run(ws, serial, peer, relay, shutdown, tracker2).await;
            }
            .instrument(span),
        );
    }
}

/// Serves one connection until it closes.
async fn run(
    ws: WebSocketStream<TcpStream>,
    serial: u64,
    peer: SocketAddr,
    relay: Relay,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let config = relay.config().headsets.clone();
    let conn = Conn::new(
        serial,
        peer,
        QueueLimits::of(&config),
        relay.metrics().clone(),
    );
    debug!("headset connected");
    let mut registration = Registration {
        relay: relay.clone(),
        conn: conn.clone(),
        player: None,
    };
    let (sink, mut stream) = ws.split();
    let writer = tracker.spawn(
        write_loop(
            sink,
            conn.clone(),
            config.missed_heartbeats,
            Duration::from_millis(config.write_timeout_ms),
        )
        .in_current_span(),
    );
    let player = &mut registration.player;
    let mut pace = TokenBucket::new(
        config.max_messages_per_second,
        config.max_messages_per_second.saturating_mul(2),
    );
    let mut throttled = false;
    let register_deadline =
        tokio::time::Instant::now() + Duration::from_millis(config.register_timeout_ms);
    loop {
        let frame = tokio::select! {
            () = shutdown.cancelled() => {
                conn.close(1001, "relay shutting down");
                break;
            }
            () = conn.closed() => break,
            () = tokio::time::sleep_until(register_deadline), if player.is_none() => {
                info!("no `connection` message in time; closing");
                conn.close(1008, format!(
                    "no connection message within {} ms",
                    config.register_timeout_ms
                ));
                break;
            }
            frame = stream.next() => frame,
        };
        // A flooding headset is slowed down: its frames wait (TCP pushes back on it), nothing is
        // dropped and the other headsets are not affected.
        let wait = match &frame {
            Some(Ok(_)) => pace.take(std::time::Instant::now()),
            _ => Duration::ZERO,
        };
        if !wait.is_zero() {
            if !throttled {
                throttled = true;
                warn!(
                    limit = config.max_messages_per_second,
                    "headset sends more messages than headsets.max_messages_per_second; slowing it down"
                );
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    conn.close(1001, "relay shutting down");
                    break;
                }
                () = conn.closed() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        match frame {
            Some(Ok(Message::Text(text))) => {
                conn.touch(text.len());
                relay.headset_text(&conn, player, text.as_str());
            }
            Some(Ok(Message::Binary(data))) => {
                conn.touch(data.len());
                complain(
                    &conn,
                    &format!(
                        "binary frames are not part of the protocol ({} bytes ignored); send JSON text",
                        data.len()
                    ),
                );
            }
            Some(Ok(Message::Close(frame))) => {
                match frame {
                    Some(f) => {
                        debug!(code = u16::from(f.code), reason = %f.reason, "headset closed the connection")
                    }
                    None => debug!("headset closed the connection"),
                }
                break;
            }
            Some(Ok(other)) => conn.touch(other.len()),
            Some(Err(tungstenite::Error::Capacity(e))) => {
                warn!(error = %e, limit = config.max_message_bytes, "headset sent a message over the size limit; closing");
                let _ = conn.send(error_frame(&format!(
                    "message too big: {e} (headsets.max_message_bytes = {})",
                    config.max_message_bytes
                )));
                conn.close(1009, "message too big");
                break;
            }
            Some(Err(e)) => {
                debug!(error = %e, "headset connection failed");
                break;
            }
            None => {
                debug!("headset connection dropped");
                break;
            }
        }
    }
    // The session hears about it at once; the writer gets a bounded moment to send what is
    // queued and the close frame.
    conn.close(1000, "");
    drop(registration);
    let _ = tokio::time::timeout(Duration::from_secs(3), writer).await;
}

/// The player a connection registered. Dropping it, at the end of the connection or while a panic
/// unwinds its task, releases the player in the session, so a bug never leaves a ghost player
/// marked as connected.
struct Registration {
    relay: Relay,
    conn: Arc<Conn>,
    player: Option<Arc<str>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.conn.close(1011, "internal error");
        }
        if let Some(id) = self.player.take() {
            self.relay.headset_gone(&self.conn, &id);
        }
    }
}

/// Closes the connection when the writer ends for any reason, a panic included.
struct CloseOnDrop(Arc<Conn>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close(1011, "internal error");
    }
}

/// Tells a headset (and the log) what was wrong with its input, at most once a second.
pub(crate) fn complain(conn: &Conn, message: &str) {
    if let Some(suppressed) = conn.complaints.check() {
        warn!(suppressed, "bad input from headset: {message}");
        let _ = conn.send(error_frame(message));
    }
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// Writes queued frames, sends keep-alive pings and enforces liveness, until the connection closes.
async fn write_loop(
    mut sink: Sink,
    conn: Arc<Conn>,
    missed_heartbeats: u32,
    write_timeout: Duration,
) {
    let _close = CloseOnDrop(conn.clone());
    let mut batch: Vec<Frame> = Vec::with_capacity(16);
    let mut next_ping: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        if let Some(period) = conn.heartbeat() {
            let due = *next_ping.get_or_insert(now + period);
            if now >= due && !conn.is_closing() {
                let silent = conn.silent_for();
                if silent >= period * missed_heartbeats {
                    info!(
                        silent_ms = silent.as_millis() as u64,
                        "headset silent for {missed_heartbeats} keep-alive periods; declaring it gone"
                    );
                    conn.close(
                        1000,
                        format!(
                            "no message for {} ms ({missed_heartbeats} keep-alive periods)",
                            silent.as_millis()
                        ),
                    );
                } else {
                    conn.ping_sent();
                    let _ = conn.send(ping_frame());
                }
                next_ping = Some(now + period);
            }
        }
        if !conn.has_queued() && !conn.is_closing() {
            let wake_at = next_ping.unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                () = conn.woken() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
            continue;
        }
        batch.clear();
        conn.drain(&mut batch);
        if !batch.is_empty() {
            let bytes: usize = batch.iter().map(|f| f.len()).sum();
            let count = batch.len();
            let write = async {
                for frame in batch.drain(..) {
                    sink.feed(Message::Text(frame)).await?;
                }
                sink.flush().await
            };
            // While closing, pending frames get a short bounded chance; a stuck headset must not
            // hold its task for long.
            let limit = if conn.is_closing() {
                write_timeout.min(Duration::from_secs(1))
            } else {
                write_timeout
            };
            match tokio::time::timeout(limit, write).await {
                Ok(Ok(())) => conn.written(count, bytes),
                Ok(Err(e)) => {
                    debug!(error = %e, "writing to the headset failed");
                    conn.close(1011, "write failed");
                    break;
                }
                Err(_) => {
                    warn!(
                        timeout_ms = limit.as_millis() as u64,
                        "writing to the headset timed out; closing"
                    );
                    conn.close(1008, "write timed out");
                    break;
                }
            }
            continue;
        }
        if conn.is_closing() {
            if let Some((code, reason)) = conn.close_request() {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: truncate_reason(&reason).into(),
                };
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    sink.send(Message::Close(Some(frame))),
                )
                .await;
            }
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), sink.close()).await;
}

/// Close reasons are limited to 123 bytes by the protocol.
fn truncate_reason(reason: &str) -> String {
    if reason.len() <= 123 {
        reason.to_string()
    } else {
        truncate(reason, 120)
    }
}
