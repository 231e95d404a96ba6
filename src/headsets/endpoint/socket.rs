//! One headset connection: the reader loop (frames paced per headset, the registration deadline,
//! the size limit) and the writer task (queued frames in batches, the keep-alive `ping` every
//! heartbeat, the headset declared gone after the configured number of silent periods, the close
//! frame with its reason). Either side ending closes the other.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, warn};

use super::Input;
use super::inbound::{WaitingFor, complain};
use super::wire::{Duplex, FrameWriter};
use crate::headsets::conn::Conn;
use crate::headsets::outbox::QueueLimits;
use crate::protocol::Frame;
use crate::protocol::headset::{error_frame, ping_frame};
use crate::support::excerpt::truncate;
use crate::support::pace::TokenBucket;

/// How often a connection waiting for its id checks whether the live headset that has it left.
const WAIT_RETRY: Duration = Duration::from_millis(250);

/// Serves one connection: starts its writer task and returns its reader, to be awaited until the
/// connection closes.
///
/// A plain function rather than an `async fn`: an `async fn` keeps its arguments (the WebSocket
/// before its split, a second [`Input`]) in its state for the whole connection, which made every
/// connection's task 2 KB; the reader's state holds only what its loop uses.
pub(super) fn run(
    mut ws: WebSocketStream<Duplex>,
    serial: u64,
    peer: SocketAddr,
    input: Input,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> impl Future<Output = ()> + use<> {
    let conn = Conn::new(
        serial,
        peer,
        QueueLimits::of(&input.config),
        input.metrics.clone(),
    );
    debug!("headset connected");
    let socket = ws.get_mut().hand_over(conn.clone());
    let writer = tracker.spawn(
        write_loop(
            socket.map(FrameWriter::new),
            conn.clone(),
            input.config.missed_heartbeats,
            Duration::from_millis(input.config.write_timeout_ms),
        )
        .in_current_span(),
    );
    Reader {
        registration: Registration {
            input,
            conn,
            player: None,
        },
        stream: ws,
        shutdown,
        writer,
    }
    .run()
}

/// What the reader of a connection holds.
struct Reader {
    registration: Registration,
    stream: WebSocketStream<Duplex>,
    shutdown: CancellationToken,
    writer: JoinHandle<()>,
}

impl Reader {
    /// Reads the headset's frames until the connection closes.
    ///
    /// An `async` block, not an `async fn`: an `async fn` taking `self` keeps it twice in its
    /// state (the argument and the body's copy), 430 bytes more for every connection.
    #[expect(clippy::manual_async_fn, reason = "an async fn keeps `self` twice")]
    fn run(mut self) -> impl Future<Output = ()> {
        async move {
            let Registration {
                input,
                conn,
                player,
            } = &mut self.registration;
            let config = &input.config;
            let shutdown = &self.shutdown;
            // The id this connection waits for, while a live headset has it.
            let mut waiting: Option<WaitingFor> = None;
            // When to look again, while waiting.
            let mut retry_at = tokio::time::Instant::now();
            let mut pace = Pace::new(config.max_messages_per_second);
            let register_deadline =
                tokio::time::Instant::now() + Duration::from_millis(config.register_timeout_ms);
            loop {
                // One timer (ten thousand idle connections): the next look while waiting for the id,
                // else the registration deadline until registered, else none.
                let timer = if waiting.is_some() {
                    Some(retry_at)
                } else if player.is_none() {
                    Some(register_deadline)
                } else {
                    None
                };
                let frame = tokio::select! {
                    () = shutdown.cancelled() => {
                        conn.close(1001, "relay shutting down");
                        break;
                    }
                    () = conn.closed() => break,
                    () = tokio::time::sleep_until(timer.unwrap_or(register_deadline)), if timer.is_some() => {
                        if waiting.is_some() {
                            input.retry(conn, player, &mut waiting);
                            retry_at = tokio::time::Instant::now() + WAIT_RETRY;
                            continue;
                        }
                        info!("no `connection` message in time; closing");
                        conn.close(1008, format!(
                            "no connection message within {} ms",
                            config.register_timeout_ms
                        ));
                        break;
                    }
                    frame = self.stream.next() => frame,
                };
                let wait = match &frame {
                    Some(Ok(_)) => pace.wait(config.max_messages_per_second),
                    _ => Duration::ZERO,
                };
                if !wait.is_zero() {
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            conn.close(1001, "relay shutting down");
                            break;
                        }
                        () = conn.closed() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                if !take_frame(input, conn, player, &mut waiting, frame) {
                    break;
                }
            }
            // The session hears about it at once; the writer gets a bounded moment to send what is
            // queued and the close frame.
            self.registration.conn.close(1000, "");
            drop(self.registration);
            let _ = tokio::time::timeout(Duration::from_secs(3), self.writer).await;
        }
    }
}

/// A flooding headset is slowed down: its frames wait (TCP pushes back on it), nothing is dropped
/// and the other headsets are not affected.
struct Pace {
    bucket: TokenBucket,
    /// Whether the log said so already.
    throttled: bool,
}

impl Pace {
    /// At most `limit` frames a second, twice that in a burst.
    fn new(limit: u32) -> Pace {
        Pace {
            bucket: TokenBucket::new(limit, limit.saturating_mul(2)),
            throttled: false,
        }
    }

    /// How long the frame just read waits before it is taken (`limit`: the setting, for the log).
    fn wait(&mut self, limit: u32) -> Duration {
        let wait = self.bucket.take(std::time::Instant::now());
        if !wait.is_zero() && !self.throttled {
            self.throttled = true;
            warn!(
                limit,
                "headset sends more messages than headsets.max_messages_per_second; slowing it down"
            );
        }
        wait
    }
}

/// Takes what the headset sent (or that its connection ended); whether to read on.
fn take_frame(
    input: &Input,
    conn: &Arc<Conn>,
    player: &mut Option<Arc<str>>,
    waiting: &mut Option<WaitingFor>,
    frame: Option<Result<Message, tungstenite::Error>>,
) -> bool {
    let config = &input.config;
    match frame {
        Some(Ok(Message::Text(text))) => {
            conn.touch(text.len());
            input.text(conn, player, waiting, text.as_str());
        }
        Some(Ok(Message::Binary(data))) => {
            conn.touch(data.len());
            complain(
                conn,
                &format!(
                    "binary frames are not part of the protocol ({} bytes ignored); send JSON text",
                    data.len()
                ),
            );
        }
        Some(Ok(Message::Close(frame))) => {
            // Answered with its own code, as tungstenite would.
            match frame {
                Some(f) => {
                    debug!(code = u16::from(f.code), reason = %f.reason, "headset closed the connection");
                    if f.code.is_allowed() {
                        conn.close(f.code.into(), "");
                    } else {
                        conn.close(1002, "Protocol violation");
                    }
                }
                None => debug!("headset closed the connection"),
            }
            return false;
        }
        Some(Ok(other)) => conn.touch(other.len()),
        Some(Err(tungstenite::Error::Capacity(e))) => {
            warn!(error = %e, limit = config.max_message_bytes, "headset sent a message over the size limit; closing");
            let _ = conn.send(error_frame(&format!(
                "message too big: {e} (headsets.max_message_bytes = {})",
                config.max_message_bytes
            )));
            conn.close(1009, "message too big");
            return false;
        }
        Some(Err(e)) => {
            debug!(error = %e, "headset connection failed");
            return false;
        }
        None => {
            debug!("headset connection dropped");
            return false;
        }
    }
    true
}

/// The player a connection registered. Dropping it, at the end of the connection or while a panic
/// unwinds its task, releases the player in the session, so a bug never leaves a ghost player
/// marked as connected.
struct Registration {
    input: Input,
    conn: Arc<Conn>,
    player: Option<Arc<str>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.conn.close(1011, "internal error");
        }
        if let Some(id) = self.player.take() {
            self.input.gone(&self.conn, &id);
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

/// Writes queued frames, sends keep-alive pings and enforces liveness, until the connection closes.
async fn write_loop(
    socket: Option<FrameWriter>,
    conn: Arc<Conn>,
    missed_heartbeats: u32,
    write_timeout: Duration,
) {
    let _close = CloseOnDrop(conn.clone());
    let Some(mut socket) = socket else {
        return;
    };
    let mut batch: Vec<Frame> = Vec::new();
    let mut next_ping: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        keep_alive(&conn, &mut next_ping, missed_heartbeats, now);
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
        let raw = conn.take_raw();
        if !batch.is_empty() || !raw.is_empty() {
            let bytes: usize = batch.iter().map(|f| f.len()).sum();
            let count = batch.len();
            // While closing, pending frames get a short bounded chance; a stuck headset must not
            // hold its task for long.
            let limit = if conn.is_closing() {
                write_timeout.min(Duration::from_secs(1))
            } else {
                write_timeout
            };
            match tokio::time::timeout(limit, socket.write(&raw, &batch)).await {
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
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    socket.close(code, &truncate_reason(&reason)),
                )
                .await;
            }
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), socket.shutdown()).await;
}

/// When a keep-alive period ends (`next_ping`): a `ping`, or the headset declared gone after
/// `missed_heartbeats` silent periods.
fn keep_alive(
    conn: &Conn,
    next_ping: &mut Option<tokio::time::Instant>,
    missed_heartbeats: u32,
    now: tokio::time::Instant,
) {
    let Some(period) = conn.heartbeat() else {
        return;
    };
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
        *next_ping = Some(now + period);
    }
}

/// Close reasons are limited to 123 bytes by the protocol.
fn truncate_reason(reason: &str) -> String {
    if reason.len() <= 123 {
        reason.to_string()
    } else {
        truncate(reason, 120)
    }
}
