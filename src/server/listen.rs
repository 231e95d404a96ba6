//! The accept loop every listener of the relay runs (headsets, the gama-server endpoint for tools
//! and the replay's stand-in GAMA), and how a connection is turned away with a reason.
//!
//! It accepts until shutdown, hands each connection to the listener's handler (which spawns its
//! task on the server's tracker), optionally paces new connections (past the rate the kernel queues
//! the rest), waits a little instead of spinning when accepting fails (out of file descriptors),
//! and restarts after a panic instead of leaving the port dead for the rest of the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::server::tasks::supervised;
use crate::support::pace::{LogLimiter, TokenBucket};

/// What is accepted on a listener.
pub struct Listener {
    /// The socket.
    pub socket: TcpListener,
    /// What it serves, for logs (`"headset"`, `"tool"`…).
    pub what: &'static str,
    /// New connections accepted per second at most, if paced.
    pub per_second: Option<u32>,
}

static PACED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// Accepts on `listener` until `shutdown`, calling `each` with every new connection.
pub fn spawn(
    listener: Listener,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    each: impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
) {
    let listener = Arc::new(listener);
    let each = Arc::new(each);
    let name = format!("{} accept loop", listener.what);
    tracker.spawn(async move {
        supervised(&name, shutdown.clone(), || {
            accept(listener.clone(), shutdown.clone(), each.clone())
        })
        .await;
    });
}

async fn accept(
    listener: Arc<Listener>,
    shutdown: CancellationToken,
    each: Arc<impl Fn(TcpStream, SocketAddr)>,
) {
    let mut pace = listener.per_second.map(|n| TokenBucket::new(n, n));
    loop {
        let wait = pace
            .as_mut()
            .map_or(Duration::ZERO, |p| p.take(Instant::now()));
        if !wait.is_zero() {
            if let Some(suppressed) = PACED.check() {
                info!(
                    suppressed,
                    "many new {} connections; accepting them more slowly", listener.what
                );
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accepting a {} connection failed", listener.what);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        each(stream, peer);
    }
}

/// Turns a connection away after its handshake, telling it why in the close frame.
pub async fn refuse<S>(mut ws: WebSocketStream<S>, code: CloseCode, reason: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = ws.close(Some(frame)).await;
}
