//! The WebSocket server Unity headsets connect to: accept (paced), handshake (bounded), the
//! connection limit, then one reader loop and one writer task per connection ([`socket`]), and the
//! handling of what the headset sends ([`inbound`]).

mod inbound;
mod socket;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use ipnet::IpNet;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

pub use inbound::Input;

use crate::control::said::{Code, Said};
use crate::server::listen::{self, Listener};
use crate::support::pace::LogLimiter;

/// Read buffer of a headset connection: a headset's messages are a few hundred bytes, and ten
/// thousand connections must stay within 100 MB. A bigger message makes room for itself
/// (tungstenite reserves a frame's length once its header is read).
const HEADSET_READ_BUFFER: usize = 512;

static REFUSED: LogLimiter = LogLimiter::new(Duration::from_secs(5));
static OUTSIDE: LogLimiter = LogLimiter::new(Duration::from_secs(5));

/// Accepts headset connections on `listener` until `shutdown`.
pub fn serve(
    listener: TcpListener,
    input: Input,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    let config = input.config.clone();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let serials = AtomicU64::new(1);
    let ws_config = headset_ws_config(config.max_message_bytes);
    let networks = config.networks();
    let listener = Listener {
        socket: listener,
        what: "headset",
        per_second: Some(config.max_new_connections_per_second),
    };
    let tracker2 = tracker.clone();
    listen::spawn(listener, shutdown.clone(), tracker, move |stream, peer| {
        let serial = serials.fetch_add(1, Ordering::Relaxed);
        let permit = slots.clone().try_acquire_owned().ok();
        let input = input.clone();
        let allowed = networks.clone();
        let shutdown = shutdown.clone();
        let tracker = tracker2.clone();
        let span = info_span!("headset", %peer, conn = serial, player = tracing::field::Empty);
        tracker2.spawn(
            async move {
                let config = input.config.clone();
                let timeout = Duration::from_millis(config.handshake_timeout_ms);
                let Some(ws) = handshake(stream, ws_config, timeout).await else {
                    return;
                };
                if let Some(reason) = outside_network(&input, &allowed, peer) {
                    return Box::pin(listen::refuse(ws, CloseCode::Policy, &reason)).await;
                }
                let Some(slot) = permit else {
                    let reason = relay_full(config.max_connections);
                    return Box::pin(listen::refuse(ws, CloseCode::Again, &reason)).await;
                };
                // The open connection gets a task of its own, which holds only the reader and the
                // connection's slot: this task's state (the handshake's settings, the networks,
                // what it awaited) is freed, 600 bytes a connection less.
                let reader = socket::run(ws, serial, peer, input, shutdown, &tracker);
                tracker.spawn(reader.map(move |()| drop(slot)).in_current_span());
            }
            .instrument(span),
        );
    });
}

/// The WebSocket settings of a headset connection.
fn headset_ws_config(max_message_bytes: usize) -> WebSocketConfig {
    // Headsets send small messages: a small read buffer per connection keeps a hundred headsets
    // within a few megabytes (tungstenite's default is 128 KiB each, zero-filled on every read).
    WebSocketConfig::default()
        .read_buffer_size(HEADSET_READ_BUFFER)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// The WebSocket handshake, within `timeout`; `None` (logged) if it fails.
async fn handshake(
    stream: TcpStream,
    ws_config: WebSocketConfig,
    timeout: Duration,
) -> Option<WebSocketStream<wire::Duplex>> {
    // Boxed: its state is freed once the connection is open, instead of sizing the task of every
    // connection (1.5 KB each).
    let handshake = Box::pin(tokio::time::timeout(
        timeout,
        tokio_tungstenite::accept_async_with_config(wire::Duplex::new(stream), Some(ws_config)),
    ))
    .await;
    match handshake {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(e)) => {
            debug!(error = %e, "WebSocket handshake failed");
            None
        }
        Err(_) => {
            debug!("WebSocket handshake timed out");
            None
        }
    }
}

/// Why a headset at `peer` is turned away if it is not on the classroom's networks
/// (`headsets.allowed_networks`, all when empty); then it is counted, listed among the page's
/// refusals and logged.
fn outside_network(input: &Input, allowed: &[IpNet], peer: SocketAddr) -> Option<String> {
    let source = peer.ip().to_canonical();
    if allowed.is_empty() || allowed.iter().any(|n| n.contains(&source)) {
        return None;
    }
    let reason = format!("{source} is not on the classroom's network (headsets.allowed_networks)");
    input.metrics.headsets_refused_network.inc();
    input.refusals.record(
        source,
        None,
        Said::new(
            Code::OutsideNetwork,
            [("source", json!(source))],
            reason.clone(),
        ),
    );
    if let Some(suppressed) = OUTSIDE.check() {
        warn!(suppressed, "headset connection refused: {reason}");
    }
    Some(reason)
}

/// Why a headset is turned away when the relay has `max_connections` already (logged).
fn relay_full(max_connections: usize) -> String {
    if let Some(suppressed) = REFUSED.check() {
        warn!(
            suppressed,
            limit = max_connections,
            "too many headset connections; refusing one"
        );
    }
    format!("relay full: {max_connections} connections (headsets.max_connections)")
}
